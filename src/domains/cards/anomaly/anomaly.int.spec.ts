import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modes, startTestTandem, type TestTandem } from '../../../kernel/testing.js'
import {
  agent,
  commands as c,
  customer,
  issue,
  network,
  payment,
  refusal,
  run,
  system,
} from '../testing/cards.js'
import { getAccessLog } from '../projections/access-log.js'
import type { AccessRecord } from '../projections/schemas.js'
import { alertStream } from './alert.js'
import { detectorCaller } from './commands.js'
import { alertIdOf, historyLimit } from './rules.js'
import { loadHistories, loadHistory } from './history.js'
import { defaultAnomalyPolicy } from './settings.js'
import { ago, alertsOf, anomalyTestDomain, detection, settled } from './testing/detection.js'

type Decision = { transactionId: string; decision: string; reason?: string }

describe.each(modes)('cards anomaly detection end to end (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [anomalyTestDomain] })
  })
  afterAll(() => t.dispose())

  const authorize = (cardId: string, amount: number, extra: Record<string, unknown> = {}) =>
    run<Decision>(t, c.authorizeTransaction, payment(cardId, amount, extra), network)
  /** A fresh customer's card, and the alerts on it once detection has run. */
  const cardOf = async (o: { creditLimit?: number } = {}) => {
    const customerId = `cus-${Math.random().toString(36).slice(2)}`
    return { customerId, cardId: await issue(t, { customerId, ...o }) }
  }
  const alertsOn = async (customerId: string) => {
    await settled(t)
    const page = await alertsOf(t, { customerId, limit: 100 }, agent)
    if (typeof page === 'string') throw new Error(page)
    return page.items
  }
  /** How many AnomalyDetected events the log holds for an alert. */
  const raisedTimes = async (alertId: string) =>
    (
      await t.sql.query('SELECT 1 FROM tandem.event_log WHERE stream_id = $1 AND type = $2', [
        alertStream(alertId),
        'AnomalyDetected',
      ])
    ).length

  it("reads a batch's histories at once, each as it reads it alone (the processor's prefetch)", async () => {
    const a = await cardOf()
    const b = await cardOf()
    const second = await issue(t, { customerId: a.customerId })
    for (let i = 0; i < 4; i++) {
      await authorize(a.cardId, 10_000 + i, { occurredAt: ago(50 - i * 5), country: i % 2 ? 'KR' : 'JP' })
      await authorize(second, 30_000 + i, { occurredAt: ago(48 - i * 5) })
      await authorize(b.cardId, 5_000_000 + i, { occurredAt: ago(40 - i * 5) }) // declined: over the limit
    }
    const rows = await t.sql.query<{
      transactionId: string
      cardId: string
      customerId: string
      decision: string
      amount: number
      currency: string
      mcc: string
      country: string
      occurredAt: Date | string
      decidedAt: Date | string
    }>(
      `SELECT t.transaction_id::text AS "transactionId", t.card_id::text AS "cardId", c.customer_id AS "customerId",
              CASE WHEN t.status = 'declined' THEN 'declined' ELSE 'approved' END AS decision,
              t.amount::float8 AS amount, t.currency, t.mcc, t.country, t.occurred_at AS "occurredAt",
              t.created_at AS "decidedAt"
       FROM cards.card_transaction t JOIN cards.card c ON c.card_id = t.card_id
       WHERE c.customer_id = ANY($1::text[]) ORDER BY t.created_at`,
      [[a.customerId, b.customerId]],
    )
    const triggers = rows.map((r) => ({
      ...r,
      decision: r.decision as 'approved' | 'declined',
      occurredAt: new Date(r.occurredAt).toISOString(),
      decidedAt: new Date(r.decidedAt).toISOString(),
    }))
    expect(triggers).toHaveLength(12)
    const alone = await Promise.all(triggers.map((tr) => loadHistory(t.sql, tr, defaultAnomalyPolicy)))
    expect(await loadHistories(t.sql, triggers, defaultAnomalyPolicy)).toEqual(alone)
    // Not empty: the later attempts see the earlier ones, and customer a's baseline spans both cards.
    expect(alone.at(-1)?.card.length).toBeGreaterThan(0)
    expect(Math.max(...alone.map((h) => h.baseline.count))).toBeGreaterThanOrEqual(6)
  })

  it('velocity: the fifth attempt within 10 minutes raises one alert with the burst; the sixth none', async () => {
    const { customerId, cardId } = await cardOf()
    const ids = []
    for (let i = 0; i < 6; i++)
      ids.push((await authorize(cardId, 10_000, { occurredAt: ago(30, -i * 60) })).transactionId)
    const alerts = await alertsOn(customerId)
    expect(alerts.map((a) => [a.rule, a.transactionId, a.status])).toEqual([['velocity', ids[4], 'open']])
    expect(alerts[0]?.evidence.transactionIds).toEqual(ids.slice(0, 5))
    expect(alerts[0]?.alertId).toBe(alertIdOf('velocity', ids[4] ?? ''))
    expect(alerts[0]).toMatchObject({ cardId, customerId, score: 50 })
  })

  it('reads attempts reported late: newest first, each rule raises once; a late one in a burst raises none', async () => {
    // Velocity, newest first: six attempts 5 s apart. The fifth decided completes the burst.
    const v = await cardOf()
    const burst = []
    for (let i = 0; i < 6; i++)
      burst.push((await authorize(v.cardId, 10_000, { occurredAt: ago(40, 5 * i) })).transactionId)
    // A seventh reported inside that burst's time: nothing new.
    await authorize(v.cardId, 10_000, { occurredAt: ago(40, 7) })
    // Travel, the later payment first: France, then Korea reported 50 s before it.
    const tr = await cardOf()
    const paris = await authorize(tr.cardId, 10_000, { occurredAt: ago(20), country: 'FR' })
    const seoul = await authorize(tr.cardId, 10_000, { occurredAt: ago(20, 50), country: 'KR' })
    // Card testing, the large attempt first, then three probes before it in time.
    const ct = await cardOf()
    const large = await authorize(ct.cardId, 400_000, { occurredAt: ago(5) })
    const probes = []
    for (const s of [10, 20, 30]) probes.push(await authorize(ct.cardId, 100, { occurredAt: ago(5, s) }))
    const [velocity, travel, testing] = await Promise.all([v, tr, ct].map((c) => alertsOn(c.customerId)))
    expect(velocity?.map((a) => [a.rule, a.transactionId])).toEqual([['velocity', burst[4]]])
    expect(velocity?.[0]?.evidence.transactionIds).toEqual(burst.slice(0, 5).toReversed())
    expect(travel?.map((a) => [a.rule, a.transactionId])).toEqual([['travel', seoul.transactionId]])
    expect(travel?.[0]?.evidence.transactionIds).toEqual([seoul.transactionId, paris.transactionId])
    expect(testing?.map((a) => [a.rule, a.transactionId])).toEqual([
      ['card-testing', probes[2]?.transactionId],
    ])
    expect(testing?.[0]?.evidence.transactionIds).toEqual(
      [...probes.toReversed(), large].map((a) => a.transactionId),
    )
  })

  it('reads no more of a card than the rules need: a burst longer than that raises each rule once all the same', async () => {
    const limit = historyLimit(defaultAnomalyPolicy)
    const n = limit + 20
    // Velocity: n attempts a second apart, then three reported late inside the burst.
    const v = await cardOf({ creditLimit: 100_000_000 })
    const burst = []
    for (let i = 0; i < n; i++)
      burst.push((await authorize(v.cardId, 10_000, { occurredAt: ago(30, n - i) })).transactionId)
    for (const s of [n - 3, n / 2, 5]) await authorize(v.cardId, 10_000, { occurredAt: ago(30, s + 0.5) })
    // Card testing: n probes, then two large attempts; the probes are raised once, with the first.
    const ct = await cardOf({ creditLimit: 100_000_000 })
    for (let i = 0; i < n; i++) await authorize(ct.cardId, 100, { occurredAt: ago(30, n + 10 - i) })
    const large = await authorize(ct.cardId, 400_000, { occurredAt: ago(30, 5) })
    await authorize(ct.cardId, 300_000, { occurredAt: ago(30, 4) })
    const velocity = await alertsOn(v.customerId)
    expect(velocity.map((a) => [a.rule, a.transactionId])).toEqual([['velocity', burst[4]]])
    expect(velocity[0]?.evidence.transactionIds).toEqual(burst.slice(0, 5))
    const testing = (await alertsOn(ct.customerId)).filter((a) => a.rule === 'card-testing')
    expect(testing.map((a) => a.transactionId)).toEqual([large.transactionId])
    expect(testing[0]?.evidence.transactionIds.at(-1)).toBe(large.transactionId)
    // What a detection right after the burst reads: the nearest `limit` of its n + 3 attempts.
    const trigger = {
      transactionId: '0190b0c0-0000-7000-8000-0000000000ff',
      cardId: v.cardId,
      customerId: v.customerId,
      decision: 'approved' as const,
      amount: 10_000,
      currency: 'KRW',
      mcc: '5814',
      country: 'KR',
      occurredAt: ago(30),
      decidedAt: new Date().toISOString(),
    }
    const history = await loadHistory(t.sql, trigger, defaultAnomalyPolicy)
    expect(history.card).toHaveLength(limit)
  })

  it("amount: a payment over five times the customer's median raises an alert with the baseline", async () => {
    const { customerId, cardId } = await cardOf()
    for (let i = 0; i < 5; i++) await authorize(cardId, 20_000, { occurredAt: ago(600 - i * 60) })
    const big = await authorize(cardId, 150_000, { occurredAt: ago(10) })
    const alerts = await alertsOn(customerId)
    expect(alerts.map((a) => [a.rule, a.transactionId])).toEqual([['amount', big.transactionId]])
    expect(alerts[0]?.evidence.figures).toMatchObject({
      amount: 150_000,
      median: 20_000,
      ratio: 7.5,
      history: 5,
    })
  })

  it('travel: Korea, then France an hour later, raises an alert naming both payments', async () => {
    const { customerId, cardId } = await cardOf()
    const seoul = await authorize(cardId, 30_000, { occurredAt: ago(120), country: 'KR' })
    const paris = await authorize(cardId, 30_000, { occurredAt: ago(60), country: 'FR' })
    const alerts = await alertsOn(customerId)
    expect(alerts.map((a) => [a.rule, a.transactionId])).toEqual([['travel', paris.transactionId]])
    expect(alerts[0]?.evidence.transactionIds).toEqual([seoul.transactionId, paris.transactionId])
  })

  it('card testing: three probes, declined ones too, then a large attempt raise an alert', async () => {
    const { customerId, cardId } = await cardOf()
    const probes = [await authorize(cardId, 500, { occurredAt: ago(20) })]
    await run(t, c.blockCard, { cardId }, agent) // the next probe is declined: CARD_BLOCKED
    probes.push(await authorize(cardId, 300, { occurredAt: ago(19) }))
    await run(t, c.unblockCard, { cardId }, agent)
    probes.push(await authorize(cardId, 900, { occurredAt: ago(18) }))
    expect(probes.map((p) => p.decision)).toEqual(['approved', 'declined', 'approved'])
    const large = await authorize(cardId, 400_000, { occurredAt: ago(17) })
    const alerts = await alertsOn(customerId)
    expect(alerts.map((a) => [a.rule, a.transactionId])).toEqual([['card-testing', large.transactionId]])
    expect(alerts[0]?.evidence.transactionIds).toEqual([...probes, large].map((p) => p.transactionId))
  })

  it('risky category: a payment at a casino raises an alert; one at a grocer does not', async () => {
    const { customerId, cardId } = await cardOf()
    await authorize(cardId, 30_000, { mcc: '5411', occurredAt: ago(90) })
    const casino = await authorize(cardId, 30_000, { mcc: '7995', occurredAt: ago(30) })
    const alerts = await alertsOn(customerId)
    expect(alerts.map((a) => [a.rule, a.transactionId, a.score])).toEqual([
      ['risky-mcc', casino.transactionId, 40],
    ])
  })

  it('sends detect-anomalies only for an attempt a rule fires on: none for three grocer payments, one for a casino', async () => {
    const { cardId } = await cardOf()
    const sent = async () => {
      await settled(t)
      const [row] = await t.sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM tandem.idempotency WHERE key LIKE $1',
        ['processor:cards/anomaly-detector:%'],
      )
      return row?.n ?? 0
    }
    const before = await sent()
    for (let i = 0; i < 3; i++) await authorize(cardId, 30_000, { mcc: '5411', occurredAt: ago(90 - i * 10) })
    expect(await sent()).toBe(before)
    await authorize(cardId, 30_000, { mcc: '7995', occurredAt: ago(30) })
    expect(await sent()).toBe(before + 1)
  })

  it('raises no alert twice: not on redelivery after a restart, nor past the idempotency records', async () => {
    const { customerId, cardId } = await cardOf()
    const processor = 'cards/anomaly-detector'
    await settled(t)
    const [before] = await t.sql.query<{ tx_id: string; position: string }>(
      'SELECT tx_id::text, position::text FROM tandem.processor_checkpoints WHERE processor = $1',
      [processor],
    )
    const seoul = await authorize(cardId, 30_000, { occurredAt: ago(50), country: 'KR' })
    const vegas = await authorize(cardId, 30_000, { occurredAt: ago(40), country: 'US', mcc: '7995' })
    const first = await alertsOn(customerId)
    expect(first.map((a) => a.rule).toSorted()).toEqual(['risky-mcc', 'travel'])

    // A crash before the checkpoint moved, more than 24 hours ago: the events come again, and the
    // idempotency records of the first handling are gone.
    await t.processors.stop()
    await t.sql.query(
      'UPDATE tandem.processor_checkpoints SET tx_id = $2::xid8, position = $3 WHERE processor = $1',
      [processor, before?.tx_id, before?.position],
    )
    await t.sql.query(`DELETE FROM tandem.idempotency WHERE key LIKE $1`, [`processor:${processor}:%`])
    const handled = async () =>
      (await t.sql.query(`SELECT 1 FROM tandem.idempotency WHERE key LIKE $1`, [`processor:${processor}:%`]))
        .length
    expect(await handled()).toBe(0)
    await t.processors.start()
    const again = await alertsOn(customerId)
    // Both payments were handled again; a command went for the one a rule fires on (Seoul's raises nothing).
    expect(await handled()).toBe(1)
    expect(again).toEqual(first)
    for (const alert of first) expect(await raisedTimes(alert.alertId)).toBe(1)

    // The command itself, sent again under a new key, finds both alerts raised.
    const input = {
      transactionId: vegas.transactionId,
      cardId,
      customerId,
      decision: 'approved',
      amount: 30_000,
      currency: 'KRW',
      mcc: '7995',
      country: 'US',
      occurredAt: ago(40),
      decidedAt: new Date().toISOString(),
    }
    expect(await run(t, detection.detectAnomalies, input, detectorCaller)).toEqual({
      transactionId: vegas.transactionId,
      alerts: [
        { alertId: alertIdOf('travel', vegas.transactionId), rule: 'travel', raised: false },
        { alertId: alertIdOf('risky-mcc', vegas.transactionId), rule: 'risky-mcc', raised: false },
      ],
    })
    expect(seoul.decision).toBe('approved')
    // Racing copies of one detection: one raises, the others find it raised.
    const fresh = {
      ...input,
      transactionId: '0190a0d0-0000-7000-8000-0000000bad01',
      mcc: '7995',
      country: 'US',
    }
    const raced = await Promise.all(
      Array.from({ length: 6 }, () =>
        run<{ alerts: { raised: boolean; rule: string }[] }>(
          t,
          detection.detectAnomalies,
          fresh,
          detectorCaller,
        ),
      ),
    )
    // (its card's attempt before it was in the US too: no travel, only the category)
    expect(raced.flatMap((r) => r.alerts.filter((a) => a.raised).map((a) => a.rule))).toEqual(['risky-mcc'])
    expect(await raisedTimes(alertIdOf('risky-mcc', fresh.transactionId))).toBe(1)
  })

  it('detect-anomalies is the processor’s alone: agents and timers are refused', async () => {
    const input = {
      transactionId: '0190a0d0-0000-7000-8000-0000000bad02',
      cardId: '0190a0d0-0000-7000-8000-0000000bad03',
      customerId: 'x',
      decision: 'approved',
      amount: 1,
      currency: 'KRW',
      mcc: '7995',
      country: 'KR',
      occurredAt: ago(1),
      decidedAt: ago(1),
    }
    expect(await refusal(t, detection.detectAnomalies, input, agent)).toBe('403 FORBIDDEN')
    expect(await refusal(t, detection.detectAnomalies, input, system)).toBe('403 FORBIDDEN')
  })

  describe('resolve-alert', () => {
    it('resolves an open alert once: again is 409, unknown 404, customers 403; a retry with its key replays', async () => {
      const { customerId, cardId } = await cardOf()
      const casino = await authorize(cardId, 30_000, { mcc: '7995' })
      await settled(t)
      const alertId = alertIdOf('risky-mcc', casino.transactionId)
      const input = { alertId: alertId.toUpperCase(), resolution: 'fraud', note: 'Card stolen in Macau' }
      expect(await refusal(t, detection.resolveAlert, input, customer(customerId))).toBe('403 FORBIDDEN')
      const first = await t.commands.execute(detection.resolveAlert, input, {
        caller: agent,
        idempotencyKey: 'k1',
      })
      expect(first).toMatchObject({
        status: 'succeeded',
        result: { alertId, status: 'resolved', resolution: 'fraud' },
      })
      const replay = await t.commands.execute(detection.resolveAlert, input, {
        caller: agent,
        idempotencyKey: 'k1',
      })
      expect(replay).toMatchObject({ status: 'succeeded', replayed: true, result: { alertId } })
      expect(await refusal(t, detection.resolveAlert, { ...input, resolution: 'legitimate' }, agent)).toBe(
        '409 ALERT_ALREADY_RESOLVED',
      )
      const unknown = { alertId: alertIdOf('velocity', casino.transactionId), resolution: 'fraud' }
      expect(await refusal(t, detection.resolveAlert, unknown, agent)).toBe('404 ALERT_NOT_FOUND')
      await settled(t)
      const page = await alertsOf(t, { status: 'resolved', customerId }, agent)
      expect(typeof page !== 'string' && page.items).toEqual([
        expect.objectContaining({
          alertId,
          status: 'resolved',
          resolution: 'fraud',
          note: 'Card stolen in Macau',
          resolvedBy: 'agent-1',
        }),
      ])
      // The customer sees the resolution, not the agent's note or id.
      const own = await alertsOf(t, { status: 'resolved' }, customer(customerId))
      expect(typeof own !== 'string' && own.items).toEqual([
        expect.objectContaining({ alertId, resolution: 'fraud', note: null, resolvedBy: null }),
      ])
      expect(await alertsOf(t, { status: 'open' }, customer(customerId))).toEqual({
        items: [],
        nextCursor: null,
      })
    })
  })

  describe('get-anomaly-alerts', () => {
    it('shows a customer their own alerts only (another’s is 403), agents any, newest first in keyset pages', async () => {
      const ann = await cardOf()
      const bob = await cardOf()
      for (const minutes of [50, 40, 30])
        await authorize(ann.cardId, 10_000, { mcc: '7995', occurredAt: ago(minutes) })
      await authorize(bob.cardId, 10_000, { mcc: '6051' })
      await settled(t)
      const own = await alertsOf(t, {}, customer(ann.customerId))
      expect(typeof own !== 'string' && own.items.map((a) => a.customerId)).toEqual([
        ann.customerId,
        ann.customerId,
        ann.customerId,
      ])
      expect(await alertsOf(t, { customerId: bob.customerId }, customer(ann.customerId))).toBe(
        '403 FORBIDDEN',
      )
      expect(await alertsOf(t, { customerId: ann.customerId }, customer(ann.customerId))).toEqual(own)

      const first = await alertsOf(t, { customerId: ann.customerId, limit: 2 }, agent)
      if (typeof first === 'string' || !first.nextCursor) throw new Error('expected a first page of two')
      const second = await alertsOf(
        t,
        { customerId: ann.customerId, limit: 2, cursor: first.nextCursor },
        agent,
      )
      if (typeof second === 'string') throw new Error(second)
      const all = [...first.items, ...second.items]
      expect(all.map((a) => a.alertId).toSorted()).toEqual(
        typeof own !== 'string' ? own.items.map((a) => a.alertId).toSorted() : [],
      )
      expect(all.map((a) => a.detectedAt)).toEqual(
        all
          .map((a) => a.detectedAt)
          .toSorted()
          .toReversed(),
      )
      expect(second.nextCursor).toBeNull()

      const everyone = await alertsOf(t, { rule: 'risky-mcc', limit: 100 }, agent)
      const customers =
        typeof everyone !== 'string' ? new Set(everyone.items.map((a) => a.customerId)) : new Set()
      expect(customers.has(ann.customerId) && customers.has(bob.customerId)).toBe(true)
      expect(await alertsOf(t, { cursor: 'not-a-cursor' }, agent)).toBe('400 VALIDATION_FAILED')
    })

    it("puts an agent's read of a customer's alerts on the audit log, not the customer's own", async () => {
      const { customerId, cardId } = await cardOf()
      await authorize(cardId, 10_000, { mcc: '7995' })
      await settled(t)
      await alertsOf(t, { customerId }, agent)
      await alertsOf(t, {}, customer(customerId))
      await t.audit.flush()
      const reads = await t.sql.query<{ actor_id: string; subject_id: string }>(
        `SELECT actor_id, subject_id FROM tandem.audit_log
         WHERE kind = 'read' AND action = 'cards/get-anomaly-alerts' AND subject_id = $1`,
        [customerId],
      )
      expect(reads).toEqual([{ actor_id: 'agent-1', subject_id: customerId }])
    })

    it('lists an agent’s read of several customers’ alerts once, under each of them, with what it showed of each', async () => {
      const [one, two] = [await cardOf(), await cardOf()]
      for (const { cardId } of [one, two]) await authorize(cardId, 10_000, { mcc: '7995' })
      const [ownOne, ownTwo] = [await alertsOn(one.customerId), await alertsOn(two.customerId)]
      const snoop = { id: `agent-${Math.random().toString(36).slice(2)}`, roles: ['agent'] }
      const page = await alertsOf(t, { rule: 'risky-mcc', limit: 100 }, snoop)
      if (typeof page === 'string') throw new Error(page)
      await t.audit.flush()
      const admin = { id: 'admin-1', roles: ['admin'] }
      for (const [who, own] of [
        [one.customerId, ownOne],
        [two.customerId, ownTwo],
      ] as const) {
        const log = await t.queries.ask(
          getAccessLog,
          { customerId: who, agentId: snoop.id },
          { caller: admin },
        )
        if (log.status === 'failed') throw new Error(log.error.code)
        const items = (log.data as { items: AccessRecord[] }).items
        expect(items).toHaveLength(1)
        expect(items[0]).toMatchObject({ customerId: who, query: 'cards/get-anomaly-alerts' })
        expect(items[0]?.customerIds).toEqual(expect.arrayContaining([one.customerId, two.customerId]))
        expect(items[0]?.details).toEqual({ alertIds: own.map((a) => a.alertId) })
      }
    })
  })
})
