/**
 * The cards analytics on an embedded columnar engine (DuckDB): the questions the SQL rollups answer,
 * aggregated at read time over a fact table of transaction events fed from the log. See engine.ts
 * for where it lives and how fresh it is, spending-engine.ts for `engine=duckdb`.
 */
export { openCardAnalytics, type CardAnalytics, type CardAnalyticsOptions } from './engine.js'
export { duckdbSpendingEngine } from './spending-engine.js'
export { measuresOf } from './facts.js'
export type { Checkpoint } from './log-reader.js'
export type { DayRow, MonthRow, ProductMonthRow, Sums } from './queries.js'
