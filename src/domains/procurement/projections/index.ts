import { getAuditLog } from './audit-log.js'
import { budgetsProjection, getBudgetSummary } from './budgets.js'
import { getRequestHistory, historyProjection } from './history.js'
import { getPendingApprovals } from './pending-approvals.js'
import { listDepartmentRequests, listMyRequests } from './request-queries.js'
import { requestsProjection } from './requests.js'
import { getRequestStatistics } from './statistics.js'

/** The read side of procurement: its read models, and the queries that read them. */
export const procurementProjections = [requestsProjection, historyProjection, budgetsProjection]

export const procurementQueries = [
  listMyRequests,
  listDepartmentRequests,
  getBudgetSummary,
  getRequestHistory,
  getRequestStatistics,
  getPendingApprovals,
  getAuditLog,
]
