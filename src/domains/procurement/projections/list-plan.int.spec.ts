import { describe, expect, it } from 'vitest'
import { modes, projectionSpec, type PlanNode } from '../../../kernel/testing.js'
import { departmentListStatement, ListDepartmentRequestsInput } from './request-queries.js'
import { requestsProjection } from './requests.js'
import type { Static } from 'typebox'

/**
 * The department list is read in an index's order, whatever its filters: with sorting made as
 * dear as PostgreSQL allows (`enable_sort` off), no plan of the list's SQL sorts. A full-size run
 * once found every matching row fetched and sorted because `ORDER BY total` named the answer's
 * float8 copy, which no index is ordered by; at test sizes only the plan shows such a slip.
 */

type Input = Static<typeof ListDepartmentRequestsInput>

const sorts = ['created', '-created', 'amount', '-amount'] as const
const filters: Input[] = [
  {},
  { status: 'pending' },
  { status: 'rejected', minAmount: 1_000, maxAmount: 1_001_000 },
  { minAmount: 0, maxAmount: 100_000_000 },
  { from: '2026-01-01T00:00:00.000Z', to: '2026-07-01T00:00:00.000Z' },
  { requesterId: 'u1', q: 'paper' },
]

/** Every node of a plan, depth first. */
function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

describe.each(modes)('the department list’s plans (%s)', (mode) => {
  const given = projectionSpec(mode, [requestsProjection])

  it('reads every sort in an index’s order, for a department and across all, with any filters', async () => {
    const m = await given()
    const table = m.table(requestsProjection.name, 'requests')
    const sorted: string[] = []
    for (const department of ['sales', undefined])
      for (const sort of sorts)
        for (const filter of filters) {
          const { text, params } = departmentListStatement({ ...filter, sort }, department, table)
          const plan = await m.plan(text, params, { enable_sort: 'off' })
          const types = nodes(plan).map((n) => n['Node Type'])
          expect(types.some((t) => t.includes('Index'))).toBe(true)
          if (types.some((t) => t.includes('Sort')))
            sorted.push(`${department ?? 'all'} ${sort} ${JSON.stringify(filter)}: ${types.join(' > ')}`)
        }
    expect(sorted).toEqual([])
  })

  it('would catch the slip it guards against: ordered by the answer’s float8 total, the plan sorts', async () => {
    const m = await given()
    const table = m.table(requestsProjection.name, 'requests')
    const { text, params } = departmentListStatement({ sort: '-amount' }, 'sales', table)
    const slipped = text.replace('ORDER BY r.total', 'ORDER BY total')
    expect(slipped).not.toBe(text)
    const plan = await m.plan(slipped, params, { enable_sort: 'off' })
    expect(nodes(plan).some((n) => n['Node Type'].includes('Sort'))).toBe(true)
  })
})
