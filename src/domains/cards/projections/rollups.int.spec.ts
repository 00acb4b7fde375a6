import { describe, expect, it } from 'vitest'
import type { NewEvent } from '../../../kernel/index.js'
import { modes, projectionSpec, type ReadModel } from '../../../kernel/testing.js'
import { categoryOf } from './categories.js'
import { spending } from './index.js'
import { recentModel, recentTransactionsProjection, txnKey } from './recent.js'
import type { RecentTransaction, Spending } from './schemas.js'
import { spendingProjection } from './spending.js'
import {
  adjusted,
  admin,
  authorized,
  captured,
  card,
  customer,
  declined,
  declinedUnknown,
  expired,
  failed,
  issued,
  reversed,
  tid,
  type TestCard,
  type TestTxn,
} from './testing.js'

/**
 * The rollups against brute force: random transactions over three months (captured in part or in
 * whole, adjusted up and down, reversed, expired, failed before and after capture, declined, and
 * declines of unknown cards), applied in batches; every analytics answer equals the same figures
 * summed straight from each transaction's final state.
 */

/** A small deterministic generator (mulberry32), so a failure can be run again. */
function random(seed: number) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const cards: TestCard[] = [
  card(1, 'kim', 'gold'),
  card(2, 'kim', 'classic'),
  card(3, 'lee', 'platinum'),
  card(4, 'lee', 'gold', 'USD'),
  card(5, 'park', 'classic'),
]
const merchants = ['cafe-1', 'mart-2', 'hotel-3', 'rail-4']
const mccs = ['5411', '5814', '7011', '4112', '5541', '5968', '1234']

interface Final {
  txn: TestTxn
  card: TestCard | null
  status: RecentTransaction['status']
  hold: number
  posted: number
}

/** Transactions with random lives; each one's events in order, and its final state. */
function scenario(seed: number, n: number) {
  const r = random(seed)
  const pick = <T>(list: readonly T[]) => list[Math.floor(r() * list.length)] as T
  const amount = () => 1000 + Math.floor(r() * 99) * 1000
  const lives: NewEvent[][] = []
  const finals: Final[] = []
  for (let i = 1; i <= n; i++) {
    const c = pick(cards)
    const day = Date.UTC(2031, 0, 1) + Math.floor(r() * 90) * 86_400_000 + Math.floor(r() * 86_400_000)
    const txn: TestTxn = {
      transactionId: tid(i),
      amount: amount(),
      merchantId: pick(merchants),
      mcc: pick(mccs),
      occurredAt: new Date(day).toISOString(),
    }
    const later = (k: number) => new Date(day + k * 3_600_000).toISOString()
    const roll = r()
    if (roll < 0.05) {
      lives.push([declinedUnknown('0190c000-0000-7000-8000-ffffffffffff', txn)])
      finals.push({ txn, card: null, status: 'declined', hold: 0, posted: 0 })
      continue
    }
    if (roll < 0.15) {
      lives.push([declined(c, txn)])
      finals.push({ txn, card: c, status: 'declined', hold: 0, posted: 0 })
      continue
    }
    const life: NewEvent[] = [authorized(c, txn)]
    let hold = txn.amount
    if (r() < 0.3) {
      const to = Math.max(1000, hold + (r() < 0.5 ? -1 : 1) * 1000 * Math.floor(r() * 10))
      life.push(adjusted(c, txn, hold, to, later(1)))
      hold = to
    }
    const end = r()
    let final: Final = { txn, card: c, status: 'authorized', hold, posted: 0 }
    if (end < 0.45) {
      const amount = r() < 0.5 ? hold : Math.max(1, Math.floor(hold * r()))
      life.push(captured(c, txn, hold, amount, later(2)))
      final = { ...final, status: 'captured', hold: 0, posted: amount }
      if (r() < 0.15) {
        life.push(failed(c, txn, { hold, posted: amount }, later(3)))
        final = { ...final, status: 'failed', posted: 0 }
      }
    } else if (end < 0.6) {
      life.push(reversed(c, txn, hold, later(2)))
      final = { ...final, status: 'reversed', hold: 0 }
    } else if (end < 0.7) {
      life.push(expired(c, txn, hold, later(2)))
      final = { ...final, status: 'expired', hold: 0 }
    } else if (end < 0.8) {
      life.push(failed(c, txn, { hold, posted: 0 }, later(2)))
      final = { ...final, status: 'failed', hold: 0 }
    }
    lives.push(life)
    finals.push(final)
  }
  // Interleave the lives at random, each one's events kept in order (as one card's stream keeps them).
  const events: NewEvent[] = []
  const queues = lives.map((l) => [...l])
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0)
    events.push(pick(open).shift() as NewEvent)
  }
  return { events, finals }
}

type Figures = Omit<Spending, 'currency'>
const add = (map: Map<string, Figures>, key: string, f: Final) => {
  const counts = f.status === 'authorized' || f.status === 'captured'
  const into = map.get(key) ?? { amount: 0, posted: 0, pending: 0, count: 0, declined: 0 }
  into.amount += f.hold + f.posted
  into.posted += f.posted
  into.pending += f.hold
  into.count += counts ? 1 : 0
  into.declined += f.status === 'declined' ? 1 : 0
  map.set(key, into)
}
/** Brute force: final states summed by a key; rows that hold nothing left out, as the answers do. */
function expected(finals: readonly Final[], keyOf: (f: Final) => string | undefined) {
  const map = new Map<string, Figures>()
  for (const f of finals) {
    const key = keyOf(f)
    if (key !== undefined) add(map, key, f)
  }
  for (const [key, v] of map) if (v.amount === 0 && v.count === 0 && v.declined === 0) map.delete(key)
  return Object.fromEntries([...map].toSorted(([a], [b]) => (a < b ? -1 : 1)))
}
/** An answer's rows as the same map. */
function answered<R extends Spending>(rows: readonly R[], keyOf: (row: R) => string) {
  const map = new Map<string, Figures>()
  for (const row of rows) {
    const { amount, posted, pending, count, declined } = row
    map.set(keyOf(row), { amount, posted, pending, count, declined })
  }
  return Object.fromEntries([...map].toSorted(([a], [b]) => (a < b ? -1 : 1)))
}

const currencyOf = (f: Final) => f.card?.currency ?? 'KRW'
const dayOf = (f: Final) => f.txn.occurredAt.slice(0, 10)
const monthOf = (f: Final) => f.txn.occurredAt.slice(0, 7)

describe.each(modes)('cards spending rollups against brute force (%s)', (mode) => {
  const given = projectionSpec(mode, [spendingProjection, recentTransactionsProjection])

  it.each([1, 2, 3])(
    'seed %i: every answer equals the sums over each transaction’s final state',
    async (seed) => {
      const { events, finals } = scenario(seed, 160)
      const m: ReadModel = await given(...cards.map((c) => issued(c)))
      for (let i = 0; i < events.length; i += 37) await m.apply(...events.slice(i, i + 37))

      for (const who of ['kim', 'lee', 'park']) {
        const mine = finals.filter((f) => f.card?.customerId === who)
        const summary = await m.ask(
          spending.getMonthlySpendingSummary,
          { month: '2031-03', months: 2 },
          customer(who),
        )
        const march = mine.filter((f) => monthOf(f) === '2031-03')
        expect(answered(summary.totals, (r) => r.currency)).toEqual(expected(march, currencyOf))
        expect(answered(summary.byCategory, (r) => `${r.category}|${r.currency}`)).toEqual(
          expected(march, (f) => `${categoryOf(f.txn.mcc ?? '')}|${currencyOf(f)}`),
        )
        expect(answered(summary.byCard, (r) => `${r.cardId}|${r.product}|${r.currency}`)).toEqual(
          expected(march, (f) => `${f.card?.cardId}|${f.card?.product}|${currencyOf(f)}`),
        )
        const trend = answered(summary.trend, (r) => `${r.month}|${r.currency}`)
        const nonEmpty = Object.fromEntries(
          Object.entries(trend).filter(([, v]) => v.amount || v.count || v.declined),
        )
        expect(nonEmpty).toEqual(expected(mine, (f) => `${monthOf(f)}|${currencyOf(f)}`))

        const byDay = await m.ask(
          spending.getSpendingByDate,
          { from: '2031-01-01', to: '2031-03-31' },
          customer(who),
        )
        expect(answered(byDay.buckets, (r) => `${r.start}|${r.currency}`)).toEqual(
          expected(mine, (f) => `${dayOf(f)}|${currencyOf(f)}`),
        )
        const byProduct = await m.ask(
          spending.getSpendingByProduct,
          { from: '2031-01', to: '2031-03' },
          customer(who),
        )
        expect(answered(byProduct.byMonth, (r) => `${r.month}|${r.product}|${r.currency}`)).toEqual(
          expected(mine, (f) => `${monthOf(f)}|${f.card?.product}|${currencyOf(f)}`),
        )
      }

      const known = finals.filter((f) => f.card !== null)
      const all = await m.ask(
        spending.getSpendingByDate,
        { from: '2031-01-01', to: '2031-03-31', bucket: 'month' },
        admin,
      )
      expect(answered(all.buckets, (r) => `${r.start}|${r.currency}`)).toEqual(
        expected(known, (f) => `${monthOf(f)}-01|${currencyOf(f)}`),
      )
      expect(answered(all.totals, (r) => r.currency)).toEqual(expected(known, currencyOf))
      const products = await m.ask(spending.getSpendingByProduct, { from: '2031-01', to: '2031-03' }, admin)
      expect(answered(products.products, (r) => `${r.product}|${r.currency}`)).toEqual(
        expected(known, (f) => `${f.card?.product}|${currencyOf(f)}`),
      )

      for (const merchantId of merchants) {
        const at = (f: Final) => (f.txn.merchantId === merchantId ? f : undefined)
        for (const bucket of ['day', 'month'] as const) {
          const answer = await m.ask(
            spending.getMerchantSummary,
            { merchantId, from: '2031-01-01', to: '2031-03-31', bucket },
            admin,
          )
          const start = (f: Final) => (bucket === 'day' ? dayOf(f) : `${monthOf(f)}-01`)
          expect(answered(answer.buckets, (r) => `${r.start}|${r.currency}`)).toEqual(
            expected(finals, (f) => (at(f) ? `${start(f)}|${currencyOf(f)}` : undefined)),
          )
        }
      }

      // The recent list shows each known transaction with its final status.
      const kv = m.kv(recentModel)
      for (const f of known) {
        const doc = await kv.json<RecentTransaction>(txnKey(f.txn.transactionId))
        expect({ id: f.txn.transactionId, status: doc?.status }).toEqual({
          id: f.txn.transactionId,
          status: f.status,
        })
        if (f.status === 'captured') expect(doc?.capturedAmount).toBe(f.posted)
      }
    },
  )
})
