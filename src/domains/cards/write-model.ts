import { streamVersion, type Migration, type SqlClient, type Statement } from '../../kernel/index.js'
import type { CardsEvent } from './messages.js'
import {
  cardAfter,
  type AutoPaymentCommandState,
  type AutoPaymentRow,
  type CardState,
  type TransactionCommandState,
  type TransactionRow,
} from './rules.js'

/**
 * The normalized write model: cards with their limit and what is outstanding, their transactions,
 * their auto-payments. Every change to a card's row goes with an event on its stream `card-<id>`,
 * and the row's `version` is that stream's version.
 */
export const migrations: readonly Migration[] = [
  {
    id: 'cards/001-write-model',
    sql: `
      CREATE SCHEMA cards;
      CREATE TABLE cards.card (
        card_id uuid PRIMARY KEY,
        customer_id text NOT NULL,
        product text NOT NULL CHECK (product IN ('classic', 'gold', 'platinum')),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        credit_limit bigint NOT NULL CHECK (credit_limit >= 0),
        holds bigint NOT NULL CHECK (holds >= 0),
        posted bigint NOT NULL CHECK (posted >= 0),
        status text NOT NULL CHECK (status IN ('active', 'blocked', 'lost')),
        expires_at timestamptz NOT NULL,
        version integer NOT NULL CHECK (version >= 1),
        issued_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        -- The credit invariant, once more where no code path can get around it: available >= 0.
        CONSTRAINT card_within_limit CHECK (holds + posted <= credit_limit)
      ) WITH (fillfactor = 70); -- every authorization rewrites its card's row: room for HOT updates
      CREATE INDEX card_customer ON cards.card (customer_id);
      CREATE TABLE cards.card_transaction (
        transaction_id uuid PRIMARY KEY,
        card_id uuid NOT NULL REFERENCES cards.card,
        status text NOT NULL
          CHECK (status IN ('authorized', 'captured', 'reversed', 'expired', 'failed', 'declined')),
        amount bigint NOT NULL CHECK (amount > 0),
        hold bigint NOT NULL CHECK (hold >= 0),
        posted bigint NOT NULL CHECK (posted >= 0),
        currency text NOT NULL,
        merchant_id text NOT NULL,
        merchant_name text NOT NULL,
        mcc text NOT NULL,
        country text NOT NULL,
        city text,
        occurred_at timestamptz NOT NULL,
        source text NOT NULL CHECK (source IN ('network', 'auto-payment')),
        auto_payment_id uuid,
        hold_expires_at timestamptz,
        decline_reason text,
        failure_reason text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        -- Only an authorized transaction holds credit, only a captured one has posted.
        CHECK ((status = 'authorized') = (hold > 0)),
        CHECK ((status = 'captured') = (posted > 0)),
        CHECK ((status = 'declined') = (decline_reason IS NOT NULL))
      );
      CREATE INDEX card_transaction_card ON cards.card_transaction (card_id);
      CREATE TABLE cards.auto_payment (
        auto_payment_id uuid PRIMARY KEY,
        card_id uuid NOT NULL REFERENCES cards.card,
        customer_id text NOT NULL,
        merchant_id text NOT NULL,
        merchant_name text NOT NULL,
        mcc text NOT NULL,
        country text NOT NULL,
        amount bigint NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        day_of_month integer NOT NULL CHECK (day_of_month BETWEEN 1 AND 28),
        status text NOT NULL CHECK (status IN ('active', 'cancelled')),
        next_due_at timestamptz,
        last_transaction_id uuid,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CHECK ((status = 'active') = (next_due_at IS NOT NULL))
      );
      CREATE INDEX auto_payment_card ON cards.auto_payment (card_id)`,
  },
  {
    // Anomaly detection reads a card's attempts within a time window, newest first: by card alone
    // it read and sorted every row of the card (a busy card's grow by the hour).
    id: 'cards/002-transactions-by-card-and-time',
    sql: `
      CREATE INDEX card_transaction_card_time ON cards.card_transaction (card_id, occurred_at);
      DROP INDEX cards.card_transaction_card`,
  },
  {
    // A decline of an unknown card (CARD_NOT_FOUND) has its row too, with no card: the network's
    // transaction id is then taken by it like by any other decision (the key refuses a second use,
    // also one sent at the same moment on another card).
    id: 'cards/003-declines-of-unknown-cards',
    sql: `
      ALTER TABLE cards.card_transaction ALTER COLUMN card_id DROP NOT NULL;
      ALTER TABLE cards.card_transaction ADD CONSTRAINT card_transaction_of_a_card
        CHECK (card_id IS NOT NULL OR decline_reason = 'CARD_NOT_FOUND')`,
  },
]

export const cardStream = (cardId: string) => `card-${cardId}`

const iso = (value: Date | string) => (typeof value === 'string' ? value : value.toISOString())
const isoOrNull = (value: Date | string | null) => (value === null ? null : iso(value))

// Amounts are bigint columns; at most 10^12, read as float8 they are exact JavaScript numbers.
const cardColumns = `card_id::text AS "cardId", customer_id AS "customerId", product, currency,
  credit_limit::float8 AS "creditLimit", holds::float8 AS holds, posted::float8 AS posted, status,
  expires_at AS "expiresAt", version, issued_at AS "issuedAt", updated_at AS "updatedAt"`

type Raw<T, K extends keyof T> = Omit<T, K> & { [P in K]: Date | string }
type RawCard = Raw<
  Extract<CardState, { version: number; expiresAt: string }>,
  'expiresAt' | 'issuedAt' | 'updatedAt'
>

function toCard(raw: RawCard | undefined, cardId: string, version: number): CardState {
  if (!raw) return { status: 'absent', cardId, version }
  return { ...raw, expiresAt: iso(raw.expiresAt), issuedAt: iso(raw.issuedAt), updatedAt: iso(raw.updatedAt) }
}

/**
 * Reads the card and locks its row; for an unknown card, where its stream stands (declines for
 * it may be there already: a card issued later with that id goes on after them).
 */
export async function loadCard(tx: SqlClient, cardId: string): Promise<CardState> {
  const [raw] = await tx.query<RawCard>(
    `SELECT ${cardColumns} FROM cards.card WHERE card_id = $1 FOR UPDATE`,
    [cardId],
  )
  return raw ? toCard(raw, cardId, 0) : toCard(undefined, cardId, await streamVersion(tx, cardStream(cardId)))
}

/** The card (locked) and whether a row of `table` holds `id` already, when the caller chose one. */
export async function loadCardAnd(
  tx: SqlClient,
  cardId: string,
  taken?: { table: 'card_transaction' | 'auto_payment'; id: string | undefined },
): Promise<{ card: CardState; taken: boolean }> {
  if (taken?.id === undefined) return { card: await loadCard(tx, cardId), taken: false }
  const key = taken.table === 'card_transaction' ? 'transaction_id' : 'auto_payment_id'
  const [card, rows] = await Promise.all([
    loadCard(tx, cardId),
    tx.query(`SELECT 1 FROM cards.${taken.table} WHERE ${key} = $1`, [taken.id]),
  ])
  return { card, taken: rows.length > 0 }
}

const transactionColumns = `transaction_id::text AS "transactionId", card_id::text AS "cardId", status,
  amount::float8 AS amount, hold::float8 AS hold, posted::float8 AS posted, currency,
  merchant_id AS "merchantId", merchant_name AS "merchantName", mcc, country, city,
  occurred_at AS "occurredAt", source, auto_payment_id::text AS "autoPaymentId",
  hold_expires_at AS "holdExpiresAt", decline_reason AS "declineReason"`

type RawTransaction = Raw<TransactionRow, 'occurredAt'> & { holdExpiresAt: Date | string | null }

/**
 * A transaction and its card: the card's row locked first (a transaction never changes card), then
 * the transaction read in a second statement sent with it, which starts once the lock is held and
 * so sees every commit before it (two captures of one hold take turns, and the second sees the first).
 */
export async function loadForTransaction(
  tx: SqlClient,
  transactionId: string,
): Promise<TransactionCommandState> {
  const [[card], [raw]] = await Promise.all([
    tx.query<RawCard>(
      `SELECT ${cardColumns} FROM cards.card
       WHERE card_id = (SELECT card_id FROM cards.card_transaction WHERE transaction_id = $1) FOR UPDATE`,
      [transactionId],
    ),
    tx.query<RawTransaction>(
      `SELECT ${transactionColumns} FROM cards.card_transaction WHERE transaction_id = $1`,
      [transactionId],
    ),
  ])
  if (!card || !raw) return { transaction: undefined, card: toCard(undefined, '', 0) }
  const transaction = { ...raw, occurredAt: iso(raw.occurredAt), holdExpiresAt: isoOrNull(raw.holdExpiresAt) }
  return { transaction, card: toCard(card, card.cardId, 0) }
}

const autoPaymentColumns = `auto_payment_id::text AS "autoPaymentId", card_id::text AS "cardId",
  customer_id AS "customerId", merchant_id AS "merchantId", merchant_name AS "merchantName", mcc, country,
  amount::float8 AS amount, currency, day_of_month AS "dayOfMonth", status, next_due_at AS "nextDueAt"`

type RawAutoPayment = Omit<AutoPaymentRow, 'nextDueAt'> & { nextDueAt: Date | string | null }

/** An auto-payment and its card: the card locked first, then the auto-payment read after the lock. */
export async function loadForAutoPayment(
  tx: SqlClient,
  autoPaymentId: string,
): Promise<AutoPaymentCommandState> {
  const [[card], [raw]] = await Promise.all([
    tx.query<RawCard>(
      `SELECT ${cardColumns} FROM cards.card
       WHERE card_id = (SELECT card_id FROM cards.auto_payment WHERE auto_payment_id = $1) FOR UPDATE`,
      [autoPaymentId],
    ),
    tx.query<RawAutoPayment>(
      `SELECT ${autoPaymentColumns} FROM cards.auto_payment WHERE auto_payment_id = $1`,
      [autoPaymentId],
    ),
  ])
  if (!card || !raw) return { autoPayment: undefined, card: toCard(undefined, '', 0) }
  return { autoPayment: { ...raw, nextDueAt: isoOrNull(raw.nextDueAt) }, card: toCard(card, card.cardId, 0) }
}

/**
 * For a submission: the auto-payment, its card locked, and the card's authorized transactions whose
 * hold expired by `now`, oldest first (read once the lock is held, as `loadForTransaction` does).
 */
export async function loadForSubmit(
  tx: SqlClient,
  autoPaymentId: string,
  now: Date,
): Promise<AutoPaymentCommandState> {
  const [state, raw] = await Promise.all([
    loadForAutoPayment(tx, autoPaymentId),
    tx.query<RawTransaction>(
      `SELECT ${transactionColumns} FROM cards.card_transaction
       WHERE card_id = (SELECT card_id FROM cards.auto_payment WHERE auto_payment_id = $1)
         AND status = 'authorized' AND hold_expires_at <= $2::timestamptz
       ORDER BY hold_expires_at, transaction_id`,
      [autoPaymentId, now.toISOString()],
    ),
  ])
  const overdueHolds = raw.map((t) => ({
    ...t,
    occurredAt: iso(t.occurredAt),
    holdExpiresAt: isoOrNull(t.holdExpiresAt),
  }))
  return { ...state, overdueHolds }
}

/**
 * The rows the events change: the card's row as they leave it, and each transaction or
 * auto-payment they touch. The card's row is updated only at the version it was decided on: a
 * decision on a card this process remembered, that another process has changed since, updates
 * nothing (so no CHECK can fail on stale figures), and its append at that version is refused.
 */
export function persist(events: readonly CardsEvent[], state: CardState): Statement[] {
  const after = cardAfter(state, events)
  const statements: Statement[] = []
  if (after.status !== 'absent') {
    statements.push(state.status === 'absent' ? insertCard(after) : updateCard(after, state.version))
  }
  for (const event of events) statements.push(...rowsOf(event))
  return statements
}

type Card = Extract<CardState, { version: number; expiresAt: string }>

function insertCard(card: Card): Statement {
  return {
    text: `INSERT INTO cards.card (card_id, customer_id, product, currency, credit_limit, holds, posted, status,
             expires_at, version, issued_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    params: [
      card.cardId,
      card.customerId,
      card.product,
      card.currency,
      card.creditLimit,
      card.holds,
      card.posted,
      card.status,
      card.expiresAt,
      card.version,
      card.issuedAt,
      card.updatedAt,
    ],
  }
}

function updateCard(card: Card, decidedAt: number): Statement {
  return {
    text: `UPDATE cards.card SET credit_limit = $2, holds = $3, posted = $4, status = $5, version = $6, updated_at = $7
           WHERE card_id = $1 AND version = $8`,
    params: [
      card.cardId,
      card.creditLimit,
      card.holds,
      card.posted,
      card.status,
      card.version,
      card.updatedAt,
      decidedAt,
    ],
  }
}

const setTransaction = (transactionId: string, set: string, params: unknown[]): Statement => ({
  text: `UPDATE cards.card_transaction SET ${set} WHERE transaction_id = $1`,
  params: [transactionId, ...params],
})

function rowsOf(event: CardsEvent): Statement[] {
  switch (event.type) {
    case 'TransactionAuthorized':
    case 'TransactionDeclined': {
      const d = event.data
      const approved = event.type === 'TransactionAuthorized'
      return [
        {
          text: `INSERT INTO cards.card_transaction (transaction_id, card_id, status, amount, hold, posted, currency,
                   merchant_id, merchant_name, mcc, country, city, occurred_at, source, auto_payment_id,
                   hold_expires_at, decline_reason, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)`,
          params: [
            d.transactionId,
            d.balance === null ? null : d.cardId, // an unknown card's decline is of no card
            approved ? 'authorized' : 'declined',
            d.amount,
            approved ? d.amount : 0,
            d.currency,
            d.merchantId,
            d.merchantName,
            d.mcc,
            d.country,
            d.city,
            d.occurredAt,
            d.source,
            d.autoPaymentId,
            event.type === 'TransactionAuthorized' ? event.data.holdExpiresAt : null,
            event.type === 'TransactionDeclined' ? event.data.reason : null,
            d.at,
          ],
        },
      ]
    }
    case 'TransactionCaptured':
      return [
        setTransaction(
          event.data.transactionId,
          `status = 'captured', hold = 0, posted = $2, updated_at = $3`,
          [event.data.capturedAmount, event.data.at],
        ),
      ]
    case 'TransactionReversed':
    case 'HoldExpired': {
      const status = event.type === 'HoldExpired' ? 'expired' : 'reversed'
      return [
        setTransaction(event.data.transactionId, `status = $2, hold = 0, updated_at = $3`, [
          status,
          event.data.at,
        ]),
      ]
    }
    case 'TransactionAdjusted':
      return [
        setTransaction(event.data.transactionId, `amount = $2, hold = $2, updated_at = $3`, [
          event.data.authorizedAmount,
          event.data.at,
        ]),
      ]
    case 'TransactionFailed':
      return [
        setTransaction(
          event.data.transactionId,
          `status = 'failed', hold = 0, posted = 0, failure_reason = $2, updated_at = $3`,
          [event.data.reason, event.data.at],
        ),
      ]
    case 'AutoPaymentRegistered': {
      const d = event.data
      return [
        {
          text: `INSERT INTO cards.auto_payment (auto_payment_id, card_id, customer_id, merchant_id, merchant_name, mcc,
                   country, amount, currency, day_of_month, status, next_due_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12, $12)`,
          params: [
            d.autoPaymentId,
            d.cardId,
            d.customerId,
            d.merchantId,
            d.merchantName,
            d.mcc,
            d.country,
            d.amount,
            d.currency,
            d.dayOfMonth,
            d.nextDueAt,
            d.at,
          ],
        },
      ]
    }
    case 'AutoPaymentCancelled':
      return [
        {
          text: `UPDATE cards.auto_payment SET status = 'cancelled', next_due_at = NULL, updated_at = $2
                 WHERE auto_payment_id = $1`,
          params: [event.data.autoPaymentId, event.data.at],
        },
      ]
    case 'AutoPaymentSubmitted':
      return [
        {
          text: `UPDATE cards.auto_payment SET next_due_at = $2, last_transaction_id = $3, updated_at = $4
                 WHERE auto_payment_id = $1`,
          params: [event.data.autoPaymentId, event.data.nextDueAt, event.data.transactionId, event.data.at],
        },
      ]
    case 'CardIssued':
    case 'CardReportedLost':
    case 'CardBlocked':
    case 'CardUnblocked':
    case 'CreditLimitChanged':
      return []
  }
}
