import { pino, type Logger } from 'pino'
import type { Config } from '../app/config.js'
import type { Domain } from '../app/domain.js'
import { migrationsOf, redisPrefixOf, startTandem, type Tandem } from '../app/tandem.js'
import { createCommandBus, type CommandBus, type SendOptions } from '../core/command-bus.js'
import type { AnyCommand, AnyQuery, Caller } from '../core/messages.js'
import type { AskOptions, QueryBus } from '../core/query-bus.js'
import type { Recall } from '../core/metrics.js'
import { createStreamMemory, type StreamMemory } from '../core/stream-memory.js'
import type { Sql } from '../core/sql.js'
import { dropRedisPrefix } from '../projections/kv-redis.js'
import { createScratchDatabase } from '../storage/scratch-database.js'
import { createUnitOfWork } from '../storage/unit-of-work.js'
import { postgresUrl, redisUrl, type Mode } from './services.js'

export const testSecret = 'test-secret-0123456789abcdef'

/** Deletes the read models a server-mode Tandem kept in Redis under `prefix` (`redisPrefixOf` its log). */
export const dropRedisReadModels = (prefix: string) =>
  dropRedisPrefix(redisUrl, prefix, pino({ level: 'silent' }))

/** A test's in-memory PGlite holds little: small shared buffers start it in two thirds of the CPU. */
export const testPgliteSettings = { shared_buffers: '16MB' } as const

export interface TestTandem extends Tandem {
  /** Closes the Tandem and drops its scratch database. */
  dispose(): Promise<void>
  token(caller: Caller, expiresInSeconds?: number): string
  /**
   * Moves the clock commands are decided at by `ms` from the real time (0: back to it), so a test
   * can create what started an hour ago, or act an hour later, without waiting.
   */
  shiftClock(ms: number): void
}

export interface TestTandemOptions {
  /** The domains to serve (default: every domain of this build). */
  domains?: readonly Domain[]
  pollMs?: number
  /** How long a rebuilt generation outlives its switch (default 30 s). */
  retireAfterMs?: number
  /** Where the Tandems log (default: nowhere, or at TEST_LOG_LEVEL to stdout). */
  log?: Logger
  /**
   * `manual` (default): timers fire only when the test calls `timers.runDue()`, so a test that moves
   * the clock past one acts before it fires however slow the machine is. `loop`: as in production.
   */
  timers?: 'loop' | 'manual'
}

/**
 * A Tandem for one test file. Embedded: in-memory PGlite and memory KV. Server: a scratch
 * PostgreSQL database (dropped after) and Redis (keys namespaced by the new log's identity).
 */
export async function startTestTandem(
  mode: Mode,
  options: TestTandemOptions & { config?: Partial<Config> } = {},
): Promise<TestTandem> {
  const [tandem] = await startTestProcesses(mode, [options.config ?? {}], options)
  return tandem as TestTandem
}

/**
 * Several Tandems on one scratch database and Redis, as separate processes of one deployment would
 * be (e.g. one per role). Each one's `dispose` closes it; the last one closed drops the database.
 */
export async function startTestProcesses(
  mode: Mode,
  configs: readonly (Partial<Config> & { feedCoalesceMs?: number })[],
  options: TestTandemOptions = {},
): Promise<TestTandem[]> {
  // Copied from a template that has every migration applied (src/storage/scratch-database.ts).
  const { write, read } = migrationsOf(options.domains)
  const sameDatabase = configs.every((c) => !c.readDatabaseUrl)
  const migrations = [...write, ...(sameDatabase ? read : [])]
  const scratch =
    mode === 'server' ? await createScratchDatabase(postgresUrl, 'test', { migrations }) : undefined
  let open = 0
  /** Server mode: the Redis key prefix of the scratch log's read models, dropped with the database. */
  let redisPrefix: string | undefined
  /** What the last one closed drops: the scratch database, and the read models it left in Redis. */
  const dropStores = async () => {
    await scratch?.drop()
    if (redisPrefix !== undefined) await dropRedisReadModels(redisPrefix)
  }
  // The last position a command through any of these processes committed: their reads wait for it.
  let written: bigint | undefined
  const started: TestTandem[] = []
  try {
    for (const { feedCoalesceMs, ...overrides } of configs) {
      const config: Config = {
        port: 0,
        host: '127.0.0.1',
        dataDir: './data-test-unused',
        databaseUrl: scratch?.url,
        readDatabaseUrl: undefined,
        redisUrl: mode === 'server' ? redisUrl : undefined,
        authSecret: testSecret,
        logLevel: 'silent',
        databasePoolSize: 20,
        streamMemoryStreams: 10_000,
        ...overrides,
      }
      let shift = 0
      const tandem = await startTandem({
        config,
        domains: options.domains,
        inMemory: mode === 'embedded',
        inMemoryCopies: true,
        pgliteSettings: testPgliteSettings,
        log: options.log ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
        pollMs: options.pollMs,
        ...(options.retireAfterMs === undefined ? {} : { retireAfterMs: options.retireAfterMs }),
        ...(feedCoalesceMs === undefined ? {} : { feedCoalesceMs }),
        clock: () => new Date(Date.now() + shift),
        timers: options.timers ?? 'manual',
      })
      open++
      if (mode === 'server' && redisPrefix === undefined) redisPrefix = await redisPrefixOf(tandem.sql)
      let disposed = false
      started.push({
        ...tandem,
        ...readingOwnWrites(tandem, {
          wrote(position) {
            if (written === undefined || position > written) written = position
          },
          written: () => written,
        }),
        async dispose() {
          if (disposed) return
          disposed = true
          await tandem.close()
          if (--open === 0) await dropStores()
        },
        shiftClock: (ms) => {
          shift = ms
        },
        token: (caller, expiresInSeconds) =>
          tandem.auth.sign(
            { sub: caller.id, roles: caller.roles, ...(caller.dept ? { dept: caller.dept } : {}) },
            { expiresInSeconds },
          ),
      })
    }
    return started
  } catch (error) {
    for (const tandem of started) await tandem.close()
    await dropStores()
    throw error
  }
}

/** How long a test's read waits for the test's own writes before it fails as lagging. */
const ownWritesWaitMs = 10_000

/**
 * The Tandem's buses, reading their own writes as a client following the API does: a query that
 * names no `minPosition` waits for the last position a command of the test committed. Projections
 * lag more when other test files hold transactions open on the same PostgreSQL server (the read
 * horizon is the server's), so a test that read without it failed at random. It waits for that
 * position's event only: commands sent side by side can be read from the log in another order than
 * their positions, so a test that needs each of them applied waits for each one's position.
 */
function readingOwnWrites(
  tandem: Tandem,
  track: { wrote(position: bigint): void; written(): bigint | undefined },
): Pick<Tandem, 'commands' | 'queries'> {
  const commands: CommandBus = {
    registry: tandem.commands.registry,
    async execute(command: string | AnyCommand, input: unknown, options?: SendOptions) {
      const done = await tandem.commands.execute(command as string, input, options)
      if (done.status === 'succeeded' && done.position !== null) track.wrote(BigInt(done.position))
      return done
    },
  } as CommandBus
  const queries: QueryBus = {
    registry: tandem.queries.registry,
    ask(query: string | AnyQuery, input: unknown, options: AskOptions = {}) {
      const written = track.written()
      const own =
        options.minPosition === undefined && written !== undefined
          ? { ...options, minPosition: written, maxWaitMs: ownWritesWaitMs }
          : options
      return tandem.queries.ask(query as string, input, own)
    },
  } as QueryBus
  return { commands, queries }
}

/**
 * `sql` whose transactions count the statements containing `fragment` (a test's way to see which
 * reads a command made). Reads outside transactions are not counted.
 */
export function countingReads(sql: Sql, fragment: string): { sql: Sql; counted: { reads: number } } {
  const counted = { reads: 0 }
  const counting: Sql = {
    ...sql,
    transaction: (fn) =>
      sql.transaction((tx) =>
        fn({
          query(text, params) {
            if (text.includes(fragment)) counted.reads++
            return tx.query(text, params)
          },
          commit: (statements, options) => tx.commit(statements, options),
        }),
      ),
  }
  return { sql: counting, counted }
}

/**
 * Another command process on a test Tandem's database: a command bus (no middleware) with a stream
 * memory of its own, counting the statements containing `fragment` its commands make in their
 * transactions, and each command's recall outcome. What one process's commands do, another's memory
 * does not know, as with two servers.
 */
export function commandProcess(
  tandem: Pick<Tandem, 'sql' | 'commands'>,
  fragment: string,
): { bus: CommandBus; memory: StreamMemory; counted: { reads: number }; recalls: Recall[] } {
  const memory = createStreamMemory()
  const recalls: Recall[] = []
  const { sql, counted } = countingReads(tandem.sql, fragment)
  const bus = createCommandBus({
    registry: tandem.commands.registry,
    unitOfWork: createUnitOfWork({ sql, memory, onRecall: (result) => recalls.push(result) }),
    middleware: [],
  })
  return { bus, memory, counted, recalls }
}

/**
 * Waits until every transaction that wrote to the log has ended, as a reader's snapshot sees it:
 * until then a gap-safe reader (a projection, a processor) reads only below the oldest still running,
 * and a transaction running anywhere on the PostgreSQL server (another test file's) holds it back
 * for its duration, by design. A spec that needs events read in one batch waits for this first.
 */
export async function logSettled(sql: Pick<Sql, 'query'>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [row] = await sql.query<{ settled: boolean }>(
      `SELECT coalesce(pg_snapshot_xmin(pg_current_snapshot()) > max(tx_id), true) AS settled FROM tandem.event_log`,
    )
    if (row?.settled === true) return
    if (Date.now() > deadline) throw new Error(`the log did not settle within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
