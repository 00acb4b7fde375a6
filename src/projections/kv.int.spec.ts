import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isUnavailable } from '../core/sql.js'
import { pino } from 'pino'
import { createClient } from 'redis'
import { redisUrl, servicesAvailable } from '../testing/services.js'
import { createKvBatch, type KvStore } from './kv.js'
import { createMemoryKv } from './kv-memory.js'
import { createRedisKv, dropRedisPrefix, redisClient } from './kv-redis.js'

/** One contract, two stores: what projections rely on must hold in memory and in Redis alike. */
const stores: [string, () => Promise<KvStore>][] = [['memory', async () => createMemoryKv()]]
if (servicesAvailable) {
  stores.push([
    'redis',
    () =>
      createRedisKv({
        url: redisUrl,
        keyPrefix: `test:${Date.now()}:${Math.random()}:`,
        log: pino({ level: 'silent' }),
      }),
  ])
}

describe.each(stores)('the KV store contract (%s)', (_name, open) => {
  let kv: KvStore
  beforeAll(async () => {
    kv = await open()
  })
  afterAll(async () => {
    await kv.deletePrefix('')
    await kv.close()
  })

  it('applies a batch with its checkpoint, and refuses it from a stale checkpoint', async () => {
    const batch = [
      ['set', 'a', '1'],
      ['sadd', 's', 'x'],
      ['zadd', 'z', 0, 'm'],
    ] as const
    expect(await kv.commit(batch, { key: 'cp', expect: null, next: '1/1' })).toBe(true)
    expect(await kv.commit([['set', 'a', '2']], { key: 'cp', expect: null, next: '1/2' })).toBe(false)
    expect(await kv.commit([['set', 'a', '3']], { key: 'cp', expect: '0/9', next: '1/3' })).toBe(false)
    expect(await kv.get('a')).toBe('1')
    expect(await kv.get('cp')).toBe('1/1')
    expect(
      await kv.commit(
        [
          ['del', 'a'],
          ['srem', 's', 'x'],
        ],
        { key: 'cp', expect: '1/1', next: '1/4' },
      ),
    ).toBe(true)
    expect(await kv.get('a')).toBeNull()
    expect(await kv.smembers('s')).toEqual([])
  })

  it('orders sorted sets by member for lex ranges, with bounds, count and reverse', async () => {
    const members = ['2030-01-01|b', '2030-01-01|a', '2030-01-02|a', '2031-06-01|c', '2029-12-31|z']
    await kv.commit(
      members.map((m) => ['zadd', 'lex', 0, m] as const),
      { key: 'cp-lex', expect: null, next: '1' },
    )
    const all = await kv.zrangeByLex('lex', { min: '-', max: '+', count: 10 })
    expect(all).toEqual([...members].sort())
    expect(await kv.zrangeByLex('lex', { min: '(2030-01-01|a', max: '+', count: 2 })).toEqual([
      '2030-01-01|b',
      '2030-01-02|a',
    ])
    expect(await kv.zrangeByLex('lex', { min: '[2030-01-01|b', max: '(2031', count: 10 })).toEqual([
      '2030-01-01|b',
      '2030-01-02|a',
    ])
    expect(await kv.zrangeByLex('lex', { min: '-', max: '(2031', count: 2, reverse: true })).toEqual([
      '2030-01-02|a',
      '2030-01-01|b',
    ])
    expect(await kv.zcard('lex')).toBe(5)
  })

  it('orders members by their UTF-8 bytes, on both sides of the surrogate range', async () => {
    // In code point (and UTF-8 byte) order; UTF-16 units would put the two astral ones first.
    const ordered = ['m\u0041', 'm\uAC00', 'm\uE000', 'm\uFFFD', 'm\u{10000}', 'm\u{1F600}', 'm\u{1F600}x']
    await kv.commit(
      [...ordered].reverse().map((m) => ['zadd', 'bytes', 0, m] as const),
      { key: 'cp-bytes', expect: null, next: '1' },
    )
    expect(await kv.zrangeByLex('bytes', { min: '-', max: '+', count: 10 })).toEqual(ordered)
    expect(await kv.zrangeByLex('bytes', { min: '(m\uFFFD', max: '+', count: 10 })).toEqual(ordered.slice(4))
    expect(await kv.zrangeByLex('bytes', { min: '[m\uE000', max: '(m\u{1F600}', count: 10 })).toEqual(
      ordered.slice(2, 5),
    )
    expect(await kv.zrangeByLex('bytes', { min: '-', max: '[m\u{10000}', count: 2, reverse: true })).toEqual([
      'm\u{10000}',
      'm\uFFFD',
    ])
    expect(await kv.zrank('bytes', 'm\u{10000}')).toBe(4)
  })

  it('ranks sorted-set members by score, then member', async () => {
    await kv.commit(
      [
        ['zadd', 'queue', 3, 'c'],
        ['zadd', 'queue', 1, 'late-name'],
        ['zadd', 'queue', 2, 'b'],
        ['zadd', 'queue', 1, 'a'],
      ],
      { key: 'cp-queue', expect: null, next: '1' },
    )
    expect(await kv.zrank('queue', 'a')).toBe(0)
    expect(await kv.zrank('queue', 'late-name')).toBe(1)
    expect(await kv.zrank('queue', 'c')).toBe(3)
    expect(await kv.zrank('queue', 'nobody')).toBeNull()
    await kv.commit([['zrem', 'queue', 'a']], { key: 'cp-queue', expect: '1', next: '2' })
    expect(await kv.zrank('queue', 'late-name')).toBe(0)
  })

  it('trims a sorted set to its highest members and remembers the highest it dropped', async () => {
    const add = (...members: string[]) => members.map((m) => ['zadd', 'capped', 0, m] as const)
    await kv.commit([...add('b', 'd', 'a', 'c'), ['ztrim', 'capped', 2, 'capped:floor']], {
      key: 'cp-trim',
      expect: null,
      next: '1',
    })
    expect(await kv.zrangeByLex('capped', { min: '-', max: '+', count: 10 })).toEqual(['c', 'd'])
    expect(await kv.get('capped:floor')).toBe('b')
    // Nothing past the cap: nothing dropped, the floor stays; a lower cut never lowers it.
    await kv.commit([['ztrim', 'capped', 5, 'capped:floor']], { key: 'cp-trim', expect: '1', next: '2' })
    expect(await kv.get('capped:floor')).toBe('b')
    await kv.commit([...add('0'), ['ztrim', 'capped', 2, 'capped:floor']], {
      key: 'cp-trim',
      expect: '2',
      next: '3',
    })
    expect(await kv.get('capped:floor')).toBe('b')
    expect(await kv.zcard('capped')).toBe(2)
    // zaddcap: the add and the trim as one op.
    await kv.commit(
      [
        ['zaddcap', 'capped', 'e', 2, 'capped:floor'],
        ['zaddcap', 'capped', 'a', 2, 'capped:floor'],
      ],
      { key: 'cp-trim', expect: '3', next: '4' },
    )
    expect(await kv.zrangeByLex('capped', { min: '-', max: '+', count: 10 })).toEqual(['d', 'e'])
    expect(await kv.get('capped:floor')).toBe('c')
  })

  it('shows a batch its own sorted-set adds and removes, in order and within the range', async () => {
    await kv.commit(
      ['a', 'b', 'c', 'd'].map((m) => ['zadd', 'overlay', 0, m] as const),
      { key: 'cp-overlay', expect: null, next: '1' },
    )
    const { batch } = createKvBatch(kv, '')
    batch.zrem('overlay', 'd')
    batch.zrem('overlay', 'c')
    batch.zadd('overlay', 0, 'bb')
    batch.zadd('overlay', 0, 'z')
    expect(await batch.zrangeByLex('overlay', { min: '-', max: '(z', count: 2, reverse: true })).toEqual([
      'bb',
      'b',
    ])
    expect(await batch.zrangeByLex('overlay', { min: '[b', max: '+', count: 10 })).toEqual(['b', 'bb', 'z'])
    batch.del('overlay')
    batch.zadd('overlay', 0, 'y')
    expect(await batch.zrangeByLex('overlay', { min: '-', max: '+', count: 10 })).toEqual(['y'])
  })

  it('reads many keys at once and deletes by prefix', async () => {
    await kv.commit(
      [
        ['set', 'p:1', 'one'],
        ['set', 'p:2', 'two'],
        ['set', 'q:1', 'other'],
      ],
      { key: 'cp-prefix', expect: null, next: '1' },
    )
    expect(await kv.mget(['p:1', 'missing', 'p:2'])).toEqual(['one', null, 'two'])
    await kv.deletePrefix('p:')
    expect(await kv.mget(['p:1', 'p:2', 'q:1'])).toEqual([null, null, 'other'])
  })
})

it('refuses to start on a Redis that does not answer, naming it, instead of waiting for ever', async () => {
  const opening = createRedisKv({
    url: 'redis://127.0.0.1:1',
    keyPrefix: 'never:',
    log: pino({ level: 'silent' }),
    startTimeoutMs: 300,
  })
  await expect(opening).rejects.toMatchObject({ code: 'REDIS_UNREACHABLE' })
  await expect(opening).rejects.toThrow('Redis at 127.0.0.1:1 did not answer')
  // And why, where the attempts met something: a port nothing listens on refuses the connection.
  await expect(opening).rejects.toThrow(/the last attempt: .*ECONNREFUSED/)
})

it.runIf(servicesAvailable)(
  'refuses to start at once on a Redis that refuses what its URL asks for, saying what it said',
  async () => {
    const url = new URL(redisUrl)
    url.pathname = '/99999'
    const opening = createRedisKv({
      url: url.toString(),
      keyPrefix: 'never:',
      log: pino({ level: 'silent' }),
    })
    // Not after the 10 s a silent server gets: the refusal is the answer.
    const started = Date.now()
    await expect(opening).rejects.toMatchObject({ code: 'REDIS_REFUSED' })
    await expect(opening).rejects.toThrow(/refused REDIS_URL: .*DB index is out of range/)
    expect(Date.now() - started).toBeLessThan(9_000)
  },
)

it.runIf(servicesAvailable)(
  "reads replies in its connection's protocol: CONFIG GET as a map, so the eviction policy is read",
  async () => {
    const client = redisClient({ url: redisUrl })
    await client.connect()
    try {
      // A class of RESP2 replies on a RESP3 connection read this as {}: a process never warned of an
      // evicting Redis.
      const policy = (await client.configGet('maxmemory-policy'))['maxmemory-policy']
      expect(policy).toMatch(/^[a-z-]+$/)
      expect(await client.sendCommand<string>(['CLIENT', 'INFO'])).toMatch(/ resp=3\b/)
    } finally {
      client.destroy()
    }
  },
)

it.runIf(servicesAvailable && !new URL(redisUrl).password)(
  'refuses a password the Redis does not ask for, saying so (connected anyway, it was taken for guarded)',
  async () => {
    const url = new URL(redisUrl)
    url.password = 'a-password-it-has-not'
    const opening = createRedisKv({
      url: url.toString(),
      keyPrefix: 'never:',
      log: pino({ level: 'silent' }),
    })
    await expect(opening).rejects.toMatchObject({ code: 'REDIS_REFUSED' })
    await expect(opening).rejects.toThrow(/refused REDIS_URL: it has no password, and REDIS_URL gives one/)
  },
)

describe.skipIf(!servicesAvailable)('the Redis KV store while Redis is away', () => {
  it('fails a read at once, as a store not reachable, and reads again once Redis is back', async () => {
    // Redis reached through a proxy this test can take away and give back on the same port.
    const target = new URL(redisUrl)
    const sockets = new Set<Socket>()
    const proxy = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname)
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('error', () => undefined)
        s.on('close', () => sockets.delete(s))
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    const { port } = proxy.address() as AddressInfo
    const kv = await createRedisKv({
      url: `redis://127.0.0.1:${port}${target.pathname}`,
      keyPrefix: `test:away:${Date.now()}:${Math.random()}:`,
      log: pino({ level: 'silent' }),
    })
    try {
      expect(await kv.get('k')).toBeNull()
      const closed = new Promise((resolve) => proxy.close(resolve))
      for (const s of sockets) s.destroy()
      await closed
      // The client sees the connection go, then cannot reconnect.
      await new Promise((resolve) => setTimeout(resolve, 200))
      const started = Date.now()
      const failure = await kv.get('k').then(
        () => undefined,
        (error: unknown) => error,
      )
      expect(isUnavailable(failure), String(failure)).toBe(true)
      expect(Date.now() - started).toBeLessThan(5_000)
      await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve))
      let back: string | null | undefined
      for (let tries = 0; back === undefined && tries < 100; tries++) {
        back = await kv.get('k').catch(() => undefined)
        if (back === undefined) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(back).toBeNull()
    } finally {
      // Its alive key (the store's own), not left behind in the shared Redis.
      await kv.deletePrefix('').catch(() => undefined)
      await kv.close()
      proxy.close()
      for (const s of sockets) s.destroy()
    }
  })
})

describe.skipIf(!servicesAvailable)('the Redis KV store watching for the loss of its data', () => {
  /** A store that counts the losses it reports (logs), and a plain client on the same database. */
  async function watched() {
    const keyPrefix = `test:loss:${Date.now()}:${Math.random()}:`
    let losses = 0
    const log = pino(
      { level: 'warn' },
      {
        write: (line: string) => {
          if (line.includes('the store was flushed')) losses++
        },
      },
    )
    const kv = await createRedisKv({ url: redisUrl, keyPrefix, log })
    const raw = createClient({ url: redisUrl })
    await raw.connect()
    const aliveKeys = () => raw.keys(`${keyPrefix}tandem-store-alive*`)
    return { kv, raw, keyPrefix, aliveKeys, losses: () => losses }
  }

  /**
   * Deletes the store's alive keys from outside, as FLUSHDB would, and waits until the store has set
   * its own again: every push before the deletion has been checked by then, in order.
   */
  async function loseAndRecover(store: Awaited<ReturnType<typeof watched>>) {
    const [own] = await store.aliveKeys()
    expect(own).toBeDefined()
    await store.raw.del(own as string)
    for (let tries = 0; tries < 200 && !(await store.raw.exists(own as string)); tries++)
      await new Promise((resolve) => setTimeout(resolve, 25))
    expect(await store.raw.exists(own as string)).toBe(1)
  }

  it('reports the loss of its own data once, and not a flush of another database on the server', async () => {
    const store = await watched()
    // A database of the same server nobody uses (empty), so that flushing it empties only this key.
    const other = createClient({ url: redisUrl })
    await other.connect()
    let flushed = false
    try {
      for (let db = 15; db >= 1 && !flushed; db--) {
        await other.select(db)
        if (db === Number(new URL(redisUrl).pathname.slice(1) || 0) || (await other.dbSize()) > 0) continue
        await other.set('tandem-test-other-database', '1')
        await other.flushDb()
        flushed = true
      }
      expect(flushed).toBe(true)
      await loseAndRecover(store)
      expect(store.losses()).toBe(1)
    } finally {
      await other.quit()
      await store.raw.quit()
      await store.kv.deletePrefix('')
      await store.kv.close()
    }
  })

  it("is not told of another store's alive key going (a process closing), and removes its own when it closes", async () => {
    const store = await watched()
    const neighbour = await createRedisKv({
      url: redisUrl,
      keyPrefix: store.keyPrefix,
      log: pino({ level: 'silent' }),
    })
    try {
      expect(await store.aliveKeys()).toHaveLength(2)
      await neighbour.close()
      expect(await store.aliveKeys()).toHaveLength(1)
      await loseAndRecover(store)
      expect(store.losses()).toBe(1)
      await store.kv.close()
      expect(await store.aliveKeys()).toEqual([])
    } finally {
      await store.raw.quit()
    }
  })
})

describe.skipIf(!servicesAvailable)('the Redis KV store closing', () => {
  it('closes within seconds while Redis stalls (connected, answering nothing)', async () => {
    const target = new URL(redisUrl)
    const sockets = new Set<Socket>()
    let stalled = false
    const proxy = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname)
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        sockets.add(from)
        from.on('error', () => undefined)
        from.on('close', () => sockets.delete(from))
        from.on('data', (chunk: Buffer) => {
          if (!stalled) to.write(chunk)
        })
      }
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    const { port } = proxy.address() as AddressInfo
    const keyPrefix = `test:stalled:${Date.now()}:${Math.random()}:`
    const kv = await createRedisKv({
      url: `redis://127.0.0.1:${port}${target.pathname}`,
      keyPrefix,
      log: pino({ level: 'silent' }),
    })
    try {
      stalled = true
      const started = Date.now()
      await kv.close()
      // Two bounds of 2 s (the watcher, then the client), about 4 s; a stalled server held it for ever.
      // Room for a loaded machine: the bounds are timers, not work.
      expect(Date.now() - started).toBeLessThan(15_000)
    } finally {
      proxy.close()
      for (const s of sockets) s.destroy()
      await dropRedisPrefix(redisUrl, keyPrefix, pino({ level: 'silent' }))
    }
  })
})
