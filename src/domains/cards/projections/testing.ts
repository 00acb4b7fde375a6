import type { Caller } from '../../../kernel/index.js'
import {
  CardBlocked,
  CardIssued,
  HoldExpired,
  TransactionAdjusted,
  TransactionAuthorized,
  TransactionCaptured,
  TransactionDeclined,
  TransactionFailed,
  TransactionReversed,
  type DeclineReason,
  type Product,
} from '../messages.js'

/**
 * Helpers of the read side's specs: a card's and its transactions' events as the write side writes
 * them (the read models need nothing else), so a projection spec tells a story event by event.
 * Balances are not tracked here (the card history spec runs real commands for them).
 */

export const customer = (id: string): Caller => ({ id, roles: ['customer'] })
export const agent: Caller = { id: 'agent-7', roles: ['agent'] }
export const admin: Caller = { id: 'admin-1', roles: ['admin'] }
export const networkCaller: Caller = { id: 'visa', roles: ['network'] }

const hex = (n: number) => n.toString(16).padStart(12, '0')
/** The n-th card id, transaction id. */
export const cid = (n: number) => `0190c000-0000-7000-8000-${hex(n)}`
export const tid = (n: number) => `0190c100-0000-7000-8000-${hex(n)}`

/** A time `minutes` after 2031-03-01T00:00Z. */
export const at = (minutes: number) => new Date(Date.UTC(2031, 2, 1) + minutes * 60_000).toISOString()

export interface TestCard {
  cardId: string
  customerId: string
  product: Product
  currency: string
}
export const card = (
  n: number,
  customerId: string,
  product: Product = 'gold',
  currency = 'KRW',
): TestCard => ({
  cardId: cid(n),
  customerId,
  product,
  currency,
})

export interface TestTxn {
  transactionId: string
  amount: number
  merchantId?: string
  mcc?: string
  occurredAt: string
}

const balance = { creditLimit: 10_000_000, holds: 0, posted: 0, available: 10_000_000 }
const ref = (c: TestCard, when: string) => ({
  cardId: c.cardId,
  customerId: c.customerId,
  product: c.product,
  currency: c.currency,
  actor: 'visa',
  at: when,
})
const txnRef = (c: TestCard, t: TestTxn, when: string) => ({
  ...ref(c, when),
  transactionId: t.transactionId,
  merchantId: t.merchantId ?? 'shop-1',
  merchantName: `Shop ${t.merchantId ?? 'shop-1'}`,
  mcc: t.mcc ?? '5411',
  country: 'KR',
  city: 'Seoul',
  occurredAt: t.occurredAt,
  source: 'network' as const,
  autoPaymentId: null,
})

export const issued = (c: TestCard, when = at(0)) =>
  CardIssued.create({
    ...ref(c, when),
    actor: 'agent-7',
    creditLimit: 10_000_000,
    expiresAt: '2034-01-01T00:00:00.000Z',
    balance,
  })
export const blocked = (c: TestCard, when: string) =>
  CardBlocked.create({ ...ref(c, when), actor: 'agent-7', reason: null })
export const authorized = (c: TestCard, t: TestTxn, when = t.occurredAt) =>
  TransactionAuthorized.create({
    ...txnRef(c, t, when),
    decision: 'approved',
    amount: t.amount,
    holdExpiresAt: '2031-12-01T00:00:00.000Z',
    balance,
  })
export const declined = (c: TestCard, t: TestTxn, reason: DeclineReason = 'INSUFFICIENT_CREDIT') =>
  TransactionDeclined.create({
    ...txnRef(c, t, t.occurredAt),
    decision: 'declined',
    reason,
    amount: t.amount,
    balance,
  })
/** A decline of a card nobody has (CARD_NOT_FOUND): no customer, no product. */
export const declinedUnknown = (cardId: string, t: TestTxn) =>
  TransactionDeclined.create({
    ...txnRef({ cardId, customerId: '', product: 'gold', currency: 'KRW' }, t, t.occurredAt),
    customerId: null,
    product: null,
    decision: 'declined',
    reason: 'CARD_NOT_FOUND',
    amount: t.amount,
    balance: null,
  })
/** `hold`: what it held when captured (the amount, or the adjusted one). */
export const captured = (c: TestCard, t: TestTxn, hold: number, amount: number, when: string) =>
  TransactionCaptured.create({
    ...txnRef(c, t, when),
    authorizedAmount: hold,
    capturedAmount: amount,
    releasedAmount: hold - amount,
    balance,
  })
export const reversed = (c: TestCard, t: TestTxn, hold: number, when: string) =>
  TransactionReversed.create({ ...txnRef(c, t, when), authorizedAmount: hold, releasedAmount: hold, balance })
export const expired = (c: TestCard, t: TestTxn, hold: number, when: string) =>
  HoldExpired.create({ ...txnRef(c, t, when), authorizedAmount: hold, releasedAmount: hold, balance })
export const adjusted = (c: TestCard, t: TestTxn, from: number, to: number, when: string) =>
  TransactionAdjusted.create({ ...txnRef(c, t, when), previousAmount: from, authorizedAmount: to, balance })
/** A failure of an authorized hold (`posted` 0) or of a captured one (`hold`: what was authorized, `posted`: what it posted). */
export const failed = (c: TestCard, t: TestTxn, o: { hold: number; posted: number }, when: string) =>
  TransactionFailed.create({
    ...txnRef(c, t, when),
    previousStatus: o.posted > 0 ? 'captured' : 'authorized',
    authorizedAmount: o.hold,
    capturedAmount: o.posted,
    releasedAmount: o.posted > 0 ? o.posted : o.hold,
    reason: 'Settlement rejected',
    balance,
  })
