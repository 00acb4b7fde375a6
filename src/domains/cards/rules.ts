import {
  timeFrom,
  ConflictError,
  NotFoundError,
  unreachable,
  ValidationError,
  type Caller,
  type CommandMeta,
} from '../../kernel/index.js'
import {
  CardBlocked,
  CardIssued,
  CardReportedLost,
  CardUnblocked,
  CreditLimitChanged,
  TransactionAuthorized,
  TransactionDeclined,
  type AuthorizeTransaction,
  type Balance,
  type BlockCard,
  type CardIdCommand,
  type CardsEvent,
  type CardStatus,
  type ChangeCreditLimit,
  type DeclineReason,
  type IssueCard,
  type Product,
  type TransactionSource,
  type TransactionStatus,
} from './messages.js'

/** The business rules of card transactions: pure functions from (command, state, meta) to events. */

/** What the environment chooses for the rules (CARDS_* settings, see index.ts). */
export interface CardPolicy {
  /** An authorization's hold is released if not captured within this many hours. */
  holdExpiryHours: number
  /** The largest single transaction a card of each product may authorize (minor units). */
  amountLimits: Readonly<Record<Product, number>>
}

/** The card's row: its limit and what is outstanding on it. The stream `card-<cardId>` is its history. */
export interface CardRow {
  cardId: string
  customerId: string
  product: Product
  currency: string
  creditLimit: number
  /** The sum of the holds of its authorized transactions. */
  holds: number
  /** The sum of what its captured transactions posted (unpaid). */
  posted: number
  expiresAt: string
  /** The version of its stream's last event. */
  version: number
  issuedAt: string
  updatedAt: string
}

/**
 * A card, or none: an unknown card's stream may still hold declines (CARD_NOT_FOUND), so `version`
 * is where its stream stands.
 */
export type CardState =
  { status: 'absent'; cardId: string; version: number } | ({ status: CardStatus } & CardRow)

export type Card = Extract<CardState, { status: CardStatus }>

/** A transaction's row: the payment it was asked for, what it holds on its card now, and what it posted. */
export interface TransactionRow extends Payment {
  cardId: string
  status: TransactionStatus
  /** Authorized (then adjusted) amount; for a declined one, the amount asked for. */
  amount: number
  hold: number
  posted: number
  /** When an authorized hold is released by its timer; null for a declined one. */
  holdExpiresAt: string | null
  declineReason: DeclineReason | null
}

/**
 * For an authorization: the card, and whether the transaction id the network chose is taken (a
 * decision on a remembered card says no: the primary key refuses the insert, and the command runs
 * again, reading).
 */
export interface AuthorizeState {
  card: CardState
  transactionIdTaken: boolean
}

/** For a new auto-payment: the card, and whether the id the caller chose is taken. */
export interface RegisterAutoPaymentState {
  card: CardState
  autoPaymentIdTaken: boolean
}

/** For a command on a transaction: the transaction (if any) and its card, locked. */
export interface TransactionCommandState {
  transaction: TransactionRow | undefined
  card: CardState
}

export interface AutoPaymentRow {
  autoPaymentId: string
  cardId: string
  customerId: string
  merchantId: string
  merchantName: string
  mcc: string
  country: string
  amount: number
  currency: string
  dayOfMonth: number
  status: 'active' | 'cancelled'
  /** The next payment's moment (00:00 UTC on `dayOfMonth`); null once cancelled. */
  nextDueAt: string | null
}

/** For a command on an auto-payment: the auto-payment (if any) and its card, locked. */
export interface AutoPaymentCommandState {
  autoPayment: AutoPaymentRow | undefined
  card: CardState
  /** For a submission: the card's authorized transactions whose hold is past its expiry, oldest first. */
  overdueHolds?: readonly TransactionRow[]
}

// Shared rules.

const hour = 3600_000
/** A card expires before this moment (and after now). */
export const EXPIRY_BEFORE = '2100-01-01T00:00:00.000Z'
/** A network may report a payment this late, and this far ahead of our clock (skew). */
export const OCCURRED_AT_WINDOW = { pastMs: 30 * 24 * hour, futureMs: 5 * 60_000 }

export const cardNotFound = () => new NotFoundError('CARD_NOT_FOUND', 'Card not found')

const has = (caller: Caller | undefined, ...roles: string[]) =>
  caller !== undefined && roles.some((role) => caller.roles.includes(role))

/** Agents and admins act on any card; a customer on their own cards only. */
export function mayActOn(card: CardRow, caller: Caller | undefined): boolean {
  return has(caller, 'agent', 'admin') || (has(caller, 'customer') && caller?.id === card.customerId)
}

/** The card, if it exists and the caller may act on it: a customer learns nothing of others' cards. */
export function visibleCard(state: CardState, caller: Caller | undefined): Card {
  if (state.status === 'absent' || !mayActOn(state, caller)) throw cardNotFound()
  return state
}

export const isExpired = (card: CardRow, now: Date) => now.toISOString() >= card.expiresAt

export const available = (card: Pick<CardRow, 'creditLimit' | 'holds' | 'posted'>) =>
  card.creditLimit - card.holds - card.posted

export function balanceOf(card: Pick<CardRow, 'creditLimit' | 'holds' | 'posted'>): Balance {
  return { creditLimit: card.creditLimit, holds: card.holds, posted: card.posted, available: available(card) }
}

/** An ISO time in UTC with milliseconds, so stored times sort as text (core/keyset.ts `timeFrom`). */
export const utc = timeFrom(1970)

/** What the card's state and the caller's role refuse before any rule of the command's own. */
function cardRef(card: Card, meta: CommandMeta) {
  return {
    cardId: card.cardId,
    customerId: card.customerId,
    product: card.product,
    currency: card.currency,
    actor: meta.caller?.id ?? '',
    at: meta.now.toISOString(),
  }
}

// Card lifecycle.

export function decideIssue(cmd: IssueCard, state: CardState, meta: CommandMeta): CardsEvent[] {
  // The input first: a bad expiry is 400 whether or not the id is taken.
  const expiresAt = utc(cmd.expiresAt, '/expiresAt')
  if (expiresAt <= meta.now.toISOString() || expiresAt >= EXPIRY_BEFORE) {
    throw new ValidationError([
      { path: '/expiresAt', message: `must be in the future, before ${EXPIRY_BEFORE}` },
    ])
  }
  if (state.status !== 'absent') {
    throw new ConflictError('CARD_ID_TAKEN', 'Card id taken', `A card ${state.cardId} exists`)
  }
  const card = { creditLimit: cmd.creditLimit, holds: 0, posted: 0 }
  return [
    CardIssued.create({
      cardId: state.cardId,
      customerId: cmd.customerId,
      product: cmd.product,
      currency: cmd.currency,
      actor: meta.caller?.id ?? '',
      at: meta.now.toISOString(),
      creditLimit: cmd.creditLimit,
      expiresAt,
      balance: balanceOf(card),
    }),
  ]
}

/** The card's customer or an agent; a lost card stays lost (reporting it again does nothing). */
export function decideReportLost(_cmd: CardIdCommand, state: CardState, meta: CommandMeta): CardsEvent[] {
  const card = visibleCard(state, meta.caller)
  if (card.status === 'lost') return []
  return [CardReportedLost.create({ ...cardRef(card, meta), previousStatus: card.status })]
}

const lostRefusal = (card: Card) =>
  new ConflictError(
    'CARD_LOST',
    'Card reported lost',
    `Card ${card.cardId} was reported lost: it is blocked for good`,
  )

/** An agent blocks an active card (a blocked one stays blocked); a lost card is already blocked for good. */
export function decideBlock(cmd: BlockCard, state: CardState, meta: CommandMeta): CardsEvent[] {
  const card = visibleCard(state, meta.caller)
  if (card.status === 'lost') throw lostRefusal(card)
  if (card.status === 'blocked') return []
  return [CardBlocked.create({ ...cardRef(card, meta), reason: cmd.reason ?? null })]
}

/** An agent unblocks a blocked card; a lost card is never unblocked (a new card is issued instead). */
export function decideUnblock(_cmd: CardIdCommand, state: CardState, meta: CommandMeta): CardsEvent[] {
  const card = visibleCard(state, meta.caller)
  if (card.status === 'lost') throw lostRefusal(card)
  if (card.status === 'active') return []
  return [CardUnblocked.create(cardRef(card, meta))]
}

/** Never below what is outstanding (holds and posted), in any status. */
export function decideChangeLimit(cmd: ChangeCreditLimit, state: CardState, meta: CommandMeta): CardsEvent[] {
  const card = visibleCard(state, meta.caller)
  const outstanding = card.holds + card.posted
  if (cmd.creditLimit < outstanding) {
    throw new ConflictError(
      'LIMIT_BELOW_OUTSTANDING',
      'Limit below outstanding',
      `${outstanding} is outstanding on the card; the limit cannot go below that`,
    )
  }
  if (cmd.creditLimit === card.creditLimit) return []
  return [
    CreditLimitChanged.create({
      ...cardRef(card, meta),
      previousLimit: card.creditLimit,
      creditLimit: cmd.creditLimit,
      balance: balanceOf({ ...card, creditLimit: cmd.creditLimit }),
    }),
  ]
}

// Authorization.

/** A payment to authorize, from the network or from an auto-payment. */
export interface Payment {
  transactionId: string
  amount: number
  currency: string
  merchantId: string
  merchantName: string
  mcc: string
  country: string
  city: string | null
  occurredAt: string
  source: TransactionSource
  autoPaymentId: string | null
}

/** Why the card declines the payment, checked in this order; undefined when it is approved. */
export function declineReason(
  state: CardState,
  payment: Pick<Payment, 'amount' | 'currency'>,
  policy: CardPolicy,
  now: Date,
): DeclineReason | undefined {
  if (state.status === 'absent') return 'CARD_NOT_FOUND'
  if (state.status === 'lost') return 'CARD_LOST'
  if (state.status === 'blocked') return 'CARD_BLOCKED'
  if (isExpired(state, now)) return 'CARD_EXPIRED'
  if (payment.currency !== state.currency) return 'CURRENCY_MISMATCH'
  if (payment.amount > policy.amountLimits[state.product]) return 'AMOUNT_LIMIT'
  if (payment.amount > available(state)) return 'INSUFFICIENT_CREDIT'
  return undefined
}

/** The decision on a payment, as its event: approved (a hold) or declined (a reason), never a refusal. */
export function authorization(
  payment: Payment,
  state: CardState,
  policy: CardPolicy,
  meta: CommandMeta,
): CardsEvent {
  const at = meta.now.toISOString()
  const actor = meta.caller?.id ?? ''
  const reason = declineReason(state, payment, policy, meta.now)
  // Object.assign, not spreads: a spread's copy takes V8's slow path for each key its source lacks
  // (docs/benchmarks/analysis.md, 2026-12-04, fifth): 10 µs a decision against 2, in a node loop.
  if (reason !== undefined || state.status === 'absent') {
    const card = state.status === 'absent' ? undefined : state
    return TransactionDeclined.create(
      Object.assign({}, payment, {
        cardId: state.cardId,
        customerId: card?.customerId ?? null,
        product: card?.product ?? null,
        actor,
        at,
        decision: 'declined' as const,
        reason: reason ?? 'CARD_NOT_FOUND',
        balance: card ? balanceOf(card) : null,
      }),
    )
  }
  const { creditLimit, holds, posted } = state
  return TransactionAuthorized.create(
    Object.assign({}, payment, cardRef(state, meta), {
      decision: 'approved' as const,
      holdExpiresAt: new Date(meta.now.getTime() + policy.holdExpiryHours * hour).toISOString(),
      balance: balanceOf({ creditLimit, holds: holds + payment.amount, posted }),
    }),
  )
}

/** When the network says the payment happened: in UTC, not long before now nor ahead of it. */
export function occurredAt(cmd: { occurredAt?: string }, now: Date): string {
  if (cmd.occurredAt === undefined) return now.toISOString()
  const at = utc(cmd.occurredAt, '/occurredAt')
  const ms = new Date(at).getTime() - now.getTime()
  if (ms < -OCCURRED_AT_WINDOW.pastMs || ms > OCCURRED_AT_WINDOW.futureMs) {
    throw new ValidationError([
      { path: '/occurredAt', message: 'must be within the last 30 days, and not more than 5 minutes ahead' },
    ])
  }
  return at
}

/** `authorize-transaction`: always a decision, recorded as an event, for a known card or not. */
export function decideAuthorize(policy: CardPolicy) {
  return (cmd: AuthorizeTransaction, state: AuthorizeState, meta: CommandMeta): CardsEvent[] => {
    // The input first: a time out of bounds is 400 whether or not the id is taken.
    const at = occurredAt(cmd, meta.now)
    if (state.transactionIdTaken) {
      throw new ConflictError(
        'TRANSACTION_ID_TAKEN',
        'Transaction id taken',
        `Transaction ${cmd.transactionId ?? ''} exists: a retry sends the same Idempotency-Key`,
      )
    }
    return [authorize(cmd, at, state.card, policy, meta)]
  }
}

function authorize(
  cmd: AuthorizeTransaction,
  at: string,
  card: CardState,
  policy: CardPolicy,
  meta: CommandMeta,
) {
  return authorization(
    {
      transactionId: cmd.transactionId ?? meta.newId,
      amount: cmd.amount,
      currency: cmd.currency,
      merchantId: cmd.merchantId,
      merchantName: cmd.merchantName,
      mcc: cmd.mcc,
      country: cmd.country,
      city: cmd.city ?? null,
      occurredAt: at,
      source: 'network',
      autoPaymentId: null,
    },
    card,
    policy,
    meta,
  )
}

// The card row as events leave it.

/** The card after one more event on its stream: what its row holds, as `load` would read it. */
export function evolveCard(state: CardState, event: CardsEvent): CardState {
  const version = state.version + 1
  if (event.type === 'CardIssued') {
    const d = event.data
    return {
      status: 'active',
      cardId: d.cardId,
      customerId: d.customerId,
      product: d.product,
      currency: d.currency,
      creditLimit: d.creditLimit,
      holds: 0,
      posted: 0,
      expiresAt: d.expiresAt,
      version,
      issuedAt: d.at,
      updatedAt: d.at,
    }
  }
  if (state.status === 'absent') return { ...state, version }
  const card: Card = { ...state, version, updatedAt: event.data.at }
  switch (event.type) {
    case 'CardReportedLost':
      return { ...card, status: 'lost' }
    case 'CardBlocked':
      return { ...card, status: 'blocked' }
    case 'CardUnblocked':
      return { ...card, status: 'active' }
    case 'TransactionDeclined':
    case 'AutoPaymentRegistered':
    case 'AutoPaymentCancelled':
    case 'AutoPaymentSubmitted':
      return card
    case 'CreditLimitChanged':
    case 'TransactionAuthorized':
    case 'TransactionCaptured':
    case 'TransactionReversed':
    case 'TransactionAdjusted':
    case 'TransactionFailed':
    case 'HoldExpired': {
      const { creditLimit, holds, posted } = event.data.balance
      return { ...card, creditLimit, holds, posted }
    }
    default:
      return unreachable(event)
  }
}

export const cardAfter = (state: CardState, events: readonly CardsEvent[]): CardState =>
  events.reduce(evolveCard, state)
