import type { QueryCache } from '../core/cache.js'
import { ConflictError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Metrics } from '../core/metrics.js'
import type { ReadProgress } from '../core/query-bus.js'
import type { KvReader, ReadStores } from '../core/read-stores.js'
import type { Sql } from '../core/sql.js'
import {
  compareCheckpoints,
  compareDecimal,
  headPosition,
  transactionOf,
  type Checkpoint,
} from '../storage/event-log.js'
import type { Wake } from '../transport/wake.js'
import type { FeedMessage, ProgressFeed } from '../transport/progress.js'
import { createFollower, type Follower, type Progressing } from './follower.js'
import { scopedReader, type KvStore } from './kv.js'
import type { Projection } from './projection.js'
import { createRunner, type Runner } from './runner.js'
import { kvPrefix, sqlTableName, targetFor, type Catalog, type Target } from './targets.js'

export interface ProjectionStatus {
  name: string
  store: 'kv' | 'sql'
  version: number
  generation: number
  position: string
  caughtUp: boolean
  behind: number
  /** Applied by this process (false: applied by a projector process this one follows). */
  appliedHere: boolean
  rebuilding?: { generation: number; position: string }
}

/**
 * Where a projection is applied: `run` here, or `follow` (another process applies it into a shared
 * store; this one reads it and learns its progress from the feed).
 */
export type Placement = 'run' | 'follow'

/** A rebuild asked of a process that only follows the projection (a query process). */
export function notAppliedHere(name: string): ConflictError {
  return new ConflictError(
    'PROJECTION_NOT_APPLIED_HERE',
    'Projection applied elsewhere',
    `This process does not apply ${name}: ask a projector process to rebuild it`,
  )
}

export interface ProjectionManager extends ReadProgress {
  readonly stores: ReadStores
  start(): Promise<void>
  stop(): Promise<void>
  /** Resolves true once every live projection has applied the log as it is now; false after the timeout. */
  caughtUp(timeoutMs?: number): Promise<boolean>
  /** Builds a new generation beside the live one and switches to it when caught up. */
  rebuild(name: string): Promise<{ generation: number }>
  status(): Promise<ProjectionStatus[]>
  names(): string[]
  /** Drops every cached answer here and, through the feed, in every other process. */
  clearCaches(): void
}

export interface ProjectionManagerOptions {
  projections: readonly Projection[]
  /** The database holding the event log. */
  source: Sql
  /** The SQL read store (schema `read`). */
  readSql: Sql
  kv: KvStore
  wake: Wake
  cache: QueryCache
  metrics: Metrics
  log: Logger
  batchSize?: number
  pollMs?: number
  /** Where each projection is applied; undefined: not at all in this process. Default: all run here. */
  placement?: (projection: Projection) => Placement | undefined
  /** Server mode: progress, cache tags and switches shared with the other processes. */
  feed?: ProgressFeed
  /** Whether a projection's store is seen by other processes, so its progress is worth publishing. */
  shared?: (projection: Projection) => boolean
}

interface Live {
  projection: Projection
  /** The runner's or the follower's: whichever this process has. */
  progress: Progressing
  runner?: Runner
  follower?: Follower
  target: Target
  catalog: Catalog
  reader: KvReader | undefined
  rebuilding?: Runner
  switching?: Promise<void>
  /** A stored checkpoint ahead of the follower at the last sync: if no report covers it by the next, one was lost. */
  unreported?: Checkpoint
}

export function createProjectionManager(options: ProjectionManagerOptions): ProjectionManager {
  const { source, kv, readSql, cache, metrics, log, feed } = options
  const placementOf = options.placement ?? (() => 'run')
  const byName = new Map(options.projections.map((p) => [p.name, p]))
  if (byName.size !== options.projections.length) throw new Error('Two projections share a name')
  const live = new Map<string, Live>()
  const transactions = new Map<string, string>()
  const timers: NodeJS.Timeout[] = []
  let unsubscribe: (() => void) | undefined
  const publishes = (projection: Projection) => feed !== undefined && (options.shared?.(projection) ?? false)

  function runnerFor(projection: Projection, generation: number, target: Target, serving: boolean): Runner {
    const publish = serving && publishes(projection)
    const runner = createRunner({
      projection,
      generation,
      target,
      source,
      wake: options.wake,
      log,
      metrics,
      batchSize: options.batchSize,
      pollMs: options.pollMs,
      // Only the generation queries read can make cached answers stale.
      onApplied: serving
        ? (tags) => {
            cache.invalidate(tags)
            if (publish) feed?.applied(projection.name, generation, tags)
          }
        : undefined,
      onSkipped: serving ? () => cache.clear() : undefined,
    })
    if (publish) {
      // An idle poll that found nothing new tells the other processes nothing.
      let told = ''
      runner.onProgress(() => {
        const { checkpoint, horizon, caughtUp } = runner
        const now = `${checkpoint.txId}/${checkpoint.position}/${horizon}/${caughtUp}`
        if (now === told) return
        told = now
        feed?.progress({ name: projection.name, generation, checkpoint, horizon, caughtUp })
      })
    }
    return runner
  }

  async function serve(projection: Projection, generation: number, placement: Placement): Promise<Live> {
    const { target, catalog } = targetFor(projection, generation, { kv, sql: readSql })
    const reader =
      projection.store === 'kv' ? scopedReader(kv, kvPrefix(projection.name, generation)) : undefined
    let entry: Live
    if (placement === 'run') {
      const runner = runnerFor(projection, generation, target, true)
      entry = { projection, progress: runner, runner, target, catalog, reader }
      runner.start()
    } else {
      const follower = createFollower(generation, await target.checkpoint())
      entry = { projection, progress: follower, follower, target, catalog, reader }
    }
    live.set(projection.name, entry)
    return entry
  }

  /** Another process switched generations (a rebuild): serve the new one, drop what was cached. */
  function switchTo(entry: Live, generation: number): Promise<void> {
    entry.switching ??= (async () => {
      try {
        if (entry.rebuilding || live.get(entry.projection.name) !== entry) return
        await entry.runner?.stop()
        await serve(entry.projection, generation, entry.runner ? 'run' : 'follow')
        cache.clear()
        // A runner of the old generation may have written after the rebuilder dropped it.
        if (entry.runner) await entry.target.drop()
        log.info({ projection: entry.projection.name, generation }, 'switched to a rebuilt generation')
      } catch (error) {
        log.error({ err: error, projection: entry.projection.name }, 'switching generations failed')
        entry.runner?.start()
      } finally {
        entry.switching = undefined
      }
    })()
    return entry.switching
  }

  function onFeed(message: FeedMessage) {
    if (message.kind === 'clear') return cache.clear()
    if (message.kind === 'hello') return
    const entry = live.get(message.name)
    if (!entry) return
    const generation = entry.progress.generation
    if (message.kind === 'switched') {
      if (message.generation > generation) void switchTo(entry, message.generation)
    } else if (message.generation !== generation) {
      return
    } else if (message.kind === 'applied') {
      cache.invalidate(message.tags)
    } else {
      entry.follower?.advance(message)
    }
  }

  /**
   * The feed's backstop, once per poll interval: a generation switched while its message was lost,
   * or a followed projection's stored checkpoint ahead of every report for a whole interval (a lost
   * report: its tags are unknown, so the cache is cleared).
   */
  async function sync(lost: boolean) {
    if (lost) cache.clear()
    for (const entry of live.values()) {
      try {
        const known = await entry.catalog.live(entry.projection.name)
        if (known && known.generation > entry.progress.generation) {
          await switchTo(entry, known.generation)
          continue
        }
        const follower = entry.follower
        if (!follower) continue
        const stored = await entry.target.checkpoint()
        if (compareCheckpoints(stored, follower.checkpoint) <= 0) {
          entry.unreported = undefined
        } else if (
          lost ||
          (entry.unreported && compareCheckpoints(entry.unreported, follower.checkpoint) > 0)
        ) {
          if (!lost) cache.clear()
          follower.advance({ checkpoint: stored })
          entry.unreported = undefined
        } else {
          entry.unreported = stored
        }
      } catch (error) {
        log.warn({ err: error, projection: entry.projection.name }, 'projection sync failed')
      }
    }
  }

  function required(name: string): Live {
    const entry = live.get(name)
    if (!entry) throw new Error(`No projection is named ${name}`)
    return entry
  }

  async function txOf(position: string): Promise<string | undefined> {
    let tx = transactions.get(position)
    if (tx === undefined) {
      tx = await transactionOf(source, position)
      if (tx === undefined) return undefined
      transactions.set(position, tx)
      if (transactions.size > 10_000) transactions.delete(transactions.keys().next().value as string)
    }
    return tx
  }

  async function waitOne(runner: () => Progressing, position: string, deadline: number): Promise<boolean> {
    if (position === '0') return true
    let tx: string | undefined
    let looked = 0
    for (;;) {
      if (runner().hasApplied(position, tx)) return true
      const now = Date.now()
      if (now >= deadline) return false
      if (tx === undefined && now - looked > 50) {
        looked = now
        tx = await txOf(position)
        if (runner().hasApplied(position, tx)) return true
        // No committed event has this position (rolled back, or made up): a caller could only have
        // got it from a commit, so once the read model is past it there is nothing to wait for.
        if (tx === undefined && compareDecimal(position, runner().checkpoint.position) <= 0) return true
      }
      await new Promise<void>((resolve) => {
        const off = runner().onProgress(done)
        const timer = setTimeout(done, Math.min(50, deadline - Date.now()))
        function done() {
          off()
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }

  async function rebuild(name: string): Promise<{ generation: number }> {
    const projection = byName.get(name)
    const current = live.get(name)
    if (!projection || !current) throw new Error(`No projection is named ${name}`)
    if (!current.runner) throw notAppliedHere(name)
    if (current.rebuilding) throw new Error(`${name} is already being rebuilt`)
    const generation = current.runner.generation + 1
    const { target, catalog } = targetFor(projection, generation, { kv, sql: readSql })
    await target.drop()
    await target.setup()
    const runner = runnerFor(projection, generation, target, false)
    current.rebuilding = runner
    log.info({ projection: name, generation }, 'rebuild started')
    runner.start()
    try {
      await new Promise<void>((resolve) => {
        const off = runner.onProgress(() => {
          if (runner.caughtUp) {
            off()
            resolve()
          }
        })
      })
      // Switch: the new generation becomes live, then starts serving with a fresh runner on its checkpoint.
      await runner.stop()
      await catalog.setLive(name, { generation, version: projection.version })
      await serve(projection, generation, 'run')
      cache.clear()
      if (publishes(projection)) feed?.switched(name, generation)
      await current.runner.stop()
      await current.target.drop()
      log.info({ projection: name, generation }, 'rebuild switched')
      return { generation }
    } catch (error) {
      await runner.stop()
      current.rebuilding = undefined
      throw error
    }
  }

  const stores: ReadStores = {
    kv(name) {
      const reader = required(name).reader
      if (!reader) throw new Error(`${name} is not a KV projection`)
      return reader
    },
    sql(name) {
      const { progress } = required(name)
      return { sql: readSql, table: (table) => sqlTableName(name, progress.generation, table) }
    },
  }

  return {
    stores,
    names: () => [...byName.keys()],
    async start() {
      if (feed) unsubscribe = feed.subscribe(onFeed, () => void sync(true).then(() => feed.hello()))
      for (const projection of options.projections) {
        const placement = placementOf(projection)
        if (!placement) continue
        const { catalog } = targetFor(projection, 1, { kv, sql: readSql })
        const known = await catalog.live(projection.name)
        const generation = known?.generation ?? 1
        const { target } = targetFor(projection, generation, { kv, sql: readSql })
        if (!known) {
          await target.setup()
          await catalog.setLive(projection.name, { generation, version: projection.version })
        }
        await serve(projection, generation, placement)
        if (placement === 'follow' && known && known.version !== projection.version) {
          log.warn(
            { projection: projection.name, live: known.version, here: projection.version },
            'following a projection built by another version; its projector rebuilds it',
          )
        } else if (known && known.version !== projection.version) {
          log.warn(
            { projection: projection.name, from: known.version, to: projection.version },
            'version changed',
          )
          void rebuild(projection.name).catch((error: unknown) => log.error({ err: error }, 'rebuild failed'))
        }
      }
      if (feed && [...live.values()].some((entry) => entry.follower)) feed.hello()
      timers.push(setInterval(() => void measureLag(), 1000))
      if (feed) timers.push(setInterval(() => void sync(false), Math.max(options.pollMs ?? 1000, 100)))
      for (const timer of timers) timer.unref()
    },
    async stop() {
      for (const timer of timers) clearInterval(timer)
      unsubscribe?.()
      for (const entry of live.values()) {
        await entry.switching
        await entry.rebuilding?.stop()
        await entry.runner?.stop()
      }
    },
    clearCaches() {
      cache.clear()
      feed?.clear()
    },
    async caughtUp(timeoutMs = 60_000) {
      const head = await headPosition(source)
      if (head === '0') return true
      return this.waitFor([...live.keys()], BigInt(head), timeoutMs)
    },
    rebuild,
    async waitFor(readModels, position, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      const text = position.toString()
      for (const name of readModels) {
        if (!(await waitOne(() => required(name).progress, text, deadline))) return false
      }
      return true
    },
    position(readModels) {
      let lowest: string | undefined
      for (const name of readModels) {
        const at = live.get(name)?.progress.checkpoint.position ?? '0'
        if (lowest === undefined || compareDecimal(at, lowest) < 0) lowest = at
      }
      return lowest ?? '0'
    },
    async status() {
      const head = await headPosition(source)
      return [...live.values()].map(({ projection, progress, runner, rebuilding }) => ({
        name: projection.name,
        store: projection.store,
        version: projection.version,
        generation: progress.generation,
        position: progress.checkpoint.position,
        caughtUp: progress.caughtUp,
        behind: Math.max(0, Number(head) - Number(progress.checkpoint.position)),
        appliedHere: runner !== undefined,
        ...(rebuilding
          ? { rebuilding: { generation: rebuilding.generation, position: rebuilding.checkpoint.position } }
          : {}),
      }))
    },
  }

  async function measureLag() {
    try {
      const head = Number(await headPosition(source))
      for (const { projection, progress } of live.values()) {
        metrics.projectionBehind(projection.name, Math.max(0, head - Number(progress.checkpoint.position)))
      }
    } catch {
      // The database is away; the runners report it.
    }
  }
}
