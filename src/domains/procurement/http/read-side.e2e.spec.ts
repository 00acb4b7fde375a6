import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { AuditRecord, Caller } from '../../../kernel/index.js'
import {
  commandUrl,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  modes,
  openStream,
  queryUrl,
  startTestServer,
  type Stream,
  type TestServer,
} from '../../../kernel/testing.js'
import { procurementDomain } from '../index.js'
import type { RequestSummary } from '../projections/requests.js'

/**
 * The read side over HTTP, from real commands: every query answered per role (out of scope 403,
 * 404 or absent), odd inputs answered 4xx (never 5xx), the audit log of commands and reads, and
 * the pending approvals as a live stream.
 */

const ann: Caller = { id: 'ann', roles: ['employee'], dept: 'sales' }
const bob: Caller = { id: 'bob', roles: ['employee'], dept: 'sales' }
const eve: Caller = { id: 'eve', roles: ['employee'], dept: 'eng' }
const meg: Caller = { id: 'meg', roles: ['manager'], dept: 'SALES' }
const fay: Caller = { id: 'fay', roles: ['finance'] }
const ada: Caller = { id: 'ada', roles: ['admin'] }

describe.each(modes)('procurement queries over HTTP (%s)', (mode) => {
  let s: TestServer
  let base: string
  let position = '0'
  const streams: Stream[] = []
  const created: Record<string, string> = {}
  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [procurementDomain] })
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`
    for (const department of ['sales', 'eng'])
      await send('set-department-budget', { department, amount: 5_000_000, currency: 'KRW' }, fay)
    created.ann1 = await request(ann, 'Laptops', 300_000)
    created.ann2 = await request(ann, 'Monitors', 200_000)
    created.bob1 = await request(bob, 'Desk', 100_000)
    created.eve1 = await request(eve, 'Servers', 400_000)
    await send('approve-request', { requestId: created.ann2 }, meg)
  })
  afterAll(() => s.close())
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close()
    expect(s.serverErrors.splice(0)).toEqual([])
  })

  async function send(name: string, body: unknown, caller: Caller) {
    const answer = expectSucceeded<Record<string, string>>(
      await s.post(commandUrl('procurement', name), body, { caller }),
    )
    position = answer.position
    return answer.result
  }
  async function request(caller: Caller, title: string, unitPrice: number) {
    const result = await send(
      'create-purchase-request',
      { title, items: [{ description: title, quantity: 1, unitPrice }], currency: 'KRW' },
      caller,
    )
    return result.requestId ?? ''
  }
  const ask = (name: string, params: Record<string, string | number>, caller: Caller) =>
    s.get(queryUrl('procurement', name, params), { caller, headers: { 'x-min-position': position } })
  const items = async (name: string, params: Record<string, string | number>, caller: Caller) => {
    const response = await ask(name, params, caller)
    expect(response.statusCode).toBe(200)
    return response.json<{ data: RequestSummary[] }>().data
  }
  const ids = async (name: string, params: Record<string, string | number>, caller: Caller) =>
    (await items(name, params, caller)).map((i) => i.requestId).toSorted()

  it('answers each role within its scope, and 403 or 404 beyond it', async () => {
    const { ann1 = '', ann2 = '', bob1 = '', eve1 = '' } = created
    expect(await ids('list-my-requests', {}, ann)).toEqual([ann1, ann2].toSorted())
    expect(await ids('list-my-requests', {}, eve)).toEqual([eve1])
    expect(await ids('list-department-requests', {}, meg)).toEqual([ann1, ann2, bob1].toSorted())
    expect(await ids('list-department-requests', {}, fay)).toEqual([ann1, ann2, bob1, eve1].toSorted())
    expect(await ids('list-department-requests', { department: 'ENG' }, ada)).toEqual([eve1])
    expectProblem(await ask('list-department-requests', {}, ann), 403, 'FORBIDDEN')
    expectProblem(await ask('list-department-requests', { department: 'eng' }, meg), 403, 'FORBIDDEN')
    expectProblem(await ask('get-budget-summary', {}, ann), 403, 'FORBIDDEN')
    expectProblem(await ask('get-budget-summary', { department: 'eng' }, meg), 403, 'FORBIDDEN')
    expectProblem(await ask('get-request-history', { requestId: ann1 }, eve), 404, 'REQUEST_NOT_FOUND')
    expectProblem(await ask('get-request-history', { requestId: ann1 }, bob), 404, 'REQUEST_NOT_FOUND')
    for (const caller of [ann, bob, meg, fay]) {
      expectProblem(await ask('get-audit-log', {}, caller), 403, 'FORBIDDEN')
    }
    expect(await ids('get-pending-approvals', {}, meg)).toEqual([ann1, bob1].toSorted())
    expect(await ids('get-pending-approvals', {}, ann)).toEqual([])
    expect((await s.get(queryUrl('procurement', 'list-my-requests'))).statusCode).toBe(401)
  })

  it('sums the budgets as the write side moved them, and keeps the history of each request', async () => {
    const response = await ask('get-budget-summary', { department: 'sales' }, meg)
    const [sales] = response.json<{ data: { items: Record<string, number>[] } }>().data.items
    // 300,000 and 100,000 reserved; 200,000 approved by meg (one manager step) and committed.
    expect(sales).toMatchObject({ budget: 5_000_000, reserved: 400_000, committed: 200_000, spent: 0 })
    expect(sales?.available).toBe(4_400_000)

    const history = await ask('get-request-history', { requestId: (created.ann2 ?? '').toUpperCase() }, meg)
    expect(history.statusCode).toBe(200)
    const { data } = history.json<{ data: { events: { type: string; actorId: string }[]; state: unknown } }>()
    expect(data.events.map((e) => [e.type, e.actorId])).toEqual([
      ['RequestCreated', 'ann'],
      ['StepApproved', 'meg'],
      ['RequestApproved', 'meg'],
    ])
    expect(data.state).toMatchObject({ status: 'approved' })
    const before = await ask(
      'get-request-history',
      { requestId: created.ann2 ?? '', at: '2000-01-01T00:00:00Z' },
      ann,
    )
    expect(before.json<{ data: unknown }>().data).toMatchObject({ events: [], state: null })
  })

  it('answers odd inputs with 400 and the field, never with a 5xx', async () => {
    const q = (params: Record<string, string | number>) => ask('list-department-requests', params, fay)
    expectInvalid(await q({ limit: 1000 }), '/limit')
    expectInvalid(await q({ limit: 'lots' }), '/limit')
    expectInvalid(await q({ sort: 'title' }), '/sort')
    expectInvalid(await q({ from: '2031-02-01T00:00:00Z', to: '2031-01-01T00:00:00Z' }), '/from')
    // To the digit: within one millisecond, a start after the end is refused too, one before it is not.
    expectInvalid(await q({ from: '2031-01-01T00:00:00.0009Z', to: '2031-01-01T00:00:00.0001Z' }), '/from')
    expect((await q({ from: '2031-01-01T00:00:00.0001Z', to: '2031-01-01T00:00:00.0009Z' })).statusCode).toBe(
      200,
    )
    expectInvalid(await q({ minAmount: 9, maxAmount: 1 }), '/minAmount')
    expectInvalid(await q({ minAmount: -1 }), '/minAmount')
    expectInvalid(await q({ maxAmount: '1e99' }), '/maxAmount')
    expectInvalid(await q({ department: '../etc' }), '/department')
    expectInvalid(await q({ cursor: 'not a cursor' }), '/cursor')
    expectInvalid(await q({ q: 'a\u0000b' }))
    expectInvalid(await q({ from: 'yesterday' }), '/from')
    expectInvalid(await q({ shape: 'round' }))
    const first = await q({ limit: 1, sort: 'amount' })
    const cursor = first.json<{ nextCursor: string }>().nextCursor
    expectInvalid(await q({ limit: 1, sort: '-amount', cursor }), '/cursor')
    expectInvalid(await ask('list-my-requests', { cursor }, ann), '/cursor')
    expectInvalid(await ask('get-request-statistics', { bucket: 'week' }, fay), '/bucket')
    expectInvalid(await ask('get-request-history', { requestId: 'not-an-id' }, fay), '/requestId')
    expectInvalid(
      await ask('get-audit-log', { from: '2031-02-01T00:00:00Z', to: '2031-01-01T00:00:00Z' }, ada),
      '/from',
    )
    expectInvalid(await ask('get-audit-log', { cursor }, ada), '/cursor')
    // Times PostgreSQL's timestamptz cannot take, where the audit log compares them as times.
    for (const field of ['from', 'to'])
      expectInvalid(await ask('get-audit-log', { [field]: '0000-12-31T23:59:59Z' }, ada), `/${field}`)
    const id = '01a24081-e50c-7602-ad1e-55e138e3ef6f'
    for (const time of ['2026-02-30T00:00:00.000Z', '0000-01-01T00:00:00.000Z']) {
      const audit = Buffer.from(`audit|${time}|${id}`).toString('base64url')
      expectInvalid(await ask('get-audit-log', { cursor: audit }, ada), '/cursor')
    }
    const far = await q({ from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59Z', q: '%_\\' })
    expect(far.statusCode).toBe(200)
    const stats = await ask('get-request-statistics', { bucket: 'hour', from: '0001-01-01T00:00:00Z' }, fay)
    const buckets = stats.json<{ data: { buckets: { count: number }[] } }>().data.buckets
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(4)
  })

  it('records every command, refusals included, and every read of another person’s requests', async () => {
    const refused = await s.post(
      commandUrl('procurement', 'approve-request'),
      { requestId: created.ann1 },
      { caller: ann },
    )
    expectProblem(refused, 403, 'SELF_APPROVAL')
    await ask('list-department-requests', {}, meg)
    await s.tandem.audit.flush()
    const log = async (params: Record<string, string | number>) => {
      const response = await ask('get-audit-log', params, ada)
      expect(response.statusCode).toBe(200)
      const { data, nextCursor } = response.json<{ data: AuditRecord[]; nextCursor: string | null }>()
      return { items: data, nextCursor }
    }
    const annLog = (await log({ actorId: 'ann', limit: 100 })).items
    expect(annLog.map((e) => [e.action, e.outcome, e.code])).toEqual(
      expect.arrayContaining([
        ['procurement/approve-request', 'refused', 'SELF_APPROVAL'],
        ['procurement/create-purchase-request', 'succeeded', null],
      ]),
    )
    // One entry for the page (the newest of meg's list reads), naming everyone on it but the reader,
    // with the requests of each.
    const megReads = (await log({ actorId: 'meg', limit: 100 })).items.filter(
      (e) => e.kind === 'read' && e.action === 'procurement/list-department-requests',
    )
    const [page] = megReads
    expect(page?.subjectIds.toSorted()).toEqual(['ann', 'bob'])
    expect(page?.subjectId).toBeNull()
    expect(page?.details).toEqual({
      subjects: {
        ann: { requestIds: expect.arrayContaining([created.ann1]) as unknown },
        bob: { requestIds: expect.arrayContaining([created.bob1]) as unknown },
      },
    })

    // Reads of the log by actor are on record too (buffered): written before the walk.
    await s.tandem.audit.flush()
    const walked: string[] = []
    let cursor: string | null = null
    do {
      const page = await log({ limit: 3, ...(cursor ? { cursor } : {}) })
      walked.push(...page.items.map((e) => e.id))
      cursor = page.nextCursor
    } while (cursor)
    expect(new Set(walked).size).toBe(walked.length)
    expect(walked).toEqual((await log({ limit: 100 })).items.map((e) => e.id))
  })

  it('records commands refused before the bus too: a body cut short, a key twice, another media type', async () => {
    const url = commandUrl('procurement', 'mark-as-paid')
    const json = { authorization: s.bearer(fay), 'content-type': 'application/json' }
    const requestId = created.bob1 ?? ''
    const sent = [
      { payload: '{"requestId":', headers: json },
      { payload: `{"requestId":"${requestId}","requestId":"${requestId}"}`, headers: json },
      { payload: '{}', headers: { ...json, 'content-type': 'text/plain' } },
    ]
    const statuses: number[] = []
    for (const each of sent) statuses.push((await s.app.inject({ method: 'POST', url, ...each })).statusCode)
    expect(statuses).toEqual([400, 400, 415])
    const response = await ask('get-audit-log', { actorId: 'fay', limit: 100 }, ada)
    const entries = response
      .json<{ data: AuditRecord[] }>()
      .data.filter((e) => e.action === 'procurement/mark-as-paid')
      .slice(0, 3)
    expect(entries.map((e) => [e.outcome, e.status, e.actorId, e.domain])).toEqual(
      [...statuses].reverse().map((status) => ['refused', status, 'fay', 'procurement']),
    )
  })

  it('records a manager’s get-request of an employee’s request, and not the requester’s own', async () => {
    const requestId = created.bob1 ?? ''
    const getRequest = async (caller: Caller) => {
      const response = await ask('get-request', { requestId }, caller)
      expect(response.statusCode).toBe(200)
    }
    await getRequest(bob)
    await getRequest(meg)
    await s.tandem.audit.flush()
    const reads = async (actorId: string) => {
      const response = await ask('get-audit-log', { actorId, limit: 100 }, ada)
      expect(response.statusCode).toBe(200)
      return response
        .json<{ data: AuditRecord[] }>()
        .data.filter((e) => e.kind === 'read' && e.action === 'procurement/get-request')
    }
    expect((await reads('meg')).map((e) => [e.subjectId, e.outcome, e.details])).toEqual([
      ['bob', 'read', { requestId }],
    ])
    expect(await reads('bob')).toEqual([])
  })

  it('streams the pending approvals: the page as it stands, again as requests come and leave', async () => {
    const stream = await openStream(`${base}/api/queries/procurement/get-pending-approvals/stream`, {
      authorization: s.bearer(meg),
      'x-min-position': position,
    })
    streams.push(stream)
    expect(stream.response.status).toBe(200)
    const waiting = async () => {
      const event = await stream.next()
      expect(event.event).toBe('answer')
      // The page as the query answers it over HTTP.
      return (event.data as { data: RequestSummary[] }).data.map((r) => r.requestId)
    }
    expect((await waiting()).toSorted()).toEqual([created.ann1, created.bob1].toSorted())
    const fresh = await request(bob, 'Chair', 50_000)
    expect(await waiting()).toEqual([fresh, created.bob1, created.ann1])
    // Approved (its one manager step): it waits for nobody now, and leaves the list.
    await send('approve-request', { requestId: fresh }, meg)
    expect(await waiting()).toEqual([created.bob1, created.ann1])
    // The stream shows the first page: a cursor is refused.
    const paged = await openStream(
      `${base}/api/queries/procurement/get-pending-approvals/stream?limit=1&cursor=abc`,
      { authorization: s.bearer(meg) },
    )
    streams.push(paged)
    expect(paged.response.status).toBe(400)
    expect(await paged.response.json()).toMatchObject({ errors: [{ path: '/cursor' }] })
  })
})
