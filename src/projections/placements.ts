import { readModelTag, type QueryCache } from '../core/cache.js'
import type { Logger } from '../core/logger.js'
import type { Metrics } from '../core/metrics.js'
import type { KvReader, ReadStores } from '../core/read-stores.js'
import type { Sql } from '../core/sql.js'
import type { Checkpoint } from '../storage/event-log.js'
import type { ProgressFeed } from '../transport/progress.js'
import type { Wake } from '../transport/wake.js'
import { createFollower, type Follower, type Progressing } from './follower.js'
import { heldReader, scopedReader, type KvStore } from './kv.js'
import type { Projection } from './projection.js'
import { createRunner, type Runner } from './runner.js'
import { sharedReads } from './shared-reads.js'
import { kvPrefix, sqlTableName, targetFor, type Catalog, type Target } from './targets.js'

/**
 * Where a projection is applied: `run` here, or `follow` (another process applies it into a shared
 * store; this one reads it and learns its progress from the feed).
 */
export type Placement = 'run' | 'follow'

/** The generation of a projection that queries here read, and who applies it. */
export interface Placed {
  projection: Projection
  /** The runner's or the follower's: whichever this process has. */
  progress: Progressing
  runner?: Runner
  follower?: Follower
  target: Target
  catalog: Catalog
  reader: KvReader | undefined
  /** The version of the projection that built this generation (its catalog entry's). */
  version: number
  /** A new generation being built beside this one (rebuild.ts). */
  rebuilding?: Runner
  /** A switch to a generation another process rebuilt, under way (sharing.ts). */
  switching?: Promise<void>
  /** A stored checkpoint ahead of the follower at the last sync: if no report covers it by the next, one was lost. */
  unreported?: Checkpoint
}

export interface PlacementsOptions {
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
  feed?: ProgressFeed
  /** Whether a projection's store is seen by other processes, so its progress is worth publishing. */
  shared?: (projection: Projection) => boolean
}

/** The projections this process serves, each at the generation queries read. */
export interface Placements {
  readonly stores: ReadStores
  get(name: string): Placed | undefined
  /** Holds the KV read models' reads until `until` settles (the store checked after a possible loss). */
  holdReads(until: Promise<unknown>): void
  /** While reads are held: the check they wait for (what counts as applied may change by its end). */
  readonly held: Promise<unknown> | undefined
  /** The placed projection, or a thrown error naming one that is not. */
  required(name: string): Placed
  all(): Placed[]
  /**
   * Serves `generation` of `projection` from now on: applies it here (run) or follows it. `caughtUp`:
   * it has caught up with the log already (a rebuild switched to), so its status never says otherwise.
   */
  serve(
    projection: Projection,
    generation: number,
    placement: Placement,
    options?: { caughtUp?: boolean },
  ): Promise<Placed>
  /**
   * A runner of one generation. A serving one's applied tags drop cached answers here and, when its
   * store is shared, in the other processes; a rebuilding one's touch nothing queries read.
   */
  runner(
    projection: Projection,
    generation: number,
    target: Target,
    serving: boolean,
    caughtUp?: boolean,
    checkpoint?: Checkpoint,
  ): Runner
  targets(projection: Projection, generation: number): { target: Target; catalog: Catalog }
  /** Whether this process tells the others about the projection (its store is shared, and a feed exists). */
  publishes(projection: Projection): boolean
}

export function createPlacements(options: PlacementsOptions): Placements {
  const { kv, readSql, cache, feed } = options
  const placed = new Map<string, Placed>()
  let held: Promise<unknown> | undefined
  const heldKv = heldReader(kv, () => held)
  const publishes = (projection: Projection) => feed !== undefined && (options.shared?.(projection) ?? false)
  const targets = (projection: Projection, generation: number) =>
    targetFor(projection, generation, { kv, sql: readSql })
  // A domain's projections read the log together (shared-reads.ts).
  const reader = sharedReads(options.source)

  function runner(
    projection: Projection,
    generation: number,
    target: Target,
    serving: boolean,
    caughtUp?: boolean,
    checkpoint?: Checkpoint,
  ): Runner {
    const publish = serving && publishes(projection)
    const created = createRunner({
      projection,
      generation,
      caughtUp,
      ...(checkpoint ? { checkpoint } : {}),
      target,
      source: options.source,
      read: reader(projection.domain, projection.events),
      wake: options.wake,
      log: options.log,
      metrics: options.metrics,
      batchSize: options.batchSize,
      pollMs: options.pollMs,
      // Only the generation queries read can make cached answers stale.
      onApplied: serving
        ? (tags) => {
            cache.invalidate(tags)
            if (publish) feed?.applied(projection.name, generation, tags)
          }
        : undefined,
      // Skipped: another projector applied events this one read or not, and published their tags,
      // which may reach a query process after this one's next report, which covers them: that
      // process then served answers cached before them to reads for a position past them (two
      // projectors, X-Min-Position, a stale hit). Every answer of the read model goes, here and
      // everywhere, ahead of any report of this runner's (the feed keeps one sender's order).
      onSkipped: serving
        ? () => {
            const tags = [readModelTag(projection.name)]
            cache.invalidate(tags)
            if (publish) feed?.applied(projection.name, generation, tags)
          }
        : undefined,
    })
    if (publish) {
      // An idle poll that found nothing new tells the other processes nothing.
      let told = ''
      created.onProgress(() => {
        // What another projector applied is its to report, after its tags (Runner.adopted).
        if (created.adopted) return
        const { checkpoint, horizon, caughtUp } = created
        const now = `${checkpoint.txId}/${checkpoint.position}/${horizon}/${caughtUp}`
        if (now === told) return
        told = now
        feed?.progress({ name: projection.name, generation, checkpoint, horizon, caughtUp })
      })
    }
    return created
  }

  function required(name: string): Placed {
    const entry = placed.get(name)
    if (!entry) throw new Error(`No projection is named ${name}`)
    return entry
  }

  return {
    get: (name) => placed.get(name),
    holdReads(until) {
      const settled: Promise<unknown> = until
        .catch(() => undefined)
        .finally(() => {
          if (held === settled) held = undefined
        })
      held = settled
    },
    get held() {
      return held
    },
    required,
    all: () => [...placed.values()],
    runner,
    targets,
    publishes,
    async serve(projection, generation, placement, options = {}) {
      const { target, catalog } = targets(projection, generation)
      const reader =
        projection.store === 'kv' ? scopedReader(heldKv, kvPrefix(projection.name, generation)) : undefined
      // Built by another version while an upgrade's rebuild runs: a query reading what only the new
      // version writes is refused until the switch (`readModelVersions`).
      const live = await catalog.live(projection.name)
      const version = live?.generation === generation ? live.version : projection.version
      let entry: Placed
      if (placement === 'run') {
        // Its checkpoint read first, as a follower's is (see `RunnerOptions.checkpoint`).
        const at = await target.checkpoint()
        const applying = runner(projection, generation, target, true, options.caughtUp, at)
        entry = { projection, progress: applying, runner: applying, target, catalog, reader, version }
        applying.start()
      } else {
        const follower = createFollower(generation, await target.checkpoint(), options.caughtUp)
        entry = { projection, progress: follower, follower, target, catalog, reader, version }
      }
      placed.set(projection.name, entry)
      return entry
    },
    stores: {
      kv(name) {
        const reader = required(name).reader
        if (!reader) throw new Error(`${name} is not a KV projection`)
        return reader
      },
      sql(name) {
        const { progress } = required(name)
        return { sql: readSql, table: (table) => sqlTableName(name, progress.generation, table) }
      },
    },
  }
}
