import type { QueryCache } from '../core/cache.js'
import type { Logger } from '../core/logger.js'
import type { Metrics } from '../core/metrics.js'
import type { ReadProgress } from '../core/query-bus.js'
import type { KvReader, ReadStores } from '../core/read-stores.js'
import type { Sql } from '../core/sql.js'
import { compareDecimal, headPosition, transactionOf } from '../storage/event-log.js'
import type { Wake } from '../storage/wake.js'
import { scopedReader, type KvStore } from './kv.js'
import type { Projection } from './projection.js'
import { createRunner, type Runner } from './runner.js'
import { kvPrefix, sqlTableName, targetFor, type Target } from './targets.js'

export interface ProjectionStatus {
  name: string
  store: 'kv' | 'sql'
  version: number
  generation: number
  position: string
  caughtUp: boolean
  behind: number
  rebuilding?: { generation: number; position: string }
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
}

interface Live {
  runner: Runner
  target: Target
  reader: KvReader | undefined
  rebuilding?: Runner
}

export function createProjectionManager(options: ProjectionManagerOptions): ProjectionManager {
  const { source, kv, readSql, cache, metrics, log } = options
  const byName = new Map(options.projections.map((p) => [p.name, p]))
  if (byName.size !== options.projections.length) throw new Error('Two projections share a name')
  const live = new Map<string, Live>()
  const transactions = new Map<string, string>()
  let lagTimer: NodeJS.Timeout | undefined

  function runnerFor(projection: Projection, generation: number, target: Target, serving: boolean): Runner {
    return createRunner({
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
      onApplied: serving ? (tags) => cache.invalidate(tags) : undefined,
    })
  }

  function serve(projection: Projection, generation: number, target: Target): Live {
    const runner = runnerFor(projection, generation, target, true)
    const reader =
      projection.store === 'kv' ? scopedReader(kv, kvPrefix(projection.name, generation)) : undefined
    const entry = { runner, target, reader }
    live.set(projection.name, entry)
    runner.start()
    return entry
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

  async function waitOne(runner: () => Runner, position: string, deadline: number): Promise<boolean> {
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
      serve(projection, generation, target)
      cache.clear()
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
      const { runner } = required(name)
      return { sql: readSql, table: (table) => sqlTableName(name, runner.generation, table) }
    },
  }

  return {
    stores,
    names: () => [...byName.keys()],
    async start() {
      for (const projection of options.projections) {
        const { catalog } = targetFor(projection, 1, { kv, sql: readSql })
        const known = await catalog.live(projection.name)
        const generation = known?.generation ?? 1
        const { target } = targetFor(projection, generation, { kv, sql: readSql })
        if (!known) {
          await target.setup()
          await catalog.setLive(projection.name, { generation, version: projection.version })
        }
        serve(projection, generation, target)
        if (known && known.version !== projection.version) {
          log.warn(
            { projection: projection.name, from: known.version, to: projection.version },
            'version changed',
          )
          void rebuild(projection.name).catch((error: unknown) => log.error({ err: error }, 'rebuild failed'))
        }
      }
      lagTimer = setInterval(() => void measureLag(), 1000)
      lagTimer.unref()
    },
    async stop() {
      if (lagTimer) clearInterval(lagTimer)
      for (const entry of live.values()) {
        await entry.rebuilding?.stop()
        await entry.runner.stop()
      }
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
        if (!(await waitOne(() => required(name).runner, text, deadline))) return false
      }
      return true
    },
    position(readModels) {
      let lowest: string | undefined
      for (const name of readModels) {
        const at = live.get(name)?.runner.checkpoint.position ?? '0'
        if (lowest === undefined || compareDecimal(at, lowest) < 0) lowest = at
      }
      return lowest ?? '0'
    },
    async status() {
      const head = await headPosition(source)
      return [...live.values()].map(({ runner, rebuilding }) => ({
        name: runner.projection.name,
        store: runner.projection.store,
        version: runner.projection.version,
        generation: runner.generation,
        position: runner.checkpoint.position,
        caughtUp: runner.caughtUp,
        behind: Math.max(0, Number(head) - Number(runner.checkpoint.position)),
        ...(rebuilding
          ? { rebuilding: { generation: rebuilding.generation, position: rebuilding.checkpoint.position } }
          : {}),
      }))
    },
  }

  async function measureLag() {
    try {
      const head = Number(await headPosition(source))
      for (const { runner } of live.values()) {
        metrics.projectionBehind(
          runner.projection.name,
          Math.max(0, head - Number(runner.checkpoint.position)),
        )
      }
    } catch {
      // The database is away; the runners report it.
    }
  }
}
