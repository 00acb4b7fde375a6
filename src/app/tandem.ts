import { randomUUID } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { pino, type Logger as Pino } from 'pino'
import { auditCommands, auditReads, type RefusedBefore } from '../core/audit.js'
import { createQueryCache, defaultCacheBytes, type QueryCache } from '../core/cache.js'
import { createCommandBus, type CommandBus } from '../core/command-bus.js'
import { uuidv7 } from '../core/ids.js'
import { createMetrics, type Metrics } from '../core/metrics.js'
import { createStreamMemory, type StreamMemory } from '../core/stream-memory.js'
import { authorize, logCalls, measure, validate } from '../core/middleware.js'
import {
  cacheAnswers,
  createQueryBus,
  requireVersions,
  waitForPosition,
  type QueryBus,
} from '../core/query-bus.js'
import { createRegistry, type Registry } from '../core/registry.js'
import { domainTags } from '../core/cache.js'
import { noReplicas, openReplicas } from '../core/replicas.js'
import type { Logger } from '../core/logger.js'
import type { Sql } from '../core/sql.js'
import { checkDomains } from '../kernel/check.js'
import { createAuth, type Auth } from './auth.js'
import type { KvStore } from '../projections/kv.js'
import { createMemoryKv } from '../projections/kv-memory.js'
import { createRedisKv } from '../projections/kv-redis.js'
import { postgresFeed } from '../transport/progress.js'
import { createProjectionManager, type Placement, type ProjectionManager } from '../projections/manager.js'
import type { Projection } from '../projections/projection.js'
import { localClaims, postgresClaims } from '../storage/claims.js'
import { createProcessorManager, type ProcessorManager } from '../processors/manager.js'
import { transactionLookup } from '../projections/read-your-writes.js'
import { claimReadStore, readMigrations } from '../projections/targets.js'
import { auditLogReader, createAuditWriter, type AuditWriter } from '../storage/audit-log.js'
import { idempotency, purgeIdempotencyRecords } from '../storage/idempotency.js'
import { migrate, type Migration } from '../storage/migrations.js'
import type { PgliteSettings } from '../storage/pglite-session.js'
import { headPosition, readPositions, readStream } from '../storage/event-log.js'
import { createPglite } from '../storage/pglite.js'
import { createPostgres } from '../storage/postgres.js'
import { templateName } from '../storage/scratch-database.js'
import { logIdentity, renewLogIdentity, writeMigrations } from '../storage/schema.js'
import { createScheduler, type Scheduler } from '../storage/scheduler.js'
import { createUnitOfWork } from '../storage/unit-of-work.js'
import { localWake, postgresListener, postgresWake, type Wake } from '../transport/wake.js'
import { allRoles, checkSettings, ConfigError, notAnswering, type Config, type Role } from './config.js'
import { dataDirSecret, lockDataDir } from './data-dir.js'
import type { Domain } from './domain.js'
import { domains as allDomains } from './domains.js'

/** A running Tandem: stores, buses, projections. The HTTP server and the CLI are built on it. */
export interface Tandem {
  readonly config: Config
  readonly mode: 'embedded' | 'server'
  /** What this process does; its HTTP server offers the routes of these roles only. */
  readonly roles: ReadonlySet<Role>
  readonly log: Pino
  readonly domains: readonly Domain[]
  readonly registry: Registry
  readonly sql: Sql
  readonly readSql: Sql
  readonly kv: KvStore
  readonly cache: QueryCache
  /** What commands keep of their streams between them (core/stream-memory.ts). */
  readonly streamMemory: StreamMemory
  readonly metrics: Metrics
  readonly commands: CommandBus
  readonly queries: QueryBus
  readonly projections: ProjectionManager
  /** Reactions to events (domains' `processors`), run by processes with the projector role. */
  readonly processors: ProcessorManager
  /** Commands scheduled for later (`CommandTx.schedule`); fired by processes with the command role. */
  readonly timers: Scheduler
  /** The audit log's writer (core/audit.ts): `flush()` writes the buffered reads now. */
  readonly audit: AuditWriter
  /** Records a command the HTTP layer refused before the bus (its domain audited): core/audit.ts. */
  auditRefusal(refusal: RefusedBefore): Promise<void>
  readonly auth: Auth
  close(): Promise<void>
}

export interface TandemOptions {
  config: Config
  domains?: readonly Domain[]
  log?: Pino
  /** Embedded only: keep the database in memory instead of DATA_DIR (tests, benchmarks). */
  inMemory?: boolean
  /** Embedded only: PostgreSQL settings PGlite starts with (tests: small shared buffers). */
  pgliteSettings?: PgliteSettings
  /**
   * In memory only: the first Tandem of a set of migrations keeps a copy of its database once
   * migrated, and the next ones of the same migrations in this process start from it, each with a
   * log identity of its own (tests start hundreds: applying the migrations cost more CPU than
   * loading the copy). The copy stays in memory while the process lives.
   */
  inMemoryCopies?: boolean
  /** Seconds between polls of the log when no wake-up comes. */
  pollMs?: number
  /** How long a rebuilt projection's old generation outlives the switch (tests shorten it). */
  retireAfterMs?: number
  /**
   * Server mode: how long the progress feed gathers what this process publishes before one NOTIFY
   * (default 2 ms). Tests lengthen it to make one projector's messages late.
   */
  feedCoalesceMs?: number
  /** The time commands are decided at and tokens checked at (tests move it; default: the system clock). */
  clock?: () => Date
  /**
   * `loop` (default): a command process fires due timers by itself. `manual`: only `timers.runDue()`
   * fires them, so a test that moves the clock past a timer acts before it fires, at any speed.
   */
  timers?: 'loop' | 'manual'
}

/** Opens the stores, applies migrations, starts the projections and builds the buses. */
export async function startTandem(options: TandemOptions): Promise<Tandem> {
  const { config } = options
  const domains = options.domains ?? allDomains
  checkDomains(domains)
  checkSettings(domains)
  const log = options.log ?? pino({ level: config.logLevel })
  const mode = config.databaseUrl ? 'server' : 'embedded'
  const roles = new Set(config.roles ?? allRoles)
  if (mode === 'embedded' && roles.size < allRoles.length) {
    throw new ConfigError(
      'ROLES can split the work only in server mode (DATABASE_URL): embedded is one process',
    )
  }
  const closers: (() => Promise<void> | void)[] = []
  const close = async () => {
    for (const closer of closers.reverse()) await closer()
  }
  try {
    const metrics = createMetrics({ processMetrics: true })
    const copies = options.inMemory && options.inMemoryCopies ? copyKey(domains) : undefined
    const copy = copies === undefined ? undefined : await migratedCopy(copies)
    const { sql, readSql, copyOf } = await openDatabases({ ...options, copy }, closers, metrics)
    // A copy was another database's: this one is a log of its own, and its read models this log's.
    if (copy) await renewLogIdentity(sql)
    await migrateDatabases({ sql, readSql, domains, log })
    if (copies !== undefined && !copy && copyOf && !migratedCopies.has(copies)) {
      const made = copyOf()
      // Failed (this Tandem closed at once, say): forgotten by the next start, and no rejection unheard.
      made.catch(() => undefined)
      migratedCopies.set(copies, made)
    }
    if (mode === 'server') await warnOfLosableCommits(sql, log)

    // A process with the command role alone places no read model (`placementOf`): it needs no Redis,
    // and one restarted while Redis is away comes back (its /ready does not ask Redis either).
    const readsKv = roles.has('query') || roles.has('projector')
    const kv = config.redisUrl && readsKv ? await openRedisKv(config.redisUrl, sql, log) : createMemoryKv()
    closers.push(() => kv.close())
    // Server mode: one LISTEN connection carries commit wake-ups and the projectors' progress.
    const sender = randomUUID()
    const listener = config.databaseUrl ? postgresListener({ url: config.databaseUrl, log }) : undefined
    const wake: Wake = listener ? postgresWake({ listener, sql, sender, log }) : localWake()
    const feed = listener
      ? postgresFeed({
          listener,
          sql,
          sender,
          log,
          ...(options.feedCoalesceMs === undefined ? {} : { coalesceMs: options.feedCoalesceMs }),
        })
      : undefined
    await listener?.start()
    closers.push(async () => {
      await wake.close()
      await feed?.close()
      await listener?.close()
    })
    const sharedStore = (p: Projection) => p.store === 'sql' || config.redisUrl !== undefined

    const registry = createRegistry({
      commands: domains.flatMap((d) => d.commands),
      queries: domains.flatMap((d) => d.queries),
    })
    const cache = createQueryCache({
      maxBytes: config.queryCacheMb === undefined ? defaultCacheBytes : config.queryCacheMb * 2 ** 20,
    })
    const streamMemory = createStreamMemory(config.streamMemoryStreams)
    // What one process of the deployment does at a time (rebuilds, processors): closed last.
    const claims = config.databaseUrl ? postgresClaims({ url: config.databaseUrl, log }) : localClaims()
    closers.push(() => claims.close())
    const projections = createProjectionManager({
      projections: domains.flatMap((d) => d.projections),
      claims,
      source: sql,
      readSql,
      kv,
      wake,
      cache,
      metrics,
      log,
      pollMs: options.pollMs,
      ...(options.retireAfterMs === undefined ? {} : { retireAfterMs: options.retireAfterMs }),
      feed,
      shared: sharedStore,
      placement: (p) => placementOf(sharedStore(p), roles),
    })
    await projections.start()
    closers.push(() => projections.stop())

    // The domains' own read models, where queries are answered: closed before the projections stop.
    const transactions = transactionLookup(sql)
    const replicas = roles.has('query')
      ? await openReplicas(domains, (domain, name) => ({
          sql,
          log: log.child({ replica: `${domain}/${name}` }),
          pollMs: options.pollMs ?? defaultReplicaPollMs,
          onCommitted: (listener, types) => wake.subscribe(listener, types),
          invalidate: (tags) => cache.invalidate(domainTags(domain, tags)),
          transactionOf: transactions,
        }))
      : noReplicas
    closers.push(() => replicas.close())

    // The audit log (core/audit.ts): commands of the domains that opt in, reads that queries report.
    const audit = createAuditWriter({ sql, log })
    closers.push(() => audit.close())
    const auditedDomains = new Set(domains.filter((d) => d.audit === true).map((d) => d.name))
    const commandAudit = auditCommands({
      sink: audit,
      audited: (domain) => auditedDomains.has(domain),
      newId: () => uuidv7(),
    })
    const audits = auditedDomains.size > 0
    const readsAudited = domains.some((d) => d.queries.some((q) => q.audit !== undefined))
    const clock = options.clock ?? (() => new Date())

    const commands = createCommandBus({
      registry,
      unitOfWork: createUnitOfWork({
        sql,
        memory: streamMemory,
        onCommitted: (position, types) => wake.committed(position, types),
        onRecall: (result) => metrics.recall(result),
        onScheduled: (at) => timers.scheduled(at),
        eventOwners: new Map(domains.flatMap((d) => d.events.map((e): [string, string] => [e.type, d.name]))),
      }),
      middleware: [
        logCalls(),
        measure(metrics),
        ...(audits ? [commandAudit.middleware] : []),
        authorize(),
        validate(),
      ],
      transactional: [...(audits ? [commandAudit.transactional] : []), idempotency()],
      ...(options.clock ? { clock: options.clock } : {}),
    })
    const queries = createQueryBus({
      registry,
      stores: projections.stores,
      history: {
        stream: (streamId, options) => readStream(sql, streamId, options),
        at: (positions) => readPositions(sql, positions),
      },
      auditLog: auditLogReader(sql),
      progress: projections,
      replicas,
      middleware: [
        logCalls(),
        measure(metrics),
        authorize(),
        validate(),
        ...(readsAudited ? [auditReads({ sink: audit, clock, newId: () => uuidv7() })] : []),
        requireVersions(projections),
        waitForPosition(projections, replicas),
        cacheAnswers(cache, metrics),
      ],
    })

    // After the command bus: processors send commands. Stopped first (closers run in reverse).
    const processors = createProcessorManager({
      processors: domains.flatMap((d) => d.processors ?? []),
      sql,
      commands,
      wake,
      claims,
      metrics,
      log,
      run: roles.has('projector'),
      pollMs: options.pollMs,
    })
    await processors.start()
    closers.push(() => processors.stop())

    const timers = createScheduler({
      sql,
      commands,
      log,
      onFired: (outcome) => metrics.timerFired(outcome),
      ...(options.clock ? { clock: options.clock } : {}),
    })
    if (roles.has('command')) {
      if (options.timers !== 'manual') timers.start()
      closers.push(() => timers.stop())
      metrics.timerCounts(() => timers.counts())
      const purge = setInterval(
        () => void sql.query(purgeIdempotencyRecords).catch(() => undefined),
        10 * 60_000,
      )
      purge.unref()
      closers.push(() => clearInterval(purge))
    }

    // Token times are read on the commands' clock: a test that moves it expires tokens too.
    const auth = createAuth(config.authSecret ?? dataDirSecret(config.dataDir), options.clock)
    return {
      config,
      mode,
      roles,
      log,
      domains,
      registry,
      sql,
      readSql,
      kv,
      cache,
      streamMemory,
      metrics,
      commands,
      queries,
      projections,
      processors,
      timers,
      audit,
      auditRefusal: (refusal) => commandAudit.refusedBefore(refusal),
      auth,
      close,
    }
  } catch (error) {
    await close().catch(() => undefined)
    throw error
  }
}

/** A replica reads the log this often when no commit wakes it (wake-ups can be lost: a dropped connection). */
const defaultReplicaPollMs = 1000

/**
 * A projection in a shared store (Redis, SQL) is applied by projector processes and followed by
 * query processes; one in process memory is applied by every process that answers queries from it.
 */
function placementOf(shared: boolean, roles: ReadonlySet<Role>): Placement | undefined {
  if (!shared) return roles.has('query') ? 'run' : undefined
  if (roles.has('projector')) return 'run'
  return roles.has('query') ? 'follow' : undefined
}

/**
 * Read models in Redis, keyed and its connection named after the event log: a fresh database never
 * meets read models built from another one.
 */
async function openRedisKv(url: string, sql: Sql, log: Pino): Promise<KvStore> {
  const prefix = await redisPrefixOf(sql)
  return createRedisKv({ url, keyPrefix: prefix, clientName: prefix.slice(0, -1), log })
}

/** Where a log's read models live in Redis: every key begins `tandem:<its identity's first 13 characters>:`. */
export async function redisPrefixOf(sql: Sql): Promise<string> {
  return `tandem:${(await logIdentity(sql)).slice(0, 13)}:`
}

/** Copies of migrated in-memory databases, by their migrations (`inMemoryCopies`). */
const migratedCopies = new Map<string, Promise<Uint8Array>>()

function copyKey(domains: readonly Domain[]): string {
  const { write, read } = migrationsOf(domains)
  return templateName([...write, ...read])
}

/** The copy kept for `key`, if one was made; one that failed to be made is forgotten. */
async function migratedCopy(key: string): Promise<Uint8Array | undefined> {
  try {
    return await migratedCopies.get(key)
  } catch {
    migratedCopies.delete(key)
    return undefined
  }
}

/**
 * The write and read databases (and, embedded, the DATA_DIR lock); what closes them goes on
 * `closers`. In memory, the database starts from `copy` if one is given; `copyOf` takes a copy of it.
 */
async function openDatabases(
  options: Pick<TandemOptions, 'config' | 'inMemory' | 'pgliteSettings'> & { copy?: Uint8Array },
  closers: (() => Promise<void> | void)[],
  metrics?: Metrics,
): Promise<{ sql: Sql; readSql: Sql; copyOf?: () => Promise<Uint8Array> }> {
  const { config } = options
  if (!config.databaseUrl && !options.inMemory) closers.push(lockDataDir(config.dataDir))
  const onCommitGroup = metrics?.commitGroup
  const pglite = config.databaseUrl
    ? undefined
    : await createPglite(options.inMemory ? undefined : join(config.dataDir, 'pgdata'), {
        onCommitGroup,
        settings: options.pgliteSettings,
        ...(options.inMemory && options.copy ? { copy: options.copy } : {}),
      }).catch((error: unknown) => {
        // PGlite's own message names neither the setting nor the folder (one another user owns, say).
        if (options.inMemory) throw error
        const pgdata = join(config.dataDir, 'pgdata')
        // PGlite's file system throws a plain object for a file where the folder goes: { errno: 54 }.
        const reason =
          existsSync(pgdata) && !statSync(pgdata).isDirectory()
            ? `${pgdata} is a file`
            : error instanceof Error
              ? error.message
              : JSON.stringify(error)
        throw new ConfigError(
          `DATA_DIR ${config.dataDir}: the database in its pgdata folder cannot be opened (${reason})`,
        )
      })
  const sql =
    pglite ?? createPostgres({ url: config.databaseUrl ?? '', max: config.databasePoolSize, onCommitGroup })
  closers.push(() => sql.close())
  const readSql = config.readDatabaseUrl
    ? createPostgres({
        url: config.readDatabaseUrl,
        max: config.databasePoolSize,
        applicationName: 'tandem-read',
      })
    : sql
  if (readSql !== sql) closers.push(() => readSql.close())
  if (config.databaseUrl) await answers(sql, 'DATABASE_URL', config.databaseUrl)
  if (readSql !== sql && config.readDatabaseUrl)
    await answers(readSql, 'READ_DATABASE_URL', config.readDatabaseUrl)
  return { sql, readSql, ...(pglite && options.inMemory ? { copyOf: () => pglite.copy() } : {}) }
}

/**
 * A PostgreSQL that may lose its last commits in a crash (`fsync` or `synchronous_commit` off) hands
 * their transaction ids out again after it: a read model may then hold an event the log lost, and
 * skip events written after the restart below where it had read (src/storage/event-log.ts,
 * `crashSafeHorizon`, relies on commits that wrote events reaching the disk). The operator's choice,
 * said at start with what to do after such a crash.
 */
async function warnOfLosableCommits(sql: Sql, log: Logger): Promise<void> {
  const off = await sql.query<{ name: string }>(
    `SELECT name FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') AND setting = 'off'`,
  )
  if (off.length === 0) return
  log.warn(
    { settings: off.map((r) => `${r.name}=off`) },
    'PostgreSQL may lose its last commits in a crash: after one, rebuild every read model (tandem rebuild <projection>)',
  )
}

/** A PostgreSQL that does not answer at start stops the process, naming the variable that named it. */
async function answers(sql: Sql, variable: string, url: string): Promise<void> {
  try {
    await sql.query('SELECT 1')
  } catch (error) {
    throw notAnswering(variable, url, error)
  }
}

async function migrateDatabases(options: {
  sql: Sql
  readSql: Sql
  domains: readonly Domain[]
  log: Logger
}) {
  const { sql, readSql, domains, log } = options
  const { write, read } = migrationsOf(domains)
  await migrate(sql, write, log)
  await migrate(readSql, read, log)
  const identity = await logIdentity(sql)
  const owner = await claimReadStore(readSql, identity)
  if (owner !== identity)
    throw new ConfigError(
      `READ_DATABASE_URL holds the read models of another event log (${owner}), not this one's (${identity}, DATABASE_URL or DATA_DIR): give each log a read database of its own, or drop that database's schema read to have them built anew from this log`,
    )
}

/** What a Tandem serving `domains` migrates: its write database, and its read database (the same one unless READ_DATABASE_URL). */
export function migrationsOf(domains: readonly Domain[] = allDomains): {
  write: readonly Migration[]
  read: readonly Migration[]
} {
  return { write: [...writeMigrations, ...domains.flatMap((d) => d.migrations)], read: readMigrations }
}

/**
 * `tandem migrate`: opens the databases, applies what is missing, closes them; nothing else starts.
 * Gives the log's head position.
 */
export async function migrateOnly(options: { config: Config; domains?: readonly Domain[] }): Promise<string> {
  const closers: (() => Promise<void> | void)[] = []
  try {
    const { sql, readSql } = await openDatabases(options, closers)
    const log = pino({ level: options.config.logLevel })
    await migrateDatabases({ sql, readSql, domains: options.domains ?? allDomains, log })
    return await headPosition(sql)
  } finally {
    for (const closer of closers.reverse()) await closer()
  }
}
