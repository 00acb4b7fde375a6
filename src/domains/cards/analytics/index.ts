/**
 * The cards analytics on an embedded columnar engine (DuckDB): the same questions the SQL rollups
 * answer, aggregated at read time over a fact table of transaction events fed from the log. See
 * engine.ts for where it lives and how fresh it is.
 */
export { openCardAnalytics, type CardAnalytics, type CardAnalyticsOptions } from './engine.js'
export { categoryOf } from './categories.js'
export { measuresOf } from './facts.js'
export type { Checkpoint } from './log-reader.js'
export type {
  DaySpending,
  MerchantBucket,
  MerchantSummary,
  MonthlySpending,
  ProductSpending,
  Spending,
} from './queries.js'
