import Type from 'typebox'
import {
  cursorOf,
  cursorParts,
  defineQuery,
  NotFoundError,
  Page,
  ValidationError,
  type Caller,
  type KvReader,
  type LexBound,
} from '../../../kernel/index.js'
import { compareEntries, customerAsked, readers, seesEveryone } from './access.js'
import {
  cardDocKey,
  cardTag,
  cardTxnsKey,
  customerCardsKey,
  customerTag,
  recentModel,
  txnKey,
  type CardDoc,
} from './recent.js'
import { GetRecentTransactionsInput, RecentTransaction } from './schemas.js'

const cardNotFound = () => new NotFoundError('CARD_NOT_FOUND', 'Card not found')

/**
 * A page, and whose card it is when one card was asked for: the audit records a read of a card with
 * nothing on the page as a read of its customer's data too. Only `items` and `nextCursor` are sent.
 */
const RecentPage = Type.Object({ ...Page(RecentTransaction).properties, owner: Type.Optional(Type.String()) })

/**
 * The cards a question lists, whose they are, and each card's newest entries past `max`: a card the
 * caller may not see is absent (404). A card's list is read beside its document (one round trip), and
 * answered only once the document says the caller may see it.
 */
async function listsAsked(
  kv: KvReader,
  caller: Caller | undefined,
  q: { cardId?: string | undefined; customerId?: string | undefined },
  range: { max: LexBound; count: number },
): Promise<{ lists: string[][]; owner?: string }> {
  if (q.cardId !== undefined && q.customerId !== undefined)
    throw new ValidationError([{ path: '/customerId', message: 'must not be given with cardId' }])
  const list = (cardId: string) =>
    kv.zrangeByLex(cardTxnsKey(cardId), { min: '-', max: range.max, count: range.count, reverse: true })
  if (q.cardId === undefined) {
    const cardIds = await kv.smembers(customerCardsKey(customerAsked(caller, q.customerId)))
    return { lists: await Promise.all(cardIds.map(list)) }
  }
  const [doc, entries] = await Promise.all([kv.get(cardDocKey(q.cardId)), list(q.cardId)])
  const card = doc === null ? undefined : (JSON.parse(doc) as CardDoc)
  if (!card || !(seesEveryone(caller) || card.customerId === caller?.id)) throw cardNotFound()
  return { lists: [entries], owner: card.customerId }
}

export const getRecentTransactions = defineQuery({
  domain: 'cards',
  name: 'get-recent-transactions',
  summary:
    "A card's or a customer's transactions, newest first by when they were made, each with its current status (customers: their own)",
  description:
    'Give `cardId` or `customerId` (a customer may give neither: their own cards; a token with agent or admin beside customer is an agent’s, and gives one). Keyset pages by ' +
    '(occurredAt, transactionId). Send `X-Min-Position` with a command’s position to see its transaction at once.',
  input: GetRecentTransactionsInput,
  output: RecentPage,
  access: readers,
  readModels: [recentModel],
  paged: true,
  notFound: 'CARD_NOT_FOUND',
  examples: [{ cardId: '0190b0c0-0000-7000-8000-00000000ca01', limit: 10 }],
  cache: {
    ttlMs: 30_000,
    tags: (q, _answer, caller) => [
      q.cardId !== undefined ? cardTag(q.cardId) : customerTag(q.customerId ?? caller?.id ?? ''),
    ],
  },
  audit: (q, answer) => {
    const shown = new Set(answer.items.map((t) => t.customerId))
    if (q.customerId !== undefined) shown.add(q.customerId)
    if (answer.owner !== undefined) shown.add(answer.owner)
    return [...shown].map((subjectId) => ({
      subjectId,
      details: {
        ...(q.cardId === undefined ? {} : { cardId: q.cardId }),
        transactionIds: answer.items.map((t) => t.transactionId),
      },
    }))
  },
  async handle(q, { caller, stores }) {
    const kv = stores.kv(recentModel)
    const limit = q.limit ?? 20
    const after = cursorParts(q.cursor, 'recent', ['time', 'uuid'])
    const max: LexBound = after ? `(${after.join('|')}` : '+'
    // Each card's newest entries past the cursor, merged: a customer has a few cards.
    const { lists, owner } = await listsAsked(kv, caller, q, { max, count: limit + 1 })
    const entries = lists
      .flat()
      .toSorted(compareEntries)
      .reverse()
      .slice(0, limit + 1)
    const docs = await kv.mget(entries.map((e) => txnKey(e.slice(e.indexOf('|') + 1))))
    const items = docs.flatMap((doc) => (doc === null ? [] : [JSON.parse(doc) as RecentTransaction]))
    const page = items.slice(0, limit)
    const last = page.at(-1)
    return {
      items: page,
      nextCursor:
        items.length > limit && last ? cursorOf('recent', last.occurredAt, last.transactionId) : null,
      ...(owner === undefined ? {} : { owner }),
    }
  },
})
