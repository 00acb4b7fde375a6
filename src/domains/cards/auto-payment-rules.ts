import { ConflictError, NotFoundError, type CommandMeta } from '../../kernel/index.js'
import {
  AutoPaymentCancelled,
  AutoPaymentRegistered,
  AutoPaymentSubmitted,
  type CancelAutoPayment,
  type CardsEvent,
  type RegisterAutoPayment,
  type SubmitAutoPayment,
} from './messages.js'
import {
  authorization,
  cardAfter,
  isExpired,
  utc,
  visibleCard,
  type AutoPaymentCommandState,
  type AutoPaymentRow,
  type Card,
  type CardPolicy,
  type RegisterAutoPaymentState,
  type TransactionRow,
} from './rules.js'
import { decideExpireHold } from './transaction-rules.js'

/** The rules of auto-payments: a fixed amount to a merchant, submitted on a day of each month. */

export const autoPaymentDefaults = { merchantName: 'Auto-payment', mcc: '5968', country: 'KR' } as const

export const autoPaymentNotFound = () => new NotFoundError('AUTO_PAYMENT_NOT_FOUND', 'Auto-payment not found')

/** The first moment after `now` that is 00:00 UTC on `dayOfMonth` (1–28: every month has it). */
export function nextDue(dayOfMonth: number, now: Date): string {
  const year = now.getUTCFullYear()
  const month = now.getUTCMonth()
  const thisMonth = Date.UTC(year, month, dayOfMonth)
  return new Date(thisMonth > now.getTime() ? thisMonth : Date.UTC(year, month + 1, dayOfMonth)).toISOString()
}

function autoPaymentRef(row: AutoPaymentRow, card: Card, meta: CommandMeta) {
  return {
    cardId: card.cardId,
    customerId: card.customerId,
    product: card.product,
    currency: card.currency,
    actor: meta.caller?.id ?? '',
    at: meta.now.toISOString(),
    autoPaymentId: row.autoPaymentId,
    merchantId: row.merchantId,
    merchantName: row.merchantName,
    mcc: row.mcc,
    country: row.country,
    amount: row.amount,
    dayOfMonth: row.dayOfMonth,
  }
}

/**
 * `register-auto-payment`, by the card's customer or an agent, in the card's currency. Refused on a
 * card that can never pay it: lost (CARD_LOST), expired (CARD_EXPIRED), or an amount over the product's
 * single-transaction limit (AMOUNT_LIMIT). A blocked card may register: its payments are declined
 * while it stays blocked.
 */
export function decideRegisterAutoPayment(policy: CardPolicy) {
  return (cmd: RegisterAutoPayment, state: RegisterAutoPaymentState, meta: CommandMeta): CardsEvent[] => {
    const card = visibleCard(state.card, meta.caller)
    if (state.autoPaymentIdTaken) {
      throw new ConflictError(
        'AUTO_PAYMENT_ID_TAKEN',
        'Auto-payment id taken',
        `Auto-payment ${cmd.autoPaymentId ?? ''} exists`,
      )
    }
    if (card.status === 'lost') {
      throw new ConflictError('CARD_LOST', 'Card reported lost', 'A lost card takes no auto-payment')
    }
    if (isExpired(card, meta.now)) {
      throw new ConflictError('CARD_EXPIRED', 'Card expired', 'An expired card takes no auto-payment')
    }
    const limit = policy.amountLimits[card.product]
    if (cmd.amount > limit) {
      throw new ConflictError(
        'AMOUNT_LIMIT',
        'Over the amount limit',
        `A ${card.product} card authorizes at most ${limit}`,
      )
    }
    const row: AutoPaymentRow = {
      autoPaymentId: cmd.autoPaymentId ?? meta.newId,
      cardId: card.cardId,
      customerId: card.customerId,
      merchantId: cmd.merchantId,
      merchantName: cmd.merchantName ?? autoPaymentDefaults.merchantName,
      mcc: cmd.mcc ?? autoPaymentDefaults.mcc,
      country: cmd.country ?? autoPaymentDefaults.country,
      amount: cmd.amount,
      currency: card.currency,
      dayOfMonth: cmd.dayOfMonth,
      status: 'active',
      nextDueAt: nextDue(cmd.dayOfMonth, meta.now),
    }
    return [
      AutoPaymentRegistered.create({ ...autoPaymentRef(row, card, meta), nextDueAt: row.nextDueAt ?? '' }),
    ]
  }
}

function located(state: AutoPaymentCommandState, meta: CommandMeta): { row: AutoPaymentRow; card: Card } {
  const { autoPayment } = state
  if (!autoPayment || state.card.status === 'absent') throw autoPaymentNotFound()
  try {
    return { row: autoPayment, card: visibleCard(state.card, meta.caller) }
  } catch {
    throw autoPaymentNotFound()
  }
}

/** `cancel-auto-payment`, by the card's customer or an agent; cancelling it again does nothing. */
export function decideCancelAutoPayment(
  _cmd: CancelAutoPayment,
  state: AutoPaymentCommandState,
  meta: CommandMeta,
): CardsEvent[] {
  const { row, card } = located(state, meta)
  if (row.status === 'cancelled') return []
  return [AutoPaymentCancelled.create(autoPaymentRef(row, card, meta))]
}

/**
 * `submit-auto-payment`, sent by the auto-payment's timer (role `system`): the payment due at
 * `dueAt` is authorized as the network's would be (approved or declined, recorded either way), and
 * the next is due on the day of the month after now (a timer that fires late, after the processes
 * were down, pays once, not once per month missed). Only the payment still due is submitted: a
 * cancelled auto-payment, a `dueAt` already paid or not yet come, is nothing to do, so a timer
 * fired twice pays once.
 */
export function decideSubmitAutoPayment(policy: CardPolicy) {
  return (cmd: SubmitAutoPayment, state: AutoPaymentCommandState, meta: CommandMeta): CardsEvent[] => {
    const { autoPayment: row, card } = state
    if (!row || card.status === 'absent') throw autoPaymentNotFound()
    const dueAt = utc(cmd.dueAt, '/dueAt')
    if (row.status !== 'active' || row.nextDueAt !== dueAt || meta.now.toISOString() < dueAt) return []
    const released = releaseOverdueHolds(state.overdueHolds ?? [], card, meta)
    const transactionId = meta.newId
    const decided = authorization(
      {
        transactionId,
        amount: row.amount,
        currency: row.currency,
        merchantId: row.merchantId,
        merchantName: row.merchantName,
        mcc: row.mcc,
        country: row.country,
        city: null,
        occurredAt: meta.now.toISOString(),
        source: 'auto-payment',
        autoPaymentId: row.autoPaymentId,
      },
      released.card,
      policy,
      meta,
    )
    const declined = decided.type === 'TransactionDeclined' ? decided.data.reason : null
    return [
      ...released.events,
      decided,
      AutoPaymentSubmitted.create({
        ...autoPaymentRef(row, card, meta),
        dueAt,
        transactionId,
        decision: declined ? 'declined' : 'approved',
        reason: declined,
        nextDueAt: nextDue(row.dayOfMonth, meta.now),
      }),
    ]
  }
}

/**
 * The card's holds past their expiry, released as their timers would have (`HoldExpired`) before a
 * payment is decided on it: timers due while the processes were down fire, once they are back, in
 * no set order (several at once, from several processes), and a payment decided before an overdue
 * hold's expiry was declined for credit the card had.
 */
function releaseOverdueHolds(holds: readonly TransactionRow[], card: Card, meta: CommandMeta) {
  const events: CardsEvent[] = []
  let after = card
  for (const transaction of holds) {
    const { cardId } = after
    const expired = decideExpireHold(
      { cardId, transactionId: transaction.transactionId },
      { transaction, card: after },
      meta,
    )
    const next = cardAfter(after, expired)
    if (next.status !== 'absent') after = next
    events.push(...expired)
  }
  return { events, card: after }
}
