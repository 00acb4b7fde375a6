import { describe, expect, it } from 'vitest'
import { deciderSpec } from '../../kernel/testing.js'
import { cancelRequest, createPurchaseRequest, updateRequest } from './commands.js'
import {
  MAX_AMOUNT,
  MAX_UNIT_PRICE,
  RequestApproved,
  RequestCancelled,
  RequestCreated,
  RequestUpdated,
  StepApproved,
  type RequestEvent,
} from './messages.js'
import { decideCancel, decideCreate, decideUpdate, type RequestRows } from './request-rules.js'
import { canonicalDepartment, evolve, held, initial } from './rules.js'
import {
  adm,
  ann,
  bob,
  budget,
  created,
  item,
  now,
  requestId,
  salesManager,
  stepsOf,
} from './testing/requests.js'

const rows = (over: Partial<RequestRows> = {}): RequestRows => ({
  budget: budget(),
  policy: undefined,
  ...over,
})
const load = () => Promise.resolve(rows())
const base = { caller: ann, now, newId: requestId }
const input = (over: Record<string, unknown> = {}) => ({
  title: 'Laptops',
  items: [item(1, 500_000)],
  currency: 'KRW',
  ...over,
})

describe('create-purchase-request', () => {
  const given = deciderSpec(
    { initial, evolve, load, decide: decideCreate },
    { command: createPurchaseRequest, ...base },
  )

  describe('when the department has room', () => {
    it('reserves the server-computed total and captures the steps of its tier', () => {
      given([], rows())
        .when(input({ items: [item(2, 300_000), item(4, 100_000)] }))
        .then(
          RequestCreated.create({ ...created(1_000_000).data, items: [item(2, 300_000), item(4, 100_000)] }),
        )
    })

    it('takes the tier by total: up to 1,000,000 the manager; then finance; above 10,000,000 admin too', () => {
      const stepsAt = (total: number, amount = 50_000_000) => {
        const events = decideCreate(
          input({ items: [item(1, total)] }),
          initial,
          metaOf(),
          rows({ budget: budget({ amount }) }),
        )
        return events[0]?.type === 'RequestCreated' ? events[0].data.steps.map((s) => s.role) : []
      }
      expect(stepsAt(1_000_000)).toEqual(['manager'])
      expect(stepsAt(1_000_001)).toEqual(['manager', 'finance'])
      expect(stepsAt(10_000_000)).toEqual(['manager', 'finance'])
      expect(stepsAt(10_000_001)).toEqual(['manager', 'finance', 'admin'])
      const custom = rows({ policy: [{ upTo: null, steps: ['finance'] }] })
      given([], custom)
        .when(input())
        .then(created(500_000, stepsOf('finance')))
    })

    it('uses all of the available amount, to the unit', () => {
      given([], rows({ budget: budget({ amount: 1_000_000, reserved: 200_000, committed: 300_000 }) }))
        .when(input())
        .then(created(500_000))
    })

    it("takes the caller's dept in any case, and lets an admin name another department", () => {
      given([], rows())
        .when(input(), { caller: { ...ann, dept: 'SALES' } })
        .then(created(500_000))
      const forAdmin = decideCreate(input({ department: 'sales' }), initial, metaOf({ caller: adm }), rows())
      expect(forAdmin[0]?.data).toMatchObject({ department: 'sales', requesterId: 'ada' })
    })
  })

  describe('refusals', () => {
    it('refuses a taken request id with 409 REQUEST_ID_TAKEN', () => {
      given([created(10)], rows())
        .when(input({ requestId }))
        .thenRefused('REQUEST_ID_TAKEN', { status: 409 })
    })
    it('refuses a caller with no dept who names none with 400 DEPARTMENT_REQUIRED', () => {
      for (const dept of [undefined, 'Sales Team', ''])
        given([], rows())
          .when(input(), { caller: { id: 'x', roles: [], ...(dept === undefined ? {} : { dept }) } })
          .thenRefused('DEPARTMENT_REQUIRED', { status: 400 })
    })
    it('refuses another department unless admin with 403 NOT_YOUR_DEPARTMENT', () => {
      given([], rows())
        .when(input({ department: 'engineering' }))
        .thenRefused('NOT_YOUR_DEPARTMENT', { status: 403 })
      given([], rows())
        .when(input({ department: 'engineering' }), { caller: salesManager })
        .thenRefused('NOT_YOUR_DEPARTMENT')
    })
    it('refuses a needed-by date before today (UTC) with 409 NEEDED_BY_IN_PAST; today is fine', () => {
      given([], rows())
        .when(input({ neededBy: '2031-03-09' }))
        .thenRefused('NEEDED_BY_IN_PAST', { status: 409 })
      const today = decideCreate(input({ neededBy: '2031-03-10' }), initial, metaOf(), rows())
      expect(today[0]?.data).toMatchObject({ neededBy: '2031-03-10' })
    })
    it('refuses without a budget for the department and year with 409 NO_BUDGET', () => {
      given([], rows({ budget: undefined }))
        .when(input())
        .thenRefused('NO_BUDGET', { status: 409 })
    })
    it('refuses another currency than the budget’s with 409 CURRENCY_MISMATCH', () => {
      given([], rows())
        .when(input({ currency: 'USD' }))
        .thenRefused('CURRENCY_MISMATCH', { status: 409 })
    })
    it('refuses one unit more than is available with 409 BUDGET_EXCEEDED', () => {
      given([], rows({ budget: budget({ amount: 1_000_000, reserved: 200_000, spent: 300_001 }) }))
        .when(input())
        .thenRefused('BUDGET_EXCEEDED', { status: 409 })
    })
    it('refuses a total past the cap with 400, computed exactly', () => {
      const items = Array.from({ length: 100 }, () => item(1_000_000, MAX_UNIT_PRICE))
      given([], rows())
        .when(input({ items }))
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/items' }] })
      const atCap = decideCreate(
        input({ items: [item(1000, MAX_AMOUNT / 1000)] }),
        initial,
        metaOf(),
        rows({ budget: budget({ amount: MAX_AMOUNT }) }),
      )
      expect(atCap[0]?.data).toMatchObject({ total: MAX_AMOUNT })
    })
  })
})

describe('update-request', () => {
  const given = deciderSpec(
    { initial, evolve, load, decide: decideUpdate },
    { command: updateRequest, ...base },
  )
  const updated = (total: number, previousTotal: number, steps = stepsOf('manager')) =>
    RequestUpdated.create({
      ...created(previousTotal).data,
      budget: { reserved: total - previousTotal, committed: 0, spent: 0 },
      items: [item(1, total)],
      total,
      previousTotal,
      steps,
    })

  it('moves the reservation by the change of total, and recomputes the steps', () => {
    given([created(500_000)], rows())
      .when({ requestId, items: [item(1, 2_000_000)] })
      .then(updated(2_000_000, 500_000, stepsOf('manager', 'finance')))
    given([created(500_000)], rows())
      .when({ requestId, items: [item(1, 100)] })
      .then(updated(100, 500_000))
  })
  it('records nothing when nothing changes', () => {
    given([created(500_000)], rows())
      .when({ requestId, title: 'Laptops' })
      .then([])
    given([created(500_000)], rows())
      .when({ requestId, justification: null, neededBy: null })
      .then([])
    // The same items, their keys in jsonb's order as folded from the log: still nothing changes.
    const { description, quantity, unitPrice } = item(1, 500_000)
    const folded = created(500_000)
    folded.data.items = [{ quantity, unitPrice, description }] as typeof folded.data.items
    given([folded], rows())
      .when({ requestId, items: [item(1, 500_000)] })
      .then([])
  })
  it('refuses an increase past what is available with 409 BUDGET_EXCEEDED', () => {
    given([created(500_000)], rows({ budget: budget({ amount: 1_000_000, reserved: 500_000 }) }))
      .when({ requestId, items: [item(1, 1_000_001)] })
      .thenRefused('BUDGET_EXCEEDED')
  })
  it('refuses an unknown request or one the caller may not see (404), another who sees it (403 NOT_REQUESTER), an approved step (409)', () => {
    given([], rows()).when({ requestId, title: 'x' }).thenRefused('REQUEST_NOT_FOUND', { status: 404 })
    given([created(10)], rows())
      .when({ requestId, title: 'x' }, { caller: bob })
      .thenRefused('REQUEST_NOT_FOUND', { status: 404 })
    given([created(10)], rows())
      .when({ requestId, title: 'x' }, { caller: salesManager })
      .thenRefused('NOT_REQUESTER', { status: 403 })
    given([created(2_000_000, stepsOf('manager', 'finance')), ...approvedStep(0)], rows())
      .when({ requestId, title: 'x' })
      .thenRefused('REQUEST_IN_APPROVAL', { status: 409 })
    given([created(10), cancelled('pending', 10)], rows())
      .when({ requestId, title: 'x' })
      .thenRefused('REQUEST_NOT_PENDING', { status: 409 })
  })
  it('refuses an input naming no field with 400', () => {
    given([created(10)], rows())
      .when({ requestId })
      .thenRefused('VALIDATION_FAILED')
  })
})

describe('cancel-request', () => {
  const given = deciderSpec({ initial, evolve, decide: decideCancel }, { command: cancelRequest, ...base })

  it('releases the reservation of a pending request, and the commitment of an approved one', () => {
    given([created(300)])
      .when({ requestId })
      .then(cancelled('pending', 300))
    given([created(300), ...approvedStep(0, true)])
      .when({ requestId })
      .then(cancelled('approved', 300))
  })
  it('refuses another person (403), a paid (ALREADY_PAID) or closed (REQUEST_CLOSED) request', () => {
    given([]).when({ requestId }).thenRefused('REQUEST_NOT_FOUND')
    given([created(300)])
      .when({ requestId }, { caller: salesManager })
      .thenRefused('NOT_REQUESTER')
    given([created(300), cancelled('pending', 300)])
      .when({ requestId })
      .thenRefused('REQUEST_CLOSED')
  })
  it('sums to nothing held once cancelled', () => {
    const state = [created(300), cancelled('pending', 300)].reduce(evolve, initial)
    expect(held(state)).toEqual({ reserved: 0, committed: 0, spent: 0 })
  })
})

function metaOf(over: { caller?: typeof ann } = {}) {
  return {
    commandId: 'c',
    correlationId: 'c',
    caller: over.caller ?? ann,
    now: new Date(now),
    newId: requestId,
  }
}

function cancelled(from: 'pending' | 'approved', total: number) {
  const { requestId: id, department, fiscalYear, currency } = created(total).data
  return RequestCancelled.create({
    requestId: id,
    department,
    fiscalYear,
    currency,
    actorId: 'ann',
    at: now,
    status: 'cancelled',
    budget: {
      reserved: from === 'pending' ? -total : 0,
      committed: from === 'approved' ? -total : 0,
      spent: 0,
    },
    requesterId: 'ann',
    reason: null,
    releasedAmount: total,
    releasedFrom: from === 'pending' ? 'reserved' : 'committed',
    previousStatus: from,
  })
}

/** The manager's approval of step `index` (and, with `last`, the request's approval after it). */
function approvedStep(index: number, last = false): RequestEvent[] {
  const { total } = created(300).data
  const ref = {
    requestId,
    department: 'sales',
    fiscalYear: 2031,
    currency: 'KRW',
    actorId: 'meg',
    at: now,
    requesterId: 'ann',
  }
  const approved = StepApproved.create({
    ...ref,
    status: last ? 'approved' : 'pending',
    budget: { reserved: 0, committed: 0, spent: 0 },
    step: { index, role: 'manager', department: 'sales' },
    actedAs: 'manager',
    comment: null,
    nextStep: last ? null : { index: index + 1, role: 'finance' },
  })
  if (!last) return [approved]
  const budget = { reserved: -total, committed: total, spent: 0 }
  return [
    approved,
    RequestApproved.create({ ...ref, status: 'approved', budget, total, committedAmount: total }),
  ]
}

describe("a token's department claim", () => {
  it('is read in its one form, lower case, and a claim of another shape is no department', () => {
    expect(canonicalDepartment('Sales')).toBe('sales')
    expect(canonicalDepartment('r-and-d')).toBe('r-and-d')
    expect(canonicalDepartment('x'.repeat(40))).toBe('x'.repeat(40))
    // The Kelvin sign lower-cases to an ASCII `k`: in a body it is a 400, in a claim no department.
    for (const claim of ['\u212Aorea', 'sales ', '-sales', 'x'.repeat(41), '', 'sa les', 'ſales', undefined])
      expect(canonicalDepartment(claim)).toBeUndefined()
  })
})
