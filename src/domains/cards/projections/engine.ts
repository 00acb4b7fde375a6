import type { ReadStores } from '../../../kernel/index.js'
import type { Product } from '../messages.js'
import { monthNumber, monthOf } from './access.js'
import type { Category } from './categories.js'
import type {
  Bucket,
  MerchantSummary,
  MonthlySpendingSummary,
  Spending,
  SpendingByDate,
  SpendingByProduct,
} from './schemas.js'

/**
 * The analytics queries ask an engine: the SQL rollups (rollup-engine.ts), or another read model
 * answering the same questions (`engine=`). A question is the input once checked and scoped: the
 * customer is the one the caller may see (null: every customer), days and months are valid and in
 * order, ranges within their caps. The shaping below (from rows at the rollups' grain to answers)
 * is shared, so two engines that give the same rows give the same answers.
 */
export interface MonthlySummaryQuestion {
  customerId: string
  /** `YYYY-MM`. */
  month: string
  /** Months before `month` in the trend. */
  months: number
}
export interface MerchantSummaryQuestion {
  merchantId: string
  /** `YYYY-MM-DD`, both included. */
  from: string
  to: string
  bucket: Bucket
}
export interface SpendingByDateQuestion {
  customerId: string | null
  from: string
  to: string
  bucket: Bucket
}
export interface SpendingByProductQuestion {
  customerId: string | null
  /** `YYYY-MM`, both included. */
  from: string
  to: string
}

export interface SpendingEngine {
  monthlySummary(q: MonthlySummaryQuestion, stores: ReadStores): Promise<MonthlySpendingSummary>
  merchantSummary(q: MerchantSummaryQuestion, stores: ReadStores): Promise<MerchantSummary>
  spendingByDate(q: SpendingByDateQuestion, stores: ReadStores): Promise<SpendingByDate>
  spendingByProduct(q: SpendingByProductQuestion, stores: ReadStores): Promise<SpendingByProduct>
}

/** The sums of a row, as every engine gives them (posted + pending is the amount). */
export interface Sums {
  currency: string
  posted: number
  pending: number
  count: number
  declined: number
}
/** A customer's month, by card and category: the grain of `customer_month`. */
export interface MonthRow extends Sums {
  month: string
  cardId: string
  product: Product
  category: Category
}
/** A day (or a month's first day) of a merchant, a customer or everyone. */
export interface DayRow extends Sums {
  day: string
}
export interface ProductMonthRow extends Sums {
  month: string
  product: Product
}

const spendingOf = (s: Sums): Spending => ({
  currency: s.currency,
  amount: s.posted + s.pending,
  posted: s.posted,
  pending: s.pending,
  count: s.count,
  declined: s.declined,
})
const isEmpty = (s: Sums) => s.posted === 0 && s.pending === 0 && s.count === 0 && s.declined === 0

/**
 * Rows added up by a key (currency always part of it), in first-seen order; empty sums left out.
 * (Object.assign, not `{ ...key, ...spending }`: V8 in Node 20 adds each key to a spread's copy
 * through its slow path, about a microsecond a key.)
 */
export function addUp<R extends Sums, K>(rows: readonly R[], keyOf: (row: R) => K): (K & Spending)[] {
  const groups = new Map<string, { key: K; sums: Sums }>()
  for (const row of rows) {
    const key = keyOf(row)
    const id = JSON.stringify([key, row.currency])
    const group = groups.get(id)
    if (!group) {
      groups.set(id, { key, sums: { ...row } })
      continue
    }
    group.sums.posted += row.posted
    group.sums.pending += row.pending
    group.sums.count += row.count
    group.sums.declined += row.declined
  }
  return [...groups.values()]
    .filter((g) => !isEmpty(g.sums))
    .map((g) => Object.assign({}, g.key, spendingOf(g.sums)))
}

const byCurrency = (a: { currency: string }, b: { currency: string }) => (a.currency < b.currency ? -1 : 1)
const largestFirst =
  <T extends Spending>(name: (x: T) => string) =>
  (a: T, b: T) =>
    b.amount - a.amount || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : byCurrency(a, b))

/** A customer's month from their rows of `months` months before it and of the month itself. */
export function monthlySummaryOf(
  q: MonthlySummaryQuestion,
  rows: readonly MonthRow[],
): MonthlySpendingSummary {
  const current = rows.filter((r) => r.month === q.month)
  const last = monthNumber(q.month)
  const window = Array.from({ length: q.months + 1 }, (_, i) => monthOf(last - q.months + i))
  const perMonth = addUp(rows, (r) => ({ month: r.month }))
  const currencies = [...new Set(rows.map((r) => r.currency))].toSorted()
  const zero = (month: string, currency: string) => ({
    month,
    currency,
    amount: 0,
    posted: 0,
    pending: 0,
    count: 0,
    declined: 0,
  })
  const trend = window.flatMap((month) =>
    currencies.map(
      (currency) =>
        perMonth.find((m) => m.month === month && m.currency === currency) ?? zero(month, currency),
    ),
  )
  const totals = addUp(current, () => ({})).toSorted(byCurrency)
  return {
    customerId: q.customerId,
    month: q.month,
    totals,
    byCategory: addUp(current, (r) => ({ category: r.category })).toSorted(
      largestFirst((x: { category: string } & Spending) => x.category),
    ),
    byCard: addUp(current, (r) => ({ cardId: r.cardId, product: r.product })).toSorted(
      largestFirst((x: { cardId: string } & Spending) => x.cardId),
    ),
    trend,
    comparison: currencies.map((currency) => {
      const amount = trend.find((t) => t.month === q.month && t.currency === currency)?.amount ?? 0
      const before = trend.filter((t) => t.month !== q.month && t.currency === currency)
      const previousAverage = Math.round(before.reduce((sum, t) => sum + t.amount, 0) / q.months)
      const change = amount - previousAverage
      const changePercent = previousAverage === 0 ? null : Math.round((change / previousAverage) * 1000) / 10
      return { currency, amount, previousAverage, change, changePercent }
    }),
  }
}

/** Day rows (oldest first) into day or month buckets, and the range's totals. */
export function bucketsOf(rows: readonly DayRow[], bucket: Bucket) {
  const startOf = (day: string) => (bucket === 'day' ? day : `${day.slice(0, 7)}-01`)
  const buckets = addUp(rows, (r) => ({ start: startOf(r.day) })).toSorted((a, b) =>
    a.start < b.start ? -1 : a.start > b.start ? 1 : byCurrency(a, b),
  )
  return { totals: addUp(rows, () => ({})).toSorted(byCurrency), buckets }
}

const productOrder: readonly Product[] = ['classic', 'gold', 'platinum']

/** Product-month rows into the range's totals per product and the months. */
export function byProductOf(
  q: SpendingByProductQuestion,
  rows: readonly ProductMonthRow[],
): SpendingByProduct {
  const order = (a: { product: Product } & Spending, b: { product: Product } & Spending) =>
    productOrder.indexOf(a.product) - productOrder.indexOf(b.product) || byCurrency(a, b)
  return {
    customerId: q.customerId,
    from: q.from,
    to: q.to,
    products: addUp(rows, (r) => ({ product: r.product })).toSorted(order),
    byMonth: addUp(rows, (r) => ({ month: r.month, product: r.product })).toSorted((a, b) =>
      a.month < b.month ? -1 : a.month > b.month ? 1 : order(a, b),
    ),
  }
}
