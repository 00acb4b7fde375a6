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
 * The projections whose rebuild has begun in this process and not ended, by name: marked before the
 * first wait, so two asked at once cannot both begin, and kept until the claim is given up. Marked
 * by the placed entry, a rebuild asked just after the switch (a new entry) began while the first
 * still held the claim, which it then gave up under the second: a third process took it, and two
 * built one generation. Across the deployment's processes, the rebuild's claim (`RebuildDeps.claims`).
 */
const begun = new Map<string, Placed>()

/** Whether a rebuild of the projection placed as `entry` has begun here and not switched or ended. */
export const rebuildBegun = (entry: Placed) => begun.get(entry.projection.name) === entry

/**
 * Other work done under a projection's rebuild claim (dropping the generation a rebuild left
 * unfinished): not while a rebuild of it has begun here, and a rebuild asked meanwhile is refused.
 * The claim is this process's already while its rebuild runs (a claim is held per process), and
 * giving it up after the work gave it up under the rebuild: its switch was then refused, and the
 * read model stayed on the old version. False when the work did not run.
 */
const claimedForWork = new Set<string>()
export async function underRebuildClaim(
  name: string,
  claims: Claims,
  work: () => Promise<void>,
): Promise<boolean> {
  if (begun.has(name) || claimedForWork.has(name)) return false
  claimedForWork.add(name)
  const claim = `rebuild:${name}`
  try {
    if (!(await claims.claim(claim))) return false
    try {
      await work()
    } finally {
      await claims.release(claim)
    }
    return true
  } finally {
    claimedForWork.delete(name)
  }
}

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

/** A rebuild begun: the generation it builds, and its end (the switch, or why not). */
export interface BegunRebuild {
  generation: number
  switched: Promise<{ generation: number }>
}

/**
 * Begins a rebuild: resolves once it is claimed, or rejects with why not (409 REBUILD_IN_PROGRESS,
 * PROJECTION_NOT_APPLIED_HERE), so that an HTTP answer can say so; the rest runs on (`switched`).
 *
 * A rebuild builds a new generation of a projection beside the live one, from the log's beginning,
 * and switches queries to it once it has caught up; then the old generation is dropped, at once when
 * no other process follows it, else after `retireAfterMs`. Other processes learn of the switch from
 * the feed (or, if lost, from the catalog).
 */
export async function beginRebuild(name: string, deps: RebuildDeps): Promise<BegunRebuild> {
  const { placements, claims } = deps
  const current = placements.get(name)
  const live = current?.runner
  // Followed here (a query process), or not placed in this process at all.
  if (!current || !live) throw notAppliedHere(name)
  if (begun.has(name) || claimedForWork.has(name)) throw rebuildInProgress(name)
  begun.set(name, current)
  const claim = `rebuild:${name}`
  const end = async () => {
    await claims.release(claim)
    begun.delete(name)
  }
  try {
    if (!(await claims.claim(claim))) throw rebuildInProgress(name)
    // Another process may have switched generations just before: not yet known here, the next
    // generation counted from this process's would be the live one.
    const known = await placements.targets(current.projection, live.generation).catalog.live(name)
    if (known !== undefined && known.generation !== live.generation) throw rebuildInProgress(name)
  } catch (error) {
    await end()
    throw error
  }
  const switched = rebuild(current, live, deps, () => claims.holds(claim)).finally(end)
  return { generation: live.generation + 1, switched }
}

/** A rebuild from its beginning to its switch (`beginRebuild`). */
export async function rebuildProjection(name: string, deps: RebuildDeps): Promise<{ generation: number }> {
  return (await beginRebuild(name, deps)).switched
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
  let liveStopped = false
  let switched = false
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
    // The live generation stops first, so the settle below applies all it had: what it applied after
    // the settle's last read was missing from the new one until its first read, and answers read at
    // the switch went back (a live stream's count of registrations fell, then rose, a tester found).
    await live.stop()
    liveStopped = true
    // Its checkpoint moved to the log's last event: switched to at the last event of its own types
    // (a quiz catalog's at 92 of 244,134), every process answered X-Read-Position 92 until its first read.
    await runner.settle()
    // The claim went with its connection: another process may be building this generation now.
    if (!claimed()) throw rebuildInProgress(name)
    await catalog.setLive(name, { generation, version: projection.version })
    switched = true
    await placements.serve(projection, generation, 'run', { caughtUp: true })
    cache.clear()
    const followed = feed !== undefined && placements.publishes(projection)
    if (followed) feed.switched(name, generation)
    if (followed) retire(current)
    else await current.target.drop()
    log.info({ projection: name, generation }, 'rebuild switched')
    return { generation }
  } catch (error) {
    await runner.stop()
    current.rebuilding = undefined
    // Not switched: the live generation goes on where it stopped.
    if (liveStopped && !switched) live.start()
    throw error
  }
}
