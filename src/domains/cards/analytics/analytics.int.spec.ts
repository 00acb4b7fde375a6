import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { logSettled, modes, startTestTandem, type TestTandem } from '../../../kernel/testing.js'
import { agent, cardsTestDomain, commands as c, issue, network, payment, run } from '../testing/cards.js'
import { openCardAnalytics, type CardAnalytics } from './index.js'
import type { SpendingEngine } from '../projections/engine.js'
import { rollupEngine } from '../projections/rollup-engine.js'
import { duckdbSpendingEngine, shiftMonth } from './spending-engine.js'
import {
  bruteDayRows,
  bruteMonthRows,
  bruteProductMonthRows,
  canonical,
  factsFromWriteModel,
  type Fact,
} from './testing/brute-force.js'

type Decision = { transactionId: string; decision: string }
const day = 86_400_000
const merchants = [
  { merchantId: 'cafe-1', merchantName: 'Cafe', mcc: '5814' },
  { merchantId: 'mart-1', merchantName: 'Mart', mcc: '5411' },
  { merchantId: 'rail-1', merchantName: 'Rail', mcc: '4112' },
  { merchantId: 'hotel-1', merchantName: 'Hotel', mcc: '7011' },
  { merchantId: 'clinic-1', merchantName: 'Clinic', mcc: '8011' },
]

/** A seeded generator: the same payments every run, whatever the order the specs run in. */
function random(seed: number) {
  let s = seed >>> 0
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32
  return { next, pick: <T>(list: readonly T[]) => list[Math.floor(next() * list.length)] as T }
}

describe.each(modes)('cards analytics on DuckDB (%s)', (mode) => {
  let t: TestTandem
  const dir = mkdtempSync(join(tmpdir(), 'cards-duckdb-'))
  const customers = ['ana', 'ben', 'cho'].map((name) => `${name}-${randomUUID().slice(0, 8)}`)
  const cards: { cardId: string; customerId: string }[] = []
  const unknownDeclines: Fact[] = []
  const r = random(mode === 'embedded' ? 7 : 11)

  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [cardsTestDomain] })
    for (const [k, customerId] of customers.entries()) {
      for (const product of ['classic', 'gold', 'platinum'].slice(0, k + 1))
        cards.push({ cardId: await issue(t, { customerId, product, creditLimit: 400_000 }), customerId })
    }
  })
  afterAll(async () => {
    await t.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  /** `count` random payments, each followed at random by a capture, reversal, adjustment or failure. */
  async function pay(count: number) {
    for (let i = 0; i < count; i++) {
      const { cardId } = r.pick(cards)
      const merchant = r.pick(merchants)
      const occurredAt = new Date(Date.now() - Math.floor(r.next() * 40) * day * 0.7).toISOString()
      const amount = 1_000 + Math.floor(r.next() * 150_000)
      const sent = payment(cardId, amount, { ...merchant, occurredAt })
      const { transactionId, decision } = await run<Decision>(t, c.authorizeTransaction, sent, network)
      if (decision !== 'approved') continue
      const then = r.next()
      const update = (action: string, extra: Record<string, unknown> = {}) =>
        run(t, c.updateTransaction, { transactionId, action, ...extra }, agent).catch(() => undefined)
      if (then < 0.3) await update('capture', then < 0.15 ? { amount: Math.ceil(amount / 2) } : {})
      else if (then < 0.4) await update('reverse')
      else if (then < 0.5) await update('adjust', { amount: Math.ceil(amount * 0.8) })
      else if (then < 0.6) {
        await update('capture')
        await run(t, c.markTransactionFailed, { transactionId, reason: 'settlement failed' }, agent)
      }
    }
    // A decline for a card nobody issued: no row in the write model, a fact all the same.
    const cardId = randomUUID()
    const occurredAt = new Date().toISOString()
    await run(t, c.authorizeTransaction, payment(cardId, 5_000, { ...merchants[0], occurredAt }), network)
    unknownDeclines.push({
      ...{ customerId: null, cardId, product: null, merchantId: 'cafe-1', mcc: '5814', occurredAt },
      ...{ currency: 'KRW', posted: 0, pending: 0, count: 0, declined: 1 },
    })
  }

  /** Every question the engine answers, against brute force over the write model's rows. */
  async function expectBruteForce(engine: CardAnalytics) {
    const facts = [...(await factsFromWriteModel(t.sql)), ...unknownDeclines]
    const today = new Date().toISOString().slice(0, 10)
    const from = new Date(Date.now() - 30 * day).toISOString().slice(0, 10)
    const [first, last] = [shiftMonth(from.slice(0, 7), -1), today.slice(0, 7)]
    expect(facts.some((f) => f.posted > 0) && facts.some((f) => f.pending > 0)).toBe(true)
    for (const customerId of customers) {
      expect(canonical(await engine.monthRows(customerId, first, last))).toEqual(
        bruteMonthRows(facts, customerId, first, last),
      )
      const of = { customerId }
      expect(canonical(await engine.dayRows(of, from, today))).toEqual(bruteDayRows(facts, of, from, today))
      expect(canonical(await engine.productMonthRows(customerId, first, last))).toEqual(
        bruteProductMonthRows(facts, customerId, first, last),
      )
    }
    for (const { merchantId, merchantName } of merchants) {
      const of = { merchantId }
      expect(canonical(await engine.dayRows(of, from, today))).toEqual(bruteDayRows(facts, of, from, today))
      expect(await engine.merchantName(merchantId, from, today)).toBe(merchantName)
    }
    expect(canonical(await engine.dayRows(null, from, today))).toEqual(bruteDayRows(facts, null, from, today))
    expect(canonical(await engine.productMonthRows(null, first, last))).toEqual(
      bruteProductMonthRows(facts, null, first, last),
    )
  }

  it('answers every question as brute force over the write model does', { timeout: 60_000 }, async () => {
    await pay(80)
    await logSettled(t.sql)
    const engine = await openCardAnalytics({ sql: t.sql, batchSize: 17 })
    try {
      expect(await engine.catchUp()).toBeGreaterThan(80)
      await expectBruteForce(engine)
      expect(await engine.catchUp()).toBe(0)
    } finally {
      await engine.close()
    }
  })

  it(
    'resumes after a restart and after a batch that failed before its commit: nothing lost, nothing doubled',
    { timeout: 60_000 },
    async () => {
      const path = join(dir, 'facts.duckdb')
      await logSettled(t.sql)
      let failures = 1
      const crashing = await openCardAnalytics({
        sql: t.sql,
        path,
        batchSize: 13,
        beforeCommit: () => {
          if (failures-- > 0) throw new Error('crash between the append and the commit')
        },
      })
      await expect(crashing.catchUp()).rejects.toThrow('crash between')
      expect((await crashing.storage()).rows).toBe(0)
      await crashing.catchUp()
      await crashing.close()
      await pay(30)
      await logSettled(t.sql)
      const reopened = await openCardAnalytics({ sql: t.sql, path, batchSize: 13 })
      try {
        await reopened.catchUp()
        const [logged] = await t.sql.query<{ n: number; last: string }>(
          `SELECT count(*)::int AS n, max(position)::text AS last FROM tandem.event_log
         WHERE type LIKE 'Transaction%' OR type = 'HoldExpired'`,
        )
        expect((await reopened.storage()).rows).toBe(logged?.n)
        await expectBruteForce(reopened)
        expect(await reopened.hasApplied(logged?.last ?? '')).toBe(true)
        expect(await reopened.hasApplied('999999999999')).toBe(false)
      } finally {
        await reopened.close()
      }
    },
  )

  it("answers the read side's questions as the SQL rollups do", { timeout: 30_000 }, async () => {
    await logSettled(t.sql)
    expect(await t.projections.caughtUp()).toBe(true)
    const engine = await openCardAnalytics({ sql: t.sql })
    try {
      await engine.catchUp()
      const duckdb = duckdbSpendingEngine(engine)
      const stores = t.projections.stores
      const today = new Date().toISOString().slice(0, 10)
      const from = new Date(Date.now() - 30 * day).toISOString().slice(0, 10)
      const month = today.slice(0, 7)
      const answers = (e: SpendingEngine) =>
        Promise.all([
          ...customers.map((customerId) => e.monthlySummary({ customerId, month, months: 2 }, stores)),
          ...merchants.map(({ merchantId }) =>
            e.merchantSummary({ merchantId, from, to: today, bucket: 'day' }, stores),
          ),
          e.spendingByDate({ customerId: null, from, to: today, bucket: 'month' }, stores),
          e.spendingByDate({ customerId: customers[0] ?? null, from, to: today, bucket: 'day' }, stores),
          e.spendingByProduct({ customerId: null, from: from.slice(0, 7), to: month }, stores),
        ])
      const expected = await answers(rollupEngine)
      expect(expected.length).toBeGreaterThan(0)
      expect(await answers(duckdb)).toEqual(expected)
    } finally {
      await engine.close()
    }
  })

  it('answers for the calendar’s last day and month as the rollups do', { timeout: 30_000 }, async () => {
    const engine = await openCardAnalytics({ sql: t.sql })
    try {
      await engine.catchUp()
      const duckdb = duckdbSpendingEngine(engine)
      const stores = t.projections.stores
      const [last, month] = ['9999-12-31', '9999-12']
      const customerId = customers[0] as string
      const answers = (e: SpendingEngine) =>
        Promise.all([
          e.monthlySummary({ customerId, month, months: 2 }, stores),
          e.merchantSummary({ merchantId: 'cafe-1', from: last, to: last, bucket: 'day' }, stores),
          e.merchantSummary({ merchantId: 'cafe-1', from: '9999-01-01', to: last, bucket: 'month' }, stores),
          e.spendingByDate({ customerId, from: last, to: last, bucket: 'day' }, stores),
          e.spendingByProduct({ customerId: null, from: '9999-11', to: month }, stores),
        ])
      expect(await answers(duckdb)).toEqual(await answers(rollupEngine))
    } finally {
      await engine.close()
    }
  })

  it(
    'names a merchant as the rollups do: the newest day’s last reported payment',
    { timeout: 30_000 },
    async () => {
      const { cardId } = cards[0] ?? { cardId: '' }
      const now = Date.now()
      const at = (ms: number) => new Date(ms).toISOString()
      const renamed = `renamed-${randomUUID().slice(0, 8)}`
      const late = `late-${randomUUID().slice(0, 8)}`
      const pay = (merchantId: string, merchantName: string, occurredAt: string, currency = 'KRW') =>
        run(
          t,
          c.authorizeTransaction,
          payment(cardId, 1_000, { merchantId, merchantName, mcc: '5411', occurredAt, currency }),
          network,
        )
      // Renamed today; a payment from two days ago reported after it keeps the old name on its own day.
      await pay(renamed, 'New Name', at(now - 60_000))
      await pay(renamed, 'Old Name', at(now - 2 * day))
      // Two currencies on the newest day: the payment reported last names it (a decline counts too).
      await pay(late, 'First', at(now - 30_000))
      await pay(late, 'Reported last', at(now - 30_000), 'USD')
      await logSettled(t.sql)
      await expect.poll(() => t.projections.caughtUp(), { timeout: 20_000 }).toBe(true)
      const engine = await openCardAnalytics({ sql: t.sql })
      try {
        await engine.catchUp()
        const duckdb = duckdbSpendingEngine(engine)
        const stores = t.projections.stores
        const today = at(now).slice(0, 10)
        const names = (e: SpendingEngine) =>
          Promise.all(
            [
              { merchantId: renamed, from: at(now - 30 * day).slice(0, 10), to: today },
              {
                merchantId: renamed,
                from: at(now - 3 * day).slice(0, 10),
                to: at(now - 2 * day).slice(0, 10),
              },
              { merchantId: late, from: at(now - 30 * day).slice(0, 10), to: today },
              // No payment in the range: the newest at all.
              { merchantId: late, from: '2000-01-01', to: '2000-01-31' },
            ].map(
              async (range) => (await e.merchantSummary({ ...range, bucket: 'day' }, stores)).merchantName,
            ),
          )
        const expected = ['New Name', 'Old Name', 'Reported last', 'Reported last']
        expect(await names(rollupEngine)).toEqual(expected)
        expect(await names(duckdb)).toEqual(expected)
      } finally {
        await engine.close()
      }
    },
  )

  it('reads once when the log holds none of its events, however far the horizon moves', async () => {
    // Every transaction the database runs moves the horizon: a reader that read again while it moved
    // never stopped while other domains wrote.
    let reads = 0
    let horizon = 1_000
    const path = join(dir, 'horizon.duckdb')
    const source = () => {
      reads++
      horizon += 5
      return Promise.resolve({ events: [], horizon: String(horizon) })
    }
    const engine = await openCardAnalytics({ sql: t.sql, path, source })
    try {
      expect(await engine.catchUp()).toBe(0)
      expect(reads).toBe(1)
      expect(await engine.catchUp()).toBe(0)
      expect(reads).toBe(2)
      expect((await engine.checkpoint()).txId).toBe('1009')
    } finally {
      await engine.close()
    }
    // The move kept in memory is written at the close: the next process starts past those events.
    const reopened = await openCardAnalytics({ sql: t.sql, path, source })
    try {
      expect((await reopened.checkpoint()).txId).toBe('1009')
    } finally {
      await reopened.close()
    }
  })

  it('follows the log: a new payment shows within the poll', { timeout: 30_000 }, async () => {
    const engine = await openCardAnalytics({ sql: t.sql })
    try {
      await logSettled(t.sql)
      await engine.catchUp()
      engine.follow(20)
      const customerId = customers[0] as string
      const card = cards.find((x) => x.customerId === customerId)?.cardId as string
      const pending = async () =>
        (await engine.dayRows({ customerId }, '2000-01-01', '2099-12-31')).reduce((s, d) => s + d.pending, 0)
      const before = await pending()
      await run(t, c.authorizeTransaction, payment(card, 1_234, merchants[1]), network)
      await expect.poll(pending, { timeout: 5_000 }).toBe(before + 1_234)
    } finally {
      await engine.close()
    }
  })
  it('closes once the reads asked for before are answered; a read after the close is refused', async () => {
    const engine = await openCardAnalytics({ sql: t.sql, readers: 2 })
    await engine.catchUp()
    const customerId = customers[0] as string
    // Two connections: most of these wait for one when the close comes.
    const reads = Array.from({ length: 20 }, () => engine.monthRows(customerId, '2000-01', '2099-12'))
    await engine.close()
    const settled = await Promise.allSettled(reads)
    expect(settled.filter((r) => r.status === 'rejected')).toEqual([])
    await expect(engine.monthRows(customerId, '2000-01', '2099-12')).rejects.toThrow('closed')
  })
})
