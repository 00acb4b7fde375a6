import { randomUUID } from 'node:crypto'
import type { Statement } from '../../src/core/sql.js'
import type { CardsEvent } from '../../src/domains/cards/messages.js'
import type { Card, TransactionRow } from '../../src/domains/cards/rules.js'
import { cardStream } from '../../src/domains/cards/write-model.js'
import { cardIndexOf, issuedCard, plannedTransaction, type CardsPlan } from './cards-plan.js'

/** Runs statements in one transaction, in a server's process. */
export type Commit = (statements: Statement[]) => Promise<void>

/** Transactions (about 2 events each) or cards per database transaction. */
const perTx = 5_000

export interface Loaded {
  events: number
  /** Seconds the commits took (the plan's own work not counted). */
  logSeconds: number
  /** Each card as the plan left it. */
  cards: Card[]
}

/**
 * Loads the plan in one pass: the cards (rows and CardIssued), then the transactions a chunk at a
 * time, each taken through the deciders on its card as the transactions before it left it: events
 * into the card's stream, many streams per INSERT into the log, with the transaction rows the
 * commands would have written; last, each card's row as its transactions leave it. No hold timers
 * are written: the holds of the plan are long past their expiry, and would all fire at start.
 */
export async function loadCards(plan: CardsPlan, commit: Commit): Promise<Loaded> {
  let logSeconds = 0
  const timed = async (statements: Statement[]) => {
    const started = performance.now()
    await commit(statements)
    logSeconds += (performance.now() - started) / 1000
  }
  const cards: Card[] = []
  let events = 0
  for (let from = 0; from < plan.cards; from += perTx) {
    const chunk = Array.from({ length: Math.min(perTx, plan.cards - from) }, (_, k) =>
      issuedCard(plan, from + k),
    )
    const issued = chunk.map((x) => ({ cardId: x.card.cardId, events: x.events, from: 0 }))
    events += chunk.length
    cards.push(...chunk.map((x) => x.card))
    await timed([
      cardRows(
        chunk.map((x) => x.card),
        'insert',
      ),
      eventsStatement(issued, 'cards/issue-card'),
    ])
  }
  for (let from = 0; from < plan.transactions; from += perTx) {
    const streams: { cardId: string; events: CardsEvent[]; from: number }[] = []
    const rows: TransactionRow[] = []
    for (let i = from; i < Math.min(plan.transactions, from + perTx); i++) {
      const c = cardIndexOf(plan, i)
      const card = cards[c] as Card
      const planned = plannedTransaction(plan, i, card)
      streams.push({ cardId: card.cardId, events: planned.events, from: card.version })
      rows.push(planned.row)
      cards[c] = planned.card
      events += planned.events.length
    }
    await timed([eventsStatement(streams, 'cards/authorize-transaction'), transactionRows(rows)])
  }
  for (let from = 0; from < plan.cards; from += perTx)
    await timed([cardRows(cards.slice(from, from + perTx), 'update')])
  return { events, logSeconds, cards }
}

/** Every event of the streams, each after the version its stream was at: one INSERT. */
function eventsStatement(
  streams: readonly { cardId: string; events: CardsEvent[]; from: number }[],
  command: string,
): Statement {
  const rows = streams.flatMap((s) =>
    s.events.map((e, k) => {
      const commandId = randomUUID()
      return {
        stream: cardStream(s.cardId),
        version: s.from + k + 1,
        type: e.type,
        data: JSON.stringify(e.data),
        metadata: JSON.stringify({ commandId, correlationId: commandId, command, userId: e.data.actor }),
      }
    }),
  )
  return {
    text: `INSERT INTO tandem.event_log (stream_id, stream_version, type, data, metadata)
           SELECT s, v, t, d::jsonb, m::jsonb
           FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[]) AS e(s, v, t, d, m)`,
    params: [
      rows.map((r) => r.stream),
      rows.map((r) => r.version),
      rows.map((r) => r.type),
      rows.map((r) => r.data),
      rows.map((r) => r.metadata),
    ],
  }
}

/** Cards as rows: inserted as issued, or updated to where their transactions left them. */
function cardRows(cards: readonly Card[], how: 'insert' | 'update'): Statement {
  const json = JSON.stringify(cards)
  const columns = `AS c("cardId" uuid, "customerId" text, product text, currency text, "creditLimit" bigint,
    holds bigint, posted bigint, status text, "expiresAt" timestamptz, version int, "issuedAt" timestamptz,
    "updatedAt" timestamptz)`
  if (how === 'update') {
    return {
      text: `UPDATE cards.card k SET holds = c.holds, posted = c.posted, version = c.version, updated_at = c."updatedAt"
             FROM json_to_recordset($1::json) ${columns} WHERE k.card_id = c."cardId"`,
      params: [json],
    }
  }
  return {
    text: `INSERT INTO cards.card (card_id, customer_id, product, currency, credit_limit, holds, posted, status,
             expires_at, version, issued_at, updated_at)
           SELECT "cardId", "customerId", product, currency, "creditLimit", holds, posted, status, "expiresAt",
             version, "issuedAt", "updatedAt"
           FROM json_to_recordset($1::json) ${columns}`,
    params: [json],
  }
}

/** The chunk's transactions as the commands leave their rows. */
function transactionRows(rows: readonly TransactionRow[]): Statement {
  return {
    text: `INSERT INTO cards.card_transaction (transaction_id, card_id, status, amount, hold, posted, currency,
             merchant_id, merchant_name, mcc, country, city, occurred_at, source, auto_payment_id, hold_expires_at,
             decline_reason, created_at, updated_at)
           SELECT "transactionId", "cardId", status, amount, hold, posted, currency, "merchantId", "merchantName", mcc,
             country, city, "occurredAt", source, "autoPaymentId", "holdExpiresAt", "declineReason", "occurredAt",
             "occurredAt"
           FROM json_to_recordset($1::json) AS t("transactionId" uuid, "cardId" uuid, status text, amount bigint,
             hold bigint, posted bigint, currency text, "merchantId" text, "merchantName" text, mcc text, country text,
             city text, "occurredAt" timestamptz, source text, "autoPaymentId" uuid, "holdExpiresAt" timestamptz,
             "declineReason" text)`,
    params: [JSON.stringify(rows)],
  }
}
