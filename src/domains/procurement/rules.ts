import { unreachable, type Caller } from '../../kernel/index.js'
import type { BudgetMove, Item, PolicyTier, RequestEvent, Role, Step } from './messages.js'

/**
 * The purchase request, an event-sourced aggregate: its state is the fold of its stream's events
 * (`evolve` from `initial`). Pure: no I/O, no clock.
 */

export interface Approval {
  step: Step
  approverId: string
  actedAs: Role
  comment: string | null
  at: string
}

export interface RequestInfo {
  requestId: string
  requesterId: string
  department: string
  fiscalYear: number
  currency: string
  title: string
  items: Item[]
  total: number
  justification: string | null
  neededBy: string | null
  steps: Step[]
  /** The steps approved so far, in order: `approvals.length` is the index of the step that waits. */
  approvals: Approval[]
  createdAt: string
  updatedAt: string
  /** How many events the request has: its stream's version, which get-request shows. */
  version: number
}

export type RequestState =
  | { status: 'absent' }
  | (RequestInfo & { status: 'pending' })
  | (RequestInfo & { status: 'approved'; approvedAt: string })
  | (RequestInfo & { status: 'rejected'; rejectedBy: string; reason: string })
  | (RequestInfo & { status: 'cancelled'; previousStatus: 'pending' | 'approved'; approvedAt?: string })
  | (RequestInfo & {
      status: 'paid'
      approvedAt: string
      paidAmount: number
      paymentReference: string
      paidAt: string
    })

export type Request = Exclude<RequestState, { status: 'absent' }>

export const initial: RequestState = { status: 'absent' }

/** The state after one more event of the request's stream. */
export function evolve(state: RequestState, event: RequestEvent): RequestState {
  if (event.type === 'RequestCreated') {
    const { actorId: _a, at, status: _s, budget: _b, ...data } = event.data
    return { ...data, status: 'pending', approvals: [], createdAt: at, updatedAt: at, version: 1 }
  }
  if (state.status === 'absent') return state // a stream begins with RequestCreated
  return { ...next(state, event), version: state.version + 1 }
}

function next(state: Request, event: Exclude<RequestEvent, { type: 'RequestCreated' }>): Request {
  const at = event.data.at
  switch (event.type) {
    case 'RequestUpdated': {
      const { title, items, total, justification, neededBy, steps } = event.data
      return { ...state, title, items, total, justification, neededBy, steps, updatedAt: at }
    }
    case 'StepApproved': {
      const { step, actorId, actedAs, comment } = event.data
      const approval = { step, approverId: actorId, actedAs, comment, at }
      return { ...state, approvals: [...state.approvals, approval], updatedAt: at }
    }
    case 'RequestApproved':
      return { ...state, status: 'approved', approvedAt: at, updatedAt: at }
    case 'RequestRejected':
      return {
        ...state,
        status: 'rejected',
        rejectedBy: event.data.actorId,
        reason: event.data.reason,
        updatedAt: at,
      }
    case 'RequestCancelled':
      return { ...state, status: 'cancelled', previousStatus: event.data.previousStatus, updatedAt: at }
    case 'RequestPaid': {
      const { paidAmount, paymentReference } = event.data
      // Paid only once approved: the approval's time stays part of the state.
      const approvedAt = approvedAtOf(state) ?? at
      return { ...state, status: 'paid', approvedAt, paidAmount, paymentReference, paidAt: at, updatedAt: at }
    }
    default:
      return unreachable(event)
  }
}

/** When the request was approved, if it was: kept once it is paid or cancelled. */
export function approvedAtOf(state: RequestState): string | undefined {
  return 'approvedAt' in state ? state.approvedAt : undefined
}

/** What a request holds of its department-year budget in its state: what its events moved, summed. */
export function held(state: RequestState): BudgetMove {
  switch (state.status) {
    case 'absent':
    case 'rejected':
    case 'cancelled':
      return { reserved: 0, committed: 0, spent: 0 }
    case 'pending':
      return { reserved: state.total, committed: 0, spent: 0 }
    case 'approved':
      return { reserved: 0, committed: state.total, spent: 0 }
    case 'paid':
      return { reserved: 0, committed: 0, spent: state.paidAmount }
    default:
      return unreachable(state)
  }
}

/** The step that waits for an approval, if the request is pending. */
export function currentStep(state: RequestState): Step | undefined {
  return state.status === 'pending' ? state.steps[state.approvals.length] : undefined
}

const departmentForm = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/

/**
 * A department in its one form: lower case, letters, digits and inner hyphens, at most 40. A token's
 * `dept` claim is read through it (`Sales` is `sales`); a claim of another shape is no department.
 * The shape is checked before lower-casing: some letters lower-case to ASCII (the Kelvin sign U+212A
 * to `k`), and a body with one is a 400, so a claim with one names no department either.
 */
export function canonicalDepartment(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= 40 && departmentForm.test(value)
    ? value.toLowerCase()
    : undefined
}

export const hasRole = (caller: Caller | undefined, role: string) => caller?.roles.includes(role) === true

/**
 * The requests a caller sees besides their own: all of them (finance, admin), their department's
 * (a manager whose token names a department), or none (everyone else: an employee).
 */
export type Scope = { kind: 'all' } | { kind: 'department'; department: string } | { kind: 'own' }

export function scopeOf(caller: Caller): Scope {
  if (hasRole(caller, 'finance') || hasRole(caller, 'admin')) return { kind: 'all' }
  const department = canonicalDepartment(caller.dept)
  if (hasRole(caller, 'manager') && department) return { kind: 'department', department }
  return { kind: 'own' }
}

/**
 * Whether a request of this requester and department is the caller's to see: queries list it,
 * and commands on one that is not are 404 like an unknown id (no status or step is told).
 */
export function sees(caller: Caller, request: { requesterId: string; department: string }): boolean {
  const scope = scopeOf(caller)
  if (scope.kind === 'all' || request.requesterId === caller.id) return true
  return scope.kind === 'department' && scope.department === request.department
}

/** The default approval policy: the department's manager; then finance above 1,000,000; then admin above 10,000,000. */
export const defaultPolicy: readonly PolicyTier[] = [
  { upTo: 1_000_000, steps: ['manager'] },
  { upTo: 10_000_000, steps: ['manager', 'finance'] },
  { upTo: null, steps: ['manager', 'finance', 'admin'] },
]

/** The steps a total needs under a policy: those of the first tier whose `upTo` it does not pass. */
export function stepsFor(total: number, tiers: readonly PolicyTier[], department: string): Step[] {
  const tier = tiers.find((t) => t.upTo === null || total <= t.upTo) ?? tiers.at(-1)
  return (tier?.steps ?? []).map((role, index) =>
    role === 'manager' ? { index, role, department } : { index, role },
  )
}
