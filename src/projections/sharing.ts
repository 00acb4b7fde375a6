import type { QueryCache } from '../core/cache.js'
import type { Logger } from '../core/logger.js'
import { compareCheckpoints } from '../storage/event-log.js'
import type { FeedMessage, ProgressFeed } from '../transport/progress.js'
import type { Placed, Placements } from './placements.js'
import type { Projection } from './projection.js'

export interface Sharing {
  /** Every projection is placed: asks the projectors to report, and starts the backstop. */
  placed(): void
  /** The backstop's checks, now: what each followed projection's store holds against its reports. */
  verify(): Promise<void>
  /**
   * Stops following, and resolves once no check is under way: the stores can close then (a check
   * left running went on to read them, closed, and logged a failure for each projection).
   */
  stop(): Promise<void>
}

/**
 * Following the other processes of a deployment through the progress feed: their cache tags drop
 * answers cached here, their reports move the projections this process follows, and a generation
 * another process switched to (a rebuild) is served here too. Once per poll interval the stored
 * checkpoints are read as a backstop for messages the feed lost.
 */
export function shareProgress(options: {
  feed: ProgressFeed
  placements: Placements
  cache: QueryCache
  log: Logger
  /** Drops the generation an entry served once no other process can still be reading it (rebuild.ts). */
  retire: (old: Placed) => void
  /** Whether this process applies `projection` (a projector's), not only follows it. */
  applies: (projection: Projection) => boolean
  /** A generation an older version built was switched to (a projector of that version started): rebuild. */
  olderVersion: (projection: Projection) => void
  pollMs?: number
}): Sharing {
  const { feed, placements, cache, log, retire } = options

  /** Another process switched generations: serve that one, drop what was cached. */
  function switchTo(entry: Placed, generation: number): Promise<void> {
    entry.switching ??= (async () => {
      try {
        const { projection } = entry
        if (entry.rebuilding || placements.get(projection.name) !== entry) return
        await entry.runner?.stop()
        // One a newer version built is followed, not applied: this code does not write what that
        // version's queries read (an old projector applying a new generation left goals out of it for
        // good). One an older version built is applied (a new version writes the old tables too) and
        // rebuilt to this version (an old projector started beside new ones switched them all back).
        const live = await entry.catalog.live(projection.name)
        const version = live?.generation === generation ? live.version : projection.version
        const applies = options.applies(projection) && version <= projection.version
        // A generation is switched to once it has caught up with the log: so is this process's, and
        // its status says so (/ready stayed 200 through the switch; it was 503 until a report came).
        const placed = await placements.serve(projection, generation, applies ? 'run' : 'follow', {
          caughtUp: true,
        })
        if (options.applies(projection) && !applies)
          log.warn(
            { projection: projection.name, generation, live: version, here: projection.version },
            'following a generation a newer version built: its projectors apply it',
          )
        if (applies && version < projection.version) options.olderVersion(projection)
        cache.clear()
        // The new generation's projector may have reported it caught up before this switch (its
        // first report follows its `switched` message at once), a report dropped here as of another
        // generation: asked again, or the follower waited, not caught up and with no horizon, for the
        // projection's next event (/ready 503, reads with X-Min-Position past it refused).
        if (placed.follower) feed.hello()
        // A runner of the old generation may have written after the rebuilder dropped it: dropped
        // again, as late, for the query processes that may still be reading it.
        if (entry.runner) retire(entry)
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

  function onMessage(message: FeedMessage) {
    if (message.kind === 'clear') return cache.clear()
    if (message.kind === 'hello') return
    const entry = placements.get(message.name)
    if (!entry) return
    const generation = entry.progress.generation
    if (message.kind === 'switched') {
      if (message.generation > generation) void switchTo(entry, message.generation)
    } else if (message.generation !== generation) {
      return
    } else if (message.kind === 'applied') {
      cache.invalidate(message.tags)
    } else if (entry.follower?.restarted) {
      // After the store lost what was applied, a report may be one its projector sent before it found
      // out (a projector finds out at its next batch, or within a second idle): it is taken as far as
      // the store holds, no further. Taken whole, reads for a position went on to an emptied store.
      const { follower } = entry
      void entry.target
        .checkpoint()
        .then((stored) => {
          if (entry.follower !== follower) return
          if (compareCheckpoints(stored, message.checkpoint) >= 0) follower.advance(message)
          else follower.advance({ checkpoint: stored })
        })
        .catch((error: unknown) =>
          log.warn({ err: error, projection: message.name }, 'checking a report failed'),
        )
    } else {
      entry.follower?.advance(message)
    }
  }

  /**
   * The backstop: a generation switched while its message was lost (or another live after the store
   * lost its catalog), or a followed projection's stored checkpoint ahead of every report for a
   * whole interval (a lost report: its tags are unknown, so the cache is cleared). `lost`: the feed
   * itself was down, so everything is suspect.
   */
  async function sync(lost: boolean) {
    if (lost) cache.clear()
    for (const entry of placements.all()) {
      if (stopped) return
      try {
        const known = await entry.catalog.live(entry.projection.name)
        // Another generation is live: a newer one (a rebuild), or an older one (the store lost its
        // catalog and a projector started again from the first).
        if (known && known.generation !== entry.progress.generation) {
          await switchTo(entry, known.generation)
          continue
        }
        const follower = entry.follower
        if (!follower) continue
        // Taken before the read: a report that comes meanwhile is of a checkpoint already stored.
        const reported = follower.checkpoint
        const stored = await entry.target.checkpoint()
        if (compareCheckpoints(stored, reported) < 0) {
          // Behind what its projector reported: the store lost what was applied (Redis restarted
          // without its data). Until applied again, nothing counts as applied for X-Min-Position, and
          // nothing cached from it is served.
          log.warn({ projection: entry.projection.name, stored, reported }, 'the store lost what was applied')
          cache.clear()
          follower.restart(stored)
          entry.unreported = undefined
        } else if (compareCheckpoints(stored, follower.checkpoint) <= 0) {
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

  let stopped = false
  const checking = new Set<Promise<void>>()
  function check(lost: boolean): Promise<void> {
    const run = sync(lost).finally(() => checking.delete(run))
    checking.add(run)
    return run
  }

  // Subscribed before anything is placed, so no report sent while placing is missed.
  const unsubscribe = feed.subscribe(onMessage, () => void check(true).then(() => feed.hello()))
  let timer: NodeJS.Timeout | undefined
  return {
    placed() {
      if (placements.all().some((entry) => entry.follower)) feed.hello()
      timer = setInterval(() => void check(false), Math.max(options.pollMs ?? 1000, 100))
      timer.unref()
    },
    verify: () => check(false),
    async stop() {
      stopped = true
      clearInterval(timer)
      unsubscribe()
      await Promise.all(checking)
    },
  }
}
