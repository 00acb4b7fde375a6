import { describe, expect, it } from 'vitest'
import type { SqlClient } from '../core/sql.js'
import type { Progressing } from './follower.js'
import { positionWaiter } from './read-your-writes.js'

/** A log whose head is at 100, positions 1 to 100 committed by transaction 7: each query counted. */
function countingLog() {
  const queries: string[] = []
  const sql: SqlClient = {
    query: <R extends object>(text: string, params?: readonly unknown[]) => {
      queries.push(text)
      if (text.includes('ORDER BY position DESC')) return Promise.resolve([{ head: '100', tx: '7' }] as R[])
      const position = Number(params?.[0])
      return Promise.resolve((position <= 100 ? [{ tx_id: '7' }] : []) as R[])
    },
  }
  return { sql, queries }
}

/** A read model that has applied everything up to position 50 and moves no further. */
const stuckAt50: Progressing = {
  generation: 1,
  checkpoint: { txId: '6', position: '50' },
  horizon: '6',
  caughtUp: true,
  hasApplied: (position) => Number(position) <= 50,
  onProgress: () => () => undefined,
}

describe('read-your-writes waiting', () => {
  it('looks a position past the log head up once, then waits on one head read per 50 ms for all', async () => {
    const { sql, queries } = countingLog()
    const waiter = positionWaiter(sql)
    const deadline = Date.now() + 300
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => waiter.waitFor(() => stuckAt50, String(10_000 + i), deadline)),
    )
    expect(answers.every((a) => !a)).toBe(true)
    // A lookup each on arrival, then one head read per 50 ms at most for all (one at a time): not a
    // lookup per waiter per 50 ms (1,200).
    const lookups = queries.filter((q) => q.includes('WHERE position = $1'))
    expect(lookups).toHaveLength(200)
    expect(queries.length - lookups.length).toBeLessThanOrEqual(12)
  })

  it('looks up a position at or below the head, and answers at once when the read model has it', async () => {
    const { sql, queries } = countingLog()
    const waiter = positionWaiter(sql)
    expect(await waiter.waitFor(() => stuckAt50, '40', Date.now() + 300)).toBe(true)
    expect(queries).toEqual([])
    expect(await waiter.waitFor(() => stuckAt50, '80', Date.now() + 120)).toBe(false)
    expect(queries.some((q) => q.includes('WHERE position = $1'))).toBe(true)
  })

  it('answers a position applied already with no wait at all, when only its transaction tells it', async () => {
    const { sql, queries } = countingLog()
    const waiter = positionWaiter(sql)
    // A follower (a query process) or a runner after a restart knows what it applied by transaction.
    const byTransaction: Progressing = {
      ...stuckAt50,
      hasApplied: (_position, txId) => txId !== undefined && Number(txId) <= 7,
    }
    expect(await waiter.waitFor(() => byTransaction, '80', Date.now())).toBe(true)
    expect(queries.filter((q) => q.includes('WHERE position = $1'))).toHaveLength(1)
    // One not applied is still refused at once.
    expect(await waiter.waitFor(() => stuckAt50, '80', Date.now())).toBe(false)
  })

  it('parks waiters past the head without waking them on progress, and answers them once the head and the read model reach them', async () => {
    const log = { head: 100 }
    const sql: SqlClient = {
      query: <R extends object>(text: string, params?: readonly unknown[]) => {
        if (text.includes('ORDER BY position DESC'))
          return Promise.resolve([{ head: String(log.head), tx: '7' }] as R[])
        return Promise.resolve((Number(params?.[0]) <= log.head ? [{ tx_id: '7' }] : []) as R[])
      },
    }
    let applied = 50
    let subscribed = 0
    const listeners = new Set<() => void>()
    const model: Progressing = {
      ...stuckAt50,
      checkpoint: { txId: '6', position: '50' },
      hasApplied: (position) => Number(position) <= applied,
      onProgress: (listener) => {
        subscribed++
        listeners.add(listener)
        return () => listeners.delete(listener)
      },
    }
    const waiter = positionWaiter(sql)
    const deadline = Date.now() + 5_000
    const answers = Promise.all(
      Array.from({ length: 200 }, (_, i) => waiter.waitFor(() => model, String(10_000 + i), deadline)),
    )
    await new Promise((resolve) => setTimeout(resolve, 150))
    // Parked: none listens to the read model's progress, which cannot reach a position past the head.
    expect(subscribed).toBe(0)
    for (const listener of listeners) listener()
    log.head = 20_000
    applied = 20_000
    expect((await answers).every(Boolean)).toBe(true)
    expect(Date.now()).toBeLessThan(deadline - 4_000)
  })
})
