import { defineQuery, signedIn, storedTime } from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { Department, type RequestStatus } from '../messages.js'
import { scopeOf } from '../rules.js'
import { departmentAsked, refuseBackwardRanges, Time } from './access.js'
import { requestsModel } from './requests.js'

/**
 * Requests by creation time bucket (hour, day or month, UTC), currency and status: how many and for
 * how much (a department's budget currency may change while it holds nothing, and departments differ).
 *
 * Computed from the requests table with GROUP BY date_trunc, not from pre-aggregated buckets. The
 * index (department, created_at) INCLUDE (status, total, currency) answers a department's range from the index
 * alone, so the cost is the rows in the range (a department of 20,000 requests a year: one index
 * range scan); any bucket size and range works without a table per size; a request's bucket is its
 * creation time and its status is the one it has now, which a rollup would have to move between
 * status counters on every approval (reading the row to find its bucket) and could not do for a
 * requester's own statistics without a rollup per requester. Rollups win when ranges hold millions
 * of rows per question, which the bench can show; this is the simpler model until then.
 */

const statuses: readonly RequestStatus[] = ['pending', 'approved', 'rejected', 'cancelled', 'paid']
/** At most this many buckets in one answer: past it, `truncated` says to ask a narrower range. */
const maxBuckets = 1000
/** The rows a statistics read asks for: at most this many make `maxBuckets` buckets and say if more. */
export const statisticsRowLimit = maxBuckets * statuses.length + 1

/** A row of the statistics read: one bucket's requests of one currency and status. */
export interface StatisticsRow {
  start: string
  currency: string
  status: RequestStatus
  count: number
  amount: string
}

const Tally = Type.Object({ count: Type.Integer({ minimum: 0 }), amount: Type.Integer({ minimum: 0 }) })
const Bucket = Type.Object({
  start: Type.String({ format: 'date-time', description: 'The bucket’s first moment (UTC)' }),
  currency: Type.String({
    description: 'The requests’ currency: amounts in two currencies are never summed (a bucket per currency)',
  }),
  count: Type.Integer({ minimum: 0 }),
  amount: Type.Integer({ minimum: 0, description: 'Sum of the totals, minor units' }),
  byStatus: Type.Object(
    Object.fromEntries(statuses.map((s) => [s, Tally])) as Record<RequestStatus, typeof Tally>,
  ),
})
type Bucket = Static<typeof Bucket>

export const getRequestStatistics = defineQuery({
  domain: 'procurement',
  name: 'get-request-statistics',
  summary:
    'Counts and amounts of purchase requests by status per hour, day or month of creation (employees: their own; managers: their department; finance and admin: any or all)',
  input: Type.Object(
    {
      department: Type.Optional(Department),
      from: Type.Optional(Time),
      to: Type.Optional(Time),
      bucket: Type.Optional(Type.Enum(['hour', 'day', 'month'], { description: 'Default day' })),
    },
    { additionalProperties: false },
  ),
  output: Type.Object({
    bucket: Type.Enum(['hour', 'day', 'month']),
    buckets: Type.Array(Bucket, {
      description: 'Oldest first, then by currency; only buckets with requests',
    }),
    truncated: Type.Boolean({ description: `More than ${maxBuckets} buckets: ask a narrower range` }),
  }),
  access: signedIn(),
  readModels: [requestsModel],
  examples: [{ department: 'engineering', bucket: 'month' }],
  cache: {
    ttlMs: 30_000,
    tags: (q, _a, caller) => {
      if (!caller || scopeOf(caller).kind === 'own') return [`requests:requester:${caller?.id ?? ''}`]
      const department = departmentAsked(caller, q.department)
      return [department === undefined ? 'requests:all' : `requests:dept:${department}`]
    },
  },
  async handle(q, { caller, stores }) {
    refuseBackwardRanges(q)
    const bucket = q.bucket ?? 'day'
    const params: unknown[] = [bucket]
    const where: string[] = []
    const add = (condition: (p: string) => string, value: unknown) => {
      params.push(value)
      where.push(condition(`$${params.length}`))
    }
    if (!caller || scopeOf(caller).kind === 'own') {
      add((p) => `requester_id = ${p}`, caller?.id ?? '')
      if (q.department !== undefined) add((p) => `department = ${p}`, q.department)
    } else {
      const department = departmentAsked(caller, q.department)
      if (department !== undefined) add((p) => `department = ${p}`, department)
    }
    if (q.from) add((p) => `created_at >= ${p}::text`, storedTime(q.from, '/from', 'ceil'))
    if (q.to) add((p) => `created_at < ${p}::text`, storedTime(q.to, '/to', 'ceil'))
    const { sql, table } = stores.sql(requestsModel)
    const rows = await sql.query<StatisticsRow>(
      `SELECT to_char(date_trunc($1, created_at::timestamptz AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                AS start, currency, status, count(*)::int AS count, sum(total)::text AS amount
       FROM ${table('requests')} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT ${statisticsRowLimit}`,
      params,
    )
    return statisticsOf(bucket, rows)
  },
})

/** The answer from its rows, ordered by start, currency and status (at most `statisticsRowLimit`). */
export function statisticsOf(bucket: 'hour' | 'day' | 'month', rows: readonly StatisticsRow[]) {
  const buckets = new Map<string, Bucket>()
  for (const row of rows) {
    const key = `${row.start} ${row.currency}`
    let b = buckets.get(key)
    if (!b) {
      const byStatus = Object.fromEntries(statuses.map((s) => [s, { count: 0, amount: 0 }]))
      b = {
        start: row.start,
        currency: row.currency,
        count: 0,
        amount: 0,
        byStatus: byStatus as Bucket['byStatus'],
      }
      buckets.set(key, b)
    }
    const amount = Number(row.amount)
    b.byStatus[row.status] = { count: row.count, amount }
    b.count += row.count
    b.amount += amount
  }
  const list = [...buckets.values()]
  const truncated = list.length > maxBuckets || rows.length > maxBuckets * statuses.length
  // The last bucket may be cut short by the row limit: a truncated answer leaves it out.
  return {
    bucket,
    buckets: truncated ? list.slice(0, Math.min(maxBuckets, list.length - 1)) : list,
    truncated,
  }
}
