import { compareCheckpoints, compareDecimal, type Checkpoint } from '../storage/event-log.js'

/** How far one generation of a projection has got, whether applied here (a runner) or elsewhere. */
export interface Progressing {
  readonly generation: number
  readonly checkpoint: Checkpoint
  /** Every transaction below this id has been applied or was of no interest to the projection. */
  readonly horizon: string
  /** True once a read found nothing more to apply (it may have fallen behind again since). */
  readonly caughtUp: boolean
  /** Whether the event at `position`, written by transaction `txId` (if known), has been applied. */
  hasApplied(position: string, txId: string | undefined): boolean
  /** Calls `listener` each time the progress moves. */
  onProgress(listener: () => void): () => void
  /**
   * Asks for a read of the log now (a runner here; another process's cannot be asked): one that
   * commits of other types did not wake has not moved its horizon past them.
   */
  nudge?(): void
}

/** Whether an event (position, transaction) is behind a checkpoint or below a caught-up horizon. */
export function covers(checkpoint: Checkpoint, horizon: string, position: string, txId: string | undefined) {
  if (txId === undefined) return false
  return compareDecimal(txId, horizon) < 0 || compareCheckpoints({ txId, position }, checkpoint) <= 0
}

/** A projection generation applied by another process, known from what that process publishes. */
export interface Follower extends Progressing {
  /**
   * Moves forward only: an older report (late, or from a slower projector) changes nothing. Caught up
   * once, it stays so until `restart`: a projector started again reports itself behind until it has
   * read the log written while it was down, and the store still holds all it had applied (this
   * process answered from it meanwhile, /ready 200; it was 503 on every query process till then).
   */
  advance(to: { checkpoint: Checkpoint; horizon?: string; caughtUp?: boolean }): void
  /** The store lost what was applied (Redis restarted empty): back to its checkpoint, nothing else counted. */
  restart(at: Checkpoint): void
  /**
   * Since `restart`, until a report checked against the store says the projection caught up: reports
   * may be ones sent before their projector found the loss, of what the store no longer holds.
   */
  readonly restarted: boolean
}

/** `caughtUp`: the generation had caught up with the log when it was switched to (a rebuild's). */
export function createFollower(generation: number, start: Checkpoint, caughtUp = false): Follower {
  let checkpoint = start
  let horizon = '0'
  let restarted = false
  const listeners = new Set<() => void>()
  return {
    generation,
    get restarted() {
      return restarted
    },
    get checkpoint() {
      return checkpoint
    },
    get horizon() {
      return horizon
    },
    get caughtUp() {
      return caughtUp
    },
    hasApplied: (position, txId) => covers(checkpoint, horizon, position, txId),
    onProgress(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    advance(to) {
      let moved = false
      if (compareCheckpoints(to.checkpoint, checkpoint) > 0) {
        checkpoint = to.checkpoint
        moved = true
      }
      if (to.horizon !== undefined && compareDecimal(to.horizon, horizon) > 0) {
        horizon = to.horizon
        moved = true
      }
      if (to.caughtUp === true && !caughtUp) {
        caughtUp = true
        moved = true
      }
      if (caughtUp) restarted = false
      if (moved) for (const listener of listeners) listener()
    },
    restart(at) {
      checkpoint = at
      horizon = '0'
      caughtUp = false
      restarted = true
      for (const listener of listeners) listener()
    },
  }
}
