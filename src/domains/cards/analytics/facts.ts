import { DuckDBTimestampValue, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api'
import { unreachable } from '../../../kernel/index.js'
import type { Checkpoint, LoggedTransactionEvent } from './log-reader.js'

/**
 * The columnar fact table: one row per transaction event, append-only. A row carries the
 * transaction's dimensions (card, customer, product, currency, merchant, category code, when it was
 * paid) and what the event changed, as signed measures, so any total is a SUM at read time and
 * nothing is updated in place (a columnar store appends fast and updates slowly). The measures are
 * the read side's spending (projections/schemas.ts), as changes:
 * - `pending`: the hold it adds (authorized, adjusted) or takes back (captured, reversed, expired,
 *   failed while authorized);
 * - `posted`: what a capture posts, taken back by a failure after it;
 * - `count`: +1 for an approval, −1 when it is reversed, expires or fails;
 * - `declined`: +1 for a decline.
 * The checkpoint lives in the same file and is written in the same DuckDB transaction as the rows
 * of the batch it ends: a restart resumes exactly after the last committed batch.
 */
export const factsSchema = `
  CREATE TABLE IF NOT EXISTS card_transaction_fact (
    position BIGINT NOT NULL,
    transaction_id VARCHAR NOT NULL,
    card_id VARCHAR NOT NULL,
    customer_id VARCHAR,
    product VARCHAR,
    currency VARCHAR NOT NULL,
    merchant_id VARCHAR NOT NULL,
    merchant_name VARCHAR NOT NULL,
    mcc VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    pending BIGINT NOT NULL,
    posted BIGINT NOT NULL,
    count INTEGER NOT NULL,
    declined INTEGER NOT NULL
  );
  -- For the questions about one customer (queries.ts: customerFacts): an ART index costs about a
  -- fifth of the append rate, and turns a full scan into a lookup of a few hundred rows.
  CREATE INDEX IF NOT EXISTS fact_customer ON card_transaction_fact (customer_id);
  CREATE TABLE IF NOT EXISTS checkpoint (
    name VARCHAR PRIMARY KEY,
    tx_id VARCHAR NOT NULL,
    position VARCHAR NOT NULL
  );
  INSERT INTO checkpoint VALUES ('log', '0', '0') ON CONFLICT DO NOTHING;`

export interface Measures {
  pending: number
  posted: number
  count: number
  declined: number
}

const n = (value: string | null) => (value === null ? 0 : Number(value))

/** What one event changes: the measures of its row. */
export function measuresOf(e: LoggedTransactionEvent): Measures {
  const none = { pending: 0, posted: 0, count: 0, declined: 0 }
  switch (e.type) {
    case 'TransactionAuthorized':
      return { ...none, pending: n(e.amount), count: 1 }
    case 'TransactionDeclined':
      return { ...none, declined: 1 }
    case 'TransactionCaptured':
      return { ...none, pending: -n(e.authorizedAmount), posted: n(e.capturedAmount) }
    case 'TransactionAdjusted':
      return { ...none, pending: n(e.authorizedAmount) - n(e.previousAmount) }
    case 'TransactionFailed':
      // Failed while authorized: the hold goes (captured 0); after a capture: what it posted goes.
      return n(e.capturedAmount) > 0
        ? { ...none, posted: -n(e.capturedAmount), count: -1 }
        : { ...none, pending: -n(e.releasedAmount), count: -1 }
    case 'TransactionReversed':
    case 'HoldExpired':
      return { ...none, pending: -n(e.releasedAmount), count: -1 }
    default:
      return unreachable(e.type)
  }
}

function appendRow(appender: DuckDBAppender, e: LoggedTransactionEvent): void {
  const m = measuresOf(e)
  appender.appendBigInt(BigInt(e.position))
  appender.appendVarchar(e.transactionId)
  appender.appendVarchar(e.cardId)
  if (e.customerId === null) appender.appendNull()
  else appender.appendVarchar(e.customerId)
  if (e.product === null) appender.appendNull()
  else appender.appendVarchar(e.product)
  appender.appendVarchar(e.currency)
  appender.appendVarchar(e.merchantId)
  appender.appendVarchar(e.merchantName)
  appender.appendVarchar(e.mcc)
  appender.appendTimestamp(new DuckDBTimestampValue(BigInt(Date.parse(e.occurredAt)) * 1000n))
  appender.appendBigInt(BigInt(m.pending))
  appender.appendBigInt(BigInt(m.posted))
  appender.appendInteger(m.count)
  appender.appendInteger(m.declined)
  appender.endRow()
}

/**
 * Appends a batch's rows and moves the checkpoint to `to`, in one DuckDB transaction: both or
 * neither. `beforeCommit` lets a spec fail a batch between the two (a crash mid-batch).
 */
export async function appendBatch(
  connection: DuckDBConnection,
  events: readonly LoggedTransactionEvent[],
  to: Checkpoint,
  beforeCommit?: () => void,
): Promise<void> {
  await connection.run('BEGIN TRANSACTION')
  try {
    if (events.length > 0) {
      const appender = await connection.createAppender('card_transaction_fact')
      for (const e of events) appendRow(appender, e)
      appender.closeSync()
    }
    await connection.run(`UPDATE checkpoint SET tx_id = $1, position = $2 WHERE name = 'log'`, [
      to.txId,
      to.position,
    ])
    beforeCommit?.()
    await connection.run('COMMIT')
  } catch (error) {
    await connection.run('ROLLBACK')
    throw error
  }
}

export async function readCheckpoint(connection: DuckDBConnection): Promise<Checkpoint> {
  const reader = await connection.runAndReadAll(
    `SELECT tx_id AS "txId", position FROM checkpoint WHERE name = 'log'`,
  )
  const [row] = reader.getRowObjectsJS() as unknown as Checkpoint[]
  return row ?? { txId: '0', position: '0' }
}
