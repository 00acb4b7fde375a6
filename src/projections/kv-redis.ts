import { createHash, randomUUID } from 'node:crypto'
import { RedisClient } from 'redis'
import { within } from '../core/bounded.js'
import type { Logger } from '../core/logger.js'
import type { KvOp } from '../core/read-stores.js'
import type { KvStore } from './kv.js'

/**
 * Clients are made from one class. `createClient` builds a class with every command for each client
 * whose options differ from the last one's: 30 ms of CPU a client (9 s of the test suite's, which
 * starts hundreds), against 0.1 ms so.
 */
const clientClass = RedisClient.factory({ RESP: 3 })

/**
 * A client speaking RESP3, node-redis's default, in its class (how it reads replies) and in its
 * options (its handshake): a class of one protocol on a connection of the other read some replies
 * wrong (`CONFIG GET` as an empty map, and the eviction policy was never told).
 */
export const redisClient = (options: Parameters<typeof clientClass>[0]) => {
  const resp3 = { RESP: 3 as const }
  return clientClass({ ...resp3, ...options })
}

/**
 * Applies a batch and moves the checkpoint in one atomic step, only from the expected checkpoint:
 * a batch applied twice, or by two runners, changes nothing the second time.
 */
const commitScript = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
local function trim(key, keep, floorKey)
  local cut = redis.call('ZCARD', key) - tonumber(keep)
  if cut > 0 then
    local last = redis.call('ZRANGE', key, cut - 1, cut - 1)[1]
    redis.call('ZREMRANGEBYRANK', key, 0, cut - 1)
    local floor = redis.call('GET', floorKey)
    if (not floor) or floor < last then redis.call('SET', floorKey, last) end
  end
end
for _, op in ipairs(cjson.decode(ARGV[3])) do
  if op[1] == 'ZTRIM' then
    trim(op[2], op[3], op[4])
  elseif op[1] == 'ZADDCAP' then
    redis.call('ZADD', op[2], 0, op[3])
    trim(op[2], op[4], op[5])
  else
    redis.call(unpack(op))
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1`
const commitSha = createHash('sha1').update(commitScript).digest('hex')

/** How long closing waits for Redis to answer QUIT before dropping the connection. */
const quitWithinMs = 2000

/**
 * Beside the read models, each store sets a key of its own under this prefix (`aliveKey:<id>`):
 * gone, the store lost what it held. Its own, because an invalidation does not say which database
 * lost what: a flush of any database on the server reaches every tracking client (a push with no
 * key), and a key shared by several processes may be set again by one before another looks.
 */
const aliveKey = 'tandem-store-alive'

/** How long the loss watcher's connection may take (the main one is up): past it, none is kept. */
const watchStartTimeoutMs = 5000

/** No watcher: tracking refused, or a store opened to be dropped. */
const notWatching = { close: () => Promise.resolve() }

/**
 * Calls `check` when Redis may have dropped the store's data while connected (FLUSHALL, FLUSHDB of
 * any database, an alive key evicted or deleted): a connection of its own, tracking the alive keys
 * (`CLIENT TRACKING ... BCAST`, RESP3 invalidation pushes; a flush is a push for every key). A
 * reconnection is seen by the main client. Where the server refuses tracking (an old or restricted
 * Redis) or a second connection, the loss is found at the projections' next check (once a second),
 * and the log says so.
 */
async function watchForLoss(
  options: { url: string; keyPrefix: string; clientName?: string; log: Logger },
  check: (key: string | null) => void,
): Promise<{ close(): Promise<void> }> {
  const watcher = redisClient({
    url: options.url,
    name: options.clientName,
    emitInvalidate: true,
    disableOfflineQueue: true,
  })
  watcher.on('error', () => undefined)
  // A key comes as a Buffer or a string (RESP3 push); a flush of a database as null.
  watcher.on('invalidate', (key: Buffer | string | null) => check(key === null ? null : key.toString()))
  // Tracking is per connection: the client turns it on (in its default mode) at each connection,
  // and it is switched to broadcasting the alive key's changes, whoever makes them.
  const track = async () => {
    await watcher.sendCommand(['CLIENT', 'TRACKING', 'OFF'])
    await watcher.sendCommand(['CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', options.keyPrefix + aliveKey])
  }
  watcher.on('ready', () => {
    track().catch((error: unknown) =>
      options.log.warn({ err: error }, 'redis: no tracking of the store (a flush is found within a second)'),
    )
  })
  try {
    await firstConnection(watcher, options.url, watchStartTimeoutMs)
  } catch (error) {
    options.log.warn({ err: error }, 'redis: no tracking of the store (a flush is found within a second)')
    return notWatching
  }
  return {
    async close() {
      if (watcher.isReady) await within(quitWithinMs, watcher.quit()).catch(() => undefined)
      if (watcher.isOpen) watcher.destroy()
    },
  }
}

/**
 * Says so at start when Redis may evict keys: a read model whose keys were evicted keeps its
 * checkpoint and answers without them, for good (a flush, or the alive key's eviction, is found and
 * applied again; one key among many is not). Where CONFIG is not allowed (a managed Redis), nothing.
 */
async function warnIfEvicting(
  client: { configGet(name: string): Promise<Record<string, string>> },
  log: Logger,
) {
  const policy = await client
    .configGet('maxmemory-policy')
    .then((found) => found['maxmemory-policy'])
    .catch(() => undefined)
  if (policy !== undefined && policy !== 'noeviction')
    log.warn(
      { policy },
      'redis: maxmemory-policy is not noeviction: a read model whose keys are evicted answers without them; set it to noeviction',
    )
}

/** A commit that has not answered in this long fails, and the runner retries it. */
const commitTimeoutMs = 30_000

/** What Redis answers that no retry changes: a database it does not have, a refused password. */
const refusal = /DB index is out of range|WRONGPASS|NOAUTH|invalid (username-)?password/i

/**
 * Connects, or fails naming the server: node-redis alone retries a server that never answers forever,
 * and one that refuses what the URL asks for (database 99 of 16) as long, logging each refusal.
 */
async function firstConnection(
  client: {
    connect(): Promise<unknown>
    destroy(): void
    on(event: 'error', listener: (error: unknown) => void): unknown
    off(event: 'error', listener: (error: unknown) => void): unknown
  },
  url: string,
  startTimeoutMs: number,
) {
  const where = URL.canParse(url) ? new URL(url).host : 'REDIS_URL'
  let timer: NodeJS.Timeout | undefined
  let refused: ((error: unknown) => void) | undefined
  /** What the last attempt met (a refused connection, an unknown host): the timeout's cause. */
  let met: string | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const after = met === undefined ? '' : `; the last attempt: ${met}`
      const message = `Redis at ${where} did not answer within ${startTimeoutMs / 1000} s (REDIS_URL)${after}`
      reject(Object.assign(new Error(message), { code: 'REDIS_UNREACHABLE' }))
    }, startTimeoutMs)
    refused = (error) => {
      const said = error instanceof Error ? error.message : String(error)
      met = said
      if (!refusal.test(said)) return
      reject(
        Object.assign(new Error(`Redis at ${where} refused REDIS_URL: ${said}`), { code: 'REDIS_REFUSED' }),
      )
    }
    client.on('error', refused)
  })
  try {
    await Promise.race([client.connect(), late])
  } catch (error) {
    client.destroy()
    throw error
  } finally {
    clearTimeout(timer)
    if (refused) client.off('error', refused)
  }
}

/**
 * A password in REDIS_URL that the server does not ask for is refused: node-redis connects anyway
 * (Redis answers its AUTH "called without any password configured"), and an operator who set one
 * would believe the read models guarded by it.
 */
async function passwordHeld(
  client: { sendCommand(args: string[]): Promise<unknown>; destroy(): void },
  url: string,
): Promise<void> {
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  if (!parsed?.password) return
  const user = decodeURIComponent(parsed.username)
  const password = decodeURIComponent(parsed.password)
  try {
    await client.sendCommand(user ? ['AUTH', user, password] : ['AUTH', password])
  } catch (error) {
    const said = error instanceof Error ? error.message : String(error)
    if (!/without any password configured/i.test(said)) return
    client.destroy()
    throw Object.assign(
      new Error(
        `Redis at ${parsed.host} refused REDIS_URL: it has no password, and REDIS_URL gives one (${said})`,
      ),
      { code: 'REDIS_REFUSED' },
    )
  }
}

/** `keyPrefix` goes before every key: several logs (or test runs) can share one Redis. */
export async function createRedisKv(options: {
  url: string
  keyPrefix: string
  log: Logger
  /** The connection's name in Redis's CLIENT LIST. */
  clientName?: string
  /** How long to wait for Redis to answer at the start (later, the client reconnects as long as it takes). */
  startTimeoutMs?: number
  /**
   * Whether to watch for the store's loss (default true). Not for a store opened to be dropped: its
   * watcher, told of the drop, set its alive key again, and each dropped test store left one behind.
   */
  watch?: boolean
}): Promise<KvStore> {
  const p = (key: string) => options.keyPrefix + key
  // No timeout per read: node-redis's default (5 s) arms an AbortSignal timer for every command,
  // about 8% of a feed server's CPU at 10,000 reads/s. A read waits for its connection as an HTTP
  // request does (the client gives up, the answer is dropped); a dead connection is closed by TCP
  // keep-alive and reconnected. Commits, which a projection runner waits on, keep a bound. While the
  // client is not connected, a command fails at once (an HTTP request answers 503 UNAVAILABLE, as for
  // PostgreSQL) instead of waiting in the client's queue: queries and /ready waited for as long as
  // Redis was away (72 s in an outage of that length).
  const client = redisClient({
    url: options.url,
    name: options.clientName,
    commandOptions: { timeout: 0 },
    disableOfflineQueue: true,
  })
  const doubters = new Set<() => void>()
  const doubt = () => {
    for (const listener of doubters) listener()
  }
  let connected = false
  // Before the first connection, what went wrong is the start's own error (REDIS_REFUSED, or no
  // answer in time), said once: each try's error, with its stack, came first at warn.
  client.on('error', (error: unknown) =>
    connected
      ? options.log.warn({ err: error }, 'redis connection error')
      : options.log.debug({ err: error }, 'redis: connecting'),
  )
  // Set at each connection and after each loss: while it is there, its removal tells of the next one.
  const watch = options.watch ?? true
  const ownKey = p(`${aliveKey}:${randomUUID()}`)
  /** The whole store deleted (`deletePrefix('')`: a drop): its alive key is not set again. */
  let dropped = false
  const markAlive = () => (watch && !dropped ? client.set(ownKey, '1', { NX: true }) : Promise.resolve(null))
  /**
   * Told of a change to its own alive key, or of a flush of some database of the server (`key`
   * null): the read models are checked at once, their reads held meanwhile, as after any possible
   * loss (a few reads of checkpoints; held later, a read could meet the emptied store first). Whether
   * the key is gone, asked once per push and in their order, says whether it was a loss: then it is
   * logged and the key set again. Another process's alive key changing tells nothing.
   */
  let checking = Promise.resolve()
  const checkAlive = (key: string | null) => {
    if (key !== null && key !== ownKey) return
    doubt()
    checking = checking.then(async () => {
      const present = await client.exists(ownKey).catch(() => 0)
      if (present === 1) return
      options.log.warn(
        { key: ownKey },
        'redis: the store was flushed, or lost a key of its own; checking the read models in it',
      )
      await markAlive().catch(() => undefined)
    })
  }
  client.on('ready', () => {
    if (connected) {
      doubt()
      markAlive().catch(() => undefined)
    }
    connected = true
  })
  await firstConnection(client, options.url, options.startTimeoutMs ?? 10_000)
  await passwordHeld(client, options.url)
  const committer = client.withCommandOptions({ timeout: commitTimeoutMs })
  const watcher = !watch ? notWatching : await watchForLoss(options, checkAlive)
  if (watch) {
    await markAlive()
    await warnIfEvicting(client, options.log)
  }

  const runCommit = async (args: { keys: string[]; arguments: string[] }) => {
    try {
      return await committer.evalSha(commitSha, args)
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error
      return committer.eval(commitScript, args)
    }
  }

  return {
    get: (key) => client.get(p(key)),
    mget: (keys) => (keys.length === 0 ? Promise.resolve([]) : client.mGet(keys.map(p))),
    smembers: (key) => client.sMembers(p(key)),
    zrangeByLex: (key, range) => {
      const [from, to] = range.reverse ? [range.max, range.min] : [range.min, range.max]
      return client.zRange(p(key), from, to, {
        BY: 'LEX',
        REV: range.reverse,
        LIMIT: { offset: 0, count: range.count },
      })
    },
    zrank: (key, member) => client.zRank(p(key), member),
    zcard: (key) => client.zCard(p(key)),
    async commit(ops, checkpoint) {
      const commands = ops.map((op) => toRedisCommand(op, p))
      const reply = await runCommit({
        keys: [p(checkpoint.key)],
        arguments: [checkpoint.expect ?? '', checkpoint.next, JSON.stringify(commands)],
      })
      return reply === 1
    },
    onPossibleLoss(listener) {
      doubters.add(listener)
    },
    async intact() {
      return !watch || dropped || (await client.exists(ownKey)) === 1
    },
    async deletePrefix(prefix) {
      if (prefix === '') dropped = true
      for await (const keys of client.scanIterator({ MATCH: `${escapeGlob(p(prefix))}*`, COUNT: 1000 })) {
        if (keys.length > 0) await client.unlink(keys)
      }
    },
    async close() {
      await watcher.close()
      // QUIT waits for the connection: while Redis is away (the client reconnecting), for ever, and
      // a process told to stop held on, its PostgreSQL sessions with it; so does any command while
      // Redis stalls. Not connected, or not done within `quitWithinMs`, the client is dropped
      // instead (its alive key is then left, and nothing else).
      if (!client.isReady) return client.destroy()
      const leave = async () => {
        await checking
        if (watch && !dropped) await client.del(ownKey)
        await client.quit()
      }
      await within(quitWithinMs, leave()).catch(() => undefined)
      if (client.isOpen) client.destroy()
    },
  }
}

/**
 * Deletes every key under `keyPrefix` (a log's read models, `redisPrefixOf` in app/tandem.ts): how
 * the tests and the benchmark drop a scratch store's Redis side with its database.
 */
export async function dropRedisPrefix(url: string, keyPrefix: string, log: Logger): Promise<void> {
  const kv = await createRedisKv({ url, keyPrefix, log, watch: false })
  try {
    await kv.deletePrefix('')
  } finally {
    await kv.close()
  }
}

function toRedisCommand(op: KvOp, p: (key: string) => string): string[] {
  switch (op[0]) {
    case 'set':
      return ['SET', p(op[1]), op[2]]
    case 'del':
      return ['DEL', p(op[1])]
    case 'zadd':
      // Scores travel as text: Lua numbers would lose digits past 14.
      return ['ZADD', p(op[1]), String(op[2]), op[3]]
    case 'zrem':
      return ['ZREM', p(op[1]), op[2]]
    case 'sadd':
      return ['SADD', p(op[1]), op[2]]
    case 'srem':
      return ['SREM', p(op[1]), op[2]]
    case 'ztrim':
      return ['ZTRIM', p(op[1]), String(op[2]), p(op[3])]
    case 'zaddcap':
      return ['ZADDCAP', p(op[1]), op[2], String(op[3]), p(op[4])]
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
