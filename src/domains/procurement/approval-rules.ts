import { AppError, ConflictError, type Caller, type CommandMeta } from '../../kernel/index.js'
import {
  RequestApproved,
  RequestPaid,
  RequestRejected,
  StepApproved,
  type ApproveRequest,
  type MarkAsPaid,
  type RejectRequest,
  type RequestEvent,
  type Role,
  type Step,
} from './messages.js'
import { canonicalDepartment, currentStep, hasRole, sees, type Request, type RequestState } from './rules.js'
import { actorOf, notFound } from './request-rules.js'

/**
 * The rules of approving, rejecting and paying a request. Pure. Who may act on a step: for a manager
 * step, a `manager` whose token `dept` is the request's department; for a finance step, `finance`;
 * for an admin step, `admin`. An admin may act on any step (an override, recorded as `actedAs:
 * 'admin'`). Nobody acts on their own request, nor on two steps of one request.
 */

/** The role the caller acts in on `step` of a request of `department`, if any. */
export function actsAs(caller: Caller | undefined, step: Step, department: string): Role | undefined {
  if (
    step.role === 'manager' &&
    hasRole(caller, 'manager') &&
    canonicalDepartment(caller?.dept) === department
  )
    return 'manager'
  if (step.role === 'finance' && hasRole(caller, 'finance')) return 'finance'
  if (hasRole(caller, 'admin')) return 'admin'
  return undefined
}

/**
 * The pending request and its waiting step, if the caller may act on it. One the caller may not see
 * is 404, as an unknown id: neither its status nor the step it waits at is told.
 */
function decision(
  state: RequestState,
  meta: CommandMeta,
  expectedVersion: number | undefined,
): { request: Request; step: Step; actedAs: Role } {
  const actorId = actorOf(meta)
  if (state.status === 'absent' || !meta.caller || !sees(meta.caller, state)) throw notFound()
  // Before any other rule: what the caller decided on is not what is there.
  if (expectedVersion !== undefined && expectedVersion !== state.version)
    throw new ConflictError(
      'REQUEST_CHANGED',
      'Request changed',
      `It is at version ${state.version}, not ${expectedVersion}: read it again`,
    )
  const step = currentStep(state)
  if (state.status !== 'pending' || !step)
    throw new ConflictError('REQUEST_NOT_PENDING', 'Request not pending', `It is ${state.status}`)
  if (state.requesterId === actorId)
    throw new AppError(403, 'SELF_APPROVAL', 'Own request', 'Nobody approves or rejects their own request')
  const actedAs = actsAs(meta.caller, step, state.department)
  if (!actedAs)
    throw new AppError(
      403,
      'NOT_APPROVER',
      'Not an approver of this step',
      `Step ${step.index} waits for ${step.role === 'manager' ? `a manager of ${step.department ?? state.department}` : step.role}`,
    )
  if (state.approvals.some((a) => a.approverId === actorId))
    throw new AppError(
      403,
      'DUPLICATE_APPROVER',
      'Already approved a step',
      'One person approves one step of a request',
    )
  return { request: state, step, actedAs }
}

const refOf = (r: Request, meta: CommandMeta) => ({
  requestId: r.requestId,
  department: r.department,
  fiscalYear: r.fiscalYear,
  currency: r.currency,
  actorId: actorOf(meta),
  at: meta.now.toISOString(),
  requesterId: r.requesterId,
})

export function decideApprove(cmd: ApproveRequest, state: RequestState, meta: CommandMeta): RequestEvent[] {
  const { request, step, actedAs } = decision(state, meta, cmd.expectedVersion)
  const nextStep = request.steps[step.index + 1] ?? null
  const approved = StepApproved.create({
    ...refOf(request, meta),
    status: nextStep ? 'pending' : 'approved',
    budget: { reserved: 0, committed: 0, spent: 0 },
    step,
    actedAs,
    comment: cmd.comment ?? null,
    nextStep,
  })
  if (nextStep) return [approved]
  const { total } = request
  return [
    approved,
    RequestApproved.create({
      ...refOf(request, meta),
      status: 'approved',
      budget: { reserved: -total, committed: total, spent: 0 },
      total,
      committedAmount: total,
    }),
  ]
}

export function decideReject(cmd: RejectRequest, state: RequestState, meta: CommandMeta): RequestEvent[] {
  const { request, step, actedAs } = decision(state, meta, cmd.expectedVersion)
  return [
    RequestRejected.create({
      ...refOf(request, meta),
      status: 'rejected',
      budget: { reserved: -request.total, committed: 0, spent: 0 },
      step,
      actedAs,
      reason: cmd.reason,
      releasedAmount: request.total,
    }),
  ]
}

/**
 * Payment of an approved request: the committed total becomes spent as `paidAmount`. Paying less
 * releases the difference to the budget; paying more than was approved is refused
 * (PAYMENT_EXCEEDS_APPROVED): a larger amount needs a new request and its approvals. Paying nothing
 * for a request of some amount is refused too (NOTHING_PAID): that request is cancelled instead.
 */
export function decidePay(cmd: MarkAsPaid, state: RequestState, meta: CommandMeta): RequestEvent[] {
  const actorId = actorOf(meta)
  if (state.status === 'absent') throw notFound()
  if (state.status === 'paid')
    throw new ConflictError(
      'ALREADY_PAID',
      'Already paid',
      `It was paid, with reference ${state.paymentReference}`,
    )
  if (state.status !== 'approved')
    throw new ConflictError('REQUEST_NOT_APPROVED', 'Request not approved', `It is ${state.status}`)
  if (state.requesterId === actorId)
    throw new AppError(403, 'SELF_PAYMENT', 'Own request', 'Nobody marks their own request as paid')
  if (cmd.paidAmount === 0 && state.total > 0)
    throw new ConflictError(
      'NOTHING_PAID',
      'Nothing paid',
      `A payment of 0 on ${state.total} ${state.currency} approved: cancel-request releases it`,
    )
  if (cmd.paidAmount > state.total)
    throw new ConflictError(
      'PAYMENT_EXCEEDS_APPROVED',
      'Payment exceeds the approved amount',
      `${state.total} ${state.currency} was approved`,
    )
  return [
    RequestPaid.create({
      ...refOf(state, meta),
      status: 'paid',
      budget: { reserved: 0, committed: -state.total, spent: cmd.paidAmount },
      total: state.total,
      paidAmount: cmd.paidAmount,
      paymentReference: cmd.paymentReference,
      releasedAmount: state.total - cmd.paidAmount,
    }),
  ]
}
