import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../../kernel/index.js'
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
import { agent, customer, inYears, network, payment } from '../testing/cards.js'
import type { Alert } from './alerts.js'
import { alertIdOf } from './rules.js'
import { ago, anomalyTestDomain, settled } from './testing/detection.js'

type Page = { data: Alert[]; nextCursor: string | null }
const admin: Caller = { id: 'admin-9', roles: ['admin'] }

describe.each(modes)('cards anomaly alerts over HTTP (%s)', (mode) => {
  let s: TestServer
  let base: string
  const streams: Stream[] = []
  const kim = customer('kim-e2e')
  let cardId = ''
  let casinoId = ''

  const post = (name: string, body: unknown, caller: Caller, headers: Record<string, string> = {}) =>
    s.post(commandUrl('cards', name), body, { caller, headers })
  const alerts = (params: Record<string, string | number>, caller: Caller) =>
    s.get(queryUrl('cards', 'get-anomaly-alerts', params), { caller })
  const pay = async (amount: number, extra: Record<string, unknown> = {}) =>
    expectSucceeded<{ transactionId: string }>(
      await post('authorize-transaction', payment(cardId, amount, extra), network),
    ).result.transactionId

  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [anomalyTestDomain] })
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`
    const issued = await post(
      'issue-card',
      { customerId: kim.id, product: 'gold', creditLimit: 5_000_000, currency: 'KRW', expiresAt: inYears(3) },
      agent,
    )
    cardId = expectSucceeded<{ cardId: string }>(issued).result.cardId
    casinoId = await pay(50_000, { mcc: '7995', occurredAt: ago(30) })
    await settled(s.tandem)
  })
  afterAll(() => s.close())
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close()
    expect(s.serverErrors.splice(0)).toEqual([])
  })

  it("answers a customer's own alerts and an agent's view of them; another customer's is 403 problem+json", async () => {
    const own = await alerts({}, kim)
    expect(own.statusCode).toBe(200)
    expect(own.json<Page>().data.map((a) => [a.rule, a.transactionId, a.status])).toEqual([
      ['risky-mcc', casinoId, 'open'],
    ])
    const byAgent = await alerts({ customerId: kim.id, status: 'open', rule: 'risky-mcc' }, agent)
    expect(byAgent.json<Page>().data.map((a) => a.alertId)).toEqual([alertIdOf('risky-mcc', casinoId)])
    expectProblem(await alerts({ customerId: 'someone-else' }, kim), 403, 'FORBIDDEN')
    expectProblem(await alerts({}, network), 403, 'FORBIDDEN')
    expectProblem(await s.get(queryUrl('cards', 'get-anomaly-alerts')), 401, 'UNAUTHENTICATED')
  })

  it('refuses bad filters, limits and cursors with 400 VALIDATION_FAILED naming the field', async () => {
    expectInvalid(await alerts({ status: 'closed' }, agent), '/status')
    expectInvalid(await alerts({ rule: 'vibes' }, agent), '/rule')
    expectInvalid(await alerts({ limit: 101 }, agent), '/limit')
    expectInvalid(await alerts({ limit: 0 }, agent), '/limit')
    expectInvalid(await alerts({ cursor: 'x'.repeat(201) }, agent), '/cursor')
    expectInvalid(await alerts({ cursor: 'bm90IGEgY3Vyc29y' }, agent), '/cursor')
    expectInvalid(await alerts({ customerId: '' }, agent), '/customerId')
    expectInvalid(await alerts({ surprise: 1 }, agent))
  })

  it('resolves an alert over HTTP once; 409, 404, 403, 400 as problem+json; a retry with its key replays', async () => {
    const alertId = alertIdOf('risky-mcc', await pay(20_000, { mcc: '6051' }))
    await settled(s.tandem)
    const body = {
      alertId: alertId.toUpperCase(),
      resolution: 'legitimate',
      note: 'Crypto top-up, confirmed by phone',
    }
    const key = { 'idempotency-key': `resolve-${alertId}` }
    expect(expectSucceeded(await post('resolve-alert', body, agent, key)).result).toEqual({
      alertId,
      status: 'resolved',
      resolution: 'legitimate',
    })
    const replay = await post('resolve-alert', body, agent, key)
    expect(replay.headers['idempotent-replayed']).toBe('true')
    expectProblem(await post('resolve-alert', body, admin), 409, 'ALERT_ALREADY_RESOLVED')
    expectProblem(
      await post('resolve-alert', { ...body, resolution: 'fraud' }, agent, key),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    )
    const unknown = { alertId: alertIdOf('velocity', alertId), resolution: 'fraud' }
    expectProblem(await post('resolve-alert', unknown, agent), 404, 'ALERT_NOT_FOUND')
    expectProblem(await post('resolve-alert', body, kim), 403, 'FORBIDDEN')
    expectInvalid(await post('resolve-alert', { alertId, resolution: 'maybe' }, agent), '/resolution')
    expectInvalid(
      await post('resolve-alert', { alertId: 'not-a-uuid', resolution: 'fraud' }, agent),
      '/alertId',
    )
    expectInvalid(
      await post('resolve-alert', { alertId, resolution: 'fraud', note: 'x'.repeat(1001) }, agent),
      '/note',
    )
    expectInvalid(await post('resolve-alert', { alertId, resolution: 'fraud', extra: true }, agent))
    await settled(s.tandem)
    const resolved = await alerts({ customerId: kim.id, status: 'resolved' }, agent)
    expect(resolved.json<Page>().data).toEqual([
      expect.objectContaining({ alertId, resolution: 'legitimate', resolvedBy: agent.id }),
    ])
    // The customer sees the resolution and when, not the agent's note or who the agent was.
    const own = (await alerts({ status: 'resolved' }, kim)).json<Page>().data
    expect(own).toEqual([
      expect.objectContaining({ alertId, resolution: 'legitimate', note: null, resolvedBy: null }),
    ])
    expect(own[0]).toHaveProperty('resolvedAt', expect.any(String))
  })

  it('keeps detect-anomalies from every caller but the processor, whatever it sends: 403 problem+json', async () => {
    const input = {
      transactionId: casinoId,
      cardId,
      customerId: kim.id,
      decision: 'approved',
      amount: 1,
      currency: 'KRW',
      mcc: '7995',
      country: 'KR',
      occurredAt: ago(1),
      decidedAt: ago(1),
    }
    expectProblem(await post('detect-anomalies', input, agent), 403, 'FORBIDDEN')
    const mallory = { id: 'mallory', roles: ['system'] }
    expectProblem(await post('detect-anomalies', input, mallory), 403, 'FORBIDDEN')
    // Refused before its input is checked: another caller learns nothing of what the command takes.
    expectProblem(await post('detect-anomalies', {}, mallory), 403, 'FORBIDDEN')
    expectProblem(await post('detect-anomalies', { ...input, amount: -1 }, agent), 403, 'FORBIDDEN')
  })

  it('streams alerts to an agent: what there is, then each new one live; a reconnect resumes after its id', async () => {
    const url = `${base}/api/queries/cards/get-anomaly-alerts/stream?customerId=${kim.id}&status=open`
    const stream = await openStream(url, { authorization: s.bearer(agent) })
    streams.push(stream)
    expect(stream.response.status).toBe(200)
    const first = await stream.next()
    expect(first).toMatchObject({ event: 'item', data: { transactionId: casinoId } })
    const later = await pay(70_000, { mcc: '7995' })
    const next = await stream.next(10_000)
    expect(next).toMatchObject({ event: 'item', data: { transactionId: later, rule: 'risky-mcc' } })
    stream.close()
    const resumed = await openStream(url, { authorization: s.bearer(agent), 'last-event-id': first.id })
    streams.push(resumed)
    expect(await resumed.next()).toMatchObject({ data: { transactionId: later } })
  })
})
