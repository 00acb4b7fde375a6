import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../../src/core/messages.js'
import { uuidv7 } from '../../../src/core/ids.js'
import { procurementDomain } from '../../../src/domains/procurement/index.js'
import { testSecret } from '../../../src/testing/harness.js'
import { commandUrl, useTestServer, type TestServer } from '../../../src/testing/http.js'
import { createScratchDatabase } from '../../../src/storage/scratch-database.js'
import { postgresUrl, servicesAvailable } from '../../../src/testing/services.js'
import { buildCrudApp, migrateCrud } from './app.js'

const ann: Caller = { id: 'ann', roles: ['employee'], dept: 'sales' }
const bob: Caller = { id: 'bob', roles: ['employee'], dept: 'Sales' }
const max: Caller = { id: 'max', roles: ['manager'], dept: 'sales' }
const oli: Caller = { id: 'oli', roles: ['manager'], dept: 'ops' }
const fay: Caller = { id: 'fay', roles: ['finance'] }
const ada: Caller = { id: 'ada', roles: ['admin'] }

interface Answer {
  status: number
  body: Record<string, unknown>
}

/**
 * The comparison's claim (docs/procurement-crud-vs-cqrs.md): the baseline answers the domain's API
 * with the domain's rules. One script of commands and queries is sent to both, each step's status and
 * refusal code compared, and the results and answers compared where the baseline keeps the same.
 */
describe.runIf(servicesAvailable)('the CRUD baseline answers as the procurement domain does', () => {
  const server = useTestServer('server', { domains: [procurementDomain] })
  let s: TestServer
  let drop: () => Promise<void>
  let pool: pg.Pool
  let crud: ReturnType<typeof buildCrudApp>

  beforeAll(async () => {
    s = server()
    const scratch = await createScratchDatabase(postgresUrl, 'crud_conformance')
    drop = scratch.drop
    pool = new pg.Pool({ connectionString: scratch.url, max: 5 })
    pool.on('error', () => undefined)
    await migrateCrud(pool)
    crud = buildCrudApp({ pool, authSecret: testSecret })
    await crud.ready()
  })
  afterAll(async () => {
    await crud.close()
    await pool.end()
    await drop()
  })

  const parse = (r: { statusCode: number; body: string }): Answer => ({
    status: r.statusCode,
    body: JSON.parse(r.body) as Record<string, unknown>,
  })

  /** Sends the command to both; the same status and code, and the same result when it succeeds. */
  async function command(name: string, caller: Caller, body: object, sameResult = true) {
    const [a, b] = [
      parse(await s.post(commandUrl('procurement', name), body, { caller })),
      parse(
        await crud.inject({
          method: 'POST',
          url: commandUrl('procurement', name),
          headers: { authorization: s.bearer(caller) },
          payload: body,
        }),
      ),
    ]
    const step = `${name} by ${caller.id} ${JSON.stringify(body)}`
    expect({ step, status: b.status, code: b.body.code }).toEqual({
      step,
      status: a.status,
      code: a.body.code,
    })
    if (a.status === 200) {
      expect([b.body.status, typeof b.body.commandId]).toEqual(['succeeded', 'string'])
      if (sameResult) expect({ step, result: b.body.result }).toEqual({ step, result: a.body.result })
    }
    return a
  }

  /** Asks both; the same status and code; `same` picks what of a success must be equal. */
  async function query(
    name: string,
    caller: Caller,
    params: Record<string, string | number> = {},
    same: (data: unknown) => unknown = (data) => data,
  ) {
    const search = new URLSearchParams(
      Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
    )
    const url = `/api/queries/procurement/${name}${search.size > 0 ? `?${search.toString()}` : ''}`
    const a = parse(await s.get(url, { caller }))
    const b = parse(await crud.inject({ method: 'GET', url, headers: { authorization: s.bearer(caller) } }))
    const step = `${name} by ${caller.id} ${search.toString()}`
    expect({ step, status: b.status, code: b.body.code }).toEqual({
      step,
      status: a.status,
      code: a.body.code,
    })
    if (a.status === 200) expect({ step, data: same(b.body.data) }).toEqual({ step, data: same(a.body.data) })
    return a
  }
  const ids = (data: unknown) => (data as { requestId: string }[]).map((r) => r.requestId)
  const row = (data: unknown) => {
    const { requestId, requesterId, department, fiscalYear, title, total, currency, status } = data as Record<
      string,
      unknown
    >
    return { requestId, requesterId, department, fiscalYear, title, total, currency, status }
  }
  const item = (unitPrice: number, quantity = 1) => ({ description: 'Chairs', quantity, unitPrice })
  const request = (requestId: string, unitPrice: number, title = 'Chairs') => ({
    requestId,
    title,
    items: [item(unitPrice, 2)],
    currency: 'KRW',
  })

  const [r1, r2, r3, r4] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()]
  const unknown = uuidv7()

  it('refuses and accepts the same commands, with the same results', async () => {
    await command('set-department-budget', ann, { department: 'sales', amount: 10_000, currency: 'KRW' })
    await command('set-department-budget', fay, { department: 'sales', amount: 10_000, currency: 'KRW' })
    await command('set-department-budget', fay, { department: 'ops', amount: 1_000, currency: 'USD' })
    await command('create-purchase-request', ann, request(r1, 300))
    await command('create-purchase-request', ann, { ...request(uuidv7(), 300), items: [] })
    await command('create-purchase-request', bob, request(uuidv7(), 5_000))
    await command('create-purchase-request', bob, { ...request(r1, 100), requestId: r1.toUpperCase() })
    await command('create-purchase-request', bob, { ...request(uuidv7(), 100), currency: 'USD' })
    await command('create-purchase-request', max, { ...request(uuidv7(), 100), department: 'ops' })

    await command('update-request', bob, { requestId: r1, title: 'Tables' })
    await command('update-request', ann, { requestId: r1, title: 'Tables' })
    await command('update-request', ann, { requestId: r1.toUpperCase(), items: [item(5_000, 2)] })
    await command('update-request', ann, { requestId: r1, items: [item(400, 2)] })
    await command('update-request', ann, { requestId: unknown, title: 'Nothing' })

    await command('approve-request', ann, { requestId: r1 })
    await command('approve-request', oli, { requestId: r1 })
    await command('approve-request', max, { requestId: r1, expectedVersion: 1 })
    await command('approve-request', max, { requestId: r1.toUpperCase(), comment: 'ok' })
    await command('approve-request', max, { requestId: r1 })
    await command('update-request', ann, { requestId: r1, title: 'Late' })
    await command('cancel-request', ann, { requestId: r1 })

    await command('mark-as-paid', max, { requestId: r1, paidAmount: 800, paymentReference: 'p1' })
    await command('mark-as-paid', fay, { requestId: r1, paidAmount: 801, paymentReference: 'p1' })
    await command('mark-as-paid', fay, { requestId: r1, paidAmount: 750, paymentReference: 'p1' })
    await command('mark-as-paid', fay, { requestId: r1, paidAmount: 750, paymentReference: 'p1' })

    await command('create-purchase-request', ann, request(r2, 100))
    await command('cancel-request', bob, { requestId: r2 })
    await command('cancel-request', ann, { requestId: r2, reason: 'not needed' })
    await command('cancel-request', ann, { requestId: r2 })
    await command('approve-request', max, { requestId: r2 })

    await command('create-purchase-request', bob, request(r3, 200, 'Desks'))
    await command('reject-request', bob, { requestId: r3, reason: 'no' })
    await command('reject-request', max, { requestId: r3, reason: 'no' })
    await command('reject-request', max, { requestId: r3, reason: 'no' })
    await command('mark-as-paid', fay, { requestId: r3, paidAmount: 1, paymentReference: 'p3' })

    await command('create-purchase-request', bob, request(r4, 1_000, 'Lamps'))
    // Below what the department's budget holds now: refused by the domain's rule on both sides.
    await command('set-department-budget', fay, { department: 'sales', amount: 100, currency: 'KRW' })
    await command('set-department-budget', fay, { department: 'sales', amount: 9_000, currency: 'EUR' })
    await command('set-department-budget', fay, { department: 'sales', amount: 20_000, currency: 'KRW' })
    await command('set-approval-policy', max, { tiers: [{ upTo: 1_000, steps: ['manager'] }] })
    await command('set-approval-policy', ada, { tiers: [{ upTo: 1_000, steps: ['manager'] }] })
    await command('set-approval-policy', ada, {
      tiers: [
        { upTo: 1_000_000, steps: ['manager'] },
        { upTo: null, steps: ['manager', 'finance'] },
      ],
    })
  })

  it('answers the same queries, scoped and refused alike', async () => {
    await query('get-request', ann, { requestId: r1 }, row)
    await query('get-request', max, { requestId: r1.toUpperCase() }, row)
    await query('get-request', bob, { requestId: r1 })
    await query('get-request', oli, { requestId: r1 })
    await query('get-request', fay, { requestId: unknown })
    await query('get-request', fay, { requestId: 'not-an-id' })

    for (const sort of ['-created', 'created', 'amount', '-amount'])
      await query('list-department-requests', max, { sort, limit: 2 }, ids)
    await query('list-department-requests', fay, { department: 'SALES', status: 'pending' }, ids)
    await query('list-department-requests', fay, { minAmount: 100, maxAmount: 1_000 }, ids)
    await query('list-department-requests', fay, { minAmount: 1_001, maxAmount: 1_000 })
    await query('list-department-requests', fay, { from: '2030-01-01T00:00:00Z', to: '2020-01-01T00:00:00Z' })
    await query('list-department-requests', fay, { cursor: 'not-a-cursor' })
    await query('list-department-requests', ann, { department: 'sales' })
    await query('list-department-requests', oli, { department: 'sales' })
    await query('list-department-requests', max, { department: 'ops' })

    await query('get-budget-summary', fay)
    await query('get-budget-summary', fay, { department: 'sales' })
    await query('get-budget-summary', max)
    await query('get-budget-summary', max, { department: 'ops' })
    await query('get-budget-summary', ann)

    await query('get-request-statistics', fay, { department: 'sales', bucket: 'month' })
    await query('get-request-statistics', max, { bucket: 'hour' })
    await query('get-request-statistics', bob)
    await query('get-request-statistics', oli, { department: 'sales' })
    await query('get-request-statistics', fay, { from: '2030-01-01T00:00:00Z', to: '2020-01-01T00:00:00Z' })

    await query('list-my-requests', ann, {}, ids)
    await query('list-my-requests', bob, { status: 'rejected' }, ids)
    await query('get-pending-approvals', max, {}, ids)
    await query('get-pending-approvals', bob, {}, ids)
  })
})
