import {
  defineCommand,
  eventSourced,
  signedIn,
  stateStored,
  type CommandMeta,
  type SqlClient,
} from '../../kernel/index.js'
import { decideApprove, decidePay, decideReject } from './approval-rules.js'
import {
  ApproveRequestInput,
  BudgetResult,
  CancelRequestInput,
  CreatePurchaseRequestInput,
  MarkAsPaidInput,
  PolicyResult,
  RejectRequestInput,
  RequestResult,
  SetApprovalPolicyInput,
  SetDepartmentBudgetInput,
  UpdateRequestInput,
  type ProcurementEvent,
  type RequestEvent,
} from './messages.js'
import {
  decideCancel,
  decideCreate,
  decideUpdate,
  fiscalYearOf,
  requestedDepartment,
  type RequestRows,
} from './request-rules.js'
import { defaultPolicy, evolve, initial, type RequestState } from './rules.js'
import { decideSetBudget, decideSetPolicy } from './setup-rules.js'
import { available, loadBudget, loadPolicy, moveBudget, setBudget, setPolicy } from './write-model.js'

const domain = 'procurement'

/** A request's stream: its state is the fold of these events. */
export const requestStream = (requestId: string) => `procurement-request-${requestId}`
const budgetStream = (department: string, fiscalYear: number) =>
  `procurement-budget-${department}-${fiscalYear}`
const policyStream = 'procurement-approval-policy'

/** The ids the examples create: one is approved and paid, one rejected, one cancelled. */
const paidId = '0190b000-0000-7000-8000-000000000001'
const rejectedId = '0190b000-0000-7000-8000-000000000002'
const cancelledId = '0190b000-0000-7000-8000-000000000003'
/** The examples' approver and payer: not their requester (every example caller holds every role). */
const approver = 'tandem-examples-approver'

const request = {
  initial,
  evolve: (state: RequestState, event: RequestEvent) => evolve(state, event),
  // Its events' times follow its stream (the kernel's `atTurn`): get-request-history reads it as of them.
  changedAt: (state: RequestState) => (state.status === 'absent' ? undefined : state.updatedAt),
}

/** The request's answer after the command: its id, total and status. */
function requestResult(events: readonly RequestEvent[], state: RequestState) {
  const after = events.reduce(evolve, state)
  if (after.status === 'absent') throw new Error('A request command answers on an existing request')
  return { requestId: after.requestId, total: after.total, status: after.status }
}

/** The budget row moves the events carry, in the commit that appends them. */
const persistMoves = (events: readonly RequestEvent[], _s: RequestState, _r: unknown, meta: CommandMeta) => {
  const first = events[0]
  if (!first) return []
  return moveBudget(
    first.data.department,
    first.data.fiscalYear,
    events.map((e) => e.data.budget),
    meta.now,
  )
}

/** For a create or an update: the department-year's budget, locked, and the policy in effect. */
async function requestRows(
  tx: SqlClient,
  department: string | undefined,
  year: number,
): Promise<RequestRows> {
  const [budget, policy] = await Promise.all([
    department ? loadBudget(tx, department, year) : undefined,
    loadPolicy(tx),
  ])
  return { budget, policy: policy.tiers }
}

/**
 * The commands that only release or move what a request holds (approve, reject, cancel, pay) read no
 * budget: their UPDATE locks the row at the commit, after the stream's lock, and can only lower
 * what the request itself added.
 */
function onRequest<I extends { requestId: string }>(
  decide: (cmd: I, state: RequestState, meta: CommandMeta) => RequestEvent[],
) {
  return eventSourced({
    ...request,
    streamId: (cmd: I) => requestStream(cmd.requestId),
    load: () => Promise.resolve(undefined),
    decide,
    persist: persistMoves,
    result: (events: readonly RequestEvent[], _cmd: I, state: RequestState) => requestResult(events, state),
  })
}

export const createPurchaseRequest = defineCommand({
  domain,
  name: 'create-purchase-request',
  summary: "Request a purchase: the total is reserved at once on the department's budget for this year",
  input: CreatePurchaseRequestInput,
  output: RequestResult,
  access: signedIn(),
  refusals: {
    400: ['DEPARTMENT_REQUIRED'],
    403: ['NOT_YOUR_DEPARTMENT'],
    409: ['REQUEST_ID_TAKEN', 'NEEDED_BY_IN_PAST', 'NO_BUDGET', 'CURRENCY_MISMATCH', 'BUDGET_EXCEEDED'],
  },
  examples: [paidId, rejectedId, cancelledId].map((requestId, i) => ({
    requestId,
    title: ['Laptops for the new hires', 'Conference booth', 'Office chairs'][i] ?? 'Supplies',
    department: 'sales',
    items: [{ description: 'Item', quantity: i + 1, unitPrice: 150_000 }],
    currency: 'KRW',
    justification: 'Planned in the quarterly review',
  })),
  handle: eventSourced({
    ...request,
    streamId: (cmd, meta) => requestStream(cmd.requestId ?? meta.newId),
    load: (tx, cmd, _state, meta) => requestRows(tx, requestedDepartment(cmd, meta), fiscalYearOf(meta.now)),
    decide: decideCreate,
    persist: persistMoves,
    result: (events, _cmd, state) => requestResult(events, state),
  }),
})

export const updateRequest = defineCommand({
  domain,
  name: 'update-request',
  summary: 'Change a request before any approval; its reservation follows the new total',
  input: UpdateRequestInput,
  output: RequestResult,
  access: signedIn(),
  refusals: {
    403: ['NOT_REQUESTER'],
    404: ['REQUEST_NOT_FOUND'],
    409: [
      'REQUEST_NOT_PENDING',
      'REQUEST_IN_APPROVAL',
      'NEEDED_BY_IN_PAST',
      'CURRENCY_MISMATCH',
      'BUDGET_EXCEEDED',
    ],
  },
  examples: [{ requestId: paidId, title: 'Laptops for the new hires (14-inch)' }],
  handle: eventSourced({
    ...request,
    streamId: (cmd) => requestStream(cmd.requestId),
    load: (tx, _cmd, state) =>
      state.status === 'absent'
        ? Promise.resolve({ budget: undefined, policy: undefined })
        : requestRows(tx, state.department, state.fiscalYear),
    decide: decideUpdate,
    persist: persistMoves,
    result: (events, _cmd, state) => requestResult(events, state),
  }),
})

export const approveRequest = defineCommand({
  domain,
  name: 'approve-request',
  summary: 'Approve the step of a request that waits for the caller; the last approval commits its total',
  input: ApproveRequestInput,
  output: RequestResult,
  access: signedIn(),
  refusals: {
    403: ['SELF_APPROVAL', 'NOT_APPROVER', 'DUPLICATE_APPROVER'],
    404: ['REQUEST_NOT_FOUND'],
    409: ['REQUEST_CHANGED', 'REQUEST_NOT_PENDING'],
  },
  examples: [{ requestId: paidId, comment: 'Within plan' }],
  exampleCallers: [approver],
  handle: onRequest(decideApprove),
})

export const rejectRequest = defineCommand({
  domain,
  name: 'reject-request',
  summary: 'Reject a request at the step that waits for the caller; its reservation is released',
  input: RejectRequestInput,
  output: RequestResult,
  access: signedIn(),
  refusals: {
    403: ['SELF_APPROVAL', 'NOT_APPROVER', 'DUPLICATE_APPROVER'],
    404: ['REQUEST_NOT_FOUND'],
    409: ['REQUEST_CHANGED', 'REQUEST_NOT_PENDING'],
  },
  examples: [{ requestId: rejectedId, reason: 'Not in this year’s plan' }],
  exampleCallers: [approver],
  handle: onRequest(decideReject),
})

export const markAsPaid = defineCommand({
  domain,
  name: 'mark-as-paid',
  summary: 'Record the payment of an approved request: committed becomes spent, any difference is released',
  input: MarkAsPaidInput,
  output: RequestResult,
  access: signedIn('finance'),
  refusals: {
    403: ['SELF_PAYMENT'],
    404: ['REQUEST_NOT_FOUND'],
    409: ['REQUEST_NOT_APPROVED', 'ALREADY_PAID', 'PAYMENT_EXCEEDS_APPROVED', 'NOTHING_PAID'],
  },
  examples: [{ requestId: paidId, paidAmount: 140_000, paymentReference: 'INV-2031-0042' }],
  exampleCallers: [approver],
  handle: onRequest(decidePay),
})

export const cancelRequest = defineCommand({
  domain,
  name: 'cancel-request',
  summary: 'Cancel a request before payment; what it holds (reserved or committed) is released',
  input: CancelRequestInput,
  output: RequestResult,
  access: signedIn(),
  refusals: { 403: ['NOT_REQUESTER'], 404: ['REQUEST_NOT_FOUND'], 409: ['ALREADY_PAID', 'REQUEST_CLOSED'] },
  examples: [{ requestId: cancelledId, reason: 'Bought with the old stock' }],
  handle: onRequest(decideCancel),
})

const yearOf = (cmd: { fiscalYear?: number }, meta: CommandMeta) => cmd.fiscalYear ?? fiscalYearOf(meta.now)

export const setDepartmentBudget = defineCommand({
  domain,
  name: 'set-department-budget',
  summary: "Set a department's budget for a fiscal year (default: this year); never below what it holds",
  input: SetDepartmentBudgetInput,
  output: BudgetResult,
  access: signedIn('finance', 'admin'),
  refusals: { 409: ['BUDGET_BELOW_COMMITMENTS', 'CURRENCY_MISMATCH'] },
  examples: [{ department: 'sales', amount: 50_000_000, currency: 'KRW' }],
  handle: stateStored({
    turn: (cmd, meta) => budgetStream(cmd.department, yearOf(cmd, meta)),
    load: (tx, cmd, meta) => loadBudget(tx, cmd.department, yearOf(cmd, meta)),
    decide: decideSetBudget,
    stream: (cmd, budget, meta) => ({
      id: budgetStream(cmd.department, yearOf(cmd, meta)),
      expectedVersion: budget?.version ?? 0,
    }),
    persist: (events: readonly ProcurementEvent[], _budget, meta) =>
      events.flatMap((e) => (e.type === 'DepartmentBudgetSet' ? [setBudget(e.data, meta.now)] : [])),
    result: (_events, cmd, budget, meta) => ({
      department: cmd.department,
      fiscalYear: yearOf(cmd, meta),
      currency: cmd.currency,
      amount: cmd.amount,
      available: budget ? available({ ...budget, amount: cmd.amount }) : cmd.amount,
    }),
  }),
})

export const setApprovalPolicy = defineCommand({
  domain,
  name: 'set-approval-policy',
  summary: 'Set the approval policy: amount tiers (ascending, the last open-ended) to the roles that approve',
  input: SetApprovalPolicyInput,
  output: PolicyResult,
  access: signedIn('admin'),
  examples: [{ tiers: defaultPolicy.map((t) => ({ upTo: t.upTo, steps: [...t.steps] })) }],
  handle: stateStored({
    turn: () => policyStream,
    load: (tx) => loadPolicy(tx, { lock: true }),
    decide: decideSetPolicy,
    stream: (_cmd, policy: { version: number }) => ({ id: policyStream, expectedVersion: policy.version }),
    persist: (events: readonly ProcurementEvent[], _policy, meta) =>
      events.flatMap((e) =>
        e.type === 'ApprovalPolicySet' ? [setPolicy(e.data.tiers, e.data.actorId, meta.now)] : [],
      ),
    result: (_events, cmd) => ({ tiers: cmd.tiers }),
  }),
})

/** In the order their examples make a story: policy and budget, requests, their approvals and ends. */
export const commands = [
  setApprovalPolicy,
  setDepartmentBudget,
  createPurchaseRequest,
  updateRequest,
  approveRequest,
  rejectRequest,
  markAsPaid,
  cancelRequest,
]
