import { trimOldest } from './bounded.js'

/**
 * What the last command on each stream left behind, kept in this process so that the next command
 * on the stream can decide without reading it again. A hint, never the truth: a decision taken on
 * it appends at the version it was kept at, and the event log's unique (stream, version) refuses
 * the append when another process has moved the stream since; the command then runs again with a
 * read. In this process, commands on one stream take turns, so what is kept is never behind.
 *
 * Every command on a stream keeps the same shape of state; the oldest streams are dropped first.
 */
export interface StreamMemory {
  /** Waits for the stream's turn; `release` ends it. `kept` is what the last command left, if anything. */
  take(streamId: string): Promise<Turn>
  /** The stream's turn if no one holds it or waits for it, without waiting. */
  tryTake(streamId: string): Turn | undefined
  keep(streamId: string, state: unknown): void
  forget(streamId: string): void
  readonly size: number
}

export interface Turn {
  readonly streamId: string
  readonly kept: unknown
  release(): void
}

export function createStreamMemory(capacity = 10_000): StreamMemory {
  const kept = new Map<string, unknown>()
  /** Per stream, the end of the queue of turns. */
  const queues = new Map<string, Promise<void>>()

  function turn(streamId: string, end: Promise<void>, release: () => void): Turn {
    let released = false
    return {
      streamId,
      get kept() {
        return kept.get(streamId)
      },
      release() {
        if (released) return
        released = true
        release()
        if (queues.get(streamId) === end) queues.delete(streamId)
      },
    }
  }
  function enqueue(streamId: string) {
    const before = queues.get(streamId)
    let release!: () => void
    const done = new Promise<void>((resolve) => (release = resolve))
    const end = before ? before.then(() => done) : done
    queues.set(streamId, end)
    return { before, end, release }
  }

  return {
    async take(streamId) {
      const { before, end, release } = enqueue(streamId)
      if (before) await before
      return turn(streamId, end, release)
    },
    tryTake(streamId) {
      if (queues.has(streamId)) return undefined
      const { end, release } = enqueue(streamId)
      return turn(streamId, end, release)
    },
    keep(streamId, state) {
      kept.delete(streamId)
      kept.set(streamId, state)
      trimOldest(kept, capacity)
    },
    forget: (streamId) => void kept.delete(streamId),
    get size() {
      return kept.size
    },
  }
}
