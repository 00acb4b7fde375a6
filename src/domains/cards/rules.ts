import type { CardStatus, DeclineReason, Product, TransactionSource, TransactionStatus } from './messages.js'

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

/** A transaction's row: what it holds on its card now, and what it posted. */
export interface TransactionRow {
  transactionId: string
  cardId: string
  status: TransactionStatus
  /** Authorized (then adjusted) amount; for a declined one, the amount asked for. */
  amount: number
  hold: number
  posted: number
  currency: string
  merchantId: string
  merchantName: string
  mcc: string
  country: string
  city: string | null
  occurredAt: string
  source: TransactionSource
  autoPaymentId: string | null
  /** When an authorized hold is released by its timer; null for a declined one. */
  holdExpiresAt: string | null
  declineReason: DeclineReason | null
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
}
