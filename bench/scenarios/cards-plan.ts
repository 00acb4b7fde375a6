import type { Caller, CommandMeta } from '../../src/core/messages.js'
import { defaultCardPolicy } from '../../src/domains/cards/index.js'
import type { CardsEvent, Product } from '../../src/domains/cards/messages.js'
import {
  authorization,
  cardAfter,
  decideIssue,
  type Card,
  type CardState,
  type TransactionRow,
} from '../../src/domains/cards/rules.js'
import { decideFail, decideUpdate } from '../../src/domains/cards/transaction-rules.js'
import type { BenchContext } from '../lib/context.js'

/**
 * The cards scenario's data: a population of customers, cards by product and merchants with category
 * codes, and transactions by index over months (the issue's 100,000 a day), each taken through the
 * domain's own deciders (an authorization, then a capture, a partial capture, a reversal, a failure
 * after capture, or nothing: a hold), so the events are those the commands would write. Deterministic
 * from the index; ids are fresh per plan.
 */
export interface CardsPlan {
  tag: string
  transactions: number
  cards: number
  customers: number
  merchants: number
  /** Epoch ms of the first transaction; transaction i is paid `spacingMs * i` later. */
  base: number
  spacingMs: number
}

/** `BENCH_CARDS_SCALE` (default 1) times the issue's 10,000,000 transactions, 100,000 a day. */
export function cardsPlan(ctx: BenchContext): CardsPlan {
  const knob = Number(process.env.BENCH_CARDS_SCALE ?? 1)
  const factor = Number.isFinite(knob) && knob > 0 ? knob : 1
  const transactions = Math.max(100, Math.round(ctx.scale(10_000_000 * factor, 400)))
  // 10,000 cards at least: the authorizations spread over 10,000 of them.
  const cards = Math.max(ctx.scale(10_000, 200), Math.round(transactions / 100))
  const days = 100
  const end = Date.now() - 3_600_000
  return {
    tag: Math.floor(Math.random() * 2 ** 32)
      .toString(16)
      .padStart(8, '0'),
    transactions,
    cards,
    customers: Math.max(1, Math.round(cards / 1.5)),
    merchants: Math.max(50, Math.round(transactions / 2_000)),
    base: end - days * 86_400_000,
    spacingMs: Math.max(1, Math.floor((days * 86_400_000) / transactions)),
  }
}

const hex12 = (n: number) => n.toString(16).padStart(12, '0')
export const cardIdOf = (plan: CardsPlan, c: number) => `${plan.tag}-0004-7000-8000-${hex12(c)}`
export const transactionIdOf = (plan: CardsPlan, i: number) => `${plan.tag}-0005-7000-8000-${hex12(i)}`
export const customerOf = (plan: CardsPlan, c: number) => `cc-${plan.tag}-${c % plan.customers}`
export const merchantIdOf = (plan: CardsPlan, m: number) => `m-${plan.tag}-${m}`
export const agentOf = (plan: CardsPlan): Caller => ({ id: `ca-${plan.tag}`, roles: ['agent'] })
export const networkOf = (plan: CardsPlan): Caller => ({ id: `cn-${plan.tag}`, roles: ['network'] })

/** murmur3's finalizer per salt: independent draws in [0, 1) from an index. */
export function mix(i: number, salt: number): number {
  let h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(salt, 0x85ebca6b)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 4294967296
}

/** Category codes merchants draw from: groceries, dining, fuel, transport, travel, shopping, health, subscriptions. */
const mccs = [
  '5411',
  '5812',
  '5814',
  '5541',
  '4111',
  '4121',
  '4112',
  '7011',
  '3000',
  '5311',
  '5651',
  '5732',
  '8011',
  '5912',
  '5968',
  '7832',
]
export const mccOf = (m: number) => mccs[Math.floor(mix(m, 11) * mccs.length)] as string
export const productOf = (c: number): Product => {
  const r = mix(c, 12)
  return r < 0.6 ? 'classic' : r < 0.9 ? 'gold' : 'platinum'
}
export const creditLimit = 10_000_000_000
export const issuedAt = (plan: CardsPlan) => new Date(plan.base - 86_400_000)

/** A card's issue: its CardIssued event and the state it leaves. */
export function issuedCard(plan: CardsPlan, c: number): { events: CardsEvent[]; card: Card } {
  const cardId = cardIdOf(plan, c)
  const events = decideIssue(
    {
      customerId: customerOf(plan, c),
      product: productOf(c),
      creditLimit,
      currency: 'KRW',
      expiresAt: new Date(Date.now() + 3 * 365 * 86_400_000).toISOString(),
    },
    { status: 'absent', cardId, version: 0 },
    meta(agentOf(plan), issuedAt(plan), cardId),
  )
  return { events, card: cardAfter({ status: 'absent', cardId, version: 0 }, events) as Card }
}

const meta = (caller: Caller, now: Date, id: string): CommandMeta => ({
  commandId: id,
  correlationId: id,
  caller,
  now,
  newId: id,
})

type Fate = 'captured' | 'partial' | 'reversed' | 'held' | 'failed' | 'declined'
export function fateOf(i: number): Fate {
  const r = mix(i, 3)
  return r < 0.82
    ? 'captured'
    : r < 0.86
      ? 'partial'
      : r < 0.91
        ? 'reversed'
        : r < 0.94
          ? 'held'
          : r < 0.95
            ? 'failed'
            : 'declined'
}

/** The card transaction i is paid with (uniform over the cards). */
export const cardIndexOf = (plan: CardsPlan, i: number) => Math.floor(mix(i, 1) * plan.cards)

export interface PlannedTransaction {
  cardIndex: number
  events: CardsEvent[]
  /** Its row as the commands leave it (none for a declined one on an unknown card: never here). */
  row: TransactionRow
}

/**
 * Transaction i on its card (`card`, as the previous transactions left it: the caller keeps each
 * card's state): its events, its row, and the card after them.
 */
export function plannedTransaction(
  plan: CardsPlan,
  i: number,
  card: Card,
): PlannedTransaction & { card: Card } {
  const cardIndex = cardIndexOf(plan, i)
  // Popular merchants take more: the square of a uniform draw leans to the low indexes.
  const m = Math.floor(mix(i, 2) ** 2 * plan.merchants)
  const at = new Date(plan.base + i * plan.spacingMs)
  const id = transactionIdOf(plan, i)
  const fate = fateOf(i)
  const limit = defaultCardPolicy.amountLimits[card.product]
  const amount =
    fate === 'declined' ? limit + 1 : 1_000 + Math.floor(Math.exp(mix(i, 4) * Math.log(300)) * 1_000)
  const payment = {
    transactionId: id,
    amount,
    currency: 'KRW',
    merchantId: merchantIdOf(plan, m),
    merchantName: `Merchant ${m}`,
    mcc: mccOf(m),
    country: 'KR',
    city: 'Seoul',
    occurredAt: at.toISOString(),
    source: 'network' as const,
    autoPaymentId: null,
  }
  const network = networkOf(plan)
  const events: CardsEvent[] = [authorization(payment, card, defaultCardPolicy, meta(network, at, id))]
  let state: CardState = cardAfter(card, events)
  const approved = events[0]?.type === 'TransactionAuthorized'
  let row: TransactionRow = {
    ...payment,
    cardId: card.cardId,
    status: approved ? 'authorized' : 'declined',
    hold: approved ? amount : 0,
    posted: 0,
    holdExpiresAt: events[0]?.type === 'TransactionAuthorized' ? events[0].data.holdExpiresAt : null,
    declineReason: events[0]?.type === 'TransactionDeclined' ? events[0].data.reason : null,
  }
  const later = new Date(at.getTime() + 3_600_000)
  const take = (next: CardsEvent[], change: Partial<TransactionRow>) => {
    events.push(...next)
    state = cardAfter(state, next)
    row = { ...row, ...change }
  }
  const on = () => ({ transaction: row, card: state })
  if (approved && fate !== 'held') {
    if (fate === 'reversed') {
      take(
        decideUpdate(defaultCardPolicy)(
          { transactionId: id, action: 'reverse' },
          on(),
          meta(network, later, id),
        ),
        {
          status: 'reversed',
          hold: 0,
        },
      )
    } else {
      const captured = fate === 'partial' ? Math.ceil(amount * 0.9) : amount
      const capture = { transactionId: id, action: 'capture' as const, amount: captured }
      take(decideUpdate(defaultCardPolicy)(capture, on(), meta(network, later, id)), {
        status: 'captured',
        hold: 0,
        posted: captured,
      })
      if (fate === 'failed') {
        const failed = { transactionId: id, reason: 'Settlement failed' }
        take(decideFail(failed, on(), meta(network, new Date(later.getTime() + 60_000), id)), {
          status: 'failed',
          posted: 0,
        })
      }
    }
  }
  return { cardIndex, events, row, card: state as Card }
}
