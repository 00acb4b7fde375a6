import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAuth, type TokenClaims } from '../../../src/app/auth.js'
import { createScratchDatabase } from '../../../src/storage/scratch-database.js'
import { postgresUrl, servicesAvailable } from '../../../src/testing/services.js'
import { buildCrudApp, migrateCrud } from './app.js'

/** The CRUD baseline keeps the procurement API's rules and the budget identity, on real PostgreSQL. */
describe.runIf(servicesAvailable)('procurement CRUD baseline', () => {
  const secret = 'crud-baseline-test-secret'
  const auth = createAuth(secret)
  let drop: () => Promise<void>
  let pool: pg.Pool
  let app: ReturnType<typeof buildCrudApp>

  beforeAll(async () => {
    const scratch = await createScratchDatabase(postgresUrl, 'crud')
    drop = scratch.drop
    pool = new pg.Pool({ connectionString: scratch.url, max: 10 })
    // Dropping the scratch database cuts connections still closing: not an error of the test.
    pool.on('error', () => undefined)
    await migrateCrud(pool)
    app = buildCrudApp({ pool, authSecret: secret })
    await app.ready()
  })
  afterAll(async () => {
    await app.close()
    await pool.end()
    await drop()
  })

  const token = (claims: TokenClaims) => `Bearer ${auth.sign(claims)}`
  const ann = token({ sub: 'ann', roles: ['employee'], dept: 'sales' })
  const bob = token({ sub: 'bob', roles: ['employee'], dept: 'Sales' })
  const max = token({ sub: 'max', roles: ['manager'], dept: 'sales' })
  const otherManager = token({ sub: 'oli', roles: ['manager'], dept: 'ops' })
  const fay = token({ sub: 'fay', roles: ['finance'] })
  const send = (name: string, who: string, body: object) =>
    app.inject({
      method: 'POST',
      url: `/api/commands/procurement/${name}`,
      headers: { authorization: who },
      payload: body,
    })
  const ask = (name: string, who: string, query: Record<string, string> = {}) =>
    app.inject({
      method: 'GET',
      url: `/api/queries/procurement/${name}`,
      headers: { authorization: who },
      query,
    })
  const item = (unitPrice: number, quantity = 1) => ({ description: 'Chairs', quantity, unitPrice })
  const budget = async (department: string) =>
    (await ask('get-budget-summary', fay, { department })).json<{
      data: { items: Record<string, number>[] }
    }>().data.items[0]

  it('reserves on create, commits on the last approval, spends on payment, with the rules of the domain', async () => {
    expect(
      (await send('set-department-budget', fay, { department: 'Sales', amount: 10_000, currency: 'KRW' }))
        .statusCode,
    ).toBe(200)
    const created = await send('create-purchase-request', ann, {
      title: 'Chairs',
      items: [item(300, 2)],
      currency: 'KRW',
    })
    expect(created.statusCode).toBe(200)
    const { requestId, total, status } = created.json<{
      result: { requestId: string; total: number; status: string }
    }>().result
    expect({ total, status }).toEqual({ total: 600, status: 'pending' })
    expect(await budget('sales')).toMatchObject({
      budget: 10_000,
      reserved: 600,
      committed: 0,
      available: 9_400,
    })

    expect((await send('approve-request', ann, { requestId })).json()).toMatchObject({
      code: 'SELF_APPROVAL',
    })
    expect((await send('approve-request', otherManager, { requestId })).json()).toMatchObject({
      code: 'REQUEST_NOT_FOUND', // another department's: not told it exists
    })
    expect((await send('approve-request', max, { requestId: requestId.toUpperCase() })).statusCode).toBe(200)
    expect((await send('approve-request', max, { requestId })).json()).toMatchObject({
      code: 'REQUEST_NOT_PENDING',
    })
    expect(await budget('sales')).toMatchObject({ reserved: 0, committed: 600 })

    expect(
      (await send('mark-as-paid', fay, { requestId, paidAmount: 601, paymentReference: 'p1' })).json(),
    ).toMatchObject({
      code: 'PAYMENT_EXCEEDS_APPROVED',
    })
    expect(
      (await send('mark-as-paid', fay, { requestId, paidAmount: 550, paymentReference: 'p1' })).statusCode,
    ).toBe(200)
    expect(
      (await send('mark-as-paid', fay, { requestId, paidAmount: 550, paymentReference: 'p1' })).json(),
    ).toMatchObject({
      code: 'ALREADY_PAID',
    })
    expect(await budget('sales')).toMatchObject({ reserved: 0, committed: 0, spent: 550, available: 9_450 })
    expect(
      (
        await send('create-purchase-request', bob, { title: 'Desk', items: [item(9_451)], currency: 'KRW' })
      ).json(),
    ).toMatchObject({
      code: 'BUDGET_EXCEEDED',
    })
  })

  it('keeps the budget identity under parallel creates, approvals, rejections and cancels on one department', async () => {
    await send('set-department-budget', fay, { department: 'ops', amount: 5_000, currency: 'KRW' })
    const opsManager = token({ sub: 'opm', roles: ['manager'], dept: 'ops' })
    const staff = Array.from({ length: 8 }, (_, i) =>
      token({ sub: `ops-${i}`, roles: ['employee'], dept: 'ops' }),
    )
    const creates = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        send('create-purchase-request', staff[i % 8] ?? ann, {
          title: `Item ${i}`,
          items: [item(100)],
          currency: 'KRW',
        }),
      ),
    )
    const ids = creates
      .filter((r) => r.statusCode === 200)
      .map((r) => r.json<{ result: { requestId: string } }>().result.requestId)
    expect(ids).toHaveLength(50)
    expect(
      creates
        .filter((r) => r.statusCode !== 200)
        .every((r) => r.json<{ code: string }>().code === 'BUDGET_EXCEEDED'),
    ).toBe(true)
    await Promise.all(
      ids.flatMap((id, i) => [
        i % 3 === 0
          ? send('approve-request', opsManager, { requestId: id })
          : send('reject-request', opsManager, { requestId: id, reason: 'no' }),
        send('cancel-request', staff[i % 8] ?? ann, { requestId: id }),
      ]),
    )
    const { rows } = await pool.query<{ reserved: string; committed: string; spent: string; amount: string }>(
      `SELECT b.amount, b.reserved, b.committed, b.spent,
         (SELECT coalesce(sum(total), 0) FROM procurement_crud.requests WHERE department = 'ops' AND status = 'pending') AS held_reserved,
         (SELECT coalesce(sum(total), 0) FROM procurement_crud.requests WHERE department = 'ops' AND status = 'approved') AS held_committed
       FROM procurement_crud.budgets b WHERE department = 'ops'`,
    )
    const row = rows[0] as unknown as Record<string, string>
    expect(Number(row.reserved)).toBe(Number(row.held_reserved))
    expect(Number(row.committed)).toBe(Number(row.held_committed))
    expect(
      Number(row.amount) - Number(row.reserved) - Number(row.committed) - Number(row.spent),
    ).toBeGreaterThanOrEqual(0)
  })

  it('pages a department by amount with keyset cursors, and scopes by role', async () => {
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = (
        await ask('list-department-requests', fay, {
          department: 'ops',
          sort: '-amount',
          limit: '7',
          ...(cursor ? { cursor } : {}),
        })
      ).json<{
        data: { requestId: string }[]
        nextCursor: string | null
      }>()
      seen.push(...page.data.map((r) => r.requestId))
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    expect(new Set(seen).size).toBe(50)
    expect((await ask('list-department-requests', ann, { department: 'sales' })).statusCode).toBe(403)
    expect((await ask('list-department-requests', max, { department: 'ops' })).statusCode).toBe(403)
    expect((await ask('list-department-requests', max)).statusCode).toBe(200)
    expect((await ask('list-department-requests', fay, { cursor: 'not-a-cursor' })).statusCode).toBe(400)
  })
})
