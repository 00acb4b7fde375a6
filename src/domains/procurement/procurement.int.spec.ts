import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fold, type AnyCommand, type Caller, type CommandBus } from '../../kernel/index.js'
import {
  benchMixStatuses,
  commandProcess,
  modes,
  startTestTandem,
  type TestTandem,
} from '../../kernel/testing.js'
import {
  approveRequest,
  cancelRequest,
  createPurchaseRequest,
  markAsPaid,
  rejectRequest,
  requestStream,
  setDepartmentBudget,
  updateRequest,
} from './commands.js'
import { procurementDomain } from './index.js'
import { getRequest } from './queries.js'
import { getRequestHistory } from './projections/history.js'
import { evolve, held, initial } from './rules.js'

const finance: Caller = { id: 'fin-1', roles: ['finance'] }
const finance2: Caller = { id: 'fin-2', roles: ['finance'] }
const employee = (dept: string, n: number): Caller => ({ id: `emp-${dept}-${n}`, roles: ['employee'], dept })
const manager = (dept: string, n: number): Caller => ({ id: `mgr-${dept}-${n}`, roles: ['manager'], dept })

describe.each(modes)('procurement write side (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [procurementDomain] })
  })
  afterAll(async () => t.dispose())

  const on = (bus: CommandBus) => async (command: AnyCommand, input: unknown, caller: Caller) => {
    const done = await bus.execute(command, input, { caller })
    return done.status === 'succeeded'
      ? (done.result as { requestId: string; status: string })
      : done.error.code
  }
  const send = (command: AnyCommand, input: unknown, caller: Caller) => on(t.commands)(command, input, caller)

  async function budgetRow(department: string) {
    const [row] = await t.sql.query<{ amount: number; reserved: number; committed: number; spent: number }>(
      `SELECT amount::float8 AS amount, reserved::float8 AS reserved, committed::float8 AS committed,
         spent::float8 AS spent FROM procurement.budgets WHERE department = $1`,
      [department],
    )
    return row
  }

  /** What the requests hold of each budget, summed over every request stream folded from the log. */
  async function heldByRequests(department: string) {
    const streams = await t.sql.query<{ stream_id: string }>(
      "SELECT DISTINCT stream_id FROM tandem.event_log WHERE stream_id LIKE 'procurement-request-%'",
    )
    const sum = { reserved: 0, committed: 0, spent: 0, requests: 0 }
    const moved = { reserved: 0, committed: 0, spent: 0 }
    for (const { stream_id } of streams) {
      const events = await t.sql.query<{ type: string; data: unknown }>(
        'SELECT type, data FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version',
        [stream_id],
      )
      const state = fold({ initial, evolve }, events)
      if (state.status === 'absent' || state.department !== department) continue
      const h = held(state)
      sum.reserved += h.reserved
      sum.committed += h.committed
      sum.spent += h.spent
      sum.requests++
      for (const e of events) {
        const m = (e.data as { budget: typeof moved }).budget
        moved.reserved += m.reserved
        moved.committed += m.committed
        moved.spent += m.spent
      }
    }
    return { ...sum, moved }
  }

  it('reserves, commits, spends and releases on the budget row in the commits of the events', async () => {
    const ann = employee('ops', 1)
    expect(
      await send(
        createPurchaseRequest,
        { title: 'x', items: [{ description: 'a', quantity: 1, unitPrice: 5 }], currency: 'KRW' },
        ann,
      ),
    ).toBe('NO_BUDGET')
    await send(setDepartmentBudget, { department: 'OPS', amount: 1_000, currency: 'KRW' }, finance)
    const item = (unitPrice: number) => [{ description: 'Paper', quantity: 2, unitPrice }]
    const created = await send(
      createPurchaseRequest,
      { title: 'Paper', items: item(200), currency: 'KRW' },
      ann,
    )
    if (typeof created === 'string') throw new Error(created)
    expect(created).toMatchObject({ total: 400, status: 'pending' })
    expect(await send(createPurchaseRequest, { title: 'Big', items: item(301), currency: 'KRW' }, ann)).toBe(
      'BUDGET_EXCEEDED',
    )
    expect(
      await send(updateRequest, { requestId: created.requestId.toUpperCase(), items: item(250) }, ann),
    ).toMatchObject({ total: 500 })
    expect(await budgetRow('ops')).toEqual({ amount: 1000, reserved: 500, committed: 0, spent: 0 })
    expect(
      await send(setDepartmentBudget, { department: 'ops', amount: 499, currency: 'KRW' }, finance),
    ).toBe('BUDGET_BELOW_COMMITMENTS')
    expect(await send(approveRequest, { requestId: created.requestId }, manager('Ops', 1))).toMatchObject({
      status: 'approved',
    })
    expect(await budgetRow('ops')).toEqual({ amount: 1000, reserved: 0, committed: 500, spent: 0 })
    const pay = { requestId: created.requestId, paidAmount: 450, paymentReference: 'INV-1' }
    const paid = await t.commands.execute(markAsPaid, pay, { caller: finance })
    if (paid.status === 'failed') throw paid.error
    expect(paid.result).toMatchObject({ status: 'paid' })
    expect(await send(markAsPaid, pay, finance)).toBe('ALREADY_PAID')
    // Paid, its history's state still says when it was approved, and how many events it has.
    const history = await t.queries.ask(
      getRequestHistory,
      { requestId: created.requestId },
      { caller: ann, minPosition: BigInt(paid.position ?? '0') },
    )
    if (history.status === 'failed') throw history.error
    const approval = history.data.events.find((e) => e.type === 'RequestApproved')
    expect(history.data.state).toMatchObject({ status: 'paid', version: 5, approvedAt: approval?.at })
    expect(await budgetRow('ops')).toEqual({ amount: 1000, reserved: 0, committed: 0, spent: 450 })
    const h = await heldByRequests('ops')
    expect(h).toMatchObject({ reserved: 0, committed: 0, spent: 450, requests: 1 })
    // A refused create wrote nothing: one request stream, its five events.
    const [count] = await t.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM tandem.event_log WHERE stream_id LIKE 'procurement-request-%'",
    )
    expect(count?.n).toBe(5)
  })

  it('approves only the version its approver read: an update racing the approval makes it 409 REQUEST_CHANGED', async () => {
    await send(setDepartmentBudget, { department: 'seen', amount: 1_000_000, currency: 'KRW' }, finance)
    const ann = employee('seen', 1)
    const meg = manager('seen', 1)
    const items = (unitPrice: number) => [{ description: 'Desk', quantity: 1, unitPrice }]
    const outcomes = new Set<string>()
    for (let round = 0; round < 12; round++) {
      const created = await send(
        createPurchaseRequest,
        { title: 'Desk', items: items(100), currency: 'KRW' },
        ann,
      )
      if (typeof created === 'string') throw new Error(created)
      const read = await t.queries.ask(getRequest, { requestId: created.requestId }, { caller: meg })
      if (read.status === 'failed') throw new Error(read.error.code)
      const { version, total } = read.data
      const [updated, approved] = await Promise.all([
        send(updateRequest, { requestId: created.requestId, items: items(200 + round) }, ann),
        send(approveRequest, { requestId: created.requestId, expectedVersion: version }, meg),
      ])
      // One of them, never both: the approval commits what its approver read, or nothing.
      if (typeof approved === 'string') {
        expect(approved).toBe('REQUEST_CHANGED')
        expect(updated).toMatchObject({ total: 200 + round, status: 'pending' })
      } else {
        expect(approved).toMatchObject({ status: 'approved', total })
        expect(updated).toBe('REQUEST_NOT_PENDING')
      }
      outcomes.add(typeof approved === 'string' ? approved : approved.status)
      // Read again, the approval goes through at the version now shown.
      const again = await t.queries.ask(getRequest, { requestId: created.requestId }, { caller: meg })
      if (again.status === 'failed') throw new Error(again.error.code)
      if (again.data.status === 'pending')
        expect(
          await send(
            approveRequest,
            { requestId: created.requestId, expectedVersion: again.data.version },
            meg,
          ),
        ).toMatchObject({ status: 'approved', total: again.data.total })
    }
    expect(outcomes.size).toBeGreaterThan(0)
    const h = await heldByRequests('seen')
    expect(await budgetRow('seen')).toMatchObject({ reserved: h.reserved, committed: h.committed })
  })

  it("stamps a command that waited for the request's turn after the change it waited for", async () => {
    await send(setDepartmentBudget, { department: 'turns', amount: 1_000_000, currency: 'KRW' }, finance)
    const ann = employee('turns', 1)
    const lamp = {
      title: 'Lamp',
      items: [{ description: 'Lamp', quantity: 1, unitPrice: 100 }],
      currency: 'KRW',
    }
    const created = await send(createPurchaseRequest, lamp, ann)
    if (typeof created === 'string') throw new Error(created)
    const { requestId } = created
    let position: string | null = null
    try {
      // Approved at +10 s; the cancel read the clock at +5 s: it came first and waited for its turn.
      t.shiftClock(10_000)
      expect(await send(approveRequest, { requestId }, manager('turns', 1))).toMatchObject({
        status: 'approved',
      })
      t.shiftClock(5_000)
      const cancelled = await t.commands.execute(cancelRequest, { requestId }, { caller: ann })
      if (cancelled.status === 'failed') throw cancelled.error
      position = cancelled.position
    } finally {
      t.shiftClock(0)
    }
    const rows = await t.sql.query<{ type: string; at: string }>(
      "SELECT type, data->>'at' AS at FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version",
      [requestStream(requestId)],
    )
    expect(rows.map((r) => r.type)).toEqual([
      'RequestCreated',
      'StepApproved',
      'RequestApproved',
      'RequestCancelled',
    ])
    const times = rows.map((r) => r.at)
    expect(times).toEqual([...times].sort())
    // Stamped a millisecond after the approval it waited for.
    const approvedAt = Date.parse(rows[2]?.at ?? '')
    expect(rows[3]?.at).toBe(new Date(approvedAt + 1).toISOString())
    const asOf = async (ms: number) => {
      const at = new Date(ms).toISOString()
      const read = await t.queries.ask(
        getRequestHistory,
        { requestId, at },
        { caller: ann, minPosition: BigInt(position ?? '0') },
      )
      if (read.status === 'failed') throw read.error
      const { status, version, approvedAt: approved } = read.data.state ?? {}
      return { status, version, approvedAt: approved }
    }
    // As of just before the approval the request was pending: before, it showed cancelled, unapproved.
    // Once cancelled it still says when it was approved (it said null).
    const approvedAtText = rows[2]?.at
    expect(await asOf(approvedAt - 1)).toEqual({ status: 'pending', version: 1, approvedAt: null })
    expect(await asOf(approvedAt)).toEqual({ status: 'approved', version: 3, approvedAt: approvedAtText })
    expect(await asOf(approvedAt + 1)).toEqual({
      status: 'cancelled',
      version: 4,
      approvedAt: approvedAtText,
    })
  })

  // Hundreds of commands on one department from two processes: the budget row is the one lock they
  // share, and streams race across the processes (their appends conflict and run again).
  it(
    'keeps the budget identity and equals the sum over requests under any interleaving',
    { timeout: 120_000 },
    async () => {
      const dept = 'race'
      const other = commandProcess(t, 'procurement.budgets')
      const sends = [send, on(other.bus)]
      const any = (i: number) => sends[i % 2] ?? send
      await send(setDepartmentBudget, { department: dept, amount: 40_000_000, currency: 'KRW' }, finance)
      const people = Array.from({ length: 20 }, (_, n) => employee(dept, n))
      const [m1, m2] = [manager(dept, 1), manager(dept, 2)]
      const managers = [m1, m2]
      let seed = 7
      const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
      const price = () => 50_000 + Math.floor(random() * 900_000)
      const item = () => [{ description: 'Part', quantity: 1 + Math.floor(random() * 3), unitPrice: price() }]

      const created = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const who = people[i % people.length] ?? employee(dept, 0)
          return any(i)(createPurchaseRequest, { title: `R${i}`, items: item(), currency: 'KRW' }, who).then(
            (r) => ({ r, who }),
          )
        }),
      )
      const live = created.flatMap(({ r, who }) => (typeof r === 'string' ? [] : [{ id: r.requestId, who }]))
      expect(created.some(({ r }) => r === 'BUDGET_EXCEEDED')).toBe(true)
      expect(live.length).toBeGreaterThan(20)

      // Round two: updates, racing approvals by two managers, rejections, cancels, and more creates.
      const round2 = await Promise.all(
        live.flatMap(({ id, who }, i) => {
          const pick = i % 5
          if (pick === 0) return [any(i)(updateRequest, { requestId: id, items: item() }, who)]
          if (pick === 1) return managers.map((m, k) => any(i + k)(approveRequest, { requestId: id }, m))
          if (pick === 2)
            return [
              any(i)(rejectRequest, { requestId: id, reason: 'no' }, m1),
              any(i + 1)(approveRequest, { requestId: id }, m2),
            ]
          if (pick === 3)
            return [
              any(i)(cancelRequest, { requestId: id }, who),
              any(i + 1)(updateRequest, { requestId: id, title: 'late' }, who),
            ]
          return [any(i)(createPurchaseRequest, { title: 'more', items: item(), currency: 'KRW' }, who)]
        }),
      )
      const codes = new Set(round2.filter((r) => typeof r === 'string'))
      expect(
        [...codes].every((c) =>
          [
            'BUDGET_EXCEEDED',
            'REQUEST_NOT_PENDING',
            'NOT_APPROVER',
            'REQUEST_CLOSED',
            'REQUEST_IN_APPROVAL',
          ].includes(c),
        ),
      ).toBe(true)
      expect(codes.has('NOT_APPROVER') || codes.has('REQUEST_NOT_PENDING')).toBe(true)

      // Round three: finance approves what waits for it, pays what is approved (some below the
      // total), twice at once; requesters cancel approved ones.
      const states = await Promise.all(
        live.map(async ({ id, who }) => ({ id, who, state: await stateOf(id) })),
      )
      const round3 = await Promise.all(
        states.flatMap(({ id, who, state }, i) => {
          if (state.status === 'pending')
            return [
              any(i)(approveRequest, { requestId: id }, finance),
              any(i + 1)(approveRequest, { requestId: id }, finance2),
            ]
          if (state.status !== 'approved') return []
          if (i % 3 === 0)
            return [
              any(i)(cancelRequest, { requestId: id }, who),
              any(i + 1)(markAsPaid, { requestId: id, paidAmount: 1, paymentReference: 'r' }, finance),
            ]
          const paidAmount = state.total - (i % 2) * 1_000
          const pay = { requestId: id, paidAmount, paymentReference: `P${i}` }
          return [any(i)(markAsPaid, pay, finance), any(i + 1)(markAsPaid, pay, finance2)]
        }),
      )
      expect(round3.filter((r) => r === 'ALREADY_PAID').length).toBeGreaterThan(0)

      const row = await budgetRow(dept)
      if (!row) throw new Error('no budget row')
      expect(row.amount - row.reserved - row.committed - row.spent).toBeGreaterThanOrEqual(0)
      const sums = await heldByRequests(dept)
      expect({ reserved: row.reserved, committed: row.committed, spent: row.spent }).toEqual({
        reserved: sums.reserved,
        committed: sums.committed,
        spent: sums.spent,
      })
      expect(sums.moved).toEqual({ reserved: sums.reserved, committed: sums.committed, spent: sums.spent })
      expect(row.spent).toBeGreaterThan(0)
      expect(row.reserved + row.committed).toBeGreaterThan(0)
    },
  )

  it('prepares its bench mix, whose commands and queries succeed', async () => {
    expect(await benchMixStatuses(procurementDomain, t, 10)).toEqual(Array(20).fill('succeeded'))
  })

  async function stateOf(requestId: string) {
    const events = await t.sql.query<{ type: string; data: unknown }>(
      'SELECT type, data FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version',
      [`procurement-request-${requestId}`],
    )
    const state = fold({ initial, evolve }, events)
    return state.status === 'absent' ? { status: 'absent' as const, total: 0 } : state
  }
})
