import { describe, expect, it } from 'vitest'
import { encodeCursor } from '../../../kernel/index.js'
import { modes, projectionSpec, renumbered } from '../../../kernel/testing.js'
import {
  admin,
  approved,
  at,
  budgetSet,
  cancelled,
  created,
  employee,
  finance,
  manager,
  paid,
  rejected,
  req,
  rid,
  updated,
} from '../testing/read-side.js'
import { budgetsProjection, getBudgetSummary } from './budgets.js'
import { getRequestHistory, historyProjection } from './history.js'
import { getPendingApprovals } from './pending-approvals.js'
import { listDepartmentRequests, listMyRequests } from './request-queries.js'
import { requestsProjection } from './requests.js'
import { getRequestStatistics } from './statistics.js'

const ann = employee('ann')
const meg = manager('meg', 'Sales')
const origin = { txId: '0', position: '0' }

describe.each(modes)('procurement read models (%s)', (mode) => {
  const given = projectionSpec(mode, [requestsProjection, historyProjection, budgetsProjection])

  it('follows a request through its steps: status, the waiting step, and the lists it is in', async () => {
    const r = req(1, { roles: ['manager', 'finance'], total: 2_000_000 })
    const m = await given(budgetSet('sales', 10_000_000), created(r, at(1)))
    const mine = await m.ask(listMyRequests, {}, ann)
    expect(mine.items).toMatchObject([
      { requestId: r.requestId, status: 'pending', total: 2_000_000, itemCount: 1, createdAt: at(1) },
    ])
    expect(mine.items[0]?.currentStep).toEqual({ index: 0, role: 'manager', department: 'sales' })
    expect((await m.ask(getPendingApprovals, {}, meg)).items.map((i) => i.waitingSince)).toEqual([at(1)])
    expect((await m.ask(getPendingApprovals, {}, finance)).items).toEqual([])

    await m.apply(...approved(r, 0, 'meg', at(2)))
    expect((await m.ask(getPendingApprovals, {}, meg)).items).toEqual([])
    const forFinance = await m.ask(getPendingApprovals, {}, finance)
    expect(forFinance.items).toMatchObject([{ requestId: r.requestId, waitingSince: at(2) }])
    expect(forFinance.items[0]?.currentStep).toEqual({ index: 1, role: 'finance' })

    await m.apply(...approved(r, 1, 'fay', at(3)), paid(r, 1_500_000, at(4)))
    const [row] = (await m.ask(listMyRequests, {}, ann)).items
    expect(row).toMatchObject({ status: 'paid', paidAmount: 1_500_000, currentStep: null, updatedAt: at(4) })
    expect((await m.ask(getBudgetSummary, { department: 'sales' }, finance)).items).toEqual([
      {
        department: 'sales',
        fiscalYear: 2031,
        currency: 'KRW',
        budget: 10_000_000,
        reserved: 0,
        committed: 0,
        spent: 1_500_000,
        available: 8_500_000,
      },
    ])
  })

  it('keeps the budget identity: reserved, committed and spent are the sums of what each request holds', async () => {
    const [a, b, c, d, e] = [1, 2, 3, 4, 5].map((n) => req(n))
    if (!a || !b || !c || !d || !e) throw new Error('five requests')
    const [a2, grown] = updated(a, 4000, at(6))
    const m = await given(
      budgetSet('sales', 100_000),
      ...[a, b, c, d, e].map((r, i) => created(r, at(i))),
      grown,
      ...approved(b, 0, 'meg', at(7)),
      rejected(c, 0, 'meg', at(8)),
      cancelled(d, at(9)),
      ...approved(e, 0, 'meg', at(10)),
      paid(e, 4000, at(11)),
    )
    // a: 4000 reserved; b: 2000 committed; c, d: nothing; e: 4000 spent (of 5000 committed).
    const [sales] = (await m.ask(getBudgetSummary, {}, admin)).items
    expect(sales).toMatchObject({ budget: 100_000, reserved: a2.total, committed: 2000, spent: 4000 })
    expect(sales?.available).toBe(100_000 - 4000 - 2000 - 4000)
    expect((await m.ask(listMyRequests, {}, ann)).items.map((i) => [i.requestId, i.status, i.total])).toEqual(
      [
        [e.requestId, 'paid', 5000],
        [d.requestId, 'cancelled', 4000],
        [c.requestId, 'rejected', 3000],
        [b.requestId, 'approved', 2000],
        [a.requestId, 'pending', 4000],
      ],
    )
  })

  it('sums every move of a budget whatever order of positions their transactions come in', async () => {
    const m = await given(budgetSet('sales', 100_000))
    const [a, b] = [req(1), req(2)]
    const [first, second] = [created(a, at(1)), created(b, at(2))].map(m.record)
    // The log is read by (transaction, position): the later position's transaction may come first
    // (requests of other streams move one budget row without a lock on it taken in position order).
    const batch = [
      { ...(second as NonNullable<typeof second>), txId: '9000' },
      { ...(first as NonNullable<typeof first>), txId: '9001' },
    ]
    expect(await m.applyBatch(batch)).toEqual([true, true, true])
    const [sales] = (await m.ask(getBudgetSummary, { department: 'sales' }, finance)).items
    expect(sales).toMatchObject({ reserved: a.total + b.total, available: 100_000 - a.total - b.total })
  })

  it('changes nothing when the same batch is applied twice from the same checkpoint', async () => {
    const m = await given()
    const r = req(1, { roles: ['manager', 'finance'] })
    const batch = [budgetSet('sales', 50_000), created(r, at(1)), ...approved(r, 0, 'meg', at(2))].map(
      m.record,
    )
    expect(await m.applyBatch(batch, origin)).toEqual([true, true, true])
    const before = await Promise.all([
      m.rows('procurement-requests', 'requests'),
      m.rows('procurement-history', 'request_events', '2'),
      m.rows('procurement-budgets', 'budgets'),
    ])
    expect(await m.applyBatch(batch, origin)).toEqual([false, false, false])
    const after = await Promise.all([
      m.rows('procurement-requests', 'requests'),
      m.rows('procurement-history', 'request_events', '2'),
      m.rows('procurement-budgets', 'budgets'),
    ])
    expect(after).toEqual(before)
    expect(before[1]).toHaveLength(2)
  })

  it('answers every event with actor and time, and the state as of any moment folded with evolve', async () => {
    const r = req(1, { roles: ['manager', 'finance'] })
    const m = await given(created(r, at(1)), ...approved(r, 0, 'meg', at(2)), rejected(r, 1, 'fay', at(3)))
    const all = await m.ask(getRequestHistory, { requestId: r.requestId.toUpperCase() }, ann)
    expect(all.events.map((e) => [e.type, e.actorId, e.at, e.status])).toEqual([
      ['RequestCreated', 'ann', at(1), 'pending'],
      ['StepApproved', 'meg', at(2), 'pending'],
      ['RequestRejected', 'fay', at(3), 'rejected'],
    ])
    expect(all.state).toMatchObject({ status: 'rejected', rejectedBy: 'fay', rejectionReason: 'No' })

    const then = await m.ask(
      getRequestHistory,
      { requestId: r.requestId, at: '2031-03-01T00:02:30+00:00' },
      ann,
    )
    expect(then.asOf).toBe('2031-03-01T00:02:30.000Z')
    expect(then.events).toHaveLength(2)
    expect(then.state).toMatchObject({
      status: 'pending',
      currentStep: { index: 1, role: 'finance' },
      approvals: [{ approverId: 'meg', at: at(2) }],
    })
    const before = await m.ask(getRequestHistory, { requestId: r.requestId, at: '1970-01-01T00:00:00Z' }, ann)
    expect(before).toMatchObject({ events: [], state: null })
    const future = await m.ask(getRequestHistory, { requestId: r.requestId, at: '9999-12-31T23:59:59Z' }, ann)
    expect(future.state?.status).toBe('rejected')
  })

  it('folds a request’s events in the order of their positions as numbers, past a power of ten', async () => {
    const r = req(1)
    const m = await given()
    const events = [created(r, at(1)), ...approved(r, 0, 'meg', at(2))].map(m.record)
    // Positions 9 and 10: as text, '10' sorts before '9' (the approval before the creation).
    const batch = renumbered(events, 9)
    await m.applyBatch(batch)
    const history = await m.ask(getRequestHistory, { requestId: r.requestId }, ann)
    expect(history.events.map((e) => [e.type, e.position])).toEqual(batch.map((e) => [e.type, e.position]))
    expect(history.state).toMatchObject({ requestId: r.requestId, approvals: [{ approverId: 'meg' }] })
  })

  it('counts requests and amounts by status per hour, day and month of creation, within [from, to)', async () => {
    const rs = [1, 2, 3, 4].map((n) => req(n))
    const [a, b, c, d] = rs as [
      ReturnType<typeof req>,
      ReturnType<typeof req>,
      ReturnType<typeof req>,
      ReturnType<typeof req>,
    ]
    const m = await given(
      created(a, at(10)),
      created(b, at(50)),
      created(c, at(70)),
      created(d, at(60 * 24 * 40)),
      ...approved(b, 0, 'meg', at(80)),
    )
    const hours = await m.ask(getRequestStatistics, { bucket: 'hour', department: 'sales' }, meg)
    expect(hours.buckets.map((x) => [x.start, x.count, x.amount, x.byStatus.approved.count])).toEqual([
      ['2031-03-01T00:00:00.000Z', 2, 3000, 1],
      ['2031-03-01T01:00:00.000Z', 1, 3000, 0],
      ['2031-04-10T00:00:00.000Z', 1, 4000, 0],
    ])
    const months = await m.ask(getRequestStatistics, { bucket: 'month' }, finance)
    expect(months.buckets.map((x) => [x.start, x.count, x.byStatus.pending])).toEqual([
      ['2031-03-01T00:00:00.000Z', 3, { count: 2, amount: 4000 }],
      ['2031-04-01T00:00:00.000Z', 1, { count: 1, amount: 4000 }],
    ])
    const ranged = await m.ask(getRequestStatistics, { from: at(50), to: at(70) }, admin)
    expect(ranged).toMatchObject({ bucket: 'day', truncated: false, buckets: [{ count: 1, amount: 2000 }] })
  })

  it('never sums amounts in two currencies: a bucket per currency, in a department and across them', async () => {
    const m = await given(
      created(req(1), at(1)),
      created(req(2, { currency: 'USD' }), at(2)),
      created(req(3, { department: 'usa', currency: 'USD' }), at(3)),
    )
    const tally = (answer: {
      buckets: { start: string; currency: string; count: number; amount: number }[]
    }) => answer.buckets.map((x) => [x.start, x.currency, x.count, x.amount])
    const day = '2031-03-01T00:00:00.000Z'
    expect(tally(await m.ask(getRequestStatistics, { department: 'sales' }, meg))).toEqual([
      [day, 'KRW', 1, 1000],
      [day, 'USD', 1, 2000],
    ])
    expect(tally(await m.ask(getRequestStatistics, {}, finance))).toEqual([
      [day, 'KRW', 1, 1000],
      [day, 'USD', 2, 5000],
    ])
  })

  it('filters department lists by status, amount, time, requester and title words, sorted four ways', async () => {
    const m = await given(
      created(req(1, { title: 'Laptops 100%' }), at(1)),
      created(req(2, { title: 'Desks', requesterId: 'bob' }), at(2)),
      created(req(3, { title: 'Laptop bags' }), at(3)),
      created(req(4, { department: 'eng', title: 'Laptops' }), at(4)),
      created(req(5, { title: 'Chairs' }), at(5)),
    )
    const ids = async (input: Parameters<typeof listDepartmentRequests.handle>[0], caller = finance) =>
      (await m.ask(listDepartmentRequests, input, caller)).items.map((i) => i.requestId)
    expect(await ids({})).toEqual([rid(5), rid(4), rid(3), rid(2), rid(1)])
    expect(await ids({ department: 'SALES', sort: 'amount' })).toEqual([rid(1), rid(2), rid(3), rid(5)])
    expect(await ids({ sort: '-amount', minAmount: 2000, maxAmount: 4000 })).toEqual([rid(4), rid(3), rid(2)])
    expect(await ids({ q: 'laptop' })).toEqual([rid(4), rid(3), rid(1)])
    expect(await ids({ q: '100%' })).toEqual([rid(1)])
    expect(await ids({ q: '_' })).toEqual([])
    expect(await ids({ requesterId: 'bob' })).toEqual([rid(2)])
    expect(await ids({ from: at(2), to: at(4), sort: 'created' })).toEqual([rid(2), rid(3)])
    expect(await ids({ status: 'approved' })).toEqual([])
    expect(await ids({}, meg)).toEqual([rid(5), rid(3), rid(2), rid(1)])
  })

  it('finds title words typed with a combining accent by the precomposed letter, and back', async () => {
    const m = await given(
      created(req(1, { title: 'Cafe\u0301 chairs' }), at(1)),
      created(req(2, { title: 'Café tables' }), at(2)),
      created(req(3, { title: 'Cafeteria' }), at(3)),
    )
    const ids = async (q: string) =>
      (await m.ask(listDepartmentRequests, { q }, finance)).items.map((i) => i.requestId)
    expect(await ids('CAFÉ')).toEqual([rid(2), rid(1)])
    expect(await ids('cafe\u0301')).toEqual([rid(2), rid(1)])
  })

  it('finds title words in any case, folded in full: a final sigma, ß as ss, the dotted capital I; an update searched by its new title', async () => {
    const renamed = req(4, { title: 'Paper' })
    const m = await given(
      created(req(1, { title: 'ΟΔΥΣΣΕΥΣ maps' }), at(1)),
      created(req(2, { title: 'Straße signs' }), at(2)),
      created(req(3, { title: 'İstanbul trip' }), at(3)),
      created(renamed, at(4)),
      updated({ ...renamed, title: 'STRASSE cones' }, renamed.total, at(5))[1],
    )
    const ids = async (q: string) =>
      (await m.ask(listDepartmentRequests, { q }, finance)).items.map((i) => i.requestId)
    expect(await ids('οδυσσευς')).toEqual([rid(1)])
    expect(await ids('Οδυσσευσ')).toEqual([rid(1)])
    expect(await ids('strasse')).toEqual([rid(4), rid(2)])
    expect(await ids('STRAẞE')).toEqual([rid(4), rid(2)])
    expect(await ids('istanbul')).toEqual([rid(3)])
    expect(await ids('paper')).toEqual([])
  })

  describe('odd inputs', () => {
    it('refuses reversed ranges, bad cursors and cursors of another query or sort with 400 and the field', async () => {
      const m = await given(created(req(1), at(1)), created(req(2), at(2)))
      const fails = (promise: Promise<unknown>, path: string) =>
        expect(promise).rejects.toMatchObject({ status: 400, errors: [expect.objectContaining({ path })] })
      await fails(m.ask(listDepartmentRequests, { from: at(2), to: at(1) }, finance), '/from')
      await fails(m.ask(listDepartmentRequests, { minAmount: 5, maxAmount: 4 }, finance), '/minAmount')
      await fails(m.ask(listDepartmentRequests, { sort: 'title' as 'amount' }, finance), '/sort')
      // Nothing visible to look for, as for the feed's `q`.
      for (const q of [' ', '\u0301', '\u202e'])
        await fails(m.ask(listDepartmentRequests, { q }, finance), '/q')
      await fails(m.ask(listDepartmentRequests, { limit: 1_000_000 }, finance), '/limit')
      await fails(m.ask(getRequestStatistics, { bucket: 'week' as 'day' }, finance), '/bucket')
      await fails(m.ask(getRequestStatistics, { from: at(9), to: at(1) }, finance), '/from')
      await fails(m.ask(getRequestHistory, { requestId: rid(1), at: '2031-06-30T23:59:60Z' }, ann), '/at')
      const page = await m.ask(listDepartmentRequests, { limit: 1 }, finance)
      const cursor = page.nextCursor ?? ''
      expect(cursor).not.toBe('')
      await fails(m.ask(listDepartmentRequests, { limit: 1, cursor, sort: 'amount' }, finance), '/cursor')
      await fails(m.ask(listMyRequests, { cursor }, ann), '/cursor')
      await fails(m.ask(getPendingApprovals, { cursor }, meg), '/cursor')
      for (const bad of [
        'x',
        '!!',
        encodeCursor('dept|-created|not-a-time|x'),
        encodeCursor('a'.repeat(150)),
      ]) {
        await fails(m.ask(listDepartmentRequests, { cursor: bad }, finance), '/cursor')
      }
      const next = await m.ask(listDepartmentRequests, { limit: 1, cursor }, finance)
      expect(next.items.map((i) => i.requestId)).toEqual([rid(1)])
    })

    it('answers far past and far future ranges, and upper-case ids, as any other', async () => {
      const m = await given(created(req(1), at(1)))
      expect(
        (
          await m.ask(
            listDepartmentRequests,
            { from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59Z' },
            finance,
          )
        ).items,
      ).toHaveLength(1)
      expect((await m.ask(listDepartmentRequests, { from: '9999-01-01T00:00:00Z' }, finance)).items).toEqual(
        [],
      )
      expect(
        (await m.ask(getRequestStatistics, { bucket: 'hour', from: '0001-01-01T00:00:00Z' }, finance))
          .buckets,
      ).toHaveLength(1)
      const history = await m.ask(getRequestHistory, { requestId: rid(1).toUpperCase() }, ann)
      expect(history.requestId).toBe(rid(1))
    })
  })
})
