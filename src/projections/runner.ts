import type { Logger } from '../core/logger.js'
import type { Metrics } from '../core/metrics.js'
import type { SqlClient } from '../core/sql.js'
import {
  compareCheckpoints,
  compareDecimal,
  defaultPersistAfter,
  farBelow,
  origin,
  readAfter,
  readFrom,
  type Batch,
  type Checkpoint,
} from '../storage/event-log.js'
import type { Wake } from '../transport/wake.js'
import { covers, type Progressing } from './follower.js'
import { createLoop } from './loop.js'
import type { Projection } from './projection.js'
import type { LogRead } from './shared-reads.js'
import type { Target } from './targets.js'
import { trimOldest } from '../core/bounded.js'

/** What a runner uses of its target: the checkpoint, and batches applied with it. */
export type RunnerTarget = Pick<Target, 'checkpoint' | 'apply'>

/** Applies a projection generation here; its listeners hear after each batch and each caught-up read. */
export interface Runner extends Progressing {
  readonly projection: Projection
  /**
   * Whether its checkpoint was taken from the store after another projector moved it, and no batch
   * was applied here since: that process publishes the cache tags of what it applied, and a report
   * from here could reach the other processes before them (one answer cached from before served as
   * fresh for X-Min-Position), so nothing is reported from here until a batch of its own.
   */
  readonly adopted: boolean
  /**
   * Checks now that the store still holds the checkpoint applied here (`lost`): after the store's
   * connection came back, before queries read it again. True if it did not.
   */
  verify(): Promise<boolean>
  start(): void
  stop(): Promise<void>
  /**
   * Stopped, applies what the log holds now and moves the checkpoint to the log's last event, however
   * near (`persistAfter` aside): a rebuilt generation's, before it is switched to, so that every process
   * starts it where the generation before it stood, not at the last event of its own types.
   */
  settle(): Promise<void>
}

export interface RunnerOptions {
  projection: Projection
  generation: number
  target: RunnerTarget
  /** Where the event log is. */
  source: SqlClient
  wake: Wake
  log: Logger
  metrics: Metrics
  /** Called with the cache tags of each applied batch, after its commit. */
  onApplied?: (tags: Set<string>) => void
  /**
   * Called when the stored checkpoint is not the one applied here: another process moved it (several
   * projectors on one projection), and the events it applied are skipped here, their cache tags
   * unknown; or the store lost what was applied, and answers cached from it are dropped.
   */
  onSkipped?: () => void
  batchSize?: number
  /** How far past its checkpoint the log goes before one that found nothing moves it (`farBelow`). */
  persistAfter?: number
  pollMs?: number
  /** The shortest time between two reads of the log (a bound on the lag it adds). */
  lingerMs?: number
  /** The generation has caught up with the log already (a rebuild's, switched to): it says so from the start. */
  caughtUp?: boolean
  /**
   * Its store's checkpoint, read before it was placed: what it says it has applied until its first
   * step loads the checkpoint itself. Without it, a generation just switched to answered reads with
   * `X-Read-Position: 0` for that moment.
   */
  checkpoint?: Checkpoint
  /** How it reads the log (shared-reads.ts); by default a read of its own types from `source`. */
  read?: LogRead
}

const recentLimit = 4096
/** The most batches `settle` applies in a round (a rebuilt generation has caught up: a few at most). */
const settleSteps = 100
/** How often, while nothing new comes, the stored checkpoint is compared with the one applied here. */
const verifyMs = 1000

/**
 * Whether moving the horizon from `horizon` to the batch's passes a transaction holding events. Every
 * transaction below the batch's horizon had ended when it was read, so the log's newest one then
 * (`top`) bounds them all: below `horizon`, the move passes none.
 */
function passesEvents(batch: Batch, horizon: string): boolean {
  return batch.top !== null && compareDecimal(batch.top, horizon) >= 0
}

/**
 * Applies one projection generation: reads the log gap-safe after its checkpoint, applies each batch
 * atomically with the checkpoint, then sleeps until a commit wakes it (or the poll interval ends).
 */
export function createRunner(options: RunnerOptions): Runner {
  const { projection, target, source, log, metrics } = options
  const batchSize = options.batchSize ?? 500
  const persistAfter = options.persistAfter ?? defaultPersistAfter
  let checkpoint: Checkpoint = options.checkpoint ?? origin
  let horizon = '0'
  /** The horizon of the last complete read since the checkpoint was loaded: where reading goes on from. */
  let seen = '0'
  let caughtUp = options.caughtUp ?? false
  let loaded = false
  let adopted = false
  /** Counts the checkpoints taken from the store (`adopt`): a step that sees it change took none of its read. */
  let adoptions = 0
  let verifiedAt = 0
  const recent = new Set<string>()
  const listeners = new Set<() => void>()
  const progressed = () => {
    for (const listener of listeners) listener()
  }
  const readLog: LogRead =
    options.read ?? ((from, limit) => readAfter(source, from, { limit, types: projection.events }))
  /**
   * The read after a full batch, sent while that batch is applied: catching up (a backlog, a
   * rebuild), reading the log and writing the read model overlap instead of taking turns. Used only
   * if the next read starts where it did (the batch was applied), and only if full: one that
   * stopped short was sent before the step that takes it, and may miss the commit that woke it.
   */
  let ahead: { from: Checkpoint; batch: Promise<Batch> } | undefined

  async function step(persistPast = persistAfter): Promise<boolean | 'held'> {
    const since = performance.now()
    if (!loaded) {
      checkpoint = await target.checkpoint()
      seen = '0'
      loaded = true
    }
    // The checkpoint this step reads and applies from, as it stands now: `verify` may move the
    // runner's while this step waits on the log, and a batch read from one place applied from another
    // moved the store's checkpoint past events never applied (after a Redis restart, with two
    // projectors: a card's events lost from the read model, its reads 404 until the next rebuild).
    const base = checkpoint
    const adoptionsAtStart = adoptions
    const from = readFrom(base, seen)
    const kept =
      ahead && compareCheckpoints(ahead.from, from) === 0
        ? await ahead.batch.catch(() => undefined)
        : undefined
    ahead = undefined
    const batch = kept?.full ? kept : await readLog(from, batchSize, since)
    // The store's checkpoint was taken meanwhile (`verify` found it lost or moved): this read, from
    // the old place, tells nothing of the new one. Its horizon taken, an emptied store's runner read
    // on from past every event it had applied, and said it had applied them (after a Redis restart:
    // read models empty for good, each saying it was caught up).
    if (adoptions !== adoptionsAtStart) return false
    // A shared read may end past this projection's last event; one that found none of its events
    // and stopped short moves nothing (the horizon covers it: `readFrom`), unless the log has gone
    // far past the checkpoint: kept in memory only, that stretch was walked again at every start.
    const next = batch.events.length > 0 || batch.full ? batch.through : farBelow(batch, base, persistPast)
    if (!next && Date.now() - verifiedAt >= verifyMs && (await lost())) return false
    if (next) {
      if (batch.full) {
        const after = readFrom(next, seen)
        const reading = readLog(after, batchSize, since)
        reading.catch(() => undefined) // a failed read-ahead is read again
        ahead = { from: after, batch: reading }
      }
      const tags = await target.apply(batch.events, base, next)
      if (!tags) {
        reload(await target.checkpoint())
        return false
      }
      if (adoptions !== adoptionsAtStart) {
        // Applied (the store was at `base`), but the checkpoint taken meanwhile decides where to go on.
        options.onApplied?.(tags)
        return false
      }
      checkpoint = next
      adopted = false
      const now = Date.now()
      for (const event of batch.events) {
        // Catching up from the start, positions are not kept one by one: a wait finds them by transaction.
        if (caughtUp) remember(event.position)
        metrics.projectionApplied(projection.name, Math.max(0, now - event.recordedAt.getTime()) / 1000)
      }
      options.onApplied?.(tags)
    }
    const complete = !batch.full
    if (complete) {
      // Its horizon moves with every transaction the server runs, the other processes' progress
      // messages among them (a NOTIFY takes a transaction id). Passing no event, it shows no waiter
      // anything new: kept, it would be published, and an idle deployment would tell itself so forever.
      if (compareDecimal(batch.horizon, horizon) > 0 && passesEvents(batch, horizon)) horizon = batch.horizon
      if (compareDecimal(batch.horizon, seen) > 0) seen = batch.horizon
      caughtUp = true
    }
    progressed()
    return complete && batch.held ? 'held' : complete
  }

  /**
   * Whether the store's checkpoint is no longer the one applied here, checked while nothing new
   * comes (with events, the next apply finds out). Behind it, the store lost what was applied (Redis
   * restarted without its data, a table emptied): nothing applied here counts as applied any more,
   * and the log is applied again from where the store stands. Ahead, another projector moved it.
   */
  async function lost(): Promise<boolean> {
    verifiedAt = Date.now()
    const stored = await target.checkpoint()
    if (compareCheckpoints(stored, checkpoint) === 0) return false
    reload(stored)
    progressed()
    return true
  }

  /**
   * Goes on from the store's checkpoint, found moved: ahead, by another projector; behind, the store
   * lost what was applied here, so none of it counts as applied any more (X-Min-Position waits).
   */
  function reload(stored: Checkpoint) {
    const behind = compareCheckpoints(stored, checkpoint) < 0
    const details = { projection: projection.name, stored, applied: checkpoint }
    if (behind) log.warn(details, 'the store lost what was applied; applying the log again')
    // Several projectors on one store (several all-role processes, `seed-demo` beside a server) race
    // for each batch by design: the loser goes on from the winner's checkpoint.
    else log.info(details, 'checkpoint moved by another projector; going on from it')
    if (behind) {
      horizon = '0'
      recent.clear()
      caughtUp = false
    }
    adopt(stored)
  }

  /** Goes on from the store's checkpoint; what was cached from the events in between is dropped. */
  function adopt(stored: Checkpoint) {
    adoptions++
    checkpoint = stored
    adopted = true
    seen = '0'
    options.onSkipped?.()
  }

  function remember(position: string) {
    recent.add(position)
    trimOldest(recent, recentLimit)
  }

  const loop = createLoop({
    step: () => step(),
    wake: options.wake,
    types: projection.events,
    log,
    kind: 'projection',
    name: projection.name,
    pollMs: options.pollMs ?? 1000,
    lingerMs: options.lingerMs ?? 5,
  })

  return {
    projection,
    generation: options.generation,
    get checkpoint() {
      return checkpoint
    },
    get horizon() {
      return horizon
    },
    get caughtUp() {
      return caughtUp
    },
    get adopted() {
      return adopted
    },
    verify: lost,
    start() {
      // A runner started again (after a failed switch) reads its checkpoint again.
      loaded = false
      loop.start()
    },
    stop: loop.stop,
    async settle() {
      // Twice: what came since it caught up, then the move past the events of other types.
      for (let round = 0; round < 2; round++)
        for (let steps = 0; steps < settleSteps && (await step(0)) === false; steps++);
    },
    nudge: loop.nudge,
    hasApplied(position, txId) {
      return recent.has(position) || covers(checkpoint, horizon, position, txId)
    },
    onProgress(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
