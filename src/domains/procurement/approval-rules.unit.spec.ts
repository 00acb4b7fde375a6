import { describe, expect, it } from 'vitest'
import { deciderSpec } from '../../kernel/testing.js'
import { decideApprove, decidePay, decideReject } from './approval-rules.js'
import {
  approveRequest,
  markAsPaid,
  rejectRequest,
  setApprovalPolicy,
  setDepartmentBudget,
} from './commands.js'
import { RequestApproved, RequestPaid, RequestRejected, StepApproved, type RequestEvent } from './messages.js'
import { evolve, held, initial } from './rules.js'
import { decideSetBudget, decideSetPolicy } from './setup-rules.js'
import {
  adm,
  ann,
  budget,
  created,
  fin,
  fin2,
  now,
  otherManager,
  requestId,
  salesManager,
  stepsOf,
} from './testing/requests.js'

const ref = (actorId: string) => ({
  requestId,
  department: 'sales',
  fiscalYear: 2031,
  currency: 'KRW',
  actorId,
  at: now,
  requesterId: 'ann',
})
const none = { reserved: 0, committed: 0, spent: 0 }
const twoSteps = () => created(2_000_000, stepsOf('manager', 'finance'))
const [managerStep, financeStep] = stepsOf('manager', 'finance') as [
  ReturnType<typeof stepsOf>[0],
  ReturnType<typeof stepsOf>[0],
]

function approvedBy(
  actorId: string,
  step: typeof managerStep,
  actedAs: 'manager' | 'finance' | 'admin',
  next: typeof managerStep | null = financeStep,
) {
  return StepApproved.create({
    ...ref(actorId),
    status: next ? 'pending' : 'approved',
    budget: none,
    step,
    actedAs,
    comment: null,
    nextStep: next ?? null,
  })
}
const approved = (actorId: string, total: number) =>
  RequestApproved.create({
    ...ref(actorId),
    status: 'approved',
    budget: { reserved: -total, committed: total, spent: 0 },
    total,
    committedAmount: total,
  })

describe('approve-request', () => {
  const given = deciderSpec(
    { initial, evolve, decide: decideApprove },
    { command: approveRequest, now, caller: salesManager },
  )

  describe('when a request waits for its manager, then finance', () => {
    it('lets a manager of its department (dept in any case) approve the first step, and waits for finance', () => {
      given([twoSteps()])
        .when({ requestId })
        .then(approvedBy('meg', managerStep, 'manager'))
    })
    it('commits the total on the last step: StepApproved, then RequestApproved', () => {
      given([twoSteps(), approvedBy('meg', managerStep, 'manager')])
        .when({ requestId, comment: 'Fine' }, { caller: fin })
        .then([
          StepApproved.create({
            ...approvedBy('fay', financeStep, 'finance', null).data,
            comment: 'Fine',
            nextStep: null,
          }),
          approved('fay', 2_000_000),
        ])
    })
    it('lets an admin act on any step, recorded as admin', () => {
      given([twoSteps()])
        .when({ requestId }, { caller: adm })
        .then(approvedBy('ada', managerStep, 'admin'))
    })
    it('refuses finance on the manager step: 403 NOT_APPROVER; one who may not see the request: 404, as unknown', () => {
      given([twoSteps()]).when({ requestId }, { caller: fin }).thenRefused('NOT_APPROVER', { status: 403 })
      // Neither its status nor the step it waits at is told to a manager of another department or an employee.
      for (const caller of [otherManager, { id: 'x', roles: ['employee'], dept: 'sales' }])
        given([twoSteps()]).when({ requestId }, { caller }).thenRefused('REQUEST_NOT_FOUND', { status: 404 })
      given([twoSteps(), approvedBy('meg', managerStep, 'manager')])
        .when({ requestId }, { caller: salesManager })
        .thenRefused('NOT_APPROVER')
    })
    it('refuses the requester, whatever their roles: 403 SELF_APPROVAL', () => {
      given([twoSteps()])
        .when({ requestId }, { caller: { ...ann, roles: ['manager', 'admin'] } })
        .thenRefused('SELF_APPROVAL', { status: 403 })
    })
    it('refuses one person on two steps: 403 DUPLICATE_APPROVER', () => {
      given([twoSteps(), approvedBy('ada', managerStep, 'admin')])
        .when({ requestId }, { caller: adm })
        .thenRefused('DUPLICATE_APPROVER', { status: 403 })
    })
  })

  describe('with the version the approver read (expectedVersion)', () => {
    it('approves at that version; refuses another with 409 REQUEST_CHANGED, before any other rule', () => {
      // Created is version 1, the manager's approval version 2.
      given([twoSteps()])
        .when({ requestId, expectedVersion: 1 })
        .then(approvedBy('meg', managerStep, 'manager'))
      given([twoSteps(), approvedBy('meg', managerStep, 'manager')])
        .when({ requestId, expectedVersion: 1 }, { caller: fin })
        .thenRefused('REQUEST_CHANGED', { status: 409 })
      // Even where another rule would refuse too: what was read is not what is there.
      given([twoSteps(), approvedBy('meg', managerStep, 'manager')])
        .when({ requestId, expectedVersion: 3 }, { caller: salesManager })
        .thenRefused('REQUEST_CHANGED')
      // One who may not see the request learns nothing of its version.
      given([twoSteps()])
        .when({ requestId, expectedVersion: 9 }, { caller: otherManager })
        .thenRefused('REQUEST_NOT_FOUND', { status: 404 })
    })
  })

  describe('when the request is closed or unknown', () => {
    it('refuses with 409 REQUEST_NOT_PENDING, or 404 REQUEST_NOT_FOUND', () => {
      const approvedOne: RequestEvent[] = [
        created(300),
        approvedBy('meg', managerStep, 'manager', null),
        approved('meg', 300),
      ]
      given(approvedOne)
        .when({ requestId }, { caller: fin })
        .thenRefused('REQUEST_NOT_PENDING', { status: 409 })
      given([]).when({ requestId }).thenRefused('REQUEST_NOT_FOUND', { status: 404 })
    })
  })
})

describe('reject-request', () => {
  const given = deciderSpec(
    { initial, evolve, decide: decideReject },
    { command: rejectRequest, now, caller: fin },
  )
  const waitingForFinance = [twoSteps(), approvedBy('meg', managerStep, 'manager')]
  const rejectedByFinance = RequestRejected.create({
    ...ref('fay'),
    status: 'rejected',
    budget: { reserved: -2_000_000, committed: 0, spent: 0 },
    step: financeStep,
    actedAs: 'finance',
    reason: 'Too dear',
    releasedAmount: 2_000_000,
  })

  it('releases the reservation at the step that waits for the caller', () => {
    given(waitingForFinance).when({ requestId, reason: 'Too dear' }).then(rejectedByFinance)
  })
  it('refuses as approve does: NOT_APPROVER, SELF_APPROVAL, REQUEST_NOT_PENDING', () => {
    given([twoSteps()]).when({ requestId, reason: 'no' }).thenRefused('NOT_APPROVER')
    given(waitingForFinance)
      .when({ requestId, reason: 'no' }, { caller: { ...ann, roles: ['finance'] } })
      .thenRefused('SELF_APPROVAL')
    const rejected = [
      ...waitingForFinance,
      ...decideReject({ requestId, reason: 'x' }, waitingForFinance.reduce(evolve, initial), meta(fin)),
    ]
    given(rejected).when({ requestId, reason: 'again' }, { caller: fin2 }).thenRefused('REQUEST_NOT_PENDING')
  })
  it('refuses a version the request has left: 409 REQUEST_CHANGED', () => {
    given(waitingForFinance)
      .when({ requestId, reason: 'no', expectedVersion: 1 })
      .thenRefused('REQUEST_CHANGED', { status: 409 })
    given(waitingForFinance)
      .when({ requestId, reason: 'Too dear', expectedVersion: 2 })
      .then(rejectedByFinance)
  })
})

describe('mark-as-paid', () => {
  const given = deciderSpec({ initial, evolve, decide: decidePay }, { command: markAsPaid, now, caller: fin })
  const approvedOne: RequestEvent[] = [
    created(300),
    approvedBy('meg', managerStep, 'manager', null),
    approved('meg', 300),
  ]
  const paid = (paidAmount: number) =>
    RequestPaid.create({
      ...ref('fay'),
      status: 'paid',
      budget: { reserved: 0, committed: -300, spent: paidAmount },
      total: 300,
      paidAmount,
      paymentReference: 'INV-1',
      releasedAmount: 300 - paidAmount,
    })

  it('turns the commitment into spending, releasing what was paid below it', () => {
    given(approvedOne).when({ requestId, paidAmount: 300, paymentReference: 'INV-1' }).then(paid(300))
    given(approvedOne).when({ requestId, paidAmount: 250, paymentReference: 'INV-1' }).then(paid(250))
    expect(held([...approvedOne, paid(250)].reduce(evolve, initial))).toEqual({
      reserved: 0,
      committed: 0,
      spent: 250,
    })
  })
  it('refuses more than approved (409 PAYMENT_EXCEEDS_APPROVED), nothing (NOTHING_PAID), twice (ALREADY_PAID), unapproved, own', () => {
    const pay = (paidAmount: number) => ({ requestId, paidAmount, paymentReference: 'INV-1' })
    given(approvedOne).when(pay(301)).thenRefused('PAYMENT_EXCEEDS_APPROVED', { status: 409 })
    given(approvedOne).when(pay(0)).thenRefused('NOTHING_PAID', { status: 409 })
    given([...approvedOne, paid(300)])
      .when(pay(300))
      .thenRefused('ALREADY_PAID', { status: 409 })
    given([created(300)])
      .when(pay(300))
      .thenRefused('REQUEST_NOT_APPROVED', { status: 409 })
    given(approvedOne)
      .when(pay(300), { caller: { ...ann, roles: ['finance'] } })
      .thenRefused('SELF_PAYMENT', { status: 403 })
    given([]).when(pay(1)).thenRefused('REQUEST_NOT_FOUND')
  })
})

describe('set-department-budget', () => {
  const given = deciderSpec(decideSetBudget, { command: setDepartmentBudget, now, caller: fin })
  const input = { department: 'Sales', fiscalYear: 2031, amount: 900, currency: 'KRW' }

  it('sets a budget, the department lower-cased, and the year by default the current one', () => {
    const events = decideSetBudget({ department: 'sales', amount: 5, currency: 'KRW' }, undefined, meta(fin))
    expect(events[0]?.data).toMatchObject({
      department: 'sales',
      fiscalYear: 2031,
      amount: 5,
      previousAmount: null,
    })
    given(budget({ amount: 900 }))
      .when(input)
      .then([])
  })
  it('refuses an amount below reserved + committed + spent: 409 BUDGET_BELOW_COMMITMENTS', () => {
    given(budget({ reserved: 300, committed: 300, spent: 301 }))
      .when(input)
      .thenRefused('BUDGET_BELOW_COMMITMENTS', { status: 409 })
  })
  it('refuses another currency while the budget holds money: 409 CURRENCY_MISMATCH', () => {
    given(budget({ reserved: 1 }))
      .when({ ...input, currency: 'USD' })
      .thenRefused('CURRENCY_MISMATCH')
    const events = decideSetBudget({ ...input, department: 'sales', currency: 'USD' }, budget(), meta(fin))
    expect(events[0]?.data).toMatchObject({ currency: 'USD' })
  })
})

describe('set-approval-policy', () => {
  const given = deciderSpec(decideSetPolicy, { command: setApprovalPolicy, now, caller: adm })
  it('refuses tiers out of order, an open tier before the last, a closed last tier, a role twice', () => {
    const bad = [
      [
        { upTo: 10, steps: ['manager'] },
        { upTo: 10, steps: ['finance'] },
        { upTo: null, steps: ['admin'] },
      ],
      [
        { upTo: null, steps: ['manager'] },
        { upTo: null, steps: ['finance'] },
      ],
      [{ upTo: 10, steps: ['manager'] }],
      [{ upTo: null, steps: ['manager', 'manager'] }],
    ] as const
    const paths = ['/tiers/1/upTo', '/tiers/0/upTo', '/tiers/0/upTo', '/tiers/0/steps']
    bad.forEach((tiers, i) =>
      given({ version: 0 })
        .when({ tiers: tiers.map((t) => ({ upTo: t.upTo, steps: [...t.steps] })) })
        .thenRefused('VALIDATION_FAILED', { status: 400, errors: [{ path: paths[i] ?? '' }] }),
    )
  })
  it('records a well-formed policy', () => {
    const tiers = [
      { upTo: 5, steps: ['finance' as const] },
      { upTo: null, steps: ['manager' as const, 'admin' as const] },
    ]
    const events = decideSetPolicy({ tiers }, { version: 0 }, meta(adm))
    expect(events[0]?.data).toEqual({ tiers, actorId: 'ada', at: now })
  })
})

function meta(caller: typeof fin) {
  return { commandId: 'c', correlationId: 'c', caller, now: new Date(now), newId: requestId }
}
