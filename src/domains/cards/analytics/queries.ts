import type { DayRow, MonthRow, ProductMonthRow, Sums } from '../projections/engine.js'
import { categorySql } from './categories.js'

/**
 * The analytics questions, answered by aggregating the fact table at read time (no rollup kept),
 * as rows at the grain of the SQL rollups (projections/engine.ts: a customer's month by card and
 * category, a day of a merchant, a customer or everyone, a product's month), each per currency. The
 * read side shapes rows into answers with the same functions for every engine, so two engines that
 * give the same rows give the same answers. DuckDB scans only the columns a question names and skips
 * the row groups whose `occurred_at` range (zone map) misses the period asked. Months and days are
 * UTC, by when the cardholder paid (`occurredAt`).
 */

/** Runs a read on one of the engine's connections; rows come back as plain JS values. */
export type Read = <R>(text: string, params: readonly (string | number)[]) => Promise<R[]>

export type { DayRow, MonthRow, ProductMonthRow, Sums }

const sums = `currency, sum(posted)::DOUBLE AS posted, sum(pending)::DOUBLE AS pending,
  sum(count)::INTEGER AS count, sum(declined)::INTEGER AS declined`
const month = `strftime(occurred_at, '%Y-%m')`
const day = `strftime(occurred_at, '%Y-%m-%d')`
/** Orders events by day, then by log position (zero-padded to compare as text). */
const newest = `${day} || lpad(CAST(position AS VARCHAR), 20, '0')`
/** `YYYY-MM` to its first day. */
const monthStart = (m: string) => `${m}-01`
/**
 * From the first day `$1` to the end of the day or month that begins on `$2`, both `YYYY-MM-DD`: the
 * end is reckoned in SQL, where the day after 9999-12-31 is a timestamp still (in JavaScript it is
 * `+010000-01-01`, which DuckDB does not read).
 */
const within = (unit: 'DAY' | 'MONTH') =>
  `occurred_at >= $1::TIMESTAMP AND occurred_at < $2::TIMESTAMP + INTERVAL 1 ${unit}`
/**
 * The facts of one customer (`$3`): alone in its subquery, the equality is answered from the
 * column's ART index (a customer has a few hundred facts, under DuckDB's index scan limits), and
 * OFFSET 0 keeps the time range from being merged into that scan, which makes it a full scan again
 * (on 2,000,000 synthetic facts, a month question took about a quarter of the time this way).
 */
const customerFacts = `(SELECT * FROM card_transaction_fact WHERE customer_id = $3 OFFSET 0) AS f`

/**
 * A customer's rows of the months `from` to `to` (both `YYYY-MM`, included), by card and category.
 * The category is mapped after a first grouping by code, so its CASE runs over a few groups, not
 * over every fact.
 */
export function monthRows(read: Read, customerId: string, from: string, to: string): Promise<MonthRow[]> {
  return read<MonthRow>(
    `SELECT month, "cardId", any_value(product) AS product, ${categorySql} AS category, ${sums}
     FROM (
       SELECT ${month} AS month, card_id AS "cardId", any_value(product) AS product, mcc, currency,
              sum(posted) AS posted, sum(pending) AS pending, sum(count) AS count, sum(declined) AS declined
       FROM ${customerFacts} WHERE ${within('MONTH')}
       GROUP BY month, "cardId", mcc, currency)
     GROUP BY month, "cardId", category, currency`,
    [monthStart(from), monthStart(to), customerId],
  )
}

/** Days `from` to `to` (included) of a merchant, a customer, or (neither) everyone's, oldest first. */
export function dayRows(
  read: Read,
  of: { merchantId: string } | { customerId: string } | null,
  from: string,
  to: string,
): Promise<DayRow[]> {
  // A merchant's facts are many (a popular one takes a share of every day): scanned, pruned by time.
  const facts = of !== null && 'customerId' in of ? customerFacts : 'card_transaction_fact'
  // Everyone's days are the sum of every customer's: a decline for an unknown card has no customer.
  const filter =
    of === null ? 'AND customer_id IS NOT NULL' : 'merchantId' in of ? 'AND merchant_id = $3' : ''
  const key = of === null ? [] : ['merchantId' in of ? of.merchantId : of.customerId]
  return read<DayRow>(
    `SELECT ${day} AS day, ${sums} FROM ${facts} WHERE ${within('DAY')} ${filter}
     GROUP BY day, currency ORDER BY day, currency`,
    [from, to, ...key],
  )
}

/**
 * The name the merchant's newest payment gave: of the newest day in the range, the event with the
 * greatest log position; else the same over every day. As the rollups keep it (spending.ts), so both
 * engines name a merchant alike.
 */
export async function merchantName(
  read: Read,
  merchantId: string,
  from: string,
  to: string,
): Promise<string | null> {
  const [row] = await read<{ inRange: string | null; newest: string | null }>(
    `SELECT arg_max(merchant_name, ${newest}) FILTER (WHERE ${within('DAY')}) AS "inRange",
            arg_max(merchant_name, ${newest}) AS newest
     FROM card_transaction_fact WHERE merchant_id = $3`,
    [from, to, merchantId],
  )
  return row?.inRange ?? row?.newest ?? null
}

/** Product months `from` to `to` (`YYYY-MM`, included), of a customer or (null) everyone's. */
export function productMonthRows(
  read: Read,
  customerId: string | null,
  from: string,
  to: string,
): Promise<ProductMonthRow[]> {
  return read<ProductMonthRow>(
    `SELECT ${month} AS month, product, ${sums} FROM ${customerId === null ? 'card_transaction_fact' : customerFacts}
     WHERE ${within('MONTH')} AND product IS NOT NULL
     GROUP BY month, product, currency ORDER BY month, product, currency`,
    [monthStart(from), monthStart(to), ...(customerId === null ? [] : [customerId])],
  )
}
