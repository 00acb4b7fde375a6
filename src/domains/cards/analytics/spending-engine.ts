import type { QueryContext } from '../../../kernel/index.js'
import { bucketsOf, byProductOf, monthlySummaryOf, type SpendingEngine } from '../projections/engine.js'
import type { CardAnalytics } from './engine.js'
import { analyticsReplicaName } from './replica.js'

/** DuckDB for this query: the process's replica; undefined where it has none. */
export function analyticsEngine(ctx: QueryContext): SpendingEngine | undefined {
  const analytics = ctx.replica(analyticsReplicaName) as CardAnalytics | undefined
  return analytics && duckdbSpendingEngine(analytics)
}

/**
 * DuckDB as an engine of the analytics queries (`engine=duckdb`): the read side's engine questions
 * (projections/engine.ts), answered from DuckDB's rows at the rollups' grain and shaped by the read
 * side's own functions, so both engines answer in exactly the same shapes and order. The read stores
 * the queries pass are not used: DuckDB is this process's own replica.
 */
export function duckdbSpendingEngine(analytics: CardAnalytics): SpendingEngine {
  return {
    async monthlySummary(q) {
      const rows = await analytics.monthRows(q.customerId, shiftMonth(q.month, -q.months), q.month)
      return monthlySummaryOf(q, rows)
    },
    async merchantSummary(q) {
      const [rows, merchantName] = await Promise.all([
        analytics.dayRows({ merchantId: q.merchantId }, q.from, q.to),
        analytics.merchantName(q.merchantId, q.from, q.to),
      ])
      const { merchantId, from, to, bucket } = q
      return { merchantId, merchantName, from, to, bucket, ...bucketsOf(rows, bucket) }
    },
    async spendingByDate(q) {
      const of = q.customerId === null ? null : { customerId: q.customerId }
      const rows = await analytics.dayRows(of, q.from, q.to)
      const { customerId, from, to, bucket } = q
      return { customerId, from, to, bucket, ...bucketsOf(rows, bucket) }
    },
    async spendingByProduct(q) {
      return byProductOf(q, await analytics.productMonthRows(q.customerId, q.from, q.to))
    },
  }
}

/** `YYYY-MM` moved by `delta` months. */
export function shiftMonth(month: string, delta: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return new Date(Date.UTC(y, m - 1 + delta, 1)).toISOString().slice(0, 7)
}
