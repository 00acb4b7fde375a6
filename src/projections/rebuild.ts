import type { QueryCache } from '../core/cache.js'
import { ConflictError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Claims } from '../storage/claims.js'
import type { ProgressFeed } from '../transport/progress.js'
import type { Placed, Placements } from './placements.js'
import type { Runner } from './runner.js'

/** A rebuild asked of a process that only follows the projection (a query process). */
export function notAppliedHere(name: string): ConflictError {
  return new ConflictError(
    'PROJECTION_NOT_APPLIED_HERE',
    'Projection applied elsewhere',
    `This process does not apply ${name}: ask a projector process to rebuild it`,
  )
}

/** A rebuild asked while one of the same projection runs. */
export function rebuildInProgress(name: string): ConflictError {
  return new ConflictError(
    'REBUILD_IN_PROGRESS',
    'Rebuild in progress',
    `${name} is being rebuilt: /api/cqrs/stats shows how far, and the switch`,
  )
}

/**
 * Projections whose rebuild has begun in this process (marked before its first wait, so two cannot
 * both begin); across the deployment's processes, the rebuild's claim (`RebuildDeps.claims`).
 */
const begun = new WeakSet<object>()

/** Whether a rebuild of the projection placed as `entry` has begun and not ended. */
export const rebuildBegun = (entry: object) => begun.has(entry)

/**
 * How long an old generation outlives the switch when other processes follow the projection: they
 * read it until the switch reaches them (through the feed within milliseconds, or the poll each
 * second), and a read begun just before may still be running. Dropped at once, their reads met
 * missing tables (500) or missing keys (a wrong 404).
 */
export const retireAfterMs = 30_000

interface RebuildDeps {
  placements: Placements
  cache: QueryCache
  log: Logger
  feed?: ProgressFeed
  /** Drops the generation an entry served once no other process can still be reading it (`retireAfterMs`). */
  retire: (old: Placed) => void
  /**
   * One rebuild of a projection at a time in the deployment: two processes that apply it, asked at
   * once, each built the same next generation, and each began by dropping it, under the other's
   * writes or its readers (500s for a missing table, wrong 404s).
   */
  claims: Claims
}

/**
 * Builds a new generation of a projection beside the live one, from the log's beginning, and
 * switches queries to it once it has caught up; then the old generation is dropped, at once when no
 * other process follows it, else after `retireAfterMs`. Other processes learn of the switch from the
 * feed (or, if lost, from the catalog).
 */
export async function rebuildProjection(name: string, deps: RebuildDeps): Promise<{ generation: number }> {
  const { placements } = deps
  const current = placements.get(name)
  if (!current) throw new Error(`No projection is named ${name}`)
  if (!current.runner) throw notAppliedHere(name)
  if (begun.has(current)) throw rebuildInProgress(name)
  begun.add(current)
  const claim = `rebuild:${name}`
  try {
    if (!(await deps.claims.claim(claim))) throw rebuildInProgress(name)
    try {
      // Another process may have switched generations just before: not yet known here, the next
      // generation counted from this process's would be the live one.
      const { catalog } = placements.targets(current.projection, current.runner.generation)
      const live = await catalog.live(name)
      if (live !== undefined && live.generation !== current.runner.generation) throw rebuildInProgress(name)
      return await rebuild(current, current.runner, deps, () => deps.claims.holds(claim))
    } finally {
      await deps.claims.release(claim)
    }
  } finally {
    begun.delete(current)
  }
}

async function rebuild(
  current: Placed,
  live: Runner,
  { placements, cache, log, feed, retire }: RebuildDeps,
  claimed: () => boolean,
): Promise<{ generation: number }> {
  const { projection } = current
  const name = projection.name
  const generation = live.generation + 1
  const { target, catalog } = placements.targets(projection, generation)
  await target.drop()
  await target.setup()
  const runner = placements.runner(projection, generation, target, false)
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
    // Switch: the new generation becomes live, then starts serving with a fresh runner on its checkpoint
    // (caught up: the status never shows a rebuilt projection behind for the moment before its first read).
    await runner.stop()
    // The claim went with its connection: another process may be building this generation now.
    if (!claimed()) throw rebuildInProgress(name)
    await catalog.setLive(name, { generation, version: projection.version })
    await placements.serve(projection, generation, 'run', { caughtUp: true })
    cache.clear()
    const followed = feed !== undefined && placements.publishes(projection)
    if (followed) feed.switched(name, generation)
    await live.stop()
    if (followed) retire(current)
    else await current.target.drop()
    log.info({ projection: name, generation }, 'rebuild switched')
    return { generation }
  } catch (error) {
    await runner.stop()
    current.rebuilding = undefined
    throw error
  }
}
