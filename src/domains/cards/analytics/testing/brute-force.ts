import type { SqlClient } from '../../../../kernel/index.js'
import { categoryOf } from '../categories.js'
import type { DaySpending, MerchantSummary, MonthlySpending, ProductSpending } from '../queries.js'
import { shiftMonth } from '../queries.js'

/**
 * The analytics answers computed by brute force, for the specs: from the write model's rows (what
 * each transaction holds and posted now, its status), not from the events, in plain JS. A decline
 * for an unknown card has no row: the spec passes those it sent as `unknownCardDeclines`.
 */
export interface Fact {
  customerId: string | null
  cardId: string
  product: string | null
  merchantId: string
  mcc: string
  occurredAt: string
  spent: number
  approved: number
  declined: number
}

export async function factsFromWriteModel(sql: SqlClient): Promise<Fact[]> {
  return sql.query<Fact>(
    `SELECT c.customer_id AS "customerId", t.card_id::text AS "cardId", c.product, t.merchant_id AS "merchantId",
            t.mcc, to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
            (t.hold + t.posted)::float8 AS spent, (t.status <> 'declined')::int AS approved,
            (t.status = 'declined')::int AS declined
     FROM cards.card_transaction t JOIN cards.card c USING (card_id)`,
  )
}

const add = (into: { total: number; count: number }, f: Fact) => {
  into.total += f.spent
  into.count += f.approved
}
const month = (f: Fact) => f.occurredAt.slice(0, 7)
const day = (f: Fact) => f.occurredAt.slice(0, 10)
const sorted = <T extends { total: number }>(rows: T[], key: (r: T) => string) =>
  rows.sort((a, b) => b.total - a.total || key(a).localeCompare(key(b)))
/** Groups keep only keys that had a row (as GROUP BY does). */
function groups<K extends string>(facts: readonly Fact[], key: (f: Fact) => K) {
  const map = new Map<K, { total: number; count: number; declined: number; product: string | null }>()
  for (const f of facts) {
    const g = map.get(key(f)) ?? { total: 0, count: 0, declined: 0, product: f.product }
    add(g, f)
    g.declined += f.declined
    map.set(key(f), g)
  }
  return map
}

export function bruteMonthly(facts: readonly Fact[], customerId: string, m: string): MonthlySpending {
  const mine = facts.filter((f) => f.customerId === customerId)
  const inMonth = mine.filter((f) => month(f) === m)
  const total = (list: readonly Fact[]) => list.reduce((s, f) => s + f.spent, 0)
  const count = (list: readonly Fact[]) => list.reduce((s, f) => s + f.approved, 0)
  const trend = [-3, -2, -1].map((d) => {
    const list = mine.filter((f) => month(f) === shiftMonth(m, d))
    return { month: shiftMonth(m, d), total: total(list), count: count(list) }
  })
  const previous = trend[2]?.total ?? 0
  const byCategory = [...groups(inMonth, (f) => categoryOf(f.mcc))].map(([category, g]) => ({
    category,
    total: g.total,
    count: g.count,
  }))
  const byCard = [...groups(inMonth, (f) => f.cardId)].map(([cardId, g]) => ({
    cardId,
    product: g.product ?? '',
    total: g.total,
    count: g.count,
  }))
  return {
    customerId,
    month: m,
    total: total(inMonth),
    count: count(inMonth),
    byCategory: sorted(byCategory, (r) => r.category),
    byCard: sorted(byCard, (r) => r.cardId),
    trend,
    changeFromPrevious: previous > 0 ? total(inMonth) / previous - 1 : null,
  }
}

export function bruteMerchant(
  facts: readonly Fact[],
  input: { merchantId: string; from: string; to: string; bucket: 'day' | 'month' },
): MerchantSummary {
  const list = facts.filter(
    (f) => f.merchantId === input.merchantId && day(f) >= input.from && day(f) <= input.to,
  )
  const buckets = [...groups(list, (f) => (input.bucket === 'day' ? day(f) : month(f)))]
    .map(([period, g]) => ({ period, total: g.total, count: g.count, declined: g.declined }))
    .sort((a, b) => a.period.localeCompare(b.period))
  return {
    ...input,
    total: buckets.reduce((s, b) => s + b.total, 0),
    count: buckets.reduce((s, b) => s + b.count, 0),
    buckets,
  }
}

export function bruteByDate(
  facts: readonly Fact[],
  input: { customerId?: string; from: string; to: string },
): DaySpending[] {
  const list = facts.filter(
    (f) =>
      day(f) >= input.from && day(f) <= input.to && (!input.customerId || f.customerId === input.customerId),
  )
  return [...groups(list, day)]
    .map(([date, g]) => ({ date, total: g.total, count: g.count }))
    .sort((a, b) => a.date.localeCompare(b.date))
}

export function bruteByProduct(
  facts: readonly Fact[],
  input: { from: string; to: string },
): ProductSpending[] {
  const list = facts.filter((f) => f.product !== null && day(f) >= input.from && day(f) <= input.to)
  return [...groups(list, (f) => f.product ?? '')]
    .map(([product, g]) => ({ product, total: g.total, count: g.count }))
    .sort((a, b) => a.product.localeCompare(b.product))
}
