import { isAppError, shuttingDown } from '../core/errors.js'
import type { ReadProgress } from '../core/query-bus.js'
import type { ReadStores } from '../core/read-stores.js'
import { compareCheckpoints, compareDecimal, headPosition, logHead } from '../storage/event-log.js'
import { localClaims, type Claims } from '../storage/claims.js'
import { createPlacements, type Placed, type Placement, type PlacementsOptions } from './placements.js'
import type { Projection } from './projection.js'
import { positionWaiter } from './read-your-writes.js'
import {
  beginRebuild,
  rebuildProjection,
  retireAfterMs,
  underRebuildClaim,
  type BegunRebuild,
} from './rebuild.js'
import { shareProgress, type Sharing } from './sharing.js'
import { measureLag, projectionStatus, type ProjectionStatus } from './status.js'
import type { Catalog, Generation, Target } from './targets.js'

/** How long a projector waits to ask again for a rebuild to its version that was refused. */
const versionRetryMs = 10_000

export type { Placement } from './placements.js'
export type { ProjectionStatus } from './status.js'

export interface ProjectionManager extends ReadProgress {
  readonly stores: ReadStores
  start(): Promise<void>
  stop(): Promise<void>
  /** Resolves true once every live projection has applied the log as it is now; false after the timeout. */
  caughtUp(timeoutMs?: number): Promise<boolean>
  /**
   * Whether each of `readModels` has caught up with the log as far as this process knows now (not:
   * applying it from the start, after a store lost its data or a process started).
   */
  caughtUpNow(readModels: readonly string[]): boolean
  /**
   * Whether the stores of `readModels` still hold what this process counts as applied in them. A read
   * racing a flush of Redis can meet the emptied store before the loss is known here: where one holds
   * less, it is checked as after any possible loss (and the answer is false).
   */
  stillHeld(readModels: readonly string[], since?: number): Promise<boolean>
  /**
   * Builds a new generation beside the live one and switches to it when caught up. A second one
   * while the first runs, here or in another process, is refused (REBUILD_IN_PROGRESS).
   */
  rebuild(name: string): Promise<{ generation: number }>
  /**
   * Begins a rebuild and resolves once it is claimed (or rejects: REBUILD_IN_PROGRESS here or in
   * another process of the deployment), with its end to come: what an HTTP answer can say at once.
   */
  beginRebuild(name: string): Promise<BegunRebuild>
  status(): Promise<ProjectionStatus[]>
  names(): string[]
  /** Drops every cached answer here and, through the feed, in every other process. */
  clearCaches(): void
  /**
   * Ends every wait for a position, now and to come, 503 UNAVAILABLE: the server is closing, and a
   * read waiting (up to 10 s) held its close up, past the bound on shutdown.
   */
  endWaits(): void
}

export interface ProjectionManagerOptions extends PlacementsOptions {
  projections: readonly Projection[]
  /** Where each projection is applied; undefined: not at all in this process. Default: all run here. */
  placement?: (projection: Projection) => Placement | undefined
  /** How long an old generation outlives a switch other processes follow (default `retireAfterMs`). */
  retireAfterMs?: number
  /** What one process of the deployment does at a time: here, a projection's rebuild (default: this process alone). */
  claims?: Claims
}

/**
 * The read side of one process: places each projection (applied here, followed, or neither), at
 * the generation queries read; the parts with one job each are beside it: placements.ts (runners,
 * followers, the stores queries read), sharing.ts (following other processes), read-your-writes.ts,
 * rebuild.ts and status.ts.
 */
export function createProjectionManager(options: ProjectionManagerOptions): ProjectionManager {
  const { source, cache, metrics, log, feed } = options
  const placementOf = options.placement ?? (() => 'run')
  const names = options.projections.map((p) => p.name)
  if (new Set(names).size !== names.length) throw new Error('Two projections share a name')
  const placements = createPlacements(options)
  const waiter = positionWaiter(source)
  let sharing: Sharing | undefined
  let lag: { stop(): void } | undefined
  /** Possible losses of the KV store heard of (`checkKv`): a read during whose wait one was may have met it emptied. */
  let losses = 0

  /** Old generations waiting out `retireAfterMs`; dropped at once when the process stops. */
  const retiring = new Map<NodeJS.Timeout, () => Promise<void>>()
  const dropRetired = (timer: NodeJS.Timeout) => {
    const drop = retiring.get(timer)
    retiring.delete(timer)
    clearTimeout(timer)
    return drop?.().catch((error: unknown) => log.warn({ err: error }, 'dropping an old generation failed'))
  }
  /**
   * Drops a generation of projection `name`, `retireAfterMs` from now: unless it is live again by
   * then (the store lost its catalog, and a projector began again from an earlier generation).
   */
  const retireGeneration = (
    name: string,
    generation: number,
    { catalog, target }: { catalog: Catalog; target: Target },
  ) => {
    const timer = setTimeout(() => void dropRetired(timer), options.retireAfterMs ?? retireAfterMs).unref()
    retiring.set(timer, async () => {
      const live = await catalog.live(name)
      if (live?.generation === generation || placements.get(name)?.progress.generation === generation) return
      await target.drop()
    })
  }
  /** Drops the generation `old` served (see `retireGeneration`). */
  const retire = (old: Placed) => retireGeneration(old.projection.name, old.progress.generation, old)
  /**
   * A projector's start: the generations before the live one, left stored by a process that stopped
   * without dropping them (killed while it waited out `retireAfterMs` after a switch), are retired now.
   */
  const leftBehind: Promise<void>[] = []
  async function retireLeftBehind(projection: Projection, live: number) {
    // Every one below the live one: two rebuilds within the wait, then a kill, left the older too.
    for (let generation = live - 1; generation >= 1; generation--) {
      const before = placements.targets(projection, generation)
      if (await before.target.holds()) retireGeneration(projection.name, generation, before)
    }
  }
  /**
   * A projector's start: the generation after the live one, left by a rebuild that never switched (its
   * process killed, or its claim lost), is dropped under the rebuild's claim: it held its tables and
   * keys (a card history's gigabytes) until the next rebuild dropped and began it again.
   */
  async function dropUnfinished(projection: Projection, live: number) {
    const next = placements.targets(projection, live + 1)
    if (!(await next.target.holds())) return
    // Not run while a rebuild holds the claim, here or elsewhere: that generation is being built now.
    await underRebuildClaim(projection.name, claims, async () => {
      // Switched to just before the claim: it is the live one now.
      if ((await next.catalog.live(projection.name))?.generation !== live) return
      await next.target.drop()
      log.warn(
        { projection: projection.name, generation: live + 1 },
        'dropped the generation of a rebuild left unfinished',
      )
    })
  }
  const claims = options.claims ?? localClaims()
  const deps = { placements, cache, log, feed, retire, claims }
  const rebuild = (name: string) => rebuildProjection(name, deps)

  /**
   * After a loss of the KV store: the catalog entries of the generations this process applies are
   * set again where the loss took them. Their runners apply the log again into the same generation;
   * without its entry, the next projector to start began a first generation beside it, and every
   * process switched to that one while it was built (reads went back in time) and left the other.
   */
  async function relist(entries: readonly Placed[]) {
    for (const { runner, catalog, projection } of entries) {
      if (!runner || (await catalog.live(projection.name))) continue
      await catalog
        .setLive(projection.name, { generation: runner.generation, version: projection.version })
        .then(
          () =>
            log.warn(
              { projection: projection.name, generation: runner.generation },
              'catalog entry set again',
            ),
          // Set meanwhile by another process: its entry stands.
          () => undefined,
        )
    }
  }

  /**
   * Sets a new projection's first generation live; or, when another process set one first (processes
   * started at once on a new store all find nothing), takes what it set. Setup is safe side by side.
   */
  async function placeFirst(projection: Projection, catalog: Catalog, target: Target): Promise<Generation> {
    const first = { generation: 1, version: projection.version }
    await target.setup()
    try {
      await catalog.setLive(projection.name, first)
      return first
    } catch (error) {
      const set = await catalog.live(projection.name)
      if (set) return set
      throw error
    }
  }

  async function place(projection: Projection, placement: Placement) {
    const { catalog, target } = placements.targets(projection, 1)
    const known = (await catalog.live(projection.name)) ?? (await placeFirst(projection, catalog, target))
    await placements.serve(projection, known.generation, placement)
    const versionChanged = known.version !== projection.version
    if (placement === 'run')
      leftBehind.push(
        retireLeftBehind(projection, known.generation).catch((error: unknown) =>
          log.warn({ err: error, projection: projection.name }, 'checking for an old generation failed'),
        ),
        // The rebuild to this version, begun below, drops that generation itself, under its claim.
        versionChanged
          ? Promise.resolve()
          : dropUnfinished(projection, known.generation).catch((error: unknown) =>
              log.warn(
                { err: error, projection: projection.name },
                'checking for an unfinished rebuild failed',
              ),
            ),
      )
    if (!versionChanged) return
    if (placement === 'follow') {
      log.warn(
        { projection: projection.name, live: known.version, here: projection.version },
        'following a projection built by another version; its projector rebuilds it',
      )
    } else {
      log.warn(
        { projection: projection.name, from: known.version, to: projection.version },
        'version changed',
      )
      rebuildToVersion(projection)
    }
  }

  /**
   * Rebuilds a projection whose live generation another version built. Projectors started together on
   * the new version each ask: one rebuilds, the others hear of its switch. One refused (another
   * process's rebuild, or this one's claim lost before its switch) asks again later while the live
   * generation is still of an older version: a refusal taken for another's rebuild left the read
   * model on the old version for good, with nothing said.
   */
  function rebuildToVersion(projection: Projection) {
    const name = projection.name
    rebuild(name).catch((error: unknown) => {
      if (!(isAppError(error) && error.code === 'REBUILD_IN_PROGRESS')) {
        log.error({ err: error, projection: name }, 'rebuild failed')
        return
      }
      log.info({ projection: name, againInMs: versionRetryMs }, 'being rebuilt by another process')
      const timer = setTimeout(() => {
        versionRetries.delete(timer)
        void placements
          .targets(projection, 1)
          .catalog.live(name)
          .then((live) => {
            // Only up: a newer version's generation is followed (sharing.ts), and asking again for an
            // older one would switch the newer projectors back every 10 s.
            if (!stopped && live && live.version < projection.version) rebuildToVersion(projection)
          })
          .catch((e: unknown) => log.warn({ err: e, projection: name }, 'checking the version failed'))
      }, versionRetryMs).unref()
      versionRetries.add(timer)
    })
  }
  const versionRetries = new Set<NodeJS.Timeout>()
  let stopped = false

  /**
   * Redis restarted, or flushed, keeps nothing here: until each KV projection has checked that its
   * store still holds what it applied (and, where not, counts nothing as applied), its reads wait,
   * so that no read with X-Min-Position is answered from an emptied store as if it were up to date.
   */
  function checkKv(): Promise<unknown> {
    losses++
    const runners = placements.all().filter((entry) => entry.projection.store === 'kv')
    const checked = Promise.all([...runners.map((entry) => entry.runner?.verify()), sharing?.verify()])
    const settled = checked.catch((error: unknown) =>
      log.warn({ err: error }, 'checking the KV store after a possible loss failed'),
    )
    placements.holdReads(settled)
    void checked
      .then(() => relist(runners))
      .catch((error: unknown) => log.warn({ err: error }, 'setting catalog entries again failed'))
    return settled
  }

  async function waitForPosition(readModels: readonly string[], position: bigint, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs
    const text = position.toString()
    if (readModels.length === 0) return waiter.committed(text, deadline)
    // The KV store is being checked after a possible loss: what counts as applied is known after
    // it. Counted before, a position the emptied store no longer held was answered from it.
    if (readModels.some((name) => placements.get(name)?.projection.store === 'kv')) await placements.held
    for (const name of readModels) {
      if (!(await waiter.waitFor(() => placements.required(name).progress, text, deadline))) return false
    }
    return true
  }
  let waitsEnded = false

  return {
    stores: placements.stores,
    names: () => names,
    async start() {
      if (feed)
        sharing = shareProgress({
          feed,
          placements,
          cache,
          log,
          retire,
          applies: (projection) => placementOf(projection) === 'run',
          olderVersion: rebuildToVersion,
          pollMs: options.pollMs,
        })
      for (const projection of options.projections) {
        const placement = placementOf(projection)
        if (placement) await place(projection, placement)
      }
      sharing?.placed()
      options.kv.onPossibleLoss?.(() => void checkKv())
      lag = measureLag(source, placements, metrics)
    },
    async stop() {
      stopped = true
      this.endWaits()
      for (const timer of versionRetries) clearTimeout(timer)
      lag?.stop()
      await sharing?.stop()
      for (const entry of placements.all()) {
        await entry.switching
        await entry.rebuilding?.stop()
        await entry.runner?.stop()
      }
      await Promise.all(leftBehind)
      for (const timer of [...retiring.keys()]) await dropRetired(timer)
    },
    clearCaches() {
      cache.clear()
      feed?.clear()
    },
    async caughtUp(timeoutMs = 60_000) {
      const { last } = await logHead(source)
      if (!last) return true
      return this.waitFor(
        placements.all().map((entry) => entry.projection.name),
        BigInt(last.position),
        timeoutMs,
      )
    },
    rebuild,
    beginRebuild: (name) => beginRebuild(name, deps),
    caughtUpNow: (readModels) => readModels.every((name) => placements.get(name)?.progress.caughtUp ?? true),
    losses: () => losses,
    versionOf: (name) => placements.get(name)?.version,
    async stillHeld(readModels, since) {
      if (!readModels.some((name) => placements.get(name)?.projection.store === 'kv')) return true
      // Heard of while the read waited or was made: it may have met the emptied store, though the read models
      // were applied again by now (a flush, then the log applied anew past the position asked for).
      if (since !== undefined && since !== losses) return false
      // Emptied, and not heard of yet: the mark this process keeps in the store is gone.
      if (options.kv.intact && !(await options.kv.intact())) {
        await checkKv()
        return false
      }
      for (const name of readModels) {
        const entry = placements.get(name)
        if (entry?.projection.store !== 'kv') continue
        // Taken before the read: what is applied meanwhile is in the store by the time it is read.
        const counted = entry.progress.checkpoint
        if (compareCheckpoints(await entry.target.checkpoint(), counted) < 0) {
          await checkKv()
          return false
        }
      }
      return true
    },
    endWaits() {
      waitsEnded = true
      waiter.end()
    },
    async waitFor(readModels, position, timeoutMs) {
      const reached = await waitForPosition(readModels, position, timeoutMs)
      if (!reached && waitsEnded) throw shuttingDown()
      return reached
    },
    // Read when asked: one a few milliseconds old missed the asker's own write just committed.
    logHead: () => headPosition(source),
    position(readModels) {
      let lowest: string | undefined
      for (const name of readModels) {
        const at = placements.get(name)?.progress.checkpoint.position ?? '0'
        if (lowest === undefined || compareDecimal(at, lowest) < 0) lowest = at
      }
      return lowest ?? '0'
    },
    status: () => projectionStatus(source, placements),
  }
}
