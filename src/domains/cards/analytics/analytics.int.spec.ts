import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modes, startTestTandem, type TestTandem } from '../../../kernel/testing.js'
import { agent, cardsTestDomain, commands as c, issue, network, payment, run } from '../testing/cards.js'
import { openCardAnalytics, type CardAnalytics } from './index.js'
import {
  bruteByDate,
  bruteByProduct,
  bruteMerchant,
  bruteMonthly,
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
      ...{ spent: 0, approved: 0, declined: 1 },
    })
  }

  /** Every question the engine answers, against brute force over the write model's rows. */
  async function expectBruteForce(engine: CardAnalytics) {
    const facts = [...(await factsFromWriteModel(t.sql)), ...unknownDeclines]
    const today = new Date().toISOString().slice(0, 10)
    const from = new Date(Date.now() - 30 * day).toISOString().slice(0, 10)
    const months = [...new Set(facts.map((f) => f.occurredAt.slice(0, 7)))]
    expect(months.length).toBeGreaterThan(0)
    for (const customerId of customers) {
      for (const month of months)
        expect(await engine.monthlySpending({ customerId, month })).toEqual(
          bruteMonthly(facts, customerId, month),
        )
      expect(await engine.spendingByDate({ customerId, from, to: today })).toEqual(
        bruteByDate(facts, { customerId, from, to: today }),
      )
    }
    for (const { merchantId } of merchants) {
      for (const bucket of ['day', 'month'] as const) {
        const input = { merchantId, from, to: today, bucket }
        expect(await engine.merchantSummary(input)).toEqual(bruteMerchant(facts, input))
      }
    }
    expect(await engine.spendingByDate({ from, to: today })).toEqual(bruteByDate(facts, { from, to: today }))
    expect(await engine.spendingByProduct({ from, to: today })).toEqual(
      bruteByProduct(facts, { from, to: today }),
    )
    const spent = facts.reduce((s, f) => s + f.spent, 0)
    expect(spent).toBeGreaterThan(0)
  }

  it('answers every question as brute force over the write model does', { timeout: 60_000 }, async () => {
    await pay(80)
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

  it('follows the log: a new payment shows within the poll', { timeout: 30_000 }, async () => {
    const engine = await openCardAnalytics({ sql: t.sql })
    try {
      await engine.catchUp()
      engine.follow(20)
      const customerId = customers[0] as string
      const card = cards.find((x) => x.customerId === customerId)?.cardId as string
      const before = (
        await engine.spendingByDate({ customerId, from: '2000-01-01', to: '2100-01-01' })
      ).reduce((s, d) => s + d.total, 0)
      await run(t, c.authorizeTransaction, payment(card, 1_234, merchants[1]), network)
      await expect
        .poll(
          async () =>
            (await engine.spendingByDate({ customerId, from: '2000-01-01', to: '2100-01-01' })).reduce(
              (s, d) => s + d.total,
              0,
            ),
          { timeout: 5_000 },
        )
        .toBe(before + 1_234)
    } finally {
      await engine.close()
    }
  })
})
