import { categorySql } from './categories.js'

/**
 * The analytics questions, answered by aggregating the fact table at read time (no rollup kept):
 * DuckDB scans only the columns a question names, and skips the row groups whose `occurred_at` range
 * (zone map) misses the period asked, so a month of one customer reads a month of a few columns.
 * Amounts are sums of `spent` (what the transactions hold or posted, releases netted out); counts are
 * approved authorizations. Months and days are UTC, by when the cardholder paid (`occurredAt`).
 */

/** Runs a read on one of the engine's connections; rows come back as plain JS values. */
export type Read = <R>(text: string, params: readonly (string | number)[]) => Promise<R[]>

export interface Spending {
  total: number
  count: number
}

export interface MonthlySpending extends Spending {
  customerId: string
  month: string
  byCategory: (Spending & { category: string })[]
  byCard: (Spending & { cardId: string; product: string })[]
  /** The months before, oldest first (zero when nothing was spent). */
  trend: (Spending & { month: string })[]
  /** This month's total against the previous month's, as a ratio minus one; null without one. */
  changeFromPrevious: number | null
}

export interface MerchantBucket extends Spending {
  period: string
  declined: number
}

export interface MerchantSummary {
  merchantId: string
  bucket: 'day' | 'month'
  from: string
  to: string
  total: number
  count: number
  buckets: MerchantBucket[]
}

export interface DaySpending extends Spending {
  date: string
}

export interface ProductSpending extends Spending {
  product: string
}

const sums = `coalesce(sum(spent), 0)::DOUBLE AS total, coalesce(sum(approved), 0)::DOUBLE AS count`
const monthStart = (month: string) => `${month}-01`
/** The first day of the month `delta` months from `month` (YYYY-MM), as YYYY-MM. */
export function shiftMonth(month: string, delta: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number]
  const d = new Date(Date.UTC(y, m - 1 + delta, 1))
  return d.toISOString().slice(0, 7)
}
const nextDay = (date: string) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)
const num = (row: { total: number; count: number }): Spending => ({ total: row.total, count: row.count })

export async function monthlySpending(
  read: Read,
  input: { customerId: string; month: string; trendMonths?: number },
): Promise<MonthlySpending> {
  const back = input.trendMonths ?? 3
  const end = monthStart(shiftMonth(input.month, 1))
  const range = [input.customerId, monthStart(shiftMonth(input.month, -back)), end]
  const month = [input.customerId, monthStart(input.month), end]
  const where = `customer_id = $1 AND occurred_at >= $2::TIMESTAMP AND occurred_at < $3::TIMESTAMP`
  const [months, byCategory, byCard] = await Promise.all([
    read<{ month: string; total: number; count: number }>(
      `SELECT strftime(occurred_at, '%Y-%m') AS month, ${sums}
       FROM card_transaction_fact WHERE ${where} GROUP BY 1`,
      range,
    ),
    read<{ category: string; total: number; count: number }>(
      `SELECT ${categorySql} AS category, ${sums}
       FROM card_transaction_fact WHERE ${where} GROUP BY 1 ORDER BY total DESC, category`,
      month,
    ),
    read<{ cardId: string; product: string; total: number; count: number }>(
      `SELECT card_id AS "cardId", any_value(product) AS product, ${sums}
       FROM card_transaction_fact WHERE ${where} GROUP BY 1 ORDER BY total DESC, "cardId"`,
      month,
    ),
  ])
  const of = (month: string) => num(months.find((m) => m.month === month) ?? { total: 0, count: 0 })
  const trend = Array.from({ length: back }, (_, k) => shiftMonth(input.month, k - back)).map((month) => ({
    month,
    ...of(month),
  }))
  const current = of(input.month)
  const previous = trend.at(-1)?.total ?? 0
  return {
    customerId: input.customerId,
    month: input.month,
    ...current,
    byCategory: byCategory.map((r) => ({ category: r.category, ...num(r) })),
    byCard: byCard.map((r) => ({ cardId: r.cardId, product: r.product, ...num(r) })),
    trend,
    changeFromPrevious: previous > 0 ? current.total / previous - 1 : null,
  }
}

/** A merchant's spending over [from, to] (days, inclusive), by day or by month. */
export async function merchantSummary(
  read: Read,
  input: { merchantId: string; from: string; to: string; bucket: 'day' | 'month' },
): Promise<MerchantSummary> {
  const format = input.bucket === 'day' ? '%Y-%m-%d' : '%Y-%m'
  const rows = await read<{ period: string; total: number; count: number; declined: number }>(
    `SELECT strftime(occurred_at, '${format}') AS period, ${sums}, sum(declined)::DOUBLE AS declined
     FROM card_transaction_fact
     WHERE merchant_id = $1 AND occurred_at >= $2::TIMESTAMP AND occurred_at < $3::TIMESTAMP
     GROUP BY 1 ORDER BY 1`,
    [input.merchantId, input.from, nextDay(input.to)],
  )
  const buckets = rows.map((r) => ({ period: r.period, ...num(r), declined: r.declined }))
  return {
    merchantId: input.merchantId,
    bucket: input.bucket,
    from: input.from,
    to: input.to,
    total: buckets.reduce((s, b) => s + b.total, 0),
    count: buckets.reduce((s, b) => s + b.count, 0),
    buckets,
  }
}

/** Spending by day over [from, to], of one customer or (without one) of every card. */
export async function spendingByDate(
  read: Read,
  input: { customerId?: string; from: string; to: string },
): Promise<DaySpending[]> {
  const params = [input.from, nextDay(input.to), ...(input.customerId ? [input.customerId] : [])]
  const rows = await read<{ date: string; total: number; count: number }>(
    `SELECT strftime(occurred_at, '%Y-%m-%d') AS date, ${sums} FROM card_transaction_fact
     WHERE occurred_at >= $1::TIMESTAMP AND occurred_at < $2::TIMESTAMP
       ${input.customerId ? 'AND customer_id = $3' : ''}
     GROUP BY 1 ORDER BY 1`,
    params,
  )
  return rows.map((r) => ({ date: r.date, ...num(r) }))
}

/** Spending by card product over [from, to]. */
export async function spendingByProduct(
  read: Read,
  input: { from: string; to: string },
): Promise<ProductSpending[]> {
  const rows = await read<{ product: string; total: number; count: number }>(
    `SELECT product, ${sums} FROM card_transaction_fact
     WHERE product IS NOT NULL AND occurred_at >= $1::TIMESTAMP AND occurred_at < $2::TIMESTAMP
     GROUP BY 1 ORDER BY 1`,
    [input.from, nextDay(input.to)],
  )
  return rows.map((r) => ({ product: r.product, ...num(r) }))
}
