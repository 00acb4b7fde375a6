import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../../kernel/index.js'
import {
  commandUrl,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  modes,
  queryUrl,
  useTestServer,
  type TestServer,
} from '../../../kernel/testing.js'
import { procurementDomain } from '../index.js'
import { MAX_AMOUNT, MAX_QUANTITY, MAX_UNIT_PRICE } from '../messages.js'

const finance: Caller = { id: 'http-fin', roles: ['finance'] }
const admin: Caller = { id: 'http-admin', roles: ['admin'] }
const ann: Caller = { id: 'http-ann', roles: ['employee'], dept: 'Sales' }
const bob: Caller = { id: 'http-bob', roles: ['employee'], dept: 'sales' }
const meg: Caller = { id: 'http-meg', roles: ['manager'], dept: 'sales' }
const max: Caller = { id: 'http-max', roles: ['manager'], dept: 'sales' }
const engManager: Caller = { id: 'http-eng', roles: ['manager'], dept: 'engineering' }

const url = (name: string) => commandUrl('procurement', name)
const item = (quantity = 1, unitPrice = 1_000, description = 'Pen') => ({ description, quantity, unitPrice })
const request = (over: Record<string, unknown> = {}) => ({
  title: 'Pens',
  items: [item()],
  currency: 'KRW',
  ...over,
})

/** The procurement commands over HTTP: ids, limits, other people's requests, retries and races. */
describe.each(modes)('procurement over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [procurementDomain] })
  let s: TestServer
  beforeAll(async () => {
    s = server()
    expectSucceeded(
      await s.post(
        url('set-department-budget'),
        { department: 'SALES', amount: MAX_AMOUNT, currency: 'KRW' },
        { caller: finance },
      ),
    )
  })

  const create = async (over: Record<string, unknown> = {}, caller = ann) => {
    const answer = expectSucceeded<{ requestId: string; total: number; status: string }>(
      await s.post(url('create-purchase-request'), request(over), { caller }),
    )
    return answer.result.requestId
  }
  const budget = async () =>
    (
      await s.tandem.sql.query<{ reserved: string; committed: string; spent: string }>(
        "SELECT reserved::text, committed::text, spent::text FROM procurement.budgets WHERE department = 'sales'",
      )
    )[0]

  it('takes ids and departments in any case as one: the stream, the budget row, the answer', async () => {
    const id = randomUUID().toUpperCase()
    const answer = expectSucceeded(
      await s.post(url('create-purchase-request'), request({ requestId: id, department: 'sAlEs' }), {
        caller: ann,
      }),
    )
    expect(answer.result).toEqual({ requestId: id.toLowerCase(), total: 1_000, status: 'pending' })
    expectProblem(
      await s.post(url('create-purchase-request'), request({ requestId: id.toLowerCase() }), { caller: ann }),
      409,
      'REQUEST_ID_TAKEN',
    )
    const seen = await s.get(queryUrl('procurement', 'get-request', { requestId: id }), { caller: ann })
    expect(seen.json<{ data: { department: string; requestId: string } }>().data).toMatchObject({
      department: 'sales',
      requestId: id.toLowerCase(),
    })
    const rows = await s.tandem.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM procurement.budgets')
    expect(rows[0]?.n).toBe(1)
  })

  it('reads the write side (get-request) for X-Min-Position once the log holds it; 503 for one it never reached', async () => {
    const answer = expectSucceeded(await s.post(url('create-purchase-request'), request(), { caller: ann }))
    const requestId = (answer.result as { requestId: string }).requestId
    const at = (position: string, wait = '0') => ({
      caller: ann,
      headers: { 'x-min-position': position, 'x-max-wait-ms': wait },
    })
    const read = await s.get(queryUrl('procurement', 'get-request', { requestId }), at(answer.position))
    expect(read.statusCode).toBe(200)
    expect(read.headers['x-read-position']).toBe(answer.position)
    // Asked for none (0: the harness reads the test's own writes otherwise), it is read at the log's
    // head, which holds the write: it said 0, and a client carrying that on went back to the start.
    const unbound = await s.get(queryUrl('procurement', 'get-request', { requestId }), at('0'))
    expect(BigInt(String(unbound.headers['x-read-position']))).toBeGreaterThanOrEqual(BigInt(answer.position))
    const ahead = (BigInt(await s.head()) + 1_000_000n).toString()
    const started = Date.now()
    expectProblem(
      await s.get(queryUrl('procurement', 'get-request', { requestId }), at(ahead, '150')),
      503,
      'READ_MODEL_LAGGING',
    )
    expect(Date.now() - started).toBeGreaterThanOrEqual(140)
  })

  it('refuses unknown fields, sizes past every limit, NUL and lone surrogates; takes every limit itself', async () => {
    const post = (body: unknown) => s.post(url('create-purchase-request'), body, { caller: ann })
    expectInvalid(await post(request({ extra: 1 })))
    expectInvalid(await post(request({ title: '' })), '/title')
    expectInvalid(await post(request({ title: 'x'.repeat(201) })), '/title')
    expectInvalid(await post(request({ title: 'a\u0000b' })))
    expectInvalid(await post(request({ title: 'a\ud800b' })))
    expectInvalid(await post(request({ items: [] })), '/items')
    expectInvalid(await post(request({ items: Array.from({ length: 101 }, () => item()) })), '/items')
    expectInvalid(await post(request({ items: [item(0)] })))
    expectInvalid(await post(request({ items: [item(MAX_QUANTITY + 1)] })))
    expectInvalid(await post(request({ items: [item(1, -1)] })))
    expectInvalid(await post(request({ items: [item(1, MAX_UNIT_PRICE + 1)] })))
    expectInvalid(await post(request({ items: [item(1.5)] })))
    expectInvalid(await post(request({ items: [item(1, 1, 'x'.repeat(501))] })))
    expectInvalid(await post(request({ currency: 'krw' })), '/currency')
    expectInvalid(await post(request({ currency: 'ABC' })), '/currency') // no currency's code
    expectInvalid(await post(request({ department: 'sales team' })), '/department')
    expectInvalid(await post(request({ justification: 'x'.repeat(2001) })), '/justification')
    expectInvalid(await post(request({ neededBy: '2031-02-30' })), '/neededBy')
    expectInvalid(await post(request({ requestId: 'not-a-uuid' })), '/requestId')
    // A total past 10^15 is refused before any budget is read.
    expectInvalid(await post(request({ items: [item(MAX_QUANTITY, MAX_UNIT_PRICE)] })), '/items')
    expectProblem(await post(request({ neededBy: '2000-01-01' })), 409, 'NEEDED_BY_IN_PAST')
    expectProblem(await post(request({ currency: 'USD' })), 409, 'CURRENCY_MISMATCH')
    // At every limit: 100 lines of 200 characters' title, 500 characters each, the highest quantity.
    const full = request({
      title: 'T'.repeat(200),
      items: Array.from({ length: 100 }, () => item(MAX_QUANTITY, 1, 'd'.repeat(500))),
      justification: 'j'.repeat(2000),
      neededBy: '9999-12-31',
    })
    const big = expectSucceeded<{ total: number }>(await post(full))
    expect(big.result.total).toBe(100 * MAX_QUANTITY)
    const before = await budget()
    expectProblem(
      await s.post(url('create-purchase-request'), request(), {
        caller: { id: 'nodept', roles: ['employee'] },
      }),
      400,
      'DEPARTMENT_REQUIRED',
    )
    expectProblem(await post(request({ department: 'engineering' })), 403, 'NOT_YOUR_DEPARTMENT')
    expectProblem(
      await s.post(url('create-purchase-request'), request({ department: 'nowhere' }), { caller: admin }),
      409,
      'NO_BUDGET',
    )
    expect(await budget()).toEqual(before)
  })

  it("keeps another person's request theirs: update and cancel by others, approval by self or by another department", async () => {
    const id = await create()
    // Whoever may not see it (an employee of the department, another department's manager) is told
    // nothing of it: 404 as for an unknown id, never its status or the step it waits at.
    for (const [command, body, caller] of [
      ['update-request', { requestId: id, title: 'mine' }, bob],
      ['cancel-request', { requestId: id }, bob],
      ['reject-request', { requestId: id, reason: 'no' }, bob],
      ['approve-request', { requestId: id }, engManager],
    ] as const)
      expectProblem(await s.post(url(command), body, { caller }), 404, 'REQUEST_NOT_FOUND')
    expectProblem(
      await s.post(url('update-request'), { requestId: id, title: 'mine' }, { caller: meg }),
      403,
      'NOT_REQUESTER',
    )
    expectProblem(
      await s.post(url('approve-request'), { requestId: id }, { caller: { ...ann, roles: ['manager'] } }),
      403,
      'SELF_APPROVAL',
    )
    expectProblem(
      await s.post(
        url('mark-as-paid'),
        { requestId: id, paidAmount: 1, paymentReference: 'x' },
        { caller: meg },
      ),
      403,
      'FORBIDDEN',
    )
    expectProblem(
      await s.post(url('approve-request'), { requestId: randomUUID() }, { caller: meg }),
      404,
      'REQUEST_NOT_FOUND',
    )
    const hidden = await s.get(queryUrl('procurement', 'get-request', { requestId: id }), { caller: bob })
    expectProblem(hidden, 404, 'REQUEST_NOT_FOUND')
    expectProblem(
      await s.post(
        url('set-department-budget'),
        { department: 'sales', amount: 1, currency: 'KRW' },
        { caller: meg },
      ),
      403,
      'FORBIDDEN',
    )
    expectProblem(
      await s.post(
        url('set-approval-policy'),
        { tiers: [{ upTo: null, steps: ['manager'] }] },
        { caller: finance },
      ),
      403,
      'FORBIDDEN',
    )
  })

  it('records a command refused for its token in the audit log, whatever is wrong with the token', async () => {
    const requestId = randomUUID()
    const refusals = async () =>
      s.tandem.sql.query<{ actor: string | null; code: string }>(
        `SELECT actor_id AS actor, code FROM tandem.audit_log
         WHERE action = 'procurement/cancel-request' AND details->>'requestId' = $1`,
        [requestId],
      )
    const valid = s.bearer(ann)
    const tokens = [
      undefined,
      'Bearer garbage',
      `${valid.slice(0, -3)}${valid.endsWith('AAA') ? 'BBB' : 'AAA'}`,
      s.bearer(ann, -60),
      'Basic YW5uOnNlY3JldA==',
    ]
    for (const authorization of tokens) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
      expectProblem(await s.post(url('cancel-request'), { requestId }, { headers }), 401, 'UNAUTHENTICATED')
    }
    expect(await refusals()).toEqual(tokens.map(() => ({ actor: null, code: 'UNAUTHENTICATED' })))
  })

  it('replays a retried command with the same Idempotency-Key: approved and paid once', async () => {
    const id = await create({ items: [item(1, 5_000)] })
    const headers = { 'idempotency-key': `approve-${id}` }
    const first = await s.post(
      url('approve-request'),
      { requestId: id.toUpperCase() },
      { caller: meg, headers },
    )
    const again = await s.post(
      url('approve-request'),
      { requestId: id.toUpperCase() },
      { caller: meg, headers },
    )
    expect(expectSucceeded(again).result).toEqual(expectSucceeded(first).result)
    expect(again.headers['idempotent-replayed']).toBe('true')
    const pay = { requestId: id, paidAmount: 4_000, paymentReference: 'INV-7' }
    const payHeaders = { 'idempotency-key': `pay-${id}` }
    expectSucceeded(await s.post(url('mark-as-paid'), pay, { caller: finance, headers: payHeaders }))
    expectSucceeded(await s.post(url('mark-as-paid'), pay, { caller: finance, headers: payHeaders }))
    expect(
      expectProblem(await s.post(url('mark-as-paid'), pay, { caller: finance }), 409, 'ALREADY_PAID').detail,
    ).toBe('It was paid, with reference INV-7')
    const events = await s.tandem.sql.query<{ type: string }>(
      'SELECT type FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version',
      [`procurement-request-${id}`],
    )
    expect(events.map((e) => e.type)).toEqual([
      'RequestCreated',
      'StepApproved',
      'RequestApproved',
      'RequestPaid',
    ])
  })

  it('lets exactly one of two managers approve a step they race for', async () => {
    const id = await create({ items: [item(1, 2_000_000)] }) // manager, then finance
    const answers = await Promise.all(
      [meg, max].map((caller) => s.post(url('approve-request'), { requestId: id }, { caller })),
    )
    const statuses = answers.map((a) => a.statusCode).sort()
    expect(statuses).toEqual([200, 403])
    const loser = answers.find((a) => a.statusCode !== 200)
    if (loser) expectProblem(loser, 403, 'NOT_APPROVER') // the step that waits now is finance's
    const racers = await Promise.all(
      [finance, { id: 'http-fin-2', roles: ['finance'] }].map((caller) =>
        s.post(url('approve-request'), { requestId: id }, { caller }),
      ),
    )
    expect(racers.map((a) => a.statusCode).sort()).toEqual([200, 409])
    const refused = racers.find((a) => a.statusCode === 409)
    if (refused) expectProblem(refused, 409, 'REQUEST_NOT_PENDING')
  })

  it('takes amounts at their caps: a budget of 10^15, a payment of the whole total, never more', async () => {
    expectInvalid(
      await s.post(
        url('set-department-budget'),
        { department: 'x', amount: MAX_AMOUNT + 1, currency: 'KRW' },
        { caller: finance },
      ),
      '/amount',
    )
    expectInvalid(
      await s.post(
        url('set-department-budget'),
        { department: 'x', amount: 1, currency: 'XXX' },
        { caller: finance },
      ),
      '/currency',
    )
    const id = await create({ items: [item(1, 123)] })
    expectSucceeded(await s.post(url('approve-request'), { requestId: id }, { caller: meg }))
    expectProblem(
      await s.post(
        url('mark-as-paid'),
        { requestId: id, paidAmount: 124, paymentReference: 'x' },
        { caller: finance },
      ),
      409,
      'PAYMENT_EXCEEDS_APPROVED',
    )
    expectInvalid(
      await s.post(
        url('mark-as-paid'),
        { requestId: id, paidAmount: -1, paymentReference: 'x' },
        { caller: finance },
      ),
      '/paidAmount',
    )
    expectSucceeded(
      await s.post(
        url('mark-as-paid'),
        { requestId: id, paidAmount: 123, paymentReference: 'x' },
        { caller: finance },
      ),
    )
    expectProblem(
      await s.post(url('cancel-request'), { requestId: id }, { caller: ann }),
      409,
      'ALREADY_PAID',
    )
  })
})
