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
 * Read-your-writes: waiting until a projection has applied the event at a position a command
 * answered with, by the position's transaction (`transactionLookup`), so a projection caught up by
 * horizon can say so without the event itself.
 */
export function positionWaiter(source: SqlClient): {
  /** True once `progress()` (read anew each time: a rebuild may swap it) has applied `position`; false at the deadline. */
  waitFor(progress: () => Progressing, position: string, deadline: number): Promise<boolean>
} {
  const txOf = transactionLookup(source)
  const head = sharedHead(source)

  return {
    async waitFor(progress, position, deadline) {
      if (position === '0') return true
      if (progress().hasApplied(position, undefined)) return true
      // The position may be of types this projection does not read: their commit did not wake it.
      progress().nudge?.()
      let tx: string | undefined
      let looked = 0
      for (;;) {
        if (progress().hasApplied(position, tx)) return true
        const now = Date.now()
        if (now >= deadline) return false
        // The first lookup comes at once; the next only once the log's head has reached the position:
        // past the head, no committed event has it yet (a lookup per waiter every 50 ms, for positions
        // made up far ahead by many callers at once, were as many queries: 2,000 such reads slowed
        // every answer).
        const again = looked > 0
        if (
          tx === undefined &&
          now - looked > lookEveryMs &&
          (!again || compareDecimal(position, await head()) <= 0)
        ) {
          looked = now
          tx = await txOf(position)
          if (progress().hasApplied(position, tx)) return true
          // No committed event has this position (rolled back, or made up): a caller could only have
          // got it from a commit, so once the read model is past it there is nothing to wait for.
          if (tx === undefined && compareDecimal(position, progress().checkpoint.position) <= 0) return true
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
