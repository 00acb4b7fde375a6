import type { SqlClient } from '../core/sql.js'
import { compareDecimal, headPosition, transactionOf } from '../storage/event-log.js'
import type { Progressing } from './follower.js'
import { trimOldest } from '../core/bounded.js'

/**
 * The transaction that committed the event at a position, or undefined where no committed event
 * has it: looked up once and remembered (the last 10,000), for read-your-writes. A read model that
 * has read past that transaction holds the position, whether or not it read the event itself.
 */
export function transactionLookup(source: SqlClient): (position: string) => Promise<string | undefined> {
  const transactions = new Map<string, string>()
  return async (position) => {
    let tx = transactions.get(position)
    if (tx === undefined) {
      tx = await transactionOf(source, position)
      if (tx === undefined) return undefined
      transactions.set(position, tx)
      trimOldest(transactions, 10_000)
    }
    return tx
  }
}

/** How often a waiter looks up its position's transaction, and the log's head is read, at most. */
const lookEveryMs = 50

/**
 * The log's head (its last position), read at most once per `lookEveryMs` however many wait, one
 * read at a time: what a waiter checks before looking its position up again.
 */
function sharedHead(source: SqlClient): () => Promise<string> {
  let head = '0'
  let readAt = -Infinity
  let reading: Promise<string> | undefined
  return () => {
    if (Date.now() - readAt < lookEveryMs) return Promise.resolve(head)
    reading ??= headPosition(source)
      .then((position) => {
        head = position
        readAt = Date.now()
        return position
      })
      .finally(() => {
        reading = undefined
      })
    return reading
  }
}

/**
 * Waiters for positions past the log's head, parked together: one timer for all of them, which every
 * `lookEveryMs` reads the shared head and wakes those it has reached or whose deadline is near. Such a
 * position has no committed event yet, so no projection can apply it: a waiter of its own, woken by
 * every projection's progress and its own timer, cost 2,000 such waits half a core.
 */
function parking(head: () => Promise<string>, ended: () => boolean) {
  const parked = new Set<{ position: string; deadline: number; wake: () => void }>()
  let timer: NodeJS.Timeout | undefined
  function check() {
    timer = undefined
    void head()
      .then((reached) => {
        // Those whose deadline comes before the next check wait on their own, to the millisecond.
        const soon = Date.now() + lookEveryMs
        for (const waiter of parked)
          if (ended() || soon >= waiter.deadline || compareDecimal(waiter.position, reached) <= 0) {
            parked.delete(waiter)
            waiter.wake()
          }
      })
      .catch(() => {
        // The head could not be read: each waiter looks again itself.
        for (const waiter of parked) waiter.wake()
        parked.clear()
      })
      .finally(() => {
        if (parked.size > 0) timer ??= setTimeout(check, lookEveryMs)
      })
  }
  return (position: string, deadline: number) =>
    new Promise<void>((wake) => {
      parked.add({ position, deadline, wake })
      timer ??= setTimeout(check, lookEveryMs)
    })
}

/**
 * Read-your-writes: waiting until a projection has applied the event at a position a command
 * answered with, by the position's transaction (`transactionLookup`), so a projection caught up by
 * horizon can say so without the event itself.
 */
export function positionWaiter(source: SqlClient): {
  /** True once `progress()` (read anew each time: a rebuild may swap it) has applied `position`; false at the deadline. */
  waitFor(progress: () => Progressing, position: string, deadline: number): Promise<boolean>
  /**
   * True once the log's head has reached `position`, false at the deadline: for a query that reads
   * no read model (the write model, the log, the audit log), whatever was committed by then.
   */
  committed(position: string, deadline: number): Promise<boolean>
  /** Ends every wait, now and to come, unmet (false) within `lookEveryMs`: the process is stopping. */
  end(): void
} {
  const txOf = transactionLookup(source)
  const head = sharedHead(source)
  let ended = false
  const park = parking(head, () => ended)

  return {
    end: () => void (ended = true),
    async committed(position, deadline) {
      // The shared head may be up to `lookEveryMs` old: one behind the position is read again.
      if (compareDecimal(position, await head()) <= 0) return true
      if (compareDecimal(position, await headPosition(source)) <= 0) return true
      for (;;) {
        if (ended || Date.now() >= deadline) return false
        await park(position, deadline)
        if (compareDecimal(position, await head()) <= 0) return true
      }
    },
    async waitFor(progress, position, deadline) {
      if (position === '0') return true
      if (progress().hasApplied(position, undefined)) return true
      // The position may be of types this projection does not read: their commit did not wake it.
      progress().nudge?.()
      let tx: string | undefined
      let looked = 0
      for (;;) {
        if (progress().hasApplied(position, tx)) return true
        if (ended) return false
        const now = Date.now()
        // Past the deadline only once the position was looked up: a wait of 0 still answers a
        // position applied already (a projection tells most of them only by their transaction).
        if (now >= deadline && looked > 0) return false
        if (tx === undefined) {
          // The first lookup comes at once. After one that found nothing, a position past the log's
          // head is not looked up again until the head reaches it, and waits parked (positions made
          // up far ahead by many callers at once were a lookup each every 50 ms, and 2,000 such
          // reads slowed every answer).
          const past = looked > 0 && compareDecimal(position, await head()) > 0
          if (past && deadline - now > lookEveryMs) {
            await park(position, deadline)
            continue
          }
          if (!past && now - looked > lookEveryMs) {
            looked = now
            tx = await txOf(position)
            if (progress().hasApplied(position, tx)) return true
            // No committed event has this position (rolled back, or made up): a caller could only
            // have got it from a commit, so once the read model is past it there is nothing to wait for.
            if (tx === undefined && compareDecimal(position, progress().checkpoint.position) <= 0) return true
            if (tx === undefined) continue
          }
        }
        await new Promise<void>((resolve) => {
          const off = progress().onProgress(done)
          const timer = setTimeout(done, Math.min(lookEveryMs, deadline - Date.now()))
          function done() {
            off()
            clearTimeout(timer)
            resolve()
          }
        })
      }
    },
  }
}
