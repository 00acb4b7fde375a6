import type { Caller, CommandMeta } from '../../src/core/messages.js'
import { decideApprove, decidePay, decideReject } from '../../src/domains/procurement/approval-rules.js'
import type { RequestEvent } from '../../src/domains/procurement/messages.js'
import { decideCancel, decideCreate } from '../../src/domains/procurement/request-rules.js'
import { evolve, initial, type RequestState } from '../../src/domains/procurement/rules.js'
import type { Budget } from '../../src/domains/procurement/write-model.js'
import type { BenchContext } from '../lib/context.js'

/**
 * The procurement scenario's data, the same for the CQRS domain and the CRUD baseline: requests by
 * index over 50 departments, each taken through the domain's own deciders (create, then approvals,
 * a rejection, a cancellation or a payment), so the events are those the commands would write and
 * the rows those the baseline would keep. Deterministic from the index; ids are fresh per plan.
 */
export interface ProcurementPlan {
  /** 8 hex digits, fresh per plan. */
  tag: string
  requests: number
  departments: number
  requestersPerDepartment: number
  /** Epoch ms of the first request; request i is created `spacingMs * i` later. */
  base: number
  spacingMs: number
  fiscalYear: number
}

/** `BENCH_PROCUREMENT_SCALE` (default 1) times the 1,000,000 requests over 50 departments. */
export function procurementPlan(ctx: BenchContext): ProcurementPlan {
  const knob = Number(process.env.BENCH_PROCUREMENT_SCALE ?? 1)
  const factor = Number.isFinite(knob) && knob > 0 ? knob : 1
  const requests = Math.max(50, Math.round(ctx.scale(1_000_000 * factor, 200)))
  const now = new Date()
  const yearStart = Date.UTC(now.getUTCFullYear(), 0, 1)
  // Spread over the year so far, ending an hour ago (every approval time is then in the past).
  const span = Math.max(3_600_000, now.getTime() - 3_600_000 - yearStart - 6 * 3_600_000)
  return {
    tag: Math.floor(Math.random() * 2 ** 32)
      .toString(16)
      .padStart(8, '0'),
    requests,
    departments: 50,
    requestersPerDepartment: 20,
    base: yearStart,
    spacingMs: Math.max(1, Math.floor(span / requests)),
    fiscalYear: now.getUTCFullYear(),
  }
}

const hex12 = (n: number) => n.toString(16).padStart(12, '0')
export const departmentOf = (d: number) => `dept-${String(d).padStart(2, '0')}`
export const requestIdOf = (plan: ProcurementPlan, i: number) => `${plan.tag}-0003-7000-8000-${hex12(i)}`
export const requesterOf = (plan: ProcurementPlan, i: number) =>
  `pr-${plan.tag}-${i % plan.departments}-${Math.floor(i / plan.departments) % plan.requestersPerDepartment}`
export const managerOf = (plan: ProcurementPlan, d: number): Caller => ({
  id: `pm-${plan.tag}-${d}`,
  roles: ['manager'],
  dept: departmentOf(d),
})
export const financeOf = (plan: ProcurementPlan): Caller => ({ id: `pf-${plan.tag}`, roles: ['finance'] })
export const payerOf = (plan: ProcurementPlan): Caller => ({ id: `pp-${plan.tag}`, roles: ['finance'] })
export const adminOf = (plan: ProcurementPlan): Caller => ({ id: `pa-${plan.tag}`, roles: ['admin'] })

/**
 * A well-mixed number from an index and a salt, in [0, 1): murmur3's finalizer, so that the salts give
 * independent draws (a multiplicative hash with the salt added gave nearly equal ones: every request's
 * fate followed its total, and some filters of a department matched nothing).
 */
function mix(i: number, salt: number): number {
  let h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(salt, 0x85ebca6b)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 4294967296
}

/** 70% of totals take one step (up to 1,000,000), 25% two, 5% three. */
export function totalOf(i: number): number {
  const tier = mix(i, 1)
  const within = mix(i, 2)
  if (tier < 0.7) return 1_000 + Math.floor(within * 999_000)
  if (tier < 0.95) return 1_000_001 + Math.floor(within * 8_999_999)
  return 10_000_001 + Math.floor(within * 90_000_000)
}

type Fate = 'pending' | 'approved' | 'rejected' | 'cancelled' | 'paid'
export function fateOf(i: number): Fate {
  const r = mix(i, 3)
  return r < 0.3 ? 'pending' : r < 0.5 ? 'approved' : r < 0.65 ? 'rejected' : r < 0.75 ? 'cancelled' : 'paid'
}

/** Room enough in any budget for what the plan reserves: each department's holds are far below it. */
const unlimited: Budget = {
  department: '',
  fiscalYear: 0,
  currency: 'KRW',
  amount: 1e15,
  reserved: 0,
  committed: 0,
  spent: 0,
  version: 1,
}

export interface PlannedRequest {
  i: number
  requestId: string
  department: string
  requesterId: string
  events: RequestEvent[]
  state: RequestState
}

/** Request i taken through the deciders: its events and its state after them. */
export function plannedRequest(plan: ProcurementPlan, i: number): PlannedRequest {
  const d = i % plan.departments
  const department = departmentOf(d)
  const requestId = requestIdOf(plan, i)
  const requesterId = requesterOf(plan, i)
  const created = plan.base + i * plan.spacingMs
  let step = 0
  const meta = (caller: Caller): CommandMeta => ({
    commandId: requestId,
    correlationId: requestId,
    caller,
    // Each later command an hour after the one before, so the history has an order to show.
    now: new Date(created + 3_600_000 * step++),
    newId: requestId,
  })
  const requester: Caller = { id: requesterId, roles: ['employee'], dept: department }
  const events: RequestEvent[] = []
  let state: RequestState = initial
  const take = (next: RequestEvent[]) => {
    events.push(...next)
    state = next.reduce(evolve, state)
  }
  const item = { description: `Item ${i}`, quantity: 1, unitPrice: totalOf(i) }
  take(
    decideCreate(
      { requestId, title: `Purchase ${i} for ${department}`, items: [item], currency: 'KRW' },
      state,
      meta(requester),
      {
        budget: { ...unlimited, department, fiscalYear: plan.fiscalYear },
        policy: undefined,
      },
    ),
  )
  const approvers = [managerOf(plan, d), financeOf(plan), adminOf(plan)]
  const fate = fateOf(i)
  if (fate === 'rejected')
    take(decideReject({ requestId, reason: 'Not this quarter' }, state, meta(approvers[0] as Caller)))
  if (fate === 'cancelled') take(decideCancel({ requestId }, state, meta(requester)))
  if (fate === 'approved' || fate === 'paid') {
    for (const approver of approvers) {
      if (state.status !== 'pending') break
      take(decideApprove({ requestId }, state, meta(approver)))
    }
  }
  if (fate === 'paid' && state.status === 'approved') {
    take(
      decidePay(
        { requestId, paidAmount: state.total, paymentReference: `PAY-${i}` },
        state,
        meta(payerOf(plan)),
      ),
    )
  }
  return { i, requestId, department, requesterId, events, state }
}

/**
 * Each department's holds over the plan, and the budget that leaves a tenth free: from each
 * request's total and fate, as `held` would find them after its events (checked in the spec).
 */
export function budgetsOf(plan: ProcurementPlan): Map<string, Budget> {
  const budgets = new Map<string, Budget>()
  for (let d = 0; d < plan.departments; d++) {
    const department = departmentOf(d)
    budgets.set(department, { ...unlimited, department, fiscalYear: plan.fiscalYear, amount: 0 })
  }
  for (let i = 0; i < plan.requests; i++) {
    const b = budgets.get(departmentOf(i % plan.departments)) as Budget
    const fate = fateOf(i)
    if (fate === 'pending') b.reserved += totalOf(i)
    if (fate === 'approved') b.committed += totalOf(i)
    if (fate === 'paid') b.spent += totalOf(i)
  }
  for (const b of budgets.values())
    b.amount = Math.ceil((b.reserved + b.committed + b.spent) * 1.1) + 1_000_000_000
  return budgets
}
