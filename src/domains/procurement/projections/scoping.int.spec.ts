import { beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../../kernel/index.js'
import { modes, projectionSpec, type ReadModel } from '../../../kernel/testing.js'
import {
  admin,
  approved,
  at,
  budgetSet,
  created,
  employee,
  finance,
  manager,
  req,
  rid,
} from '../testing/read-side.js'
import { budgetsProjection, getBudgetSummary } from './budgets.js'
import { getRequestHistory, historyProjection } from './history.js'
import { getPendingApprovals } from './pending-approvals.js'
import { listDepartmentRequests, listMyRequests } from './request-queries.js'
import { requestsProjection } from './requests.js'
import { getRequestStatistics } from './statistics.js'

/**
 * Every query, every role: what is in scope is answered, what is not is 403 or absent, never shown.
 * Sales: ann's 1 (manager step), bob's 2 (manager then finance, the manager step approved by meg),
 * ada's 6 (admin's own); engineering: eve's 3; ann's 4 needs manager, finance, admin and ada
 * approved its manager step; meg's own 5 (manager step, sales).
 */
const ann = employee('ann')
const bob = employee('bob')
const eve = employee('eve', 'eng')
const meg = manager('meg', 'sales')
const otto = manager('otto', 'ENG')
const lost: Caller = { id: 'lou', roles: ['manager'] } // a manager whose token names no department
const everyone = { ann, bob, eve, meg, otto, lost, finance, admin }

const r1 = req(1)
const r2 = req(2, { requesterId: 'bob', roles: ['manager', 'finance'] })
const r3 = req(3, { requesterId: 'eve', department: 'eng' })
const r4 = req(4, { roles: ['manager', 'finance', 'admin'] })
const r5 = req(5, { requesterId: 'meg' })
const r6 = req(6, { requesterId: 'ada' })

describe.each(modes)('procurement scope by role (%s)', (mode) => {
  const given = projectionSpec(mode, [requestsProjection, historyProjection, budgetsProjection])
  let m: ReadModel
  beforeAll(async () => {
    m = await given(
      budgetSet('sales', 100_000),
      budgetSet('eng', 50_000),
      created(r1, at(1)),
      created(r2, at(2)),
      created(r3, at(3)),
      created(r4, at(4)),
      created(r5, at(5)),
      created(r6, at(6)),
      ...approved(r2, 0, 'meg', at(7)),
      ...approved(r4, 0, 'ada', at(8)),
    )
  })
  const ids = (items: readonly { requestId: string }[]) => items.map((i) => i.requestId).toSorted()
  const forbidden = { status: 403, code: 'FORBIDDEN' }

  it('list-my-requests: each caller their own, nobody else’s', async () => {
    const mine = async (caller: Caller) => ids((await m.ask(listMyRequests, {}, caller)).items)
    expect(await mine(ann)).toEqual([rid(1), rid(4)])
    expect(await mine(bob)).toEqual([rid(2)])
    expect(await mine(eve)).toEqual([rid(3)])
    expect(await mine(meg)).toEqual([rid(5)])
    for (const caller of [otto, lost, finance]) expect(await mine(caller)).toEqual([])
    expect(await mine(admin)).toEqual([rid(6)])
  })

  it('list-department-requests: managers their department, finance and admin all, employees 403', async () => {
    const list = async (caller: Caller, department?: string) =>
      ids((await m.ask(listDepartmentRequests, department ? { department } : {}, caller)).items)
    const sales = [rid(1), rid(2), rid(4), rid(5), rid(6)]
    expect(await list(meg)).toEqual(sales)
    expect(await list(meg, 'Sales')).toEqual(sales)
    expect(await list(otto)).toEqual([rid(3)])
    for (const caller of [finance, admin]) {
      expect(await list(caller)).toEqual([...sales, rid(3)].toSorted())
      expect(await list(caller, 'eng')).toEqual([rid(3)])
    }
    await expect(m.ask(listDepartmentRequests, { department: 'eng' }, meg)).rejects.toMatchObject(forbidden)
    await expect(m.ask(listDepartmentRequests, { department: 'sales' }, otto)).rejects.toMatchObject(
      forbidden,
    )
    for (const caller of [ann, bob, eve, lost]) {
      await expect(m.ask(listDepartmentRequests, {}, caller)).rejects.toMatchObject(forbidden)
    }
    // A manager is told that their token names no department, not that managers may not ask.
    const spaced: Caller = { id: 'sam', roles: ['manager'], dept: 'sa les' }
    for (const caller of [lost, spaced])
      await expect(m.ask(listDepartmentRequests, {}, caller)).rejects.toThrow(
        /`dept` claim is missing or not a department name/,
      )
    await expect(m.ask(listDepartmentRequests, {}, ann)).rejects.toMatchObject({
      detail: 'Department-wide answers are for managers, finance and admin',
    })
    expect(listDepartmentRequests.access).toEqual({ kind: 'user', roles: ['manager', 'finance', 'admin'] })
  })

  it('get-budget-summary: a manager their department, finance and admin each or all, employees 403', async () => {
    const depts = async (caller: Caller, department?: string) =>
      (await m.ask(getBudgetSummary, department ? { department } : {}, caller)).items.map((b) => b.department)
    expect(await depts(meg)).toEqual(['sales'])
    expect(await depts(otto)).toEqual(['eng'])
    for (const caller of [finance, admin]) {
      expect(await depts(caller)).toEqual(['eng', 'sales'])
      expect(await depts(caller, 'eng')).toEqual(['eng'])
    }
    await expect(m.ask(getBudgetSummary, { department: 'eng' }, meg)).rejects.toMatchObject(forbidden)
    for (const caller of [ann, eve, lost]) {
      await expect(m.ask(getBudgetSummary, {}, caller)).rejects.toMatchObject(forbidden)
    }
  })

  it('get-request-history: its requester, its department’s manager, finance and admin; anyone else 404', async () => {
    const sees = async (caller: Caller, n: number) => {
      try {
        return (await m.ask(getRequestHistory, { requestId: rid(n) }, caller)).requestId === rid(n)
      } catch (error) {
        expect(error).toMatchObject({ status: 404, code: 'REQUEST_NOT_FOUND' })
        return false
      }
    }
    const visible = async (caller: Caller) => {
      const seen: number[] = []
      for (const n of [1, 2, 3, 4, 5, 6]) if (await sees(caller, n)) seen.push(n)
      return seen
    }
    expect(await visible(ann)).toEqual([1, 4])
    expect(await visible(bob)).toEqual([2])
    expect(await visible(eve)).toEqual([3])
    expect(await visible(meg)).toEqual([1, 2, 4, 5, 6])
    expect(await visible(otto)).toEqual([3])
    expect(await visible(lost)).toEqual([])
    expect(await visible(finance)).toEqual([1, 2, 3, 4, 5, 6])
    expect(await visible(admin)).toEqual([1, 2, 3, 4, 5, 6])
    // An id nobody wrote is answered the same way as one out of scope.
    await expect(m.ask(getRequestHistory, { requestId: rid(99) }, admin)).rejects.toMatchObject({
      status: 404,
    })
  })

  it('get-request-statistics: employees their own requests, managers their department, finance and admin any', async () => {
    const count = async (caller: Caller, department?: string) =>
      (await m.ask(getRequestStatistics, department ? { department } : {}, caller)).buckets.reduce(
        (n, b) => n + b.count,
        0,
      )
    expect(await count(ann)).toBe(2)
    expect(await count(ann, 'eng')).toBe(0)
    expect(await count(bob)).toBe(1)
    expect(await count(lost)).toBe(0)
    expect(await count(meg)).toBe(5)
    expect(await count(otto)).toBe(1)
    expect(await count(finance)).toBe(6)
    expect(await count(admin, 'eng')).toBe(1)
    await expect(m.ask(getRequestStatistics, { department: 'eng' }, meg)).rejects.toMatchObject(forbidden)
  })

  it('get-pending-approvals: the steps each may act on, never their own request nor one they approved a step of', async () => {
    const waiting = async (caller: Caller) => ids((await m.ask(getPendingApprovals, {}, caller)).items)
    // meg: the sales manager steps of 1 and 6 (5 is her own; 2 and 4 have moved past their manager step).
    expect(await waiting(meg)).toEqual([rid(1), rid(6)])
    expect(await waiting(otto)).toEqual([rid(3)])
    // Finance steps: 2 (after meg) and 4 (after ada).
    expect(await waiting(finance)).toEqual([rid(2), rid(4)])
    // An admin may act on any step: all pending but her own (6) and the one she approved a step of (4).
    expect(await waiting(admin)).toEqual([rid(1), rid(2), rid(3), rid(5)])
    for (const caller of [ann, bob, eve, lost]) expect(await waiting(caller)).toEqual([])
  })

  it('shows no request of another department or person in any answer an employee or a manager gets', async () => {
    const salesIds = new Set([rid(1), rid(2), rid(4), rid(5), rid(6)])
    for (const caller of Object.values(everyone)) {
      const answers = await Promise.allSettled([
        m.ask(listMyRequests, {}, caller),
        m.ask(listDepartmentRequests, {}, caller),
        m.ask(getPendingApprovals, {}, caller),
      ])
      const shown = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value.items : []))
      for (const item of shown) {
        const own = item.requesterId === caller.id
        const all = caller === finance || caller === admin
        const department =
          caller === meg ? salesIds.has(item.requestId) : caller === otto && item.requestId === rid(3)
        expect({ caller: caller.id, item: item.requestId, allowed: own || all || department }).toMatchObject({
          allowed: true,
        })
      }
    }
  })
})
