import { defineSqlProjection, indexName, unreachable, type Statement } from '../../../kernel/index.js'
import {
  HoldExpired,
  TransactionAdjusted,
  TransactionAuthorized,
  TransactionCaptured,
  TransactionDeclined,
  TransactionFailed,
  TransactionReversed,
  type TransactionEvent,
} from '../messages.js'
import { categoryOf } from './categories.js'

/**
 * The spending rollups, in the SQL store: pre-aggregated rows that the analytics queries read by
 * primary-key range, never scanning transactions. Each transaction event moves its rows by a delta
 * computed from the event alone (`moveOf`), so the rows are sums: the order events are applied in does
 * not matter and nothing is read to apply one (the runner applies each event once, its writes
 * committed with its checkpoint). One statement per event upserts every table it moves.
 *
 * Rows are keyed by the transaction's `occurredAt` (UTC day or month), and by currency: amounts in
 * two currencies are never summed.
 *
 * - `customer_month` (customer, month, card, category, currency) + product: a customer's month by
 *   category and by card, and the trend over previous months (get-monthly-spending-summary), and a
 *   customer's spending by product (get-spending-by-product).
 * - `customer_day` (customer, day, currency): a customer's spending by date.
 * - `merchant_day` (merchant, day, currency) + the merchant's name: get-merchant-summary, by day or
 *   month. Declines of unknown cards count here too.
 * - `product_day` (day, product, currency): spending of every customer by date and by product.
 */

export const spendingModel = 'cards-spending'

/** How one event moves a row: spending (posted, pending), approved payments counted, declines. */
export interface Move {
  posted: number
  pending: number
  count: number
  declined: number
}

const none: Move = { posted: 0, pending: 0, count: 0, declined: 0 }

/**
 * What "spending" counts, as deltas: an authorization adds its hold to pending; an adjustment moves
 * it; a capture turns the hold into posted (the rest released); a reversal, an expiry or a failure
 * takes away what it held (a failed capture takes back what it posted) and uncounts the payment.
 */
export function moveOf(event: TransactionEvent): Move {
  switch (event.type) {
    case 'TransactionAuthorized':
      return { ...none, pending: event.data.amount, count: 1 }
    case 'TransactionDeclined':
      return { ...none, declined: 1 }
    case 'TransactionAdjusted':
      return { ...none, pending: event.data.authorizedAmount - event.data.previousAmount }
    case 'TransactionCaptured':
      return { ...none, pending: -event.data.authorizedAmount, posted: event.data.capturedAmount }
    case 'TransactionReversed':
    case 'HoldExpired':
      return { ...none, pending: -event.data.releasedAmount, count: -1 }
    case 'TransactionFailed':
      return event.data.previousStatus === 'captured'
        ? { ...none, posted: -event.data.releasedAmount, count: -1 }
        : { ...none, pending: -event.data.releasedAmount, count: -1 }
    default:
      return unreachable(event)
  }
}

export const spendingEvents = [
  TransactionAuthorized,
  TransactionDeclined,
  TransactionCaptured,
  TransactionReversed,
  TransactionAdjusted,
  TransactionFailed,
  HoldExpired,
] as const

/** Cache tags: a customer's spending, a merchant's, everyone's. */
export const customerSpendingTag = (customerId: string) => `spending:customer:${customerId}`
export const merchantSpendingTag = (merchantId: string) => `spending:merchant:${merchantId}`
export const allSpendingTag = 'spending:all'

const sums = `posted bigint NOT NULL, pending bigint NOT NULL, count integer NOT NULL, declined integer NOT NULL`

export const spendingProjection = defineSqlProjection({
  domain: 'cards',
  name: spendingModel,
  version: 1,
  events: spendingEvents,
  tables: ['customer_month', 'customer_day', 'merchant_day', 'product_day'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('customer_month')} (
      customer_id text NOT NULL, month text COLLATE "C" NOT NULL, card_id uuid NOT NULL, category text NOT NULL,
      currency text NOT NULL, product text NOT NULL, ${sums},
      PRIMARY KEY (customer_id, month, card_id, category, currency));
    CREATE TABLE IF NOT EXISTS ${t('customer_day')} (
      customer_id text NOT NULL, day text COLLATE "C" NOT NULL, currency text NOT NULL, ${sums},
      PRIMARY KEY (customer_id, day, currency));
    CREATE TABLE IF NOT EXISTS ${t('merchant_day')} (
      merchant_id text NOT NULL, day text COLLATE "C" NOT NULL, currency text NOT NULL,
      merchant_name text NOT NULL, ${sums}, PRIMARY KEY (merchant_id, day, currency));
    CREATE TABLE IF NOT EXISTS ${t('product_day')} (
      day text COLLATE "C" NOT NULL, product text NOT NULL, currency text NOT NULL, ${sums},
      PRIMARY KEY (day, product, currency));
    -- The primary keys are the only ways in; this one names the merchant's newest day for its name.
    CREATE INDEX IF NOT EXISTS ${indexName(t('merchant_day'), 'newest')} ON ${t('merchant_day')} (merchant_id, day DESC)`,
  tags: ({ data }) => [
    merchantSpendingTag(data.merchantId),
    allSpendingTag,
    ...(data.customerId === null ? [] : [customerSpendingTag(data.customerId)]),
  ],
  async apply(event, tx, t) {
    tx.write(statementOf(event, t))
  },
})

/** One statement: an upsert per table the event moves, as data-modifying CTEs. */
export function statementOf(event: TransactionEvent, t: (name: string) => string): Statement {
  const d = event.data
  const m = moveOf(event)
  // $1..$4: the move; then the keys.
  const params: unknown[] = [m.posted, m.pending, m.count, m.declined]
  const p = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  const day = d.occurredAt.slice(0, 10)
  const upsert = (table: string, keys: Record<string, string>, more: Record<string, string> = {}) => {
    const columns = [...Object.keys(keys), ...Object.keys(more)]
    const values = [...Object.values(keys), ...Object.values(more)]
    const also = Object.keys(more).map((c) => `, ${c} = excluded.${c}`)
    return `INSERT INTO ${t(table)} AS r (${columns.join(', ')}, posted, pending, count, declined)
      VALUES (${values.join(', ')}, $1::bigint, $2::bigint, $3::int, $4::int)
      ON CONFLICT (${Object.keys(keys).join(', ')}) DO UPDATE SET posted = r.posted + excluded.posted,
        pending = r.pending + excluded.pending, count = r.count + excluded.count,
        declined = r.declined + excluded.declined${also.join('')}`
  }
  const currency = p(d.currency)
  const upserts = [
    upsert(
      'merchant_day',
      { merchant_id: p(d.merchantId), day: p(day), currency },
      { merchant_name: p(d.merchantName) },
    ),
  ]
  if (d.customerId !== null && d.product !== null) {
    const customer = p(d.customerId)
    upserts.push(
      upsert(
        'customer_month',
        {
          customer_id: customer,
          month: p(day.slice(0, 7)),
          card_id: `${p(d.cardId)}::uuid`,
          category: p(categoryOf(d.mcc)),
          currency,
        },
        { product: p(d.product) },
      ),
      upsert('customer_day', { customer_id: customer, day: p(day), currency }),
      upsert('product_day', { day: p(day), product: p(d.product), currency }),
    )
  }
  const [last, ...before] = upserts.toReversed()
  const ctes = before.toReversed().map((text, i) => `u${i} AS (${text})`)
  return { text: `${ctes.length > 0 ? `WITH ${ctes.join(', ')} ` : ''}${last ?? ''}`, params }
}
