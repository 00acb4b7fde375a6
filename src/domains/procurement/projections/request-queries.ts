import {
  defineQuery,
  Limit,
  Page,
  searchForm,
  signedIn,
  storedTime,
  Text,
  UserId,
  type AuditedRead,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { Department, RequestStatus } from '../messages.js'
import {
  Amount,
  Cursor,
  cursorOf,
  departmentAsked,
  keyOf,
  pageAfter,
  refuseBackwardRanges,
  Time,
} from './access.js'
import { requestsModel, RequestSummary, summaryColumns, summaryOf, type SummaryRow } from './requests.js'

const strict = { additionalProperties: false } as const

/** Everyone on a page who is not the caller: reads of their data, for the audit log. */
export function requestersShown(items: readonly RequestSummary[]): AuditedRead[] {
  const byRequester = new Map<string, string[]>()
  for (const item of items) {
    const ids = byRequester.get(item.requesterId)
    if (ids) ids.push(item.requestId)
    else byRequester.set(item.requesterId, [item.requestId])
  }
  return [...byRequester].map(([subjectId, requestIds]) => ({ subjectId, details: { requestIds } }))
}

export const listMyRequests = defineQuery({
  domain: 'procurement',
  name: 'list-my-requests',
  summary: "The caller's own purchase requests, newest first",
  input: Type.Object(
    { status: Type.Optional(RequestStatus), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
    strict,
  ),
  output: Page(RequestSummary),
  access: signedIn(),
  readModels: [requestsModel],
  paged: true,
  examples: [{ limit: 10 }],
  cache: { ttlMs: 30_000, tags: (_q, _a, caller) => [`requests:requester:${caller?.id ?? ''}`] },
  async handle(q, { caller, stores }) {
    const { sql, table } = stores.sql(requestsModel)
    const limit = q.limit ?? 20
    const after = keyOf(q.cursor, 'mine', '-created', 'time')
    const rows = await sql.query<SummaryRow>(
      `SELECT ${summaryColumns} FROM ${table('requests')}
       WHERE requester_id = $1 AND ($2::text IS NULL OR status = $2)
         AND ($3::text IS NULL OR (created_at, request_id) < ($3::text, $4::uuid))
       ORDER BY created_at DESC, request_id DESC LIMIT $5`,
      [caller?.id ?? '', q.status ?? null, after?.key ?? null, after?.id ?? null, limit + 1],
    )
    return pageAfter(rows.map(summaryOf), limit, (r) =>
      cursorOf('mine', '-created', { key: r.createdAt, id: r.requestId }),
    )
  },
})

const sorts = {
  created: { column: 'created_at', direction: 'ASC', kind: 'time' },
  '-created': { column: 'created_at', direction: 'DESC', kind: 'time' },
  amount: { column: 'total', direction: 'ASC', kind: 'amount' },
  '-amount': { column: 'total', direction: 'DESC', kind: 'amount' },
} as const
type Sort = keyof typeof sorts

export const ListDepartmentRequestsInput = Type.Object(
  {
    department: Type.Optional(Department),
    status: Type.Optional(RequestStatus),
    minAmount: Type.Optional(Amount),
    maxAmount: Type.Optional(Amount),
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    requesterId: Type.Optional(UserId('Only the requests of this requester')),
    // As the feed's `q`: something visible to look for (a blank, a lone accent or a direction mark is a 400).
    q: Type.Optional(
      Text(
        200,
        'Text the title contains, ignoring case (folded in full: `ß` as `ss`, a final `ς` as `σ`) and how accents were typed (compared in NFC)',
      ),
    ),
    sort: Type.Optional(
      Type.Enum(['created', '-created', 'amount', '-amount'], {
        description: 'By creation time or amount; `-` for descending (default -created)',
      }),
    ),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  strict,
)

export const listDepartmentRequests = defineQuery({
  domain: 'procurement',
  name: 'list-department-requests',
  summary:
    "A department's purchase requests, filtered and sorted (managers: their own department; finance and admin: any, or all)",
  description:
    'Filters: status, amount range, creation time range [from, to), requester, words of the title. ' +
    'Sorted by created time or amount, either direction; keyset pages (a row added between pages moves no other across an edge).',
  input: ListDepartmentRequestsInput,
  output: Page(RequestSummary),
  access: signedIn('manager', 'finance', 'admin'),
  readModels: [requestsModel],
  paged: true,
  examples: [{ department: 'engineering', status: 'pending', sort: '-amount', limit: 10 }],
  cache: {
    ttlMs: 30_000,
    tags: (q, _a, caller) => {
      const department = caller ? departmentAsked(caller, q.department) : q.department
      return [department === undefined ? 'requests:all' : `requests:dept:${department}`]
    },
  },
  audit: (_q, answer) => requestersShown(answer.items),
  async handle(q, { caller, stores }) {
    refuseBackwardRanges(q)
    const department = caller ? departmentAsked(caller, q.department) : undefined
    const { sql, table } = stores.sql(requestsModel)
    const { text, params, sortName, sort, limit } = departmentListStatement(q, department, table('requests'))
    const rows = await sql.query<SummaryRow>(text, params)
    return pageAfter(rows.map(summaryOf), limit, (r) =>
      cursorOf('dept', sortName, {
        key: sort.kind === 'time' ? r.createdAt : String(r.total),
        id: r.requestId,
      }),
    )
  },
})

type ListInput = Static<typeof ListDepartmentRequestsInput>

/**
 * The list's SQL for an input already checked, `department` the one the caller may read (none: all).
 * Sorted by the table's columns (`r.`), not the output's: `total` is also the name of the answer's
 * float8 copy, which no index is ordered by (every matching row was fetched and sorted). A spec
 * checks that every sort, with any filters, is served in an index's order.
 */
export function departmentListStatement(q: ListInput, department: string | undefined, table: string) {
  const sortName: Sort = q.sort ?? '-created'
  const sort = sorts[sortName]
  const after = keyOf(q.cursor, 'dept', sortName, sort.kind)
  const limit = q.limit ?? 20
  const params: unknown[] = []
  const where: string[] = []
  const add = (condition: (p: string) => string, value: unknown) => {
    params.push(value)
    where.push(condition(`$${params.length}`))
  }
  if (department !== undefined) add((p) => `department = ${p}`, department)
  if (q.status) add((p) => `status = ${p}`, q.status)
  if (q.minAmount !== undefined) add((p) => `total >= ${p}::bigint`, q.minAmount)
  if (q.maxAmount !== undefined) add((p) => `total <= ${p}::bigint`, q.maxAmount)
  if (q.from) add((p) => `created_at >= ${p}::text`, storedTime(q.from, '/from', 'ceil'))
  if (q.to) add((p) => `created_at < ${p}::text`, storedTime(q.to, '/to', 'ceil'))
  if (q.requesterId !== undefined) add((p) => `requester_id = ${p}`, q.requesterId)
  // Both sides in one form (`searchForm`): case folded in full, which ILIKE does not do (`ς`, `ß`).
  if (q.q !== undefined) {
    const words = searchForm(q.q).replace(/[\\%_]/g, (c) => `\\${c}`)
    add((p) => `title_search LIKE ${p}`, `%${words}%`)
  }
  if (after) {
    const cast = sort.kind === 'time' ? 'text' : 'bigint'
    const op = sort.direction === 'DESC' ? '<' : '>'
    params.push(after.key, after.id)
    const n = params.length
    where.push(`(${sort.column}, request_id) ${op} ($${n - 1}::${cast}, $${n}::uuid)`)
  }
  params.push(limit + 1)
  const text = `SELECT ${summaryColumns} FROM ${table} AS r
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY r.${sort.column} ${sort.direction}, r.request_id ${sort.direction} LIMIT $${params.length}`
  return { text, params, sortName, sort, limit }
}
