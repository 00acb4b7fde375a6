import {
  defineQuery,
  signedIn,
  ValidationError,
  type FieldError,
  type QueryContext,
} from '../../../kernel/index.js'
import {
  customerAsked,
  customerOrAll,
  dayNumber,
  dayOf,
  monthNumber,
  monthOf,
  readers,
  refuse,
} from './access.js'
import { analyticsReplicaName } from '../analytics/replica.js'
import { analyticsEngine } from '../analytics/spending-engine.js'
import type { SpendingEngine } from './engine.js'
import { rollupEngine } from './rollup-engine.js'
import {
  GetMerchantSummaryInput,
  GetMonthlySpendingSummaryInput,
  GetSpendingByDateInput,
  GetSpendingByProductInput,
  MerchantSummary,
  MonthlySpendingSummary,
  SpendingByDate,
  SpendingByProduct,
  type Bucket,
  type EngineName,
} from './schemas.js'
import { allSpendingTag, customerSpendingTag, merchantSpendingTag, spendingModel } from './spending.js'

/**
 * The analytics queries: each checks and scopes its input into a question (engine.ts), then asks
 * the engine named by `engine` (default: the SQL rollups). A customer asks about themselves; agents
 * and admins about anyone, on the audit log; merchant figures (every customer's payments at one
 * merchant) are for agents and admins only.
 */

/** The longest range of one answer, in days, by bucket: a year of days, five years of months. */
export const maxDays: Record<Bucket, number> = { day: 366, month: 1830 }
/** The longest range of get-spending-by-product, in months. */
export const maxProductMonths = 24

/**
 * The engines: the replica each one is (core's replicas: what `X-Min-Position` waits for besides
 * the rollups), and the engine a query finds in this process (undefined: none here).
 */
const engines: Record<EngineName, { replica?: string; of(ctx: QueryContext): SpendingEngine | undefined }> = {
  rollups: { of: () => rollupEngine },
  duckdb: { replica: analyticsReplicaName, of: analyticsEngine },
}

/** Today's date and month, UTC: the ranges' defaults. */
const today = () => new Date().toISOString().slice(0, 10)
const thisMonth = () => today().slice(0, 7)
/** A default range's end kept within the calendar's years, 0001 to 9999 (as times are). */
const within = (n: number, first: number, last: number) => Math.min(Math.max(n, first), last)
const days = { first: dayNumber('0001-01-01', '', []), last: dayNumber('9999-12-31', '', []) }
const months = { first: monthNumber('0001-01'), last: monthNumber('9999-12') }

/**
 * A range of days checked: both calendar days, in order, within the bucket's cap. An end left out
 * makes it 30 days: from `from`, to `to`, or to today.
 */
function dayRange(q: { from?: string | undefined; to?: string | undefined; bucket?: Bucket | undefined }) {
  const problems: FieldError[] = []
  const bucket = q.bucket ?? 'day'
  const asked = {
    from: q.from === undefined ? undefined : dayNumber(q.from, '/from', problems),
    to: q.to === undefined ? undefined : dayNumber(q.to, '/to', problems),
  }
  refuse(problems)
  const to = asked.to ?? (asked.from === undefined ? dayNumber(today(), '', []) : asked.from + 29)
  const from = asked.from ?? to - 29
  if (from > to) problems.push({ path: '/from', message: 'must not be after to' })
  else if (to - from + 1 > maxDays[bucket])
    problems.push({
      path: '/to',
      message: `must be at most ${maxDays[bucket] - 1} days after from: a range of bucket ${bucket} covers at most ${maxDays[bucket]} days (this one ${to - from + 1})`,
    })
  refuse(problems)
  const dayIn = (n: number) => dayOf(within(n, days.first, days.last))
  return { from: q.from ?? dayIn(from), to: q.to ?? dayIn(to), bucket }
}

/** A range of months checked; an end left out makes it 3 months: from `from`, to `to`, or to this month. */
function monthRange(q: { from?: string | undefined; to?: string | undefined }) {
  const asked = {
    from: q.from === undefined ? undefined : monthNumber(q.from),
    to: q.to === undefined ? undefined : monthNumber(q.to),
  }
  const to = asked.to ?? (asked.from === undefined ? monthNumber(thisMonth()) : asked.from + 2)
  const from = asked.from ?? to - 2
  const span = to - from + 1
  if (span < 1) refuse([{ path: '/from', message: 'must not be after to' }])
  if (span > maxProductMonths)
    refuse([
      {
        path: '/to',
        message: `must be at most ${maxProductMonths - 1} months after from: a range covers at most ${maxProductMonths} months (this one ${span})`,
      },
    ])
  const monthIn = (n: number) => monthOf(within(n, months.first, months.last))
  return { from: q.from ?? monthIn(from), to: q.to ?? monthIn(to) }
}

type Asked = { engine?: EngineName | undefined }
/** The engine a question names: the SQL rollups unless it says otherwise. */
const engineOf = (q: Asked): EngineName => q.engine ?? 'rollups'
/** The cache tag of an answer about one customer, or about everyone, from the engine asked. */
const customerOrAllTag = (q: Asked, customerId: string | null) =>
  customerId === null ? allSpendingTag(engineOf(q)) : customerSpendingTag(engineOf(q), customerId)

export function spendingQueries() {
  const readModels = [spendingModel]
  const replicas = (q: Asked) => {
    const replica = engines[engineOf(q)].replica
    return replica ? [replica] : []
  }
  const engine = (q: Asked, ctx: QueryContext) => {
    const found = engines[engineOf(q)].of(ctx)
    if (!found) throw new ValidationError([{ path: '/engine', message: 'is not available in this process' }])
    return found
  }

  const getMonthlySpendingSummary = defineQuery({
    domain: 'cards',
    name: 'get-monthly-spending-summary',
    summary:
      "A customer's spending in one month by category and by card, and the trend against the previous months (customers: their own)",
    input: GetMonthlySpendingSummaryInput,
    output: MonthlySpendingSummary,
    access: readers,
    readModels,
    replicas,
    examples: [{ customerId: 'demo-customer' }],
    cache: {
      ttlMs: 30_000,
      tags: (q, answer) => [customerSpendingTag(engineOf(q), answer.customerId)],
    },
    audit: (_q, answer) => [{ subjectId: answer.customerId, details: { month: answer.month } }],
    async handle(q, ctx) {
      const customerId = customerAsked(ctx.caller, q.customerId)
      const question = { customerId, month: q.month ?? thisMonth(), months: q.months ?? 6 }
      return engine(q, ctx).monthlySummary(question, ctx.stores)
    },
  })

  const getMerchantSummary = defineQuery({
    domain: 'cards',
    name: 'get-merchant-summary',
    summary: "A merchant's payments and declines by day or month, every customer's (agents and admins)",
    input: GetMerchantSummaryInput,
    output: MerchantSummary,
    access: signedIn('agent', 'admin'),
    readModels,
    replicas,
    examples: [{ merchantId: 'cafe-seoul-042', bucket: 'day' }],
    cache: { ttlMs: 30_000, tags: (q) => [merchantSpendingTag(engineOf(q), q.merchantId)] },
    async handle(q, ctx) {
      const question = { merchantId: q.merchantId, ...dayRange(q) }
      return engine(q, ctx).merchantSummary(question, ctx.stores)
    },
  })

  const getSpendingByDate = defineQuery({
    domain: 'cards',
    name: 'get-spending-by-date',
    summary:
      "Spending by day or month: one customer's (customers: their own), or every customer's (agents and admins)",
    input: GetSpendingByDateInput,
    output: SpendingByDate,
    access: readers,
    readModels,
    replicas,
    examples: [{ customerId: 'demo-customer', bucket: 'day' }],
    cache: {
      ttlMs: 30_000,
      tags: (q, answer) => [customerOrAllTag(q, answer.customerId)],
    },
    audit: (_q, answer) =>
      answer.customerId === null
        ? []
        : [{ subjectId: answer.customerId, details: { from: answer.from, to: answer.to } }],
    async handle(q, ctx) {
      const question = { customerId: customerOrAll(ctx.caller, q.customerId), ...dayRange(q) }
      return engine(q, ctx).spendingByDate(question, ctx.stores)
    },
  })

  const getSpendingByProduct = defineQuery({
    domain: 'cards',
    name: 'get-spending-by-product',
    summary:
      "Spending by card product (classic, gold, platinum) per month: one customer's (customers: their own), or every customer's (agents and admins)",
    input: GetSpendingByProductInput,
    output: SpendingByProduct,
    access: readers,
    readModels,
    replicas,
    examples: [{}],
    cache: {
      ttlMs: 30_000,
      tags: (q, answer) => [customerOrAllTag(q, answer.customerId)],
    },
    audit: (_q, answer) =>
      answer.customerId === null
        ? []
        : [{ subjectId: answer.customerId, details: { from: answer.from, to: answer.to } }],
    async handle(q, ctx) {
      const question = { customerId: customerOrAll(ctx.caller, q.customerId), ...monthRange(q) }
      return engine(q, ctx).spendingByProduct(question, ctx.stores)
    },
  })

  return { getMonthlySpendingSummary, getMerchantSummary, getSpendingByDate, getSpendingByProduct }
}
