import type {
  Bucket,
  MerchantSummary,
  MonthlySpendingSummary,
  Spending,
  SpendingBucket,
  SpendingByDate,
  SpendingByProduct,
} from '../projections/schemas.js'
import type { Static } from 'typebox'
import type { CardAnalytics } from './engine.js'
import type { DayRow, MonthRow, ProductMonthRow } from './queries.js'

/**
 * DuckDB as an engine of the analytics queries (`engine=duckdb`): the questions of the read side's
 * engine interface (projections/engine.ts), answered from DuckDB's rows at the rollups' grain and
 * shaped by the read side's own functions, passed in by whoever wires it, so both engines answer
 * in exactly the same shapes and order.
 */
export interface Questions {
  monthly: { customerId: string; month: string; months: number }
  merchant: { merchantId: string; from: string; to: string; bucket: Bucket }
  byDate: { customerId: string | null; from: string; to: string; bucket: Bucket }
  byProduct: { customerId: string | null; from: string; to: string }
}

/** The read side's shaping (projections/engine.ts: monthlySummaryOf, bucketsOf, byProductOf). */
export interface Shaping {
  monthlySummaryOf(q: Questions['monthly'], rows: readonly MonthRow[]): MonthlySpendingSummary
  bucketsOf(
    rows: readonly DayRow[],
    bucket: Bucket,
  ): { totals: Spending[]; buckets: Static<typeof SpendingBucket>[] }
  byProductOf(q: Questions['byProduct'], rows: readonly ProductMonthRow[]): SpendingByProduct
}

export interface DuckdbSpendingEngine {
  monthlySummary(q: Questions['monthly']): Promise<MonthlySpendingSummary>
  merchantSummary(q: Questions['merchant']): Promise<MerchantSummary>
  spendingByDate(q: Questions['byDate']): Promise<SpendingByDate>
  spendingByProduct(q: Questions['byProduct']): Promise<SpendingByProduct>
}

/** `YYYY-MM` moved by `delta` months. */
export function shiftMonth(month: string, delta: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return new Date(Date.UTC(y, m - 1 + delta, 1)).toISOString().slice(0, 7)
}

export function duckdbSpendingEngine(analytics: CardAnalytics, shaping: Shaping): DuckdbSpendingEngine {
  return {
    async monthlySummary(q) {
      const rows = await analytics.monthRows(q.customerId, shiftMonth(q.month, -q.months), q.month)
      return shaping.monthlySummaryOf(q, rows)
    },
    async merchantSummary(q) {
      const [rows, merchantName] = await Promise.all([
        analytics.dayRows({ merchantId: q.merchantId }, q.from, q.to),
        analytics.merchantName(q.merchantId, q.from, q.to),
      ])
      const { merchantId, from, to, bucket } = q
      return { merchantId, merchantName, from, to, bucket, ...shaping.bucketsOf(rows, bucket) }
    },
    async spendingByDate(q) {
      const of = q.customerId === null ? null : { customerId: q.customerId }
      const rows = await analytics.dayRows(of, q.from, q.to)
      const { customerId, from, to, bucket } = q
      return { customerId, from, to, bucket, ...shaping.bucketsOf(rows, bucket) }
    },
    async spendingByProduct(q) {
      return shaping.byProductOf(q, await analytics.productMonthRows(q.customerId, q.from, q.to))
    },
  }
}
