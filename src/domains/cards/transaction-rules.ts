import { ConflictError, NotFoundError, ValidationError, type CommandMeta } from '../../kernel/index.js'
import {
  HoldExpired,
  TransactionAdjusted,
  TransactionCaptured,
  TransactionFailed,
  TransactionReversed,
  type CardsEvent,
  type ExpireHold,
  type MarkTransactionFailed,
  type UpdateTransaction,
} from './messages.js'
import {
  available,
  balanceOf,
  isExpired,
  type Card,
  type CardPolicy,
  type TransactionCommandState,
  type TransactionRow,
} from './rules.js'

/** The rules of a transaction after its authorization: capture, reverse, adjust, fail, expire. */

export const transactionNotFound = () => new NotFoundError('TRANSACTION_NOT_FOUND', 'Transaction not found')

/** The transaction and its card; a declined one for an unknown card has no row, so it is not found. */
function located(state: TransactionCommandState): { transaction: TransactionRow; card: Card } {
  const { transaction, card } = state
  if (!transaction || card.status === 'absent') throw transactionNotFound()
  return { transaction, card }
}

function invalidTransition(transaction: TransactionRow, action: string): ConflictError {
  return new ConflictError(
    'INVALID_TRANSITION',
    'Invalid transition',
    `Transaction ${transaction.transactionId} is ${transaction.status}: it cannot be ${action}`,
  )
}

/** What every event of the transaction repeats: the card, the payment as the network described it. */
function transactionRef(transaction: TransactionRow, card: Card, meta: CommandMeta) {
  return {
    cardId: card.cardId,
    customerId: card.customerId,
    product: card.product,
    currency: card.currency,
    actor: meta.caller?.id ?? '',
    at: meta.now.toISOString(),
    transactionId: transaction.transactionId,
    merchantId: transaction.merchantId,
    merchantName: transaction.merchantName,
    mcc: transaction.mcc,
    country: transaction.country,
    city: transaction.city,
    occurredAt: transaction.occurredAt,
    source: transaction.source,
    autoPaymentId: transaction.autoPaymentId,
  }
}

/**
 * `update-transaction`, from an authorized hold only (409 INVALID_TRANSITION otherwise):
 * - capture posts `amount` (default: the whole hold; at most the hold, 409 CAPTURE_EXCEEDS_HOLD),
 *   and releases the rest; a lost, blocked or expired card still settles what it authorized.
 * - reverse releases the whole hold (an amount is a 400).
 * - adjust sets the hold to `amount` (required). Down: always. Up: as an authorization of the
 *   difference would be decided: the card active and unexpired, the new amount within the product's
 *   limit, the difference within the available credit (409 with the decline reason as the code).
 */
export function decideUpdate(policy: CardPolicy) {
  return (cmd: UpdateTransaction, state: TransactionCommandState, meta: CommandMeta): CardsEvent[] => {
    const { transaction, card } = located(state)
    if (cmd.action === 'reverse' && cmd.amount !== undefined) {
      throw new ValidationError([
        { path: '/amount', message: 'is not taken by reverse: the whole hold is released' },
      ])
    }
    if (cmd.action === 'adjust' && cmd.amount === undefined) {
      throw new ValidationError([{ path: '/amount', message: 'is required to adjust: the new hold' }])
    }
    const past = { capture: 'captured', reverse: 'reversed', adjust: 'adjusted' }[cmd.action]
    if (transaction.status !== 'authorized') throw invalidTransition(transaction, past)
    const ref = transactionRef(transaction, card, meta)
    const hold = transaction.hold
    switch (cmd.action) {
      case 'capture': {
        const captured = cmd.amount ?? hold
        if (captured > hold) {
          throw new ConflictError(
            'CAPTURE_EXCEEDS_HOLD',
            'Capture exceeds the hold',
            `The hold is ${hold}; ${captured} cannot be captured`,
          )
        }
        const after = { ...card, holds: card.holds - hold, posted: card.posted + captured }
        return [
          TransactionCaptured.create({
            ...ref,
            authorizedAmount: hold,
            capturedAmount: captured,
            releasedAmount: hold - captured,
            balance: balanceOf(after),
          }),
        ]
      }
      case 'reverse':
        return [
          TransactionReversed.create({
            ...ref,
            authorizedAmount: hold,
            releasedAmount: hold,
            balance: balanceOf({ ...card, holds: card.holds - hold }),
          }),
        ]
      case 'adjust': {
        const amount = cmd.amount ?? hold
        if (amount === hold) return []
        if (amount > hold) checkRaise(card, amount, amount - hold, policy, meta.now)
        return [
          TransactionAdjusted.create({
            ...ref,
            previousAmount: hold,
            authorizedAmount: amount,
            balance: balanceOf({ ...card, holds: card.holds - hold + amount }),
          }),
        ]
      }
    }
  }
}

/** A raised hold is decided as an authorization of the difference would be. */
function checkRaise(card: Card, amount: number, raise: number, policy: CardPolicy, now: Date): void {
  const refuse = (code: string, title: string, detail: string) => {
    throw new ConflictError(code, title, detail)
  }
  if (card.status === 'lost') refuse('CARD_LOST', 'Card reported lost', 'A lost card takes no new credit')
  if (card.status === 'blocked') refuse('CARD_BLOCKED', 'Card blocked', 'A blocked card takes no new credit')
  if (isExpired(card, now)) refuse('CARD_EXPIRED', 'Card expired', 'An expired card takes no new credit')
  if (amount > policy.amountLimits[card.product]) {
    refuse(
      'AMOUNT_LIMIT',
      'Over the amount limit',
      `A ${card.product} card authorizes at most ${policy.amountLimits[card.product]}`,
    )
  }
  if (raise > available(card)) {
    refuse(
      'INSUFFICIENT_CREDIT',
      'Insufficient credit',
      `${available(card)} is available; the hold would grow by ${raise}`,
    )
  }
}

/**
 * `mark-transaction-failed`: what the transaction held is released: an authorized one's hold, or
 * what a captured one posted (its settlement failed). Any other status: 409 INVALID_TRANSITION.
 */
export function decideFail(
  cmd: MarkTransactionFailed,
  state: TransactionCommandState,
  meta: CommandMeta,
): CardsEvent[] {
  const { transaction, card } = located(state)
  const { status, hold, posted } = transaction
  if (status !== 'authorized' && status !== 'captured') throw invalidTransition(transaction, 'marked failed')
  const after = { ...card, holds: card.holds - hold, posted: card.posted - posted }
  return [
    TransactionFailed.create({
      ...transactionRef(transaction, card, meta),
      previousStatus: status,
      authorizedAmount: transaction.amount,
      capturedAmount: posted,
      releasedAmount: status === 'authorized' ? hold : posted,
      reason: cmd.reason,
      balance: balanceOf(after),
    }),
  ]
}

/**
 * `expire-hold`, sent by the hold's timer: an authorized hold past its expiry is released. Anything
 * else (captured, reversed, failed since, or not yet due) is nothing to do: the timer is done.
 */
export function decideExpireHold(
  cmd: ExpireHold,
  state: TransactionCommandState,
  meta: CommandMeta,
): CardsEvent[] {
  const { transaction, card } = located(state)
  if (transaction.cardId !== cmd.cardId) throw transactionNotFound()
  const due = transaction.holdExpiresAt
  if (transaction.status !== 'authorized' || due === null || meta.now.toISOString() < due) return []
  return [
    HoldExpired.create({
      ...transactionRef(transaction, card, meta),
      authorizedAmount: transaction.hold,
      releasedAmount: transaction.hold,
      balance: balanceOf({ ...card, holds: card.holds - transaction.hold }),
    }),
  ]
}
