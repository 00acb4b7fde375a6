import { describe, expect, it } from 'vitest'
import { modes, projectionSpec, renumbered } from '../../../kernel/testing.js'
import { cardHistoryProjection, getCardHistory, historyModel } from './history.js'
import { spending } from './index.js'
import { recentPerCard, recentTransactionsProjection } from './recent.js'
import { getRecentTransactions } from './recent-queries.js'
import { spendingProjection } from './spending.js'
import {
  adjusted,
  admin,
  agent,
  at,
  authorized,
  captured,
  card,
  cid,
  customer,
  declined,
  declinedUnknown,
  expired,
  failed,
  issued,
  reversed,
  tid,
} from './testing.js'

const kim = customer('kim')
const k1 = card(1, 'kim')
const k2 = card(2, 'kim', 'classic')
const l3 = card(3, 'lee')
const txn = (n: number, minutes: number, amount = 10_000, merchantId = 'shop-1') => ({
  transactionId: tid(n),
  amount,
  merchantId,
  occurredAt: at(minutes),
})

/** An error's `<status> <code>`, for refusals. */
const refused = (done: Promise<unknown>) =>
  done.then(
    () => 'answered',
    (e: unknown) => {
      const { status, code } = e as { status: number; code: string }
      return `${status} ${code}`
    },
  )

describe.each(modes)('cards read side (%s)', (mode) => {
  const given = projectionSpec(mode, [recentTransactionsProjection, spendingProjection])

  describe('get-recent-transactions', () => {
    it('lists newest first, each with its status kept current by later events; declines as declined', async () => {
      const m = await given(issued(k1), issued(k2), issued(l3))
      await m.apply(
        authorized(k1, txn(1, 10)),
        authorized(k1, txn(2, 20)),
        authorized(k2, txn(3, 30)),
        authorized(k1, txn(4, 40)),
        authorized(k1, txn(5, 50)),
        declined(k1, txn(6, 60), 'AMOUNT_LIMIT'),
        authorized(k1, txn(7, 70)),
        declinedUnknown(cid(99), txn(8, 80)),
        authorized(l3, txn(9, 90)),
      )
      await m.apply(
        captured(k1, txn(1, 10), 10_000, 8_000, at(100)),
        reversed(k1, txn(2, 20), 10_000, at(100)),
        adjusted(k1, txn(4, 40), 10_000, 12_000, at(100)),
        expired(k1, txn(5, 50), 10_000, at(100)),
        failed(k1, txn(7, 70), { hold: 10_000, posted: 0 }, at(100)),
      )
      const page = await m.ask(getRecentTransactions, { cardId: k1.cardId }, kim)
      expect(page.items.map((t) => [t.transactionId, t.status, t.amount, t.capturedAmount])).toEqual([
        [tid(7), 'failed', 10_000, 0],
        [tid(6), 'declined', 10_000, 0],
        [tid(5), 'expired', 10_000, 0],
        [tid(4), 'authorized', 12_000, 0],
        [tid(2), 'reversed', 10_000, 0],
        [tid(1), 'captured', 10_000, 8_000],
      ])
      expect(page.items[1]).toMatchObject({ declineReason: 'AMOUNT_LIMIT', category: 'groceries' })
      expect(page.items[0]).toMatchObject({ failureReason: 'Settlement rejected', updatedAt: at(100) })
      const mine = await m.ask(getRecentTransactions, {}, kim)
      expect(mine.items.map((t) => t.transactionId)).toEqual([7, 6, 5, 4, 3, 2, 1].map(tid))
      // The decline of an unknown card belongs to nobody: listed nowhere.
      expect(
        (await m.ask(getRecentTransactions, { customerId: 'lee' }, agent)).items.map((t) => t.transactionId),
      ).toEqual([tid(9)])
    })

    it('pages by keyset: a transaction made between two pages moves nothing across their edge', async () => {
      const m = await given(issued(k1), issued(k2))
      await m.apply(
        ...Array.from({ length: 9 }, (_, i) => authorized(i % 2 ? k1 : k2, txn(i + 1, (i + 1) * 10))),
      )
      const first = await m.ask(getRecentTransactions, { limit: 4 }, kim)
      expect(first.items.map((t) => t.transactionId)).toEqual([9, 8, 7, 6].map(tid))
      // A newer one and an older one (a late authorization) arrive between pages.
      await m.apply(authorized(k1, txn(20, 1000)), authorized(k2, txn(21, 55)))
      const second = await m.ask(getRecentTransactions, { limit: 4, cursor: first.nextCursor ?? '' }, kim)
      expect(second.items.map((t) => t.transactionId)).toEqual([tid(21), tid(5), tid(4), tid(3)])
      const third = await m.ask(getRecentTransactions, { limit: 4, cursor: second.nextCursor ?? '' }, kim)
      expect(third.items.map((t) => t.transactionId)).toEqual([tid(2), tid(1)])
      expect(third.nextCursor).toBeNull()
      // A cursor of another query is a 400.
      const history = Buffer.from(`history|12`).toString('base64url')
      expect(await refused(m.ask(getRecentTransactions, { cursor: history }, kim))).toBe(
        '400 VALIDATION_FAILED',
      )
    })

    it(`keeps the newest ${recentPerCard} of a card, dropping the oldest and its document`, async () => {
      const m = await given(issued(k1))
      const n = recentPerCard + 3
      await m.apply(...Array.from({ length: n }, (_, i) => authorized(k1, txn(i + 1, i + 1))))
      let seen: string[] = []
      let cursor: string | null = null
      do {
        const page: { items: { transactionId: string }[]; nextCursor: string | null } = await m.ask(
          getRecentTransactions,
          { cardId: k1.cardId, limit: 100, ...(cursor ? { cursor } : {}) },
          kim,
        )
        seen = [...seen, ...page.items.map((t) => t.transactionId)]
        cursor = page.nextCursor
      } while (cursor)
      expect(seen).toHaveLength(recentPerCard)
      expect(seen.at(-1)).toBe(tid(4))
      expect(await m.kv('cards-recent-transactions').get('txn:' + tid(3))).toBeNull()
      // A capture of a dropped one changes nothing and fails nothing.
      await m.apply(captured(k1, txn(1, 1), 10_000, 10_000, at(9999)))
    })
  })

  describe('scope by role', () => {
    const setup = () => given(issued(k1), issued(l3), authorized(k1, txn(1, 10)), authorized(l3, txn(2, 20)))

    it("get-recent-transactions: a customer's own only; another's card is 404 like an unknown one, another customer 403", async () => {
      const m = await setup()
      expect((await m.ask(getRecentTransactions, { cardId: k1.cardId }, kim)).items).toHaveLength(1)
      expect(await refused(m.ask(getRecentTransactions, { cardId: l3.cardId }, kim))).toBe(
        '404 CARD_NOT_FOUND',
      )
      expect(await refused(m.ask(getRecentTransactions, { cardId: cid(77) }, kim))).toBe('404 CARD_NOT_FOUND')
      expect(await refused(m.ask(getRecentTransactions, { customerId: 'lee' }, kim))).toBe('403 FORBIDDEN')
      expect((await m.ask(getRecentTransactions, { customerId: 'kim' }, kim)).items).toHaveLength(1)
      for (const who of [agent, admin]) {
        expect((await m.ask(getRecentTransactions, { cardId: l3.cardId }, who)).items).toHaveLength(1)
        expect((await m.ask(getRecentTransactions, { customerId: 'kim' }, who)).items).toHaveLength(1)
        expect(await refused(m.ask(getRecentTransactions, {}, who))).toBe('400 VALIDATION_FAILED')
      }
      expect(await refused(m.ask(getRecentTransactions, { cardId: k1.cardId, customerId: 'kim' }, kim))).toBe(
        '400 VALIDATION_FAILED',
      )
    })

    it('analytics: a customer about themselves only (403), agents and admins anyone or all (role access itself: the e2e spec)', async () => {
      const m = await setup()
      const month = { month: '2031-03' }
      expect((await m.ask(spending.getMonthlySpendingSummary, month, kim)).customerId).toBe('kim')
      expect(
        await refused(m.ask(spending.getMonthlySpendingSummary, { ...month, customerId: 'lee' }, kim)),
      ).toBe('403 FORBIDDEN')
      expect(
        (await m.ask(spending.getMonthlySpendingSummary, { ...month, customerId: 'lee' }, agent)).totals,
      ).toMatchObject([{ currency: 'KRW', amount: 10_000, pending: 10_000, count: 1 }])
      expect(await refused(m.ask(spending.getMonthlySpendingSummary, month, agent))).toBe(
        '400 VALIDATION_FAILED',
      )
      const days = { from: '2031-03-01', to: '2031-03-31' }
      expect((await m.ask(spending.getSpendingByDate, days, kim)).customerId).toBe('kim')
      expect((await m.ask(spending.getSpendingByDate, days, admin)).totals).toMatchObject([
        { amount: 20_000 },
      ])
      expect(await refused(m.ask(spending.getSpendingByDate, { ...days, customerId: 'lee' }, kim))).toBe(
        '403 FORBIDDEN',
      )
      const months = { from: '2031-01', to: '2031-03' }
      expect((await m.ask(spending.getSpendingByProduct, months, kim)).customerId).toBe('kim')
      expect(await refused(m.ask(spending.getSpendingByProduct, { ...months, customerId: 'lee' }, kim))).toBe(
        '403 FORBIDDEN',
      )
      const merchant = { merchantId: 'shop-1', ...days }
      expect((await m.ask(spending.getMerchantSummary, merchant, agent)).merchantName).toBe('Shop shop-1')
    })
  })

  describe('analytics input', () => {
    it('refuses days that are no calendar days, ranges out of order or past their cap, an engine not here', async () => {
      const m = await given()
      const ask = (input: Record<string, unknown>) => refused(m.ask(spending.getSpendingByDate, input, admin))
      expect(await ask({ from: '2031-02-30', to: '2031-03-01' })).toBe('400 VALIDATION_FAILED')
      expect(await ask({ from: '2031-03-02', to: '2031-03-01' })).toBe('400 VALIDATION_FAILED')
      expect(await ask({ from: '2030-01-01', to: '2031-03-01' })).toBe('400 VALIDATION_FAILED')
      expect(await ask({ from: '2030-01-01', to: '2031-03-01', bucket: 'month' })).toBe('answered')
      expect(await ask({ from: '2031-03-01', to: '2031-03-01', engine: 'duckdb' })).toBe(
        '400 VALIDATION_FAILED',
      )
      expect(
        await refused(m.ask(spending.getSpendingByProduct, { from: '2031-03', to: '2031-01' }, admin)),
      ).toBe('400 VALIDATION_FAILED')
    })

    it('takes a range left out as the last 30 days (3 months), or 30 days (3 months) from or to the end given', async () => {
      const m = await given()
      const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
      const now = Date.now()
      const byDate = (input: object) => m.ask(spending.getSpendingByDate, input, admin)
      const last30 = await byDate({})
      // Today is read twice (here and by the query): around midnight UTC, either day.
      expect([day(now), day(Date.now())]).toContain(last30.to)
      expect(last30.from).toBe(day(Date.parse(`${last30.to}T00:00:00Z`) - 29 * 86_400_000))
      expect(await byDate({ from: '2031-02-20' })).toMatchObject({ from: '2031-02-20', to: '2031-03-21' })
      expect(await byDate({ to: '2031-03-01' })).toMatchObject({ from: '2031-01-31', to: '2031-03-01' })
      // At the calendar's first day, the range starts there.
      expect(await byDate({ to: '0001-01-05' })).toMatchObject({ from: '0001-01-01', to: '0001-01-05' })
      const merchant = await m.ask(
        spending.getMerchantSummary,
        { merchantId: 'cafe', to: '2031-03-30' },
        admin,
      )
      expect(merchant).toMatchObject({ from: '2031-03-01', to: '2031-03-30' })
      const byProduct = (input: object) => m.ask(spending.getSpendingByProduct, input, admin)
      expect(await byProduct({ to: '2031-03' })).toMatchObject({ from: '2031-01', to: '2031-03' })
      expect(await byProduct({ from: '2031-11' })).toMatchObject({ from: '2031-11', to: '2032-01' })
      expect([day(now).slice(0, 7), day(Date.now()).slice(0, 7)]).toContain((await byProduct({})).to)
      const month = (await m.ask(spending.getMonthlySpendingSummary, {}, kim)).month
      expect([day(now).slice(0, 7), day(Date.now()).slice(0, 7)]).toContain(month)
    })

    it('monthly summary: trend zero-filled over the previous months, compared with their average', async () => {
      const m = await given(issued(k1))
      const jan = Date.UTC(2031, 0, 15) - Date.UTC(2031, 2, 1)
      await m.apply(authorized(k1, txn(1, jan / 60_000, 30_000)), authorized(k1, txn(2, 10, 60_000, 'cafe')))
      const s = await m.ask(spending.getMonthlySpendingSummary, { month: '2031-03', months: 2 }, kim)
      expect(s.trend.map((t) => [t.month, t.amount])).toEqual([
        ['2031-01', 30_000],
        ['2031-02', 0],
        ['2031-03', 60_000],
      ])
      expect(s.comparison).toEqual([
        { currency: 'KRW', amount: 60_000, previousAverage: 15_000, change: 45_000, changePercent: 300 },
      ])
    })
  })
})

describe.each(modes)('cards history read side (%s)', (mode) => {
  const given = projectionSpec(mode, [cardHistoryProjection])

  it('lists a card’s events newest first by position as a number, and its cursor walks them all', async () => {
    const m = await given()
    const events = [issued(k1), authorized(k1, txn(1, 10)), authorized(k1, txn(2, 20))].map(m.record)
    // Positions 9, 10 and 11: as text, '9' sorts after '11' (the issue above the payments).
    const batch = renumbered(events, 9)
    await m.applyBatch(batch)
    const first = await m.ask(getCardHistory, { cardId: k1.cardId }, agent)
    expect(first.events.map((e) => e.position)).toEqual(['11', '10', '9'])
    // Each event's data, read from the log by its position.
    expect(first.events.map((e) => e.data)).toEqual(batch.toReversed().map((e) => e.data))
    const walked: string[] = []
    let cursor: string | null | undefined
    do {
      const page = await m.ask(
        getCardHistory,
        { cardId: k1.cardId, limit: 1, ...(cursor ? { cursor } : {}) },
        agent,
      )
      walked.push(...page.events.map((e) => e.position))
      cursor = page.nextCursor
    } while (cursor)
    expect(walked).toEqual(['11', '10', '9'])
  })

  it('applies a version 1 generation (each event’s data kept, NOT NULL) as version 1 did, until the switch', async () => {
    const m = await given()
    const events = m.table(historyModel, 'card_events')
    // The table as version 1 made it: this code applies it after an upgrade, while version 2 is built.
    await m.query(`ALTER TABLE ${events} ADD COLUMN data jsonb NOT NULL`)
    const batch = [issued(k1), authorized(k1, txn(1, 10))].map(m.record)
    await m.applyBatch(batch)
    const rows = await m.query<{ data: unknown }>(`SELECT data FROM ${events} ORDER BY position`)
    expect(rows.map((r) => r.data)).toEqual(batch.map((e) => e.data))
    const history = await m.ask(getCardHistory, { cardId: k1.cardId }, agent)
    expect(history.events.map((e) => e.data)).toEqual(batch.toReversed().map((e) => e.data))
  })

  it('answers no other card’s data where the read model is not the log’s: an error instead', async () => {
    const m = await given()
    const batch = [issued(k1), issued(k2)].map(m.record)
    await m.applyBatch(batch)
    // A row naming a position where the log holds another card's event (a read database of another log).
    await m.query(
      `INSERT INTO ${m.table(historyModel, 'card_events')} (card_id, position, type, at, actor)
       VALUES ($1, $2, 'CardIssued', '2031-01-01T00:00:00.000Z', 'x')`,
      [k1.cardId, batch[1]?.position],
    )
    await expect(m.ask(getCardHistory, { cardId: k1.cardId }, agent)).rejects.toThrow(
      /the read database is not this log's/,
    )
    // The same card id in another deployment (ids can be chosen), its event at the same position:
    // the row's own time or transaction tells them apart.
    const other = await given()
    const mine = [issued(k1), authorized(k1, txn(1, 10))].map(other.record)
    await other.applyBatch(mine)
    const table = other.table(historyModel, 'card_events')
    await other.query(`UPDATE ${table} SET at = '2031-06-01T00:00:00.000Z' WHERE position = $1`, [
      mine[1]?.position,
    ])
    await expect(other.ask(getCardHistory, { cardId: k1.cardId }, agent)).rejects.toThrow(
      /the read database is not this log's/,
    )
    await other.query(`UPDATE ${table} SET at = $2, transaction_id = gen_random_uuid() WHERE position = $1`, [
      mine[1]?.position,
      mine[1]?.data.at,
    ])
    await expect(other.ask(getCardHistory, { cardId: k1.cardId }, agent)).rejects.toThrow(
      /the read database is not this log's/,
    )
  })

  it('starts at the issue: declines of the card id before it (CARD_NOT_FOUND) are no one’s to read', async () => {
    const m = await given()
    await m.apply(declinedUnknown(k1.cardId, txn(1, 1)), declinedUnknown(k1.cardId, txn(2, 2)))
    await m.apply(issued(k1), authorized(k1, txn(3, 10)))
    for (const caller of [kim, agent]) {
      const history = await m.ask(getCardHistory, { cardId: k1.cardId }, caller)
      expect(history.events.map((e) => e.type)).toEqual(['TransactionAuthorized', 'CardIssued'])
      const asOfThen = await m.ask(getCardHistory, { cardId: k1.cardId, at: at(5) }, caller)
      expect(asOfThen.events.map((e) => e.type)).toEqual(['CardIssued'])
    }
  })
})
