import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { benchMixStatuses, modes, startTestTandem, type TestTandem } from '../../kernel/testing.js'
import {
  agent,
  cardRow,
  cardsTestDomain,
  commands as c,
  customer,
  eventTypes,
  hour,
  issue,
  network,
  payment,
  refusal,
  run,
  system,
} from './testing/cards.js'

type Decision = { transactionId: string; decision: string; reason?: string }

describe.each(modes)('cards: the write side (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [cardsTestDomain] })
  })
  afterAll(() => t.dispose())
  afterEach(() => t.shiftClock(0))

  const authorize = (input: Record<string, unknown>) =>
    run<Decision>(t, c.authorizeTransaction, input, network)
  const transaction = async (id: string) => {
    const [row] = await t.sql.query<{ status: string; hold: number; posted: number; amount: number }>(
      `SELECT status, hold::float8 AS hold, posted::float8 AS posted, amount::float8 AS amount
       FROM cards.card_transaction WHERE transaction_id = $1`,
      [id],
    )
    return row
  }

  describe('cards', () => {
    it('issues a card under a client id in any case, once; a second issue of that id is 409 CARD_ID_TAKEN', async () => {
      const cardId = randomUUID()
      const input = {
        cardId: cardId.toUpperCase(),
        customerId: 'cora',
        product: 'platinum',
        creditLimit: 500_000,
        currency: 'USD',
        expiresAt: '2031-01-31T00:00:00+09:00',
      }
      expect(await run(t, c.issueCard, input, agent)).toEqual({ cardId })
      expect(await refusal(t, c.issueCard, { ...input, cardId }, agent)).toBe('409 CARD_ID_TAKEN')
      expect(await cardRow(t, cardId)).toEqual({
        creditLimit: 500_000,
        holds: 0,
        posted: 0,
        status: 'active',
        version: 1,
      })
      expect(await refusal(t, c.issueCard, input, customer('cora'))).toBe('403 FORBIDDEN')
    })

    it("lets the card's customer report it lost, hides it from other customers, and never unblocks it", async () => {
      const cardId = await issue(t, { customerId: 'dana' })
      expect(await refusal(t, c.reportCardLost, { cardId }, customer('eve'))).toBe('404 CARD_NOT_FOUND')
      expect(await run(t, c.blockCard, { cardId }, agent)).toEqual({ cardId, status: 'blocked' })
      expect(await run(t, c.reportCardLost, { cardId }, customer('dana'))).toEqual({ cardId, status: 'lost' })
      expect(await run(t, c.reportCardLost, { cardId }, customer('dana'))).toEqual({ cardId, status: 'lost' })
      expect(await refusal(t, c.unblockCard, { cardId }, agent)).toBe('409 CARD_LOST')
      expect(await refusal(t, c.blockCard, { cardId }, agent)).toBe('409 CARD_LOST')
      expect(await eventTypes(t, cardId)).toEqual(['CardIssued', 'CardBlocked', 'CardReportedLost'])
      expect((await authorize(payment(cardId, 100))).reason).toBe('CARD_LOST')
    })

    it('changes the limit, never below what is outstanding (409 LIMIT_BELOW_OUTSTANDING)', async () => {
      const cardId = await issue(t, { creditLimit: 100_000 })
      await authorize(payment(cardId, 60_000))
      expect(await refusal(t, c.changeCreditLimit, { cardId, creditLimit: 59_999 }, agent)).toBe(
        '409 LIMIT_BELOW_OUTSTANDING',
      )
      expect(await run(t, c.changeCreditLimit, { cardId, creditLimit: 60_000 }, agent)).toEqual({
        cardId,
        creditLimit: 60_000,
        available: 0,
      })
      expect((await authorize(payment(cardId, 1))).reason).toBe('INSUFFICIENT_CREDIT')
    })
  })

  describe('authorizations', () => {
    it('approves within the available credit, and records each decline with its reason', async () => {
      const cardId = await issue(t, { creditLimit: 100_000 })
      const approved = await authorize(payment(cardId, 70_000, { city: 'Seoul' }))
      expect(approved).toMatchObject({ decision: 'approved' })
      expect(await transaction(approved.transactionId)).toEqual({
        status: 'authorized',
        hold: 70_000,
        posted: 0,
        amount: 70_000,
      })
      expect(await authorize(payment(cardId, 30_001))).toMatchObject({
        decision: 'declined',
        reason: 'INSUFFICIENT_CREDIT',
      })
      expect((await authorize(payment(cardId, 10, { currency: 'USD' }))).reason).toBe('CURRENCY_MISMATCH')
      expect((await authorize(payment(cardId, 10_000_001))).reason).toBe('AMOUNT_LIMIT')
      const last = await authorize(payment(cardId, 30_000))
      expect(last.decision).toBe('approved')
      expect(await cardRow(t, cardId)).toMatchObject({ creditLimit: 100_000, holds: 100_000, posted: 0 })
      const [declined] = await t.sql.query<{ data: { reason: string; balance: { available: number } } }>(
        `SELECT data FROM tandem.event_log WHERE stream_id = $1 AND type = 'TransactionDeclined'
         ORDER BY stream_version LIMIT 1`,
        [`card-${cardId}`],
      )
      expect(declined?.data).toMatchObject({ reason: 'INSUFFICIENT_CREDIT', balance: { available: 30_000 } })
    })

    it('declines a blocked and an expired card', async () => {
      const cardId = await issue(t)
      await run(t, c.blockCard, { cardId }, agent)
      expect((await authorize(payment(cardId, 10))).reason).toBe('CARD_BLOCKED')
      await run(t, c.unblockCard, { cardId }, agent)
      expect((await authorize(payment(cardId, 10))).decision).toBe('approved')
      t.shiftClock(4 * 365 * 24 * hour)
      expect((await authorize(payment(cardId, 10))).reason).toBe('CARD_EXPIRED')
    })

    it("records CARD_NOT_FOUND on the unknown card's stream; a card issued later under that id goes on after it", async () => {
      const cardId = randomUUID()
      const first = await authorize(payment(cardId, 10))
      expect(first).toMatchObject({ decision: 'declined', reason: 'CARD_NOT_FOUND' })
      expect((await authorize(payment(cardId.toUpperCase(), 20))).reason).toBe('CARD_NOT_FOUND')
      expect(await eventTypes(t, cardId)).toEqual(['TransactionDeclined', 'TransactionDeclined'])
      expect(
        await refusal(
          t,
          c.updateTransaction,
          { transactionId: first.transactionId, action: 'reverse' },
          network,
        ),
      ).toBe('404 TRANSACTION_NOT_FOUND')
      await run(
        t,
        c.issueCard,
        {
          cardId,
          customerId: 'fay',
          product: 'classic',
          creditLimit: 50,
          currency: 'KRW',
          expiresAt: '2040-01-01T00:00:00Z',
        },
        agent,
      )
      expect((await authorize(payment(cardId, 50))).decision).toBe('approved')
      expect(await eventTypes(t, cardId)).toEqual([
        'TransactionDeclined',
        'TransactionDeclined',
        'CardIssued',
        'TransactionAuthorized',
      ])
      expect(await cardRow(t, cardId)).toMatchObject({ version: 4, holds: 50 })
    })

    it("takes the network's transaction id once: a second use is 409 TRANSACTION_ID_TAKEN, nothing charged", async () => {
      const cardId = await issue(t, { creditLimit: 1_000 })
      const transactionId = randomUUID()
      expect(await authorize(payment(cardId, 400, { transactionId }))).toEqual({
        transactionId,
        decision: 'approved',
      })
      expect(await refusal(t, c.authorizeTransaction, payment(cardId, 400, { transactionId }), network)).toBe(
        '409 TRANSACTION_ID_TAKEN',
      )
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 400 })
    })

    it("takes the network's transaction id with a decline of an unknown card too, also against one sent at once on a card", async () => {
      const cardId = await issue(t, { creditLimit: 1_000 })
      const transactionId = randomUUID()
      expect(await authorize(payment(randomUUID(), 10, { transactionId }))).toMatchObject({
        decision: 'declined',
        reason: 'CARD_NOT_FOUND',
      })
      expect(await refusal(t, c.authorizeTransaction, payment(cardId, 10, { transactionId }), network)).toBe(
        '409 TRANSACTION_ID_TAKEN',
      )
      // One id sent at once on unknown cards and on the card: one decision, whichever came first.
      const raced = randomUUID()
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          authorize(payment(i % 2 === 0 ? cardId : randomUUID(), 10, { transactionId: raced })),
        ),
      )
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
      const [row] = await t.sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM cards.card_transaction WHERE transaction_id = $1',
        [raced],
      )
      expect(row?.n).toBe(1)
      expect((await cardRow(t, cardId))?.holds).toBeLessThanOrEqual(10)
    })

    it('is for the network alone', async () => {
      const cardId = await issue(t)
      for (const caller of [agent, customer('x'), system]) {
        expect(await refusal(t, c.authorizeTransaction, payment(cardId, 1), caller)).toBe('403 FORBIDDEN')
      }
    })
  })

  describe('after the authorization', () => {
    it('captures part of a hold and releases the rest; then it can be neither captured nor reversed again', async () => {
      const cardId = await issue(t, { creditLimit: 10_000 })
      const { transactionId } = await authorize(payment(cardId, 8_000))
      expect(
        await run(
          t,
          c.updateTransaction,
          { transactionId: transactionId.toUpperCase(), action: 'capture', amount: 7_500 },
          network,
        ),
      ).toEqual({ transactionId, status: 'captured', hold: 0, posted: 7_500 })
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 0, posted: 7_500 })
      for (const action of ['capture', 'reverse'] as const) {
        expect(await refusal(t, c.updateTransaction, { transactionId, action }, network)).toBe(
          '409 INVALID_TRANSITION',
        )
      }
      // Its settlement fails: what it posted is released.
      expect(
        await run(t, c.markTransactionFailed, { transactionId, reason: 'Acquirer rejected' }, agent),
      ).toEqual({
        transactionId,
        status: 'failed',
        hold: 0,
        posted: 0,
      })
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 0, posted: 0 })
      expect(await refusal(t, c.markTransactionFailed, { transactionId, reason: 'again' }, agent)).toBe(
        '409 INVALID_TRANSITION',
      )
    })

    it('refuses a capture over the hold, reverses a hold, and adjusts one within the credit', async () => {
      const cardId = await issue(t, { creditLimit: 10_000 })
      const a = await authorize(payment(cardId, 3_000))
      const b = await authorize(payment(cardId, 3_000))
      expect(
        await refusal(
          t,
          c.updateTransaction,
          { transactionId: a.transactionId, action: 'capture', amount: 3_001 },
          network,
        ),
      ).toBe('409 CAPTURE_EXCEEDS_HOLD')
      await run(t, c.updateTransaction, { transactionId: a.transactionId, action: 'reverse' }, network)
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 3_000 })
      // Up to what is available (7,000 more), not a unit past it.
      expect(
        await refusal(
          t,
          c.updateTransaction,
          { transactionId: b.transactionId, action: 'adjust', amount: 10_001 },
          agent,
        ),
      ).toBe('409 INSUFFICIENT_CREDIT')
      await run(
        t,
        c.updateTransaction,
        { transactionId: b.transactionId, action: 'adjust', amount: 10_000 },
        agent,
      )
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 10_000 })
      await run(
        t,
        c.updateTransaction,
        { transactionId: b.transactionId, action: 'adjust', amount: 2_000 },
        agent,
      )
      expect(await transaction(b.transactionId)).toEqual({
        status: 'authorized',
        hold: 2_000,
        posted: 0,
        amount: 2_000,
      })
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 2_000 })
      expect(
        await refusal(t, c.updateTransaction, { transactionId: randomUUID(), action: 'reverse' }, network),
      ).toBe('404 TRANSACTION_NOT_FOUND')
    })
  })

  describe('timers', () => {
    const holdTimer = async (transactionId: string) =>
      t.sql.query('SELECT key FROM tandem.timers WHERE key = $1', [`cards:hold:${transactionId}`])
    /** A monthly auto-payment of `amount` on day 28 from the customer's card, and when its timer is due. */
    const autoPayment = async (cardId: string, customerId: string, merchantId: string, amount: number) => {
      const { autoPaymentId } = await run<{ autoPaymentId: string }>(
        t,
        c.registerAutoPayment,
        { cardId, merchantId, amount, dayOfMonth: 28 },
        customer(customerId),
      )
      const [timer] = await t.sql.query<{ due: Date }>(
        'SELECT due_at AS due FROM tandem.timers WHERE key = $1',
        [`cards:auto-payment:${autoPaymentId}`],
      )
      return { autoPaymentId, due: new Date(timer?.due ?? 0) }
    }

    it('releases a hold not captured within the expiry (168 h), at it and not before; a captured one keeps its posting', async () => {
      const cardId = await issue(t, { creditLimit: 10_000 })
      const held = await authorize(payment(cardId, 4_000))
      const captured = await authorize(payment(cardId, 1_000))
      await run(t, c.updateTransaction, { transactionId: captured.transactionId, action: 'capture' }, network)
      expect(await holdTimer(captured.transactionId)).toEqual([])
      expect(await holdTimer(held.transactionId)).toHaveLength(1)
      t.shiftClock(168 * hour - 60_000)
      await t.timers.runDue()
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 4_000, posted: 1_000 })
      t.shiftClock(168 * hour + 1)
      await t.timers.runDue()
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 0, posted: 1_000 })
      expect(await transaction(held.transactionId)).toMatchObject({ status: 'expired', hold: 0 })
      expect(
        await refusal(
          t,
          c.updateTransaction,
          { transactionId: held.transactionId, action: 'capture' },
          network,
        ),
      ).toBe('409 INVALID_TRANSITION')
      const types = await eventTypes(t, cardId)
      expect(types.filter((type) => type === 'HoldExpired')).toHaveLength(1)
      // Only the timer (role system) sends it.
      expect(await refusal(t, c.expireHold, { cardId, transactionId: held.transactionId }, agent)).toBe(
        '403 FORBIDDEN',
      )
    })

    it('submits an auto-payment on its day each month, once, and stops once it is cancelled', async () => {
      const cardId = await issue(t, { customerId: 'gus', creditLimit: 100_000 })
      const { autoPaymentId, due } = await autoPayment(cardId, 'gus', 'Stream-TV', 13_900)
      expect(due.getUTCDate()).toBe(28)
      expect(due.getTime()).toBeGreaterThan(Date.now())
      t.shiftClock(due.getTime() - Date.now() + 1_000)
      await Promise.all([t.timers.runDue(), t.timers.runDue()])
      await t.timers.runDue()
      const submitted = async () =>
        t.sql.query<{ data: { dueAt: string; decision: string; merchantId: string } }>(
          `SELECT data FROM tandem.event_log WHERE stream_id = $1 AND type = 'AutoPaymentSubmitted' ORDER BY stream_version`,
          [`card-${cardId}`],
        )
      expect((await submitted()).map((e) => e.data)).toMatchObject([
        { dueAt: due.toISOString(), decision: 'approved', merchantId: 'stream-tv' },
      ])
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 13_900 })
      // The same due payment sent again (a timer fired twice) pays nothing more.
      expect(
        await run(t, c.submitAutoPayment, { autoPaymentId, dueAt: due.toISOString() }, system),
      ).toMatchObject({
        submitted: false,
      })
      expect(await refusal(t, c.cancelAutoPayment, { autoPaymentId }, customer('hal'))).toBe(
        '404 AUTO_PAYMENT_NOT_FOUND',
      )
      await run(t, c.cancelAutoPayment, { autoPaymentId }, customer('gus'))
      t.shiftClock(due.getTime() - Date.now() + 40 * 24 * hour)
      await t.timers.runDue()
      expect(await submitted()).toHaveLength(1)
    })

    it("releases the card's overdue holds before it decides an auto-payment, whatever order the late timers fire in", async () => {
      const cardId = await issue(t, { customerId: 'ida', creditLimit: 3_000 })
      const { autoPaymentId, due } = await autoPayment(cardId, 'ida', 'gym', 1_000)
      // A hold of the whole limit, expiring (168 h) before the payment falls due: the processes were
      // down through both, and the payment's timer fires first.
      t.shiftClock(due.getTime() - Date.now() - 170 * hour)
      const held = await authorize(payment(cardId, 3_000))
      expect(held.decision).toBe('approved')
      t.shiftClock(due.getTime() - Date.now() + 60_000)
      const paid = await run<{ decision: string }>(
        t,
        c.submitAutoPayment,
        { autoPaymentId, dueAt: due.toISOString() },
        system,
      )
      expect(paid).toMatchObject({ submitted: true, decision: 'approved' })
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 1_000 })
      expect(await transaction(held.transactionId)).toMatchObject({ status: 'expired', hold: 0 })
      expect(await holdTimer(held.transactionId)).toEqual([])
      const types = await eventTypes(t, cardId)
      expect(types.slice(-3)).toEqual(['HoldExpired', 'TransactionAuthorized', 'AutoPaymentSubmitted'])
      // The hold's own timer, had it been claimed already, changes nothing.
      await run(t, c.expireHold, { cardId, transactionId: held.transactionId }, system)
      await t.timers.runDue()
      expect((await eventTypes(t, cardId)).filter((type) => type === 'HoldExpired')).toHaveLength(1)
      expect(await cardRow(t, cardId)).toMatchObject({ holds: 1_000 })
    })
  })

  it('prepares its bench mix, whose commands and queries succeed', async () => {
    expect(await benchMixStatuses(cardsTestDomain, t, 10)).toEqual(Array(20).fill('succeeded'))
  })
})
