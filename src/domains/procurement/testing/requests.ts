import type { Caller } from '../../../kernel/index.js'
import { RequestCreated, type Item, type Step } from '../messages.js'
import type { Budget } from '../write-model.js'

/** Helpers of the procurement specs: callers, a created request, a budget row. */

export const now = '2031-03-10T09:00:00.000Z'
export const requestId = '0190b100-0000-7000-8000-000000000001'
export const ann: Caller = { id: 'ann', roles: ['employee'], dept: 'sales' }
export const bob: Caller = { id: 'bob', roles: ['employee'], dept: 'sales' }
export const salesManager: Caller = { id: 'meg', roles: ['manager'], dept: 'Sales' }
export const otherManager: Caller = { id: 'eng-mgr', roles: ['manager'], dept: 'engineering' }
export const fin: Caller = { id: 'fay', roles: ['finance'] }
export const fin2: Caller = { id: 'fred', roles: ['finance'] }
export const adm: Caller = { id: 'ada', roles: ['admin'] }

export const item = (quantity: number, unitPrice: number, description = 'Thing'): Item => ({
  description,
  quantity,
  unitPrice,
})

export function budget(over: Partial<Budget> = {}): Budget {
  return {
    department: 'sales',
    fiscalYear: 2031,
    currency: 'KRW',
    amount: 10_000_000,
    reserved: 0,
    committed: 0,
    spent: 0,
    version: 1,
    ...over,
  }
}

export function stepsOf(...roles: Step['role'][]): Step[] {
  return roles.map((role, index) =>
    role === 'manager' ? { index, role, department: 'sales' } : { index, role },
  )
}

/** Ann's request for `total` (one line), with the steps its total takes under the default policy. */
export function created(total: number, steps: Step[] = stepsOf('manager')) {
  return RequestCreated.create({
    requestId,
    department: 'sales',
    fiscalYear: 2031,
    currency: 'KRW',
    actorId: 'ann',
    at: now,
    status: 'pending',
    budget: { reserved: total, committed: 0, spent: 0 },
    requesterId: 'ann',
    title: 'Laptops',
    items: [item(1, total)],
    total,
    justification: null,
    neededBy: null,
    steps,
  })
}
