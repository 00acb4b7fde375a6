import { describe, expect, it } from 'vitest'
import { modes, projectionSpec } from '../../../kernel/testing.js'
import { at, created, finance, manager, req, type Req } from '../testing/read-side.js'
import { getPendingApprovals } from './pending-approvals.js'
import { listDepartmentRequests } from './request-queries.js'
import { requestsProjection, type RequestSummary } from './requests.js'

/**
 * Keyset paging under writes: every sort is walked page by page while new requests arrive between
 * pages (with amounts and times equal to others', so ties are broken by id). Every request there
 * before the walk is seen exactly once, no request twice, and each page follows the last in order.
 */

/** A small deterministic generator: the same walk every run. */
function numbers(seed: number) {
  let s = seed
  return (n: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31
    return s % n
  }
}

const sorts = ['created', '-created', 'amount', '-amount'] as const
const keyOf = (sort: (typeof sorts)[number], r: RequestSummary) =>
  sort.endsWith('created')
    ? `${r.createdAt}|${r.requestId}`
    : `${String(r.total).padStart(17, '0')}|${r.requestId}`

describe.each(modes)('keyset paging under inserts (%s)', (mode) => {
  const given = projectionSpec(mode, [requestsProjection])

  it.each(sorts)('walks sort=%s with no duplicate and no gap', async (sort) => {
    const random = numbers(sort.length * 7919)
    let n = 0
    const next = (): Req => {
      n += 1
      return req(n, { total: 1000 * (1 + random(4)), requesterId: `u${random(5)}` })
    }
    const initial = Array.from({ length: 45 }, next)
    const m = await given(...initial.map((r) => created(r, at(random(20)))))

    const seen: RequestSummary[] = []
    let cursor: string | undefined
    for (let page = 0; page < 100; page++) {
      const answer = await m.ask(
        listDepartmentRequests,
        { department: 'sales', sort, limit: 6, ...(cursor ? { cursor } : {}) },
        finance,
      )
      seen.push(...answer.items)
      if (!answer.nextCursor) break
      cursor = answer.nextCursor
      // Between pages: three more, at times and amounts the others have, anywhere in the order.
      await m.apply(...[next(), next(), next()].map((r) => created(r, at(random(20)))))
    }
    const ids = seen.map((r) => r.requestId)
    expect(new Set(ids).size).toBe(ids.length)
    for (const r of initial) expect(ids).toContain(r.requestId)
    const keys = seen.map((r) => keyOf(sort, r))
    const ordered = sort.startsWith('-') ? keys.toSorted().toReversed() : keys.toSorted()
    expect(keys).toEqual(ordered)
  })

  it('walks the pending approvals while requests keep arriving', async () => {
    const random = numbers(42)
    let n = 0
    const next = (): Req => {
      n += 1
      return req(n, { requesterId: `u${random(5)}` })
    }
    const initial = Array.from({ length: 30 }, next)
    const m = await given(...initial.map((r) => created(r, at(random(10)))))
    const seen: string[] = []
    let cursor: string | undefined
    for (let page = 0; page < 50; page++) {
      const answer = await getPage(cursor)
      seen.push(...answer.items.map((i) => i.requestId))
      if (!answer.nextCursor) break
      cursor = answer.nextCursor
      await m.apply(...[next(), next()].map((r) => created(r, at(random(10)))))
    }
    expect(new Set(seen).size).toBe(seen.length)
    for (const r of initial) expect(seen).toContain(r.requestId)

    function getPage(after: string | undefined) {
      return m.ask(
        getPendingApprovals,
        { limit: 4, ...(after ? { cursor: after } : {}) },
        manager('meg', 'sales'),
      )
    }
  })
})
