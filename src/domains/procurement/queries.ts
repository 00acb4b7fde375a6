import Type from 'typebox'
import { defineQuery, fold, Id, NotFoundError, signedIn, type Caller } from '../../kernel/index.js'
import { requestStream } from './commands.js'
import { Currency, FiscalYear, Item, RequestStatus, Role, Step } from './messages.js'
import { canonicalDepartment, currentStep, evolve, hasRole, initial, type Request } from './rules.js'

/**
 * One request as its events leave it, folded from its stream in the event log (no read model): the
 * minimal query the write side registers. Lists, statistics, history and audit are the read side's.
 */
export const RequestView = Type.Object({
  requestId: Id(),
  requesterId: Type.String(),
  department: Type.String(),
  fiscalYear: FiscalYear,
  currency: Currency,
  title: Type.String(),
  items: Type.Array(Item),
  total: Type.Integer(),
  justification: Type.Union([Type.String(), Type.Null()]),
  neededBy: Type.Union([Type.String(), Type.Null()]),
  status: RequestStatus,
  steps: Type.Array(Step),
  approvals: Type.Array(
    Type.Object({
      step: Step,
      approverId: Type.String(),
      actedAs: Role,
      comment: Type.Union([Type.String(), Type.Null()]),
      at: Type.String(),
    }),
  ),
  /** The step that waits for an approval; null unless pending. */
  currentStep: Type.Union([Step, Type.Null()]),
  paidAmount: Type.Union([Type.Integer(), Type.Null()]),
  paymentReference: Type.Union([Type.String(), Type.Null()]),
  rejectionReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  version: Type.Integer(),
})

/** Who sees a request: its requester, a manager of its department, finance and admin. */
export function maySee(
  request: Pick<Request, 'requesterId' | 'department'>,
  caller: Caller | undefined,
): boolean {
  if (!caller) return false
  if (caller.id === request.requesterId || hasRole(caller, 'finance') || hasRole(caller, 'admin')) return true
  return hasRole(caller, 'manager') && canonicalDepartment(caller.dept) === request.department
}

export const getRequest = defineQuery({
  domain: 'procurement',
  name: 'get-request',
  summary:
    'One purchase request, as its events leave it (requester, its department’s managers, finance, admin)',
  input: Type.Object({ requestId: Id() }, { additionalProperties: false }),
  output: RequestView,
  access: signedIn(),
  readModels: [],
  notFound: 'REQUEST_NOT_FOUND',
  examples: [{ requestId: '0190b000-0000-7000-8000-000000000001' }],
  // A manager, finance or admin reading someone's request is a read of that person's data.
  audit: (_q, answer) => [{ subjectId: answer.requesterId, details: { requestId: answer.requestId } }],
  async handle(q, { history, caller }) {
    const events = await history.stream(requestStream(q.requestId))
    const state = fold({ initial, evolve }, events)
    // Out of scope is answered as absent: a request's existence is not told to those who may not see it.
    if (state.status === 'absent' || !maySee(state, caller))
      throw new NotFoundError('REQUEST_NOT_FOUND', 'Purchase request not found')
    return { ...requestView(state), version: state.version }
  },
})

/** A request's state as the queries show it (get-request; get-request-history adds its times). */
export function requestView(state: Request) {
  return {
    requestId: state.requestId,
    requesterId: state.requesterId,
    department: state.department,
    fiscalYear: state.fiscalYear,
    currency: state.currency,
    title: state.title,
    items: state.items,
    total: state.total,
    justification: state.justification,
    neededBy: state.neededBy,
    status: state.status,
    steps: state.steps,
    approvals: state.approvals,
    currentStep: currentStep(state) ?? null,
    paidAmount: state.status === 'paid' ? state.paidAmount : null,
    paymentReference: state.status === 'paid' ? state.paymentReference : null,
    rejectionReason: state.status === 'rejected' ? state.reason : null,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
  }
}
