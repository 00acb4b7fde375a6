import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  commandProcess,
  modes,
  servicesAvailable,
  startTestProcesses,
  startTestTandem,
  type TestTandem,
} from '../../kernel/testing.js'
import type { CardsEvent } from './messages.js'
import {
  cardRow,
  cardsTestDomain,
  commands as c,
  customer,
  hour,
  issue,
  network,
  payment,
  run,
} from './testing/cards.js'

type Decision = { transactionId: string; decision: string; reason?: string }

/** Holds and posted as the card's events say, replayed from the log. */
function replay(events: readonly CardsEvent[]) {
  let holds = 0
  let posted = 0
  for (const e of events) {
    if (e.type === 'TransactionAuthorized') holds += e.data.amount
    if (e.type === 'TransactionCaptured') {
      holds -= e.data.authorizedAmount
      posted += e.data.capturedAmount
    }
    if (e.type === 'TransactionReversed' || e.type === 'HoldExpired') holds -= e.data.releasedAmount
    if (e.type === 'TransactionAdjusted') holds += e.data.authorizedAmount - e.data.previousAmount
    if (e.type === 'TransactionFailed') {
      if (e.data.previousStatus === 'authorized') holds -= e.data.releasedAmount
      else posted -= e.data.releasedAmount
    }
  }
  return { holds, posted }
}

describe.each(modes)('cards under concurrency (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [cardsTestDomain] })
  })
  afterAll(() => t.dispose())

  it('never goes past the limit: 300 authorizations from two processes, captures, reversals and adjustments racing them', async () => {
    const limit = 1_000_000
    const cardId = await issue(t, { creditLimit: limit })
    // A second command process on the same database, with a stream memory of its own.
    const other = commandProcess(t, 'cards.card')
    const buses = [t.commands, other.bus]
    const amount = (i: number) => 2_000 + ((i * 7_919) % 9_000)
    const follow = async (i: number, decided: Decision) => {
      if (decided.decision !== 'approved') return
      const { transactionId } = decided
      const bus = buses[(i + 1) % 2] ?? t.commands
      const action = [
        { transactionId, action: 'capture', amount: amount(i) - 1_000 },
        { transactionId, action: 'reverse' },
        { transactionId, action: 'adjust', amount: amount(i) + 500 },
        undefined,
      ][i % 4]
      if (action) await bus.execute(c.updateTransaction, action, { caller: network })
      if (i % 8 === 2)
        await bus.execute(c.markTransactionFailed, { transactionId, reason: 'race' }, { caller: network })
    }
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const bus = buses[i % 2] ?? t.commands
        const done = await bus.execute(c.authorizeTransaction, payment(cardId, amount(i)), {
          caller: network,
        })
        if (done.status === 'failed') return done.error.code
        await follow(i, done.result)
        return (done.result as Decision).reason ?? 'approved'
      }),
    )
    const reasons = new Set(outcomes)
    expect(reasons.has('approved')).toBe(true)
    expect([...reasons].every((r) => r === 'approved' || r === 'INSUFFICIENT_CREDIT')).toBe(true)

    const card = await cardRow(t, cardId)
    if (!card) throw new Error('no card')
    expect(card.holds + card.posted).toBeLessThanOrEqual(limit)
    expect(Math.min(card.holds, card.posted)).toBeGreaterThanOrEqual(0)
    // The card's figures are the sums over its transactions...
    const [sums] = await t.sql.query<{ holds: number; posted: number; count: number }>(
      `SELECT coalesce(sum(hold), 0)::float8 AS holds, coalesce(sum(posted), 0)::float8 AS posted, count(*)::int AS count
       FROM cards.card_transaction WHERE card_id = $1`,
      [cardId],
    )
    expect(sums).toEqual({ holds: card.holds, posted: card.posted, count: 300 })
    // ...and over its events, whose every balance stayed within the limit.
    const log = await t.sql.query<{ type: CardsEvent['type']; data: CardsEvent['data']; v: number }>(
      'SELECT type, data, stream_version AS v FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version',
      [`card-${cardId}`],
    )
    const events = log.map((e) => ({ type: e.type, data: e.data }) as CardsEvent)
    expect(replay(events)).toEqual({ holds: card.holds, posted: card.posted })
    expect(log.map((e) => e.v)).toEqual(log.map((_, i) => i + 1))
    expect(card.version).toBe(log.length)
    // Projections read the log in transaction order: it is the stream's order too, though commands
    // waiting for the card's row took their transaction ids before others that went first.
    const read = await t.sql.query<{ v: number }>(
      'SELECT stream_version AS v FROM tandem.event_log WHERE stream_id = $1 ORDER BY tx_id, position',
      [`card-${cardId}`],
    )
    expect(read.map((e) => e.v)).toEqual(log.map((e) => e.v))
    for (const e of events) {
      if ('balance' in e.data && e.data.balance) expect(e.data.balance.available).toBeGreaterThanOrEqual(0)
    }
    // Stamped in turn: each event's moment no earlier than the one before it on the card's stream,
    // so the card's history as of any moment is a state it was in.
    const times = events.map((e) => e.data.at)
    expect(times).toEqual(times.toSorted())
    expect(events.filter((e) => e.type === 'TransactionAuthorized')).toHaveLength(
      outcomes.filter((o) => o === 'approved').length,
    )
  })

  it('guards the limit in the table itself: no statement can take the card past it', async () => {
    const cardId = await issue(t, { creditLimit: 1_000 })
    await expect(
      t.sql.query('UPDATE cards.card SET holds = 600, posted = 401 WHERE card_id = $1', [cardId]),
    ).rejects.toThrow(/card_within_limit/)
    await expect(
      t.sql.query('UPDATE cards.card SET holds = -1 WHERE card_id = $1', [cardId]),
    ).rejects.toThrow(/check constraint/)
  })

  it('captures one hold once when 20 captures of it race', async () => {
    const cardId = await issue(t, { creditLimit: 10_000 })
    const { transactionId } = await run<Decision>(t, c.authorizeTransaction, payment(cardId, 5_000), network)
    const other = commandProcess(t, 'cards.card')
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? other.bus : t.commands).execute(
          c.updateTransaction,
          { transactionId, action: 'capture' },
          { caller: network },
        ),
      ),
    )
    const codes = outcomes.map((o) => (o.status === 'failed' ? o.error.code : 'captured'))
    expect(codes.filter((code) => code === 'captured')).toHaveLength(1)
    expect(codes.filter((code) => code === 'INVALID_TRANSITION')).toHaveLength(19)
    expect(await cardRow(t, cardId)).toMatchObject({ holds: 0, posted: 5_000 })
  })
})

describe.runIf(servicesAvailable)('cards: auto-payments across processes and a restart (server)', () => {
  let processes: TestTandem[]
  beforeAll(async () => {
    processes = await startTestProcesses('server', [{}, {}, {}], { domains: [cardsTestDomain] })
  })
  afterAll(async () => {
    for (const p of processes) await p.dispose()
  })

  it('pays each month once, whichever of two processes fires, after the one that scheduled it stopped', async () => {
    const [first, second, third] = processes as [TestTandem, TestTandem, TestTandem]
    const cardId = await issue(first, { customerId: 'ivy', creditLimit: 100_000 })
    const { autoPaymentId } = await run<{ autoPaymentId: string }>(
      first,
      c.registerAutoPayment,
      { cardId, merchantId: 'gym', amount: 9_000, dayOfMonth: 1 },
      customer('ivy'),
    )
    await first.dispose() // the process that scheduled it is gone
    const submitted = async () =>
      second.sql.query<{ dueAt: string; transactionId: string }>(
        `SELECT data->>'dueAt' AS "dueAt", data->>'transactionId' AS "transactionId" FROM tandem.event_log
         WHERE stream_id = $1 AND type = 'AutoPaymentSubmitted' ORDER BY stream_version`,
        [`card-${cardId}`],
      )
    const [timer] = await second.sql.query<{ due: Date }>(
      'SELECT due_at AS due FROM tandem.timers WHERE key = $1',
      [`cards:auto-payment:${autoPaymentId}`],
    )
    let due = new Date(timer?.due ?? 0)
    for (let month = 1; month <= 2; month++) {
      for (const p of [second, third]) p.shiftClock(due.getTime() - Date.now() + hour)
      await Promise.all([second.timers.runDue(), third.timers.runDue(), second.timers.runDue()])
      const paid = await submitted()
      expect(paid).toHaveLength(month)
      expect(paid.at(-1)?.dueAt).toBe(due.toISOString())
      const next = new Date(due)
      next.setUTCMonth(next.getUTCMonth() + 1)
      due = next
    }
    // Two payments, one each month: the first month's hold expired (168 h) before the second came.
    const charged = await second.sql.query<{ status: string; amount: number }>(
      `SELECT status, amount::float8 AS amount FROM cards.card_transaction
       WHERE card_id = $1 AND auto_payment_id = $2 ORDER BY created_at`,
      [cardId, autoPaymentId],
    )
    expect(charged).toEqual([
      { status: 'expired', amount: 9_000 },
      { status: 'authorized', amount: 9_000 },
    ])
    expect(await cardRow(second, cardId)).toMatchObject({ holds: 9_000 })
  })
})
