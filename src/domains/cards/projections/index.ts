import type { AnyQuery, Projection } from '../../../kernel/index.js'
import { getAccessLog } from './access-log.js'
import { cardHistoryProjection, getCardHistory, getCards } from './history.js'
import { recentTransactionsProjection } from './recent.js'
import { getRecentTransactions } from './recent-queries.js'
import { spendingProjection } from './spending.js'
import { spendingQueries } from './spending-queries.js'

/**
 * The read side of cards: recent transactions in the KV store, spending rollups and card history in
 * the SQL store (docs/cards-read-models.md), and the queries that read them. The analytics queries
 * take an `engine`: the rollups (the default), or DuckDB, this process's replica (analytics/).
 */
export const spending = spendingQueries()

export const cardProjections: readonly Projection[] = [
  recentTransactionsProjection,
  spendingProjection,
  cardHistoryProjection,
]

export const cardQueries: readonly AnyQuery[] = [
  getRecentTransactions,
  spending.getMonthlySpendingSummary,
  spending.getMerchantSummary,
  spending.getSpendingByDate,
  spending.getSpendingByProduct,
  getCards,
  getCardHistory,
  getAccessLog,
]
