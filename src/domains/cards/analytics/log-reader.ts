import { compareDecimal, crashSafeHorizon, type SqlClient } from '../../../kernel/index.js'

/**
 * The analytics engine's view of the event log: the transaction events after a checkpoint, gap-safe,
 * with only the fields the fact table keeps (extracted by PostgreSQL, so a batch of thousands of
 * events crosses the wire as a few columns, not as whole JSON documents).
 *
 * The read is the kernel's (`readAfter` in src/storage/event-log.ts, over the log's
 * `tandem.events_after`): only events of transactions below the snapshot's xmin, in (transaction id,
 * position) order, which cannot change once visible. A domain reaches the kernel through its door,
 * which does not export that reader; this is the same statement, with only the columns it keeps.
 */

/** Where a reader stands: the (transaction id, position) of the last event it consumed. */
export interface Checkpoint {
  txId: string
  position: string
}

export const origin: Checkpoint = { txId: '0', position: '0' }

/** The event types the fact table is made of. */
export const transactionEventTypes = [
  'TransactionAuthorized',
  'TransactionDeclined',
  'TransactionCaptured',
  'TransactionReversed',
  'TransactionAdjusted',
  'TransactionFailed',
  'HoldExpired',
] as const
export type TransactionEventType = (typeof transactionEventTypes)[number]

/** A transaction event, flattened: what every event of a transaction repeats, and its amounts. */
export interface LoggedTransactionEvent {
  txId: string
  position: string
  type: TransactionEventType
  transactionId: string
  cardId: string
  customerId: string | null
  product: string | null
  currency: string
  merchantId: string
  merchantName: string
  mcc: string
  occurredAt: string
  /** The amounts the event type carries (absent ones null), as decimal strings. */
  amount: string | null
  authorizedAmount: string | null
  previousAmount: string | null
  capturedAmount: string | null
  releasedAmount: string | null
}

export interface LogBatch {
  events: LoggedTransactionEvent[]
  /** The oldest transaction still running when read: nothing below it can appear later. */
  horizon: string
}

export function compareCheckpoints(a: Checkpoint, b: Checkpoint): number {
  const byTx = compareDecimal(a.txId, b.txId)
  return byTx !== 0 ? byTx : compareDecimal(a.position, b.position)
}

/**
 * Where the next read starts: after the checkpoint, or past every transaction below `horizon` once a
 * complete read has seen them (the reader keeps few event types of a log that holds many: without
 * this, each poll would scan every later event of other types again).
 */
export function readFrom(checkpoint: Checkpoint, horizon: string): Checkpoint {
  if (horizon === '0') return checkpoint
  const below = { txId: (BigInt(horizon) - 1n).toString(), position: '9223372036854775807' }
  return compareCheckpoints(below, checkpoint) > 0 ? below : checkpoint
}

/** Reads up to `limit` transaction events after `after`. */
export async function readTransactionEvents(
  sql: SqlClient,
  after: Checkpoint,
  limit: number,
): Promise<LogBatch> {
  const rows = await sql.query<Partial<LoggedTransactionEvent> & { horizon: string }>(
    `WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
          m AS (SELECT max(tx_id) AS top FROM tandem.event_log)
     SELECT ${crashSafeHorizon('h.xmin', 'm.top')} AS horizon, e.tx_id::text AS "txId", e.position::text AS position, e.type,
            e.data->>'transactionId' AS "transactionId", e.data->>'cardId' AS "cardId",
            e.data->>'customerId' AS "customerId", e.data->>'product' AS product,
            e.data->>'currency' AS currency, e.data->>'merchantId' AS "merchantId",
            e.data->>'merchantName' AS "merchantName", e.data->>'mcc' AS mcc,
            e.data->>'occurredAt' AS "occurredAt", e.data->>'amount' AS amount,
            e.data->>'authorizedAmount' AS "authorizedAmount", e.data->>'previousAmount' AS "previousAmount",
            e.data->>'capturedAmount' AS "capturedAmount", e.data->>'releasedAmount' AS "releasedAmount"
     FROM h CROSS JOIN m LEFT JOIN LATERAL tandem.events_after(h.xmin, $1::xid8, $2::bigint, $4::text[], $3::integer) e
       ON true`,
    [after.txId, after.position, limit, transactionEventTypes],
  )
  const horizon = rows[0]?.horizon ?? after.txId
  const events = rows.filter((r): r is LoggedTransactionEvent & { horizon: string } => r.position != null)
  return { events, horizon }
}
