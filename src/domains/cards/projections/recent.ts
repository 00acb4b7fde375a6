import { defineKvProjection, unreachable, type KvBatch } from '../../../kernel/index.js'
import { CardIssued, transactionEvents } from '../messages.js'
import { categoryOf } from './categories.js'
import type { RecentTransaction } from './schemas.js'

/**
 * Recent transactions, in the KV store (Redis sorted sets in server mode, memory embedded):
 *
 * - `card:<cardId>`: the card's customer, product and currency (the scope check of a card's list);
 * - `customer:<customer>:cards`: the set of a customer's cards (a customer's list merges theirs);
 * - `card:<cardId>:txns`: a sorted set of `<occurredAt>|<transactionId>` at score 0, walked newest
 *   first by lex range (ISO times in UTC sort as text), at most `recentPerCard` (the oldest dropped);
 * - `card:<cardId>:count`: how many members it holds (so the trim reads one key, not the set);
 * - `txn:<transactionId>`: the transaction as the list shows it, its status kept current by every
 *   later event (captured, reversed, adjusted, failed, expired); a decline is listed as declined.
 *
 * Every event of a card is on the card's stream, so its authorization is applied before its capture.
 * A decline of an unknown card (CARD_NOT_FOUND) belongs to no customer: it is not listed.
 */

export const recentModel = 'cards-recent-transactions'
/** Transactions kept per card; older ones stay in the card's history and the spending rollups. */
export const recentPerCard = 500

/** A customer id as a key part: encoded, `:` too, so no customer's keys can meet another's. */
export const customerKey = (customerId: string) => encodeURIComponent(customerId).replaceAll(':', '%3A')
export const cardDocKey = (cardId: string) => `card:${cardId}`
export const customerCardsKey = (customerId: string) => `customer:${customerKey(customerId)}:cards`
export const cardTxnsKey = (cardId: string) => `card:${cardId}:txns`
const countKey = (cardId: string) => `card:${cardId}:count`
export const txnKey = (transactionId: string) => `txn:${transactionId}`
export const entryOf = (t: { occurredAt: string; transactionId: string }) =>
  `${t.occurredAt}|${t.transactionId}`
const transactionOf = (entry: string) => entry.slice(entry.indexOf('|') + 1)

/** Cache tags: a card's list, a customer's list. */
export const cardTag = (cardId: string) => `txns:card:${cardId}`
export const customerTag = (customerId: string) => `txns:customer:${customerId}`

export interface CardDoc {
  customerId: string
  product: string
  currency: string
}

type Change = Partial<Pick<RecentTransaction, 'status' | 'amount' | 'capturedAmount' | 'failureReason'>>

export const recentTransactionsProjection = defineKvProjection({
  domain: 'cards',
  name: recentModel,
  version: 1,
  events: [CardIssued, ...transactionEvents],
  prefetch: (events) =>
    events.flatMap((e) =>
      e.type === 'CardIssued'
        ? []
        : e.type === 'TransactionAuthorized' || e.type === 'TransactionDeclined'
          ? [txnKey(e.data.transactionId), countKey(e.data.cardId)]
          : [txnKey(e.data.transactionId)],
    ),
  tags: ({ data }) => (data.customerId === null ? [] : [cardTag(data.cardId), customerTag(data.customerId)]),
  async apply(event, kv) {
    switch (event.type) {
      case 'CardIssued': {
        const d = event.data
        const doc: CardDoc = { customerId: d.customerId, product: d.product, currency: d.currency }
        kv.setJson(cardDocKey(d.cardId), doc)
        kv.sadd(customerCardsKey(d.customerId), d.cardId)
        return
      }
      case 'TransactionAuthorized':
      case 'TransactionDeclined': {
        const e = event.data
        if (e.customerId === null || (await kv.get(txnKey(e.transactionId))) !== null) return
        const declined = e.decision === 'declined'
        const doc: RecentTransaction = {
          transactionId: e.transactionId,
          cardId: e.cardId,
          customerId: e.customerId,
          status: declined ? 'declined' : 'authorized',
          amount: e.amount,
          capturedAmount: 0,
          currency: e.currency,
          merchantId: e.merchantId,
          merchantName: e.merchantName,
          mcc: e.mcc,
          category: categoryOf(e.mcc),
          country: e.country,
          city: e.city,
          occurredAt: e.occurredAt,
          updatedAt: e.at,
          source: e.source,
          declineReason: event.type === 'TransactionDeclined' ? event.data.reason : null,
          failureReason: null,
        }
        kv.setJson(txnKey(e.transactionId), doc)
        kv.zadd(cardTxnsKey(e.cardId), 0, entryOf(doc))
        await keepRecent(kv, e.cardId)
        return
      }
      case 'TransactionCaptured':
        return change(kv, event.data.transactionId, event.data.at, {
          status: 'captured',
          amount: event.data.authorizedAmount,
          capturedAmount: event.data.capturedAmount,
        })
      case 'TransactionReversed':
        return change(kv, event.data.transactionId, event.data.at, { status: 'reversed' })
      case 'TransactionAdjusted':
        return change(kv, event.data.transactionId, event.data.at, { amount: event.data.authorizedAmount })
      case 'TransactionFailed':
        return change(kv, event.data.transactionId, event.data.at, {
          status: 'failed',
          capturedAmount: 0,
          failureReason: event.data.reason,
        })
      case 'HoldExpired':
        return change(kv, event.data.transactionId, event.data.at, { status: 'expired' })
      default:
        return unreachable(event)
    }
  },
})

async function change(kv: KvBatch, transactionId: string, at: string, to: Change) {
  const doc = await kv.getJson<RecentTransaction>(txnKey(transactionId))
  if (!doc) return // dropped from its card's recent list already
  kv.setJson(txnKey(transactionId), { ...doc, ...to, updatedAt: at })
}

/** Counts the card's new member; past `recentPerCard`, drops the oldest one and its document. */
async function keepRecent(kv: KvBatch, cardId: string) {
  const count = Number((await kv.get(countKey(cardId))) ?? 0) + 1
  if (count <= recentPerCard) {
    kv.set(countKey(cardId), String(count))
    return
  }
  const [oldest] = await kv.zrangeByLex(cardTxnsKey(cardId), { min: '-', max: '+', count: 1 })
  if (oldest === undefined) return
  kv.zrem(cardTxnsKey(cardId), oldest)
  kv.del(txnKey(transactionOf(oldest)))
}
