import {
  AppError,
  ConflictError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
  type CommandMeta,
} from '../../kernel/index.js'
import {
  MAX_AMOUNT,
  RequestCancelled,
  RequestCreated,
  RequestUpdated,
  type CancelRequest,
  type CreatePurchaseRequest,
  type Item,
  type PolicyTier,
  type RequestEvent,
  type UpdateRequest,
} from './messages.js'
import {
  canonicalDepartment,
  defaultPolicy,
  hasRole,
  sees,
  stepsFor,
  type Request,
  type RequestState,
} from './rules.js'
import { available, type Budget } from './write-model.js'

/** The rules of creating, changing and cancelling a purchase request. Pure. */

/** What `load` reads beside the request's stream: its department-year budget (locked) and the policy. */
export interface RequestRows {
  budget: Budget | undefined
  policy: readonly PolicyTier[] | undefined
}

export const notFound = () => new NotFoundError('REQUEST_NOT_FOUND', 'Purchase request not found')

export function actorOf(meta: CommandMeta): string {
  if (!meta.caller) throw new UnauthenticatedError()
  return meta.caller.id
}

/** The fiscal year a request created now belongs to: the calendar year (UTC) of the bus's clock. */
export const fiscalYearOf = (now: Date) => now.getUTCFullYear()

/** The department a request is created for: the one named, else the caller's token `dept`. */
export const requestedDepartment = (cmd: { department?: string }, meta: CommandMeta) =>
  cmd.department ?? canonicalDepartment(meta.caller?.dept)

/** The total of the items, refused past MAX_AMOUNT (computed exactly: one line may pass 2^53). */
export function totalOf(items: readonly Item[]): number {
  const total = items.reduce((sum, i) => sum + BigInt(i.quantity) * BigInt(i.unitPrice), 0n)
  if (total > BigInt(MAX_AMOUNT))
    throw new ValidationError([{ path: '/items', message: `the total must be at most ${MAX_AMOUNT}` }])
  return Number(total)
}

/** A date a request is needed by is today (UTC) or later: a past date is refused. */
function checkNeededBy(neededBy: string | null | undefined, meta: CommandMeta) {
  if (neededBy && neededBy < meta.now.toISOString().slice(0, 10))
    throw new ConflictError('NEEDED_BY_IN_PAST', 'Needed-by date in the past', `${neededBy} has passed`)
}

/** The budget, in the request's currency, with room for `increase` more. */
function checkBudget(budget: Budget | undefined, currency: string, increase: number): Budget {
  if (!budget)
    throw new ConflictError('NO_BUDGET', 'No budget', 'No budget is set for the department and year')
  if (budget.currency !== currency)
    throw new ConflictError('CURRENCY_MISMATCH', 'Currency mismatch', `The budget is in ${budget.currency}`)
  if (increase > available(budget))
    throw new ConflictError(
      'BUDGET_EXCEEDED',
      'Budget exceeded',
      `The request commits ${increase} ${currency} more; ${available(budget)} ${currency} is available`,
    )
  return budget
}

export function decideCreate(
  cmd: CreatePurchaseRequest,
  state: RequestState,
  meta: CommandMeta,
  rows: RequestRows,
): RequestEvent[] {
  const actorId = actorOf(meta)
  const requestId = cmd.requestId ?? meta.newId
  if (state.status !== 'absent') throw new ConflictError('REQUEST_ID_TAKEN', 'Request id taken', requestId)
  const own = canonicalDepartment(meta.caller?.dept)
  const department = requestedDepartment(cmd, meta)
  if (!department)
    throw new AppError(400, 'DEPARTMENT_REQUIRED', 'Department required', 'The token has no dept: name one', [
      { path: '/department', message: 'is required when the token has no dept' },
    ])
  if (department !== own && !hasRole(meta.caller, 'admin'))
    throw new AppError(
      403,
      'NOT_YOUR_DEPARTMENT',
      'Not your department',
      'Only an admin requests for another',
    )
  const total = totalOf(cmd.items)
  checkNeededBy(cmd.neededBy, meta)
  checkBudget(rows.budget, cmd.currency, total)
  return [
    RequestCreated.create({
      requestId,
      department,
      fiscalYear: fiscalYearOf(meta.now),
      currency: cmd.currency,
      actorId,
      at: meta.now.toISOString(),
      status: 'pending',
      budget: { reserved: total, committed: 0, spent: 0 },
      requesterId: actorId,
      title: cmd.title,
      items: cmd.items,
      total,
      justification: cmd.justification ?? null,
      neededBy: cmd.neededBy ?? null,
      steps: stepsFor(total, rows.policy ?? defaultPolicy, department),
    }),
  ]
}

/** The request, unless the caller may not see it (404, as an unknown id), if the caller is its requester. */
function ownRequest(state: RequestState, meta: CommandMeta): Request {
  const actorId = actorOf(meta)
  if (state.status === 'absent' || !meta.caller || !sees(meta.caller, state)) throw notFound()
  if (state.requesterId !== actorId)
    throw new AppError(403, 'NOT_REQUESTER', 'Not the requester', 'Only its requester may do this')
  return state
}

/** Items compared field by field: folded from the log, their JSON keys come back in jsonb's order. */
const sameItems = (a: readonly Item[], b: readonly Item[]) =>
  a.length === b.length &&
  a.every((x, i) => {
    const y = b[i]
    return (
      y !== undefined &&
      x.description === y.description &&
      x.quantity === y.quantity &&
      x.unitPrice === y.unitPrice
    )
  })

export function decideUpdate(
  cmd: UpdateRequest,
  state: RequestState,
  meta: CommandMeta,
  rows: RequestRows,
): RequestEvent[] {
  const request = ownRequest(state, meta)
  if (request.status !== 'pending')
    throw new ConflictError('REQUEST_NOT_PENDING', 'Request not pending', `It is ${request.status}`)
  if (request.approvals.length > 0)
    throw new ConflictError(
      'REQUEST_IN_APPROVAL',
      'Request in approval',
      'A step is approved: it cannot change',
    )
  const { requestId: _, ...fields } = cmd
  if (Object.keys(fields).length === 0)
    throw new ValidationError([{ path: '', message: 'names no field to change' }])
  const next = {
    title: cmd.title ?? request.title,
    items: cmd.items ?? request.items,
    justification: cmd.justification === undefined ? request.justification : cmd.justification,
    neededBy: cmd.neededBy === undefined ? request.neededBy : cmd.neededBy,
  }
  const total = totalOf(next.items)
  if (next.neededBy !== request.neededBy) checkNeededBy(next.neededBy, meta)
  const unchanged =
    next.title === request.title &&
    sameItems(next.items, request.items) &&
    next.justification === request.justification &&
    next.neededBy === request.neededBy
  if (unchanged) return []
  checkBudget(rows.budget, request.currency, total - request.total)
  const { requestId, department, fiscalYear, currency, requesterId } = request
  return [
    RequestUpdated.create({
      requestId,
      department,
      fiscalYear,
      currency,
      actorId: requesterId,
      at: meta.now.toISOString(),
      status: 'pending',
      budget: { reserved: total - request.total, committed: 0, spent: 0 },
      requesterId,
      ...next,
      total,
      previousTotal: request.total,
      // The steps follow the new total, under the policy in effect now (no step is approved yet).
      steps: stepsFor(total, rows.policy ?? defaultPolicy, department),
    }),
  ]
}

export function decideCancel(cmd: CancelRequest, state: RequestState, meta: CommandMeta): RequestEvent[] {
  const request = ownRequest(state, meta)
  if (request.status === 'paid')
    throw new ConflictError('ALREADY_PAID', 'Already paid', 'A paid request stays')
  if (request.status !== 'pending' && request.status !== 'approved')
    throw new ConflictError('REQUEST_CLOSED', 'Request closed', `It is ${request.status}`)
  const from = request.status === 'pending' ? 'reserved' : 'committed'
  const { requestId, department, fiscalYear, currency, requesterId, total } = request
  return [
    RequestCancelled.create({
      requestId,
      department,
      fiscalYear,
      currency,
      actorId: requesterId,
      at: meta.now.toISOString(),
      status: 'cancelled',
      budget: {
        reserved: from === 'reserved' ? -total : 0,
        committed: from === 'committed' ? -total : 0,
        spent: 0,
      },
      requesterId,
      reason: cmd.reason ?? null,
      releasedAmount: total,
      releasedFrom: from,
      previousStatus: request.status,
    }),
  ]
}
