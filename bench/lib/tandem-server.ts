import { pino } from 'pino'
import type { Role } from '../../src/app/config.js'
import { createAuth, type Auth } from '../../src/app/auth.js'
import { dropRedisPrefix } from '../../src/projections/kv-redis.js'
import { createScratchDatabase, type ScratchOptions } from '../../src/storage/scratch-database.js'
import type { Statement } from '../../src/core/sql.js'
import type { Audit, StudyAudit, StudySubject } from '../server/protocol.js'
import type { BenchContext } from './context.js'
import type { Mode } from './results.js'
import { startServerProcess, type ServerProcess } from './server-process.js'

export const benchSecret = 'bench-secret-0123456789abcdef'

/** A Tandem HTTP server in a child process, on a fresh store, with the token signer of its secret. */
export interface TandemServer {
  readonly mode: Mode
  readonly server: ServerProcess
  readonly auth: Auth
  /** Server mode: the scratch database's name and address. */
  readonly database: string | undefined
  readonly databaseUrl: string | undefined
  /** Creates upcoming events with this capacity; resolves to their ids once the read models show them. */
  seed(events: number, capacity: number): Promise<string[]>
  audit(eventIds: readonly string[]): Promise<Audit>
  /** What the study domain recorded of these subjects' progress updates (counts taken once settled). */
  studyAudit(subjects: readonly StudySubject[]): Promise<StudyAudit>
  /** Resolves once the read models this process serves have applied the whole log. */
  caughtUp(): Promise<void>
  /** Feed scenario: statements in one transaction (bulk loads). */
  sqlCommit(statements: readonly Statement[]): Promise<void>
  sqlQuery<R>(text: string, params: readonly unknown[]): Promise<R[]>
  /** Feed scenario: a query's data, asked as this account with the cache off. */
  ask<R>(address: string, input: Record<string, unknown>, caller: string): Promise<R>
  /** Feed scenario: the newest `count` members of each sorted set of a KV read model. */
  kvNewest(model: string, keys: readonly string[], count: number): Promise<string[][]>
  /** Feed scenario: whether each read model this process places has caught up with the log. */
  projectionStatus(): Promise<{ name: string; caughtUp: boolean }[]>
  /** Feed scenario: the live generation's key prefix of a KV read model (after the Redis prefix). */
  kvPrefix(model: string): Promise<string>
  close(): Promise<void>
}

export interface TandemServerOptions {
  /** Server mode: what the process does (default every role). */
  roles?: readonly Role[]
  /** Server mode: another process of the same deployment, whose database and Redis this one shares. */
  joins?: TandemServer
  /** How the feed domain builds home feeds (FEED_MODE, FEED_PULL_ABOVE); default: the domain's. */
  feed?: { mode: 'push' | 'pull' | 'hybrid'; pullAbove?: number }
  /** Streams whose state the process keeps (STREAM_MEMORY_STREAMS); default Tandem's. */
  streamMemory?: number
  /**
   * Keep the cards' DuckDB replica in memory (CARDS_DUCKDB=memory), as Tandem does by default; off
   * otherwise, so that a scenario measures only what it names (the replica reads the whole log).
   */
  duckdb?: boolean
}

export function storesOf(mode: Mode): string {
  return mode === 'embedded' ? 'in-memory PGlite + memory KV' : 'PostgreSQL (scratch database) + Redis'
}

/**
 * A Tandem server process on a fresh store, or (`joins`) on the store of another one. The process
 * that made the store drops it when it closes; close the ones that joined it first.
 */
export async function startTandemServer(
  ctx: BenchContext,
  mode: Mode,
  options: TandemServerOptions = {},
): Promise<TandemServer> {
  const { joins, roles, feed, streamMemory, duckdb } = options
  if (mode === 'embedded' && (joins || roles)) throw new Error('Only server mode splits roles')
  const scratch =
    mode === 'server' && !joins
      ? await createScratchDatabase(ctx.postgresUrl, 'bench', await migrated(ctx))
      : undefined
  const url = scratch?.url ?? joins?.databaseUrl
  let server: ServerProcess
  try {
    server = await startServerProcess(
      'tandem',
      {
        BENCH_AUTH_SECRET: benchSecret,
        BENCH_LOG_LEVEL: ctx.logLevel,
        CARDS_DUCKDB: duckdb ? 'memory' : 'off',
        ...(url ? { BENCH_DATABASE_URL: url, BENCH_REDIS_URL: ctx.redisUrl } : {}),
        ...(roles ? { BENCH_ROLES: roles.join(',') } : {}),
        ...(feed ? { FEED_MODE: feed.mode } : {}),
        ...(feed?.pullAbove !== undefined ? { FEED_PULL_ABOVE: String(feed.pullAbove) } : {}),
        ...(streamMemory !== undefined ? { BENCH_STREAM_MEMORY_STREAMS: String(streamMemory) } : {}),
      },
      { quickStart: ctx.smoke },
    )
  } catch (error) {
    await scratch?.drop()
    throw error
  }
  return {
    mode,
    server,
    auth: createAuth(benchSecret),
    database: url ? new URL(url).pathname.slice(1) : undefined,
    databaseUrl: url,
    seed: (events, capacity) => server.call<string[]>({ op: 'seed', events, capacity }),
    audit: (eventIds) => server.call<Audit>({ op: 'audit', eventIds: [...eventIds] }),
    studyAudit: (subjects) => server.call<StudyAudit>({ op: 'studyAudit', subjects: [...subjects] }),
    caughtUp: () => server.call<null>({ op: 'caughtUp' }).then(() => undefined),
    sqlCommit: (statements) =>
      server
        .call<null>({
          op: 'sqlCommit',
          statements: statements.map((s) => ({ text: s.text, params: s.params ? [...s.params] : [] })),
        })
        .then(() => undefined),
    sqlQuery: (text, params) => server.call({ op: 'sqlQuery', text, params: [...params] }),
    ask: (address, input, caller) => server.call({ op: 'ask', address, input, caller }),
    kvNewest: (model, keys, count) => server.call({ op: 'kvNewest', model, keys: [...keys], count }),
    projectionStatus: () => server.call({ op: 'projectionStatus' }),
    kvPrefix: (model) => server.call({ op: 'kvPrefix', model }),
    async close() {
      await server.close()
      if (!scratch) return
      await scratch.drop()
      if (server.redisPrefix)
        await dropRedisPrefix(ctx.redisUrl, server.redisPrefix, pino({ level: 'silent' }))
    },
  }
}

/** The bare Fastify server: one trivial GET, started the same way as Tandem's. */
export async function startBareServer(): Promise<ServerProcess> {
  return startServerProcess('bare', {})
}

/**
 * A smoke run, which starts a dozen servers on the sources, starts each on a copy of a migrated
 * database (src/storage/scratch-database.ts). A real run migrates as a user's server does: its
 * servers run the build, whose migrations may differ from the sources'.
 */
async function migrated(ctx: BenchContext): Promise<ScratchOptions> {
  if (!ctx.smoke) return {}
  const { write, read } = (await import('../../src/app/tandem.js')).migrationsOf()
  return { migrations: [...write, ...read] }
}
