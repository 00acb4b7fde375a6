import type { Caller } from '../../../kernel/index.js'
import {
  DepartmentBudgetSet,
  RequestApproved,
  RequestCancelled,
  RequestCreated,
  RequestPaid,
  RequestRejected,
  RequestUpdated,
  StepApproved,
  type RequestEvent,
  type Role,
  type Step,
} from '../messages.js'

/**
 * Helpers of the read side's specs: a request's events as the write side writes them (statuses,
 * steps and budget moves included), so a projection spec tells a story event by event.
 */

export const employee = (id: string, dept = 'sales'): Caller => ({ id, roles: ['employee'], dept })
export const manager = (id: string, dept: string): Caller => ({ id, roles: ['manager'], dept })
export const finance: Caller = { id: 'fay', roles: ['finance'] }
export const admin: Caller = { id: 'ada', roles: ['admin'] }

/** The n-th request id: time-ordered like the write side's, distinct per n. */
export const rid = (n: number) => `0190b200-0000-7000-8000-${n.toString(16).padStart(12, '0')}`

/** A time `minutes` after 2031-03-01T00:00Z. */
export const at = (minutes: number) => new Date(Date.UTC(2031, 2, 1) + minutes * 60_000).toISOString()

export interface Req {
  requestId: string
  requesterId: string
  department: string
  fiscalYear: number
  currency: string
  title: string
  total: number
  steps: Step[]
}

export function req(n: number, over: Partial<Omit<Req, 'steps'>> & { roles?: Role[] } = {}): Req {
  const { roles = ['manager'], ...rest } = over
  const department = rest.department ?? 'sales'
  return {
    requestId: rid(n),
    requesterId: 'ann',
    department,
    fiscalYear: 2031,
    currency: 'KRW',
    title: `Request ${n}`,
    total: 1000 * n,
    steps: roles.map((role, index) => (role === 'manager' ? { index, role, department } : { index, role })),
    ...rest,
  }
}

const ref = (r: Req, actorId: string, when: string) => ({
  requestId: r.requestId,
  department: r.department,
  fiscalYear: r.fiscalYear,
  currency: r.currency,
  actorId,
  at: when,
  requesterId: r.requesterId,
})
const content = (r: Req) => ({
  title: r.title,
  items: [{ description: 'Thing', quantity: 1, unitPrice: r.total }],
  total: r.total,
  justification: null,
  neededBy: null,
  steps: r.steps,
})

export const created = (r: Req, when: string) =>
  RequestCreated.create({
    ...ref(r, r.requesterId, when),
    status: 'pending',
    budget: { reserved: r.total, committed: 0, spent: 0 },
    ...content(r),
  })

/** The request with a new total (before any approval): what it reserves follows. */
export const updated = (r: Req, total: number, when: string): [Req, RequestEvent] => {
  const next = { ...r, total }
  return [
    next,
    RequestUpdated.create({
      ...ref(next, r.requesterId, when),
      status: 'pending',
      budget: { reserved: total - r.total, committed: 0, spent: 0 },
      ...content(next),
      previousTotal: r.total,
    }),
  ]
}

/** Approval of step `index` by `actorId`; the last one also approves the request. */
export function approved(r: Req, index: number, actorId: string, when: string): RequestEvent[] {
  const step = r.steps[index]
  if (!step) throw new Error(`No step ${index}`)
  const nextStep = r.steps[index + 1] ?? null
  const events: RequestEvent[] = [
    StepApproved.create({
      ...ref(r, actorId, when),
      status: nextStep ? 'pending' : 'approved',
      budget: { reserved: 0, committed: 0, spent: 0 },
      step,
      actedAs: step.role,
      comment: null,
      nextStep,
    }),
  ]
  if (nextStep) return events
  return [
    ...events,
    RequestApproved.create({
      ...ref(r, actorId, when),
      status: 'approved',
      budget: { reserved: -r.total, committed: r.total, spent: 0 },
      total: r.total,
      committedAmount: r.total,
    }),
  ]
}

export const rejected = (r: Req, index: number, actorId: string, when: string) =>
  RequestRejected.create({
    ...ref(r, actorId, when),
    status: 'rejected',
    budget: { reserved: -r.total, committed: 0, spent: 0 },
    step: r.steps[index] ?? { index, role: 'manager' },
    actedAs: 'manager',
    reason: 'No',
    releasedAmount: r.total,
  })

export const cancelled = (r: Req, when: string, from: 'pending' | 'approved' = 'pending') =>
  RequestCancelled.create({
    ...ref(r, r.requesterId, when),
    status: 'cancelled',
    budget: {
      reserved: from === 'pending' ? -r.total : 0,
      committed: from === 'approved' ? -r.total : 0,
      spent: 0,
    },
    reason: null,
    releasedAmount: r.total,
    releasedFrom: from === 'pending' ? 'reserved' : 'committed',
    previousStatus: from,
  })

export const paid = (r: Req, paidAmount: number, when: string) =>
  RequestPaid.create({
    ...ref(r, 'fay', when),
    status: 'paid',
    budget: { reserved: 0, committed: -r.total, spent: paidAmount },
    total: r.total,
    paidAmount,
    paymentReference: 'PAY-1',
    releasedAmount: r.total - paidAmount,
  })

export const budgetSet = (department: string, amount: number, fiscalYear = 2031) =>
  DepartmentBudgetSet.create({
    department,
    fiscalYear,
    currency: 'KRW',
    amount,
    previousAmount: null,
    actorId: 'fay',
    at: at(0),
  })
