import type { SqlClient } from '../../../../kernel/index.js'
import { categoryOf } from '../../projections/categories.js'
import type { DayRow, MonthRow, ProductMonthRow, Sums } from '../queries.js'

/**
 * The analytics rows computed by brute force, for the specs: from the write model's rows (each
 * transaction's status, hold and posted now), grouped in plain JS, not from the events. A decline
 * for an unknown card has no row: the spec adds those it sent.
 */
export interface Fact extends Sums {
  customerId: string | null
  cardId: string
  product: MonthRow['product'] | null
  merchantId: string
  mcc: string
  occurredAt: string
}

export async function factsFromWriteModel(sql: SqlClient): Promise<Fact[]> {
  return sql.query<Fact>(
    `SELECT c.customer_id AS "customerId", t.card_id::text AS "cardId", c.product, t.merchant_id AS "merchantId",
            t.mcc, t.currency, to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
            t.posted::float8 AS posted, t.hold::float8 AS pending,
            (t.status IN ('authorized', 'captured'))::int AS count, (t.status = 'declined')::int AS declined
     FROM cards.card_transaction t JOIN cards.card c USING (card_id)`,
  )
}

const month = (f: Fact) => f.occurredAt.slice(0, 7)
const day = (f: Fact) => f.occurredAt.slice(0, 10)

/** Facts summed by a key (with the currency), zero groups left out, in a canonical order. */
function grouped<K extends object>(facts: readonly Fact[], keyOf: (f: Fact) => K): (K & Sums)[] {
  const groups = new Map<string, K & Sums>()
  for (const f of facts) {
    const key = { ...keyOf(f), currency: f.currency }
    const id = JSON.stringify(key)
    const g = groups.get(id) ?? { ...key, posted: 0, pending: 0, count: 0, declined: 0 }
    g.posted += f.posted
    g.pending += f.pending
    g.count += f.count
    g.declined += f.declined
    groups.set(id, g)
  }
  return canonical([...groups.values()])
}

/** Rows without the all-zero ones, sorted by their text: two engines' rows compare equal this way. */
export function canonical<R extends Sums>(rows: readonly R[]): R[] {
  return rows
    .filter((r) => r.posted !== 0 || r.pending !== 0 || r.count !== 0 || r.declined !== 0)
    .toSorted((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
}

export const bruteMonthRows = (facts: readonly Fact[], customerId: string, from: string, to: string) =>
  grouped(
    facts.filter((f) => f.customerId === customerId && month(f) >= from && month(f) <= to),
    (f): Omit<MonthRow, keyof Sums> => ({
      month: month(f),
      cardId: f.cardId,
      product: f.product ?? 'classic',
      category: categoryOf(f.mcc),
    }),
  )

export const bruteDayRows = (
  facts: readonly Fact[],
  of: { merchantId: string } | { customerId: string } | null,
  from: string,
  to: string,
): DayRow[] =>
  grouped(
    facts.filter(
      (f) =>
        day(f) >= from &&
        day(f) <= to &&
        // Everyone's days are every customer's: a decline for an unknown card has no customer.
        (of === null
          ? f.customerId !== null
          : 'merchantId' in of
            ? f.merchantId === of.merchantId
            : f.customerId === of.customerId),
    ),
    (f) => ({ day: day(f) }),
  )

export const bruteProductMonthRows = (
  facts: readonly Fact[],
  customerId: string | null,
  from: string,
  to: string,
): ProductMonthRow[] =>
  grouped(
    facts.filter(
      (f) =>
        f.product !== null &&
        month(f) >= from &&
        month(f) <= to &&
        (customerId === null || f.customerId === customerId),
    ),
    (f) => ({ month: month(f), product: f.product ?? 'classic' }),
  )
