import {
  compareDecimal,
  defineSqlProjection,
  indexName,
  unreachable,
  type Statement,
} from '../../../kernel/index.js'
import { transactionEvents, type TransactionEvent } from '../messages.js'
import { categoryOf } from './categories.js'
import type { EngineName } from './schemas.js'

/**
 * The spending rollups, in the SQL store: pre-aggregated rows that the analytics queries read by
 * primary-key range, never scanning transactions. Each transaction event moves its rows by a delta
 * computed from the event alone (`moveOf`), so the rows are sums: the order events are applied in does
 * not matter and nothing is read to apply one (the runner applies each event once, its writes
 * committed with its checkpoint). A batch's moves are added up per row first: one upsert per table
 * per batch, not per event.
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

/**
 * Cache tags: a customer's spending, a merchant's, everyone's, as one engine answers them. Each
 * engine applies the events in its own time, and drops only its own answers.
 */
export const customerSpendingTag = (engine: EngineName, customerId: string) =>
  `spending:${engine}:customer:${customerId}`
export const merchantSpendingTag = (engine: EngineName, merchantId: string) =>
  `spending:${engine}:merchant:${merchantId}`
export const allSpendingTag = (engine: EngineName) => `spending:${engine}:all`

const sums = `posted bigint NOT NULL, pending bigint NOT NULL, count integer NOT NULL, declined integer NOT NULL`

export const spendingProjection = defineSqlProjection({
  domain: 'cards',
  name: spendingModel,
  version: 2,
  events: transactionEvents,
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
      merchant_name text NOT NULL, name_position bigint NOT NULL, ${sums},
      PRIMARY KEY (merchant_id, day, currency));
    CREATE TABLE IF NOT EXISTS ${t('product_day')} (
      day text COLLATE "C" NOT NULL, product text NOT NULL, currency text NOT NULL, ${sums},
      PRIMARY KEY (day, product, currency));
    -- The primary keys are the only ways in; this one names the merchant's newest day for its name.
    CREATE INDEX IF NOT EXISTS ${indexName(t('merchant_day'), 'newest')} ON ${t('merchant_day')} (merchant_id, day DESC)`,
  tags: ({ data }) => [
    merchantSpendingTag('rollups', data.merchantId),
    allSpendingTag('rollups'),
    ...(data.customerId === null ? [] : [customerSpendingTag('rollups', data.customerId)]),
  ],
  async applyBatch(events, tx, t) {
    for (const statement of statementsOf(events, t)) tx.write(statement)
  },
})

/**
 * A rollup table's columns: its key, what the newest event sets (`also`), with their SQL types.
 * `newest`: the column that says which event is the newest, the one with the greatest value (the log
 * position): a batch applied in commit order may hold a later position before an earlier one.
 */
interface RollupSpec {
  key: Record<string, string>
  also: Record<string, string>
  newest?: string
}
const rollups = {
  merchant_day: {
    key: { merchant_id: 'text', day: 'text', currency: 'text' },
    also: { merchant_name: 'text', name_position: 'bigint' },
    newest: 'name_position',
  },
  customer_month: {
    key: { customer_id: 'text', month: 'text', card_id: 'uuid', category: 'text', currency: 'text' },
    also: { product: 'text' },
  },
  customer_day: { key: { customer_id: 'text', day: 'text', currency: 'text' }, also: {} },
  product_day: { key: { day: 'text', product: 'text', currency: 'text' }, also: {} },
} as const
type Rollup = keyof typeof rollups
type Row = Record<string, string | number> & Move
/** A merchant's name as one event gave it, and that event's log position (a decimal string). */
export interface Named {
  merchant_name: string
  name_position: string
}

/**
 * The row of `id` moved by `m`: made from `key` at its first move in the batch. (Object.assign, not
 * `{ ...key(), posted: 0 }`: V8 in Node 20 adds each key to a spread's copy through its slow path,
 * about 1 µs a key; docs/benchmarks/analysis.md.)
 */
function moved(byKey: Map<string, Row>, id: string, key: () => Record<string, string>, m: Move): Row {
  let row = byKey.get(id)
  if (row === undefined)
    byKey.set(id, (row = Object.assign(key(), { posted: 0, pending: 0, count: 0, declined: 0 })))
  row.posted += m.posted
  row.pending += m.pending
  row.count += m.count
  row.declined += m.declined
  return row
}

/**
 * A batch's moves added up per row, then one upsert per table the batch moves (its rows as a JSON
 * array): a statement per table instead of one per event. Within the batch, a row's `also` columns
 * take the last event's values, as event-by-event upserts would; a merchant's name, the values of
 * the event with the greatest position, in the batch and in the row. A row's id in the batch is its key's
 * values joined by U+0000, which no key value holds.
 */
export function statementsOf(
  events: readonly (TransactionEvent & { position: string })[],
  t: (name: string) => string,
): Statement[] {
  const rows: Record<Rollup, Map<string, Row>> = {
    merchant_day: new Map(),
    customer_month: new Map(),
    customer_day: new Map(),
    product_day: new Map(),
  }
  for (const event of events) {
    const d = event.data
    const m = moveOf(event)
    const day = d.occurredAt.slice(0, 10)
    const { currency, merchantId } = d
    const merchant = moved(
      rows.merchant_day,
      `${merchantId}\0${day}\0${currency}`,
      () => ({ merchant_id: merchantId, day, currency }),
      m,
    )
    const named = merchant as Row & Partial<Named>
    if (named.name_position === undefined || compareDecimal(event.position, named.name_position) > 0) {
      named.merchant_name = d.merchantName
      named.name_position = event.position
    }
    const { customerId, product } = d
    if (customerId === null || product === null) continue
    const month = day.slice(0, 7)
    const category = categoryOf(d.mcc)
    const card = d.cardId
    const id = `${customerId}\0${month}\0${card}\0${category}\0${currency}`
    const key = () => ({ customer_id: customerId, month, card_id: card, category, currency })
    moved(rows.customer_month, id, key, m).product = product
    moved(
      rows.customer_day,
      `${customerId}\0${day}\0${currency}`,
      () => ({ customer_id: customerId, day, currency }),
      m,
    )
    moved(rows.product_day, `${day}\0${product}\0${currency}`, () => ({ day, product, currency }), m)
  }
  const moves = Object.entries(rows) as [Rollup, Map<string, Row>][]
  return moves
    .filter(([, byKey]) => byKey.size > 0)
    .map(([table, byKey]) => {
      const { key, also, newest }: RollupSpec = rollups[table]
      const columns = {
        ...key,
        ...also,
        posted: 'bigint',
        pending: 'bigint',
        count: 'integer',
        declined: 'integer',
      }
      const names = Object.keys(columns)
      const updates = [
        ...['posted', 'pending', 'count', 'declined'].map((c) => `${c} = r.${c} + excluded.${c}`),
        ...Object.keys(also).map((c) =>
          newest === undefined
            ? `${c} = excluded.${c}`
            : `${c} = CASE WHEN excluded.${newest} > r.${newest} THEN excluded.${c} ELSE r.${c} END`,
        ),
      ]
      return {
        text: `INSERT INTO ${t(table)} AS r (${names.join(', ')})
        SELECT ${names.join(', ')} FROM jsonb_to_recordset($1::jsonb)
          AS x(${Object.entries(columns)
            .map(([c, type]) => `${c} ${type}`)
            .join(', ')})
        ON CONFLICT (${Object.keys(key).join(', ')}) DO UPDATE SET ${updates.join(', ')}`,
        params: [JSON.stringify([...byKey.values()])],
      }
    })
}
