import { defineQuery, Limit, Page, signedIn, type Caller } from '../../../kernel/index.js'
import Type from 'typebox'
import { canonicalDepartment, hasRole } from '../rules.js'
import { Cursor, cursorOf, keyOf, pageAfter } from './access.js'
import { requestersShown } from './request-queries.js'
import { requestsModel, RequestSummary, summaryColumns, summaryOf, type SummaryRow } from './requests.js'

/**
 * What waits for the caller's approval: pending requests whose waiting step the caller may act on
 * (as approval-rules.ts `actsAs` says: a manager step of their department, a finance step, and for
 * an admin any step), except their own requests and those they approved a step of already (both
 * refused by the write side). Newest wait first: a request enters an approver's list when its step
 * starts waiting (created, updated, or the step before approved). The list is a work queue, not a
 * log: requests leave it (approved, rejected, cancelled, moved on to another's step) as often as they
 * come, so its live stream sends the page again each time it changes, not each item once.
 */

export const PendingApproval = Type.Object({
  ...RequestSummary.properties,
  /** Since when its step waits: the item's place in the list. */
  waitingSince: Type.String({ format: 'date-time' }),
})

/** The steps a caller may act on, as SQL over the requests table (none: nothing waits for them). */
function actionable(caller: Caller, params: unknown[]): string | undefined {
  if (hasRole(caller, 'admin')) return 'true'
  const ways: string[] = []
  const department = canonicalDepartment(caller.dept)
  if (hasRole(caller, 'manager') && department) {
    params.push(department)
    ways.push(`(step_role = 'manager' AND step_department = $${params.length})`)
  }
  if (hasRole(caller, 'finance')) ways.push(`step_role = 'finance'`)
  return ways.length > 0 ? `(${ways.join(' OR ')})` : undefined
}

export const getPendingApprovals = defineQuery({
  domain: 'procurement',
  name: 'get-pending-approvals',
  summary:
    "Requests waiting for the caller's approval, newest wait first; /stream sends the page again each time it changes",
  input: Type.Object(
    { limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
    { additionalProperties: false },
  ),
  output: Page(PendingApproval),
  access: signedIn(),
  readModels: [requestsModel],
  paged: true,
  live: true,
  examples: [{ limit: 10 }],
  cache: {
    ttlMs: 30_000,
    tags: (_q, _a, caller) => {
      const department = canonicalDepartment(caller?.dept)
      if (hasRole(caller, 'admin') || hasRole(caller, 'finance')) return ['requests:all']
      return hasRole(caller, 'manager') && department ? [`requests:dept:${department}`] : []
    },
  },
  audit: (_q, answer) => requestersShown(answer.items),
  async handle(q, { caller, stores }) {
    const limit = q.limit ?? 20
    const after = keyOf(q.cursor, 'pending', '-waiting', 'time')
    if (!caller) return { items: [], nextCursor: null }
    const params: unknown[] = [caller.id]
    const steps = actionable(caller, params)
    if (!steps) return { items: [], nextCursor: null }
    params.push(after?.key ?? null, after?.id ?? null, limit + 1)
    const n = params.length
    const { sql, table } = stores.sql(requestsModel)
    const rows = await sql.query<SummaryRow & { waitingSince: string }>(
      `SELECT ${summaryColumns}, waiting_since AS "waitingSince" FROM ${table('requests')}
       WHERE status = 'pending' AND ${steps} AND requester_id <> $1 AND NOT ($1 = ANY(approver_ids))
         AND ($${n - 2}::text IS NULL OR (waiting_since, request_id) < ($${n - 2}::text, $${n - 1}::uuid))
       ORDER BY waiting_since DESC, request_id DESC LIMIT $${n}`,
      params,
    )
    const items = rows.map(({ waitingSince, ...row }) => ({ ...summaryOf(row), waitingSince }))
    return pageAfter(items, limit, (r) =>
      cursorOf('pending', '-waiting', { key: r.waitingSince, id: r.requestId }),
    )
  },
})
