import {
  cursorOf,
  cursorParts,
  defineQuery,
  defineSqlProjection,
  indexName,
  keyAfter,
  NotFoundError,
  Page,
  pageOf,
  storedTime,
  type SqlProjectionTx,
} from '../../../kernel/index.js'
import { cardEvents } from '../messages.js'
import { customerAsked, readers, seesEveryone } from './access.js'
import {
  CardHistory,
  CardSummary,
  GetCardHistoryInput,
  GetCardsInput,
  type CardHistory as CardHistoryT,
  type CardSummary as CardSummaryT,
} from './schemas.js'

/**
 * The card history read model: every event of a card's stream (`card-<cardId>`: the card's own, its
 * transactions', its auto-payments'), in log order, with who acted and when (the events' data are not
 * copied: a page reads them from the log by position), and beside each the
 * card's figures after it where the event carries them (`balance`: limit, holds, posted) and its
 * status where the event sets it (issued, lost, blocked, unblocked). The card as of a moment is then
 * two lookups on the (card, position) key: the last event by then that set the status, the last one
 * that carried figures; the write side's own fold (rules.ts `evolveCard`) takes exactly these from
 * exactly these events, and the spec checks the two agree. A `cards` table names each card's customer
 * (the scope check), product, currency and expiry.
 */

export const historyModel = 'cards-history'

const statusSet = {
  CardIssued: 'active',
  CardReportedLost: 'lost',
  CardBlocked: 'blocked',
  CardUnblocked: 'active',
}

export const historyTag = (cardId: string) => `history:${cardId}`
/** A customer's list of cards: changed by a card issued to them (each card's own changes carry its tag). */
export const customerCardsTag = (customerId: string) => `history-customer:${customerId}`

/**
 * Whether a generation's events table is version 1's, which kept each event's data (NOT NULL): at
 * the start after an upgrade this code applies that generation, live until version 2 is built
 * beside it and switched to, and its rows must take their data as version 1 wrote them. A table
 * found without the column is remembered (this code makes no other); one with it is asked again.
 */
const withoutData = new Set<string>()
async function keepsData(tx: SqlProjectionTx, events: string): Promise<boolean> {
  if (withoutData.has(events)) return false
  const [row] = await tx.query<{ kept: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'data'
       AND NOT attisdropped) AS kept`,
    [events],
  )
  if (row?.kept !== true) withoutData.add(events)
  return row?.kept === true
}

export const cardHistoryProjection = defineSqlProjection({
  domain: 'cards',
  name: historyModel,
  // 2: the events' data are read from the log, no longer copied here. 3: an index of the cards by
  // customer (get-cards), which a generation built before lacks: setup runs for a new generation only.
  version: 3,
  events: cardEvents,
  tables: ['cards', 'card_events'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('cards')} (
      card_id uuid PRIMARY KEY, customer_id text NOT NULL, product text NOT NULL, currency text NOT NULL,
      expires_at text NOT NULL, issued_at text COLLATE "C" NOT NULL);
    CREATE TABLE IF NOT EXISTS ${t('card_events')} (
      card_id uuid NOT NULL, position bigint NOT NULL, type text NOT NULL, at text COLLATE "C" NOT NULL,
      actor text NOT NULL, transaction_id uuid, status text, credit_limit bigint, holds bigint, posted bigint,
      PRIMARY KEY (card_id, position));
    CREATE INDEX IF NOT EXISTS ${indexName(t('cards'), 'by_customer')} ON ${t('cards')} (customer_id, issued_at, card_id)`,
  tags: (event) =>
    event.type === 'CardIssued'
      ? [historyTag(event.data.cardId), customerCardsTag(event.data.customerId)]
      : [historyTag(event.data.cardId)],
  // A batch in two statements (its cards, its events), rows as JSON arrays, not one per event.
  async applyBatch(events, tx, t) {
    const withData = await keepsData(tx, t('card_events'))
    const cards = []
    const rows = []
    for (const event of events) {
      const d = event.data
      if (event.type === 'CardIssued') {
        const c = event.data
        cards.push({
          card_id: c.cardId,
          customer_id: c.customerId,
          product: c.product,
          currency: c.currency,
          expires_at: c.expiresAt,
          issued_at: c.at,
        })
      }
      const balance = 'balance' in d ? d.balance : null
      rows.push({
        card_id: d.cardId,
        position: event.position,
        type: event.type,
        at: d.at,
        actor: d.actor,
        transaction_id: 'transactionId' in d ? d.transactionId : null,
        status: event.type in statusSet ? statusSet[event.type as keyof typeof statusSet] : null,
        credit_limit: balance?.creditLimit ?? null,
        holds: balance?.holds ?? null,
        posted: balance?.posted ?? null,
        ...(withData ? { data: d } : {}),
      })
    }
    if (cards.length > 0) {
      tx.write({
        text: `INSERT INTO ${t('cards')} (card_id, customer_id, product, currency, expires_at, issued_at)
               SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(card_id uuid, customer_id text,
                 product text, currency text, expires_at text, issued_at text)
               ON CONFLICT (card_id) DO NOTHING`,
        params: [JSON.stringify(cards)],
      })
    }
    const [data, dataType] = withData ? [', data', ', data jsonb'] : ['', '']
    tx.write({
      text: `INSERT INTO ${t('card_events')} (card_id, position, type, at, actor, transaction_id, status,
               credit_limit, holds, posted${data})
             SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(card_id uuid, position bigint, type text,
               at text, actor text, transaction_id uuid, status text, credit_limit bigint, holds bigint,
               posted bigint${dataType})
             ON CONFLICT (card_id, position) DO NOTHING`,
      params: [JSON.stringify(rows)],
    })
  },
})

interface CardRow {
  customerId: string
  product: 'classic' | 'gold' | 'platinum'
  currency: string
  expiresAt: string
}

/** A card's figures and what follows from them: outstanding (holds + posted) and available. */
function withTotals<F extends { creditLimit: number; holds: number; posted: number }>(figures: F) {
  return {
    ...figures,
    outstanding: figures.holds + figures.posted,
    available: figures.creditLimit - figures.holds - figures.posted,
  }
}

export const getCardHistory = defineQuery({
  domain: 'cards',
  name: 'get-card-history',
  summary:
    "A card's events (its own, its transactions', its auto-payments') and its state (limit, outstanding, status) now or as of `at` (customers: their own cards)",
  input: GetCardHistoryInput,
  output: CardHistory,
  access: readers,
  readModels: [historyModel],
  notFound: 'CARD_NOT_FOUND',
  examples: [{ cardId: '0190b0c0-0000-7000-8000-00000000ca01' }],
  cache: { ttlMs: 60_000, tags: (q) => [historyTag(q.cardId)] },
  audit: (q, answer) => [
    { subjectId: answer.customerId, details: { cardId: q.cardId, ...(q.at ? { at: q.at } : {}) } },
  ],
  async handle(q, { caller, stores, history }): Promise<CardHistoryT> {
    const asOf = q.at === undefined ? null : storedTime(q.at, '/at')
    const before = cursorParts(q.cursor, 'history', ['position'])?.[0] ?? null
    const limit = q.limit ?? 20
    const { sql, table } = stores.sql(historyModel)
    const [card] = await sql.query<CardRow>(
      `SELECT customer_id AS "customerId", product, currency, expires_at AS "expiresAt"
       FROM ${table('cards')} WHERE card_id = $1`,
      [q.cardId],
    )
    // Another customer's card is answered as an unknown one: nothing says it exists.
    if (!card || !(seesEveryone(caller) || card.customerId === caller?.id))
      throw new NotFoundError('CARD_NOT_FOUND', 'Card not found')
    const events = table('card_events')
    // From the card's issue on: declines of its id before (CARD_NOT_FOUND, on the same stream) were
    // no one's card, and are not its customer's to read. The issue is the card's first event to set a
    // status: the walk up the (card, position) key stops there, past those declines only.
    const issued = `(SELECT i.position FROM ${events} i WHERE i.card_id = $1 AND i.status IS NOT NULL
                     ORDER BY i.position LIMIT 1)`
    const until = `card_id = $1 AND ($2::text IS NULL OR at <= $2::text) AND position >= ${issued}`
    const [rows, [status], [figures]] = await Promise.all([
      sql.query<Omit<CardHistoryT['events'][number], 'data'>>(
        // `e.position`: a bare `position` in ORDER BY is the text output column (1002 before 998).
        `SELECT e.position::text, type, at, actor, transaction_id::text AS "transactionId" FROM ${events} e
         WHERE ${until} AND ($3::bigint IS NULL OR e.position < $3::bigint) ORDER BY e.position DESC LIMIT $4`,
        [q.cardId, asOf, before, limit + 1],
      ),
      sql.query<{ status: 'active' | 'blocked' | 'lost' }>(
        `SELECT status FROM ${events} WHERE ${until} AND status IS NOT NULL ORDER BY position DESC LIMIT 1`,
        [q.cardId, asOf],
      ),
      sql.query<{ creditLimit: number; holds: number; posted: number }>(
        `SELECT credit_limit::float8 AS "creditLimit", holds::float8 AS holds, posted::float8 AS posted
         FROM ${events} WHERE ${until} AND credit_limit IS NOT NULL ORDER BY position DESC LIMIT 1`,
        [q.cardId, asOf],
      ),
    ])
    const listed = rows.slice(0, limit)
    const logged = new Map((await history.at(listed.map((e) => e.position))).map((e) => [e.position, e]))
    const page = listed.map((e) => {
      const event = logged.get(e.position)
      // A read model of another log (READ_DATABASE_URL naming another deployment's, or a write
      // database restored behind it) lists positions this log holds nothing or something else at:
      // a fault of the deployment, never another card's data in the answer.
      // Each of the row's own fields is checked against the event: the same card id may be another
      // deployment's card (ids can be chosen), at the same position.
      const data = event?.data as { cardId?: unknown; at?: unknown; transactionId?: unknown } | undefined
      if (
        !event ||
        event.type !== e.type ||
        data?.cardId !== q.cardId ||
        data.at !== e.at ||
        (data.transactionId ?? null) !== e.transactionId
      )
        throw new Error(
          `The log holds ${event ? `a ${event.type} of card ${String(data?.cardId)}` : 'no event'} at ${e.position}, where ${historyModel} lists a ${e.type} of card ${q.cardId}: the read database is not this log's`,
        )
      return { ...e, data: event.data as Record<string, unknown> }
    })
    const last = page.at(-1)
    const state =
      status && figures
        ? {
            status: status.status,
            product: card.product,
            currency: card.currency,
            ...withTotals(figures),
            expiresAt: card.expiresAt,
          }
        : null
    return {
      cardId: q.cardId,
      customerId: card.customerId,
      asOf,
      state,
      events: page,
      nextCursor: rows.length > limit && last ? cursorOf('history', last.position) : null,
    }
  },
})

/**
 * A customer's cards as they stand now, newest issued first: each card's last status and figures, the
 * same two lookups `get-card-history` makes for its state (one page of a customer's cards in one
 * statement). A page changes when a card on it changes (its tag) or a card is issued to the customer.
 */
export const getCards = defineQuery({
  domain: 'cards',
  name: 'get-cards',
  summary:
    "A customer's cards, newest issued first, each as it stands now: status, limit, outstanding, available (customers: their own)",
  description:
    'Agents and admins name `customerId`; a customer may leave it out or name themselves (another is 403). ' +
    "Keyset pages by (issuedAt, cardId). An agent's read is on the audit log.",
  input: GetCardsInput,
  output: Page(CardSummary),
  access: readers,
  readModels: [historyModel],
  paged: true,
  examples: [{ customerId: 'demo-customer', limit: 10 }],
  cache: {
    ttlMs: 60_000,
    tags: (q, answer, caller) => [
      customerCardsTag(customerAsked(caller, q.customerId)),
      ...answer.items.map((card) => historyTag(card.cardId)),
    ],
  },
  audit: (q, answer, caller) => [
    {
      subjectId: customerAsked(caller, q.customerId),
      details: { cards: answer.items.map((card) => card.cardId) },
    },
  ],
  async handle(q, { caller, stores }) {
    const customer = customerAsked(caller, q.customerId)
    const after = keyAfter(q.cursor, 'get-cards')
    const limit = q.limit ?? 20
    const { sql, table } = stores.sql(historyModel)
    const events = table('card_events')
    const rows = await sql.query<Omit<CardSummaryT, 'outstanding' | 'available'>>(
      `SELECT c.card_id::text AS "cardId", c.customer_id AS "customerId", c.issued_at AS "issuedAt",
              s.status, c.product, c.currency, f.credit_limit::float8 AS "creditLimit",
              f.holds::float8 AS holds, f.posted::float8 AS posted, c.expires_at AS "expiresAt"
       FROM ${table('cards')} c
       JOIN LATERAL (SELECT status FROM ${events} e WHERE e.card_id = c.card_id AND e.status IS NOT NULL
                     ORDER BY e.position DESC LIMIT 1) s ON true
       JOIN LATERAL (SELECT credit_limit, holds, posted FROM ${events} e
                     WHERE e.card_id = c.card_id AND e.credit_limit IS NOT NULL
                     ORDER BY e.position DESC LIMIT 1) f ON true
       WHERE c.customer_id = $1 AND ($2::text IS NULL OR (c.issued_at, c.card_id) < ($2::text, $3::uuid))
       ORDER BY c.issued_at DESC, c.card_id DESC LIMIT $4`,
      [customer, after?.time ?? null, after?.id ?? null, limit + 1],
    )
    return pageOf(
      rows.map(withTotals),
      limit,
      (card) => ({ time: card.issuedAt, id: card.cardId }),
      'get-cards',
    )
  },
})
