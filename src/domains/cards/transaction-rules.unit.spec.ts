import { describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { deciderSpec } from '../../kernel/testing.js'
import {
  decideCancelAutoPayment,
  decideRegisterAutoPayment,
  decideSubmitAutoPayment,
  nextDue,
} from './auto-payment-rules.js'
import {
  AutoPaymentCancelled,
  HoldExpired,
  TransactionAdjusted,
  TransactionCaptured,
  TransactionFailed,
} from './messages.js'
import type { AutoPaymentRow, Card, TransactionRow } from './rules.js'
import { agent, card, cardId, kim, network, newId, now } from './testing/fixtures.js'
import { commands as c, testPolicy } from './testing/cards.js'
import { decideExpireHold, decideFail, decideUpdate } from './transaction-rules.js'

const transactionId = '0190a0d0-0000-7000-8000-00000000a001'
const system: Caller = { id: 'system:timers', roles: ['system'] }
const held: TransactionRow = {
  transactionId,
  cardId,
  status: 'authorized',
  amount: 30_000,
  hold: 30_000,
  posted: 0,
  currency: 'KRW',
  merchantId: 'shop-1',
  merchantName: 'Shop One',
  mcc: '5411',
  country: 'KR',
  city: null,
  occurredAt: '2031-02-28T09:00:00.000Z',
  source: 'network',
  autoPaymentId: null,
  holdExpiresAt: '2031-03-07T09:00:00.000Z',
  declineReason: null,
}
const tx = (o: Partial<TransactionRow> = {}, cardState: Card = card()) => ({
  transaction: { ...held, ...o },
  card: cardState,
})
const ref = (actor: string) => ({
  cardId,
  customerId: 'kim',
  product: 'gold' as const,
  currency: 'KRW',
  actor,
  at: now,
  transactionId,
  merchantId: 'shop-1',
  merchantName: 'Shop One',
  mcc: '5411',
  country: 'KR',
  city: null,
  occurredAt: held.occurredAt,
  source: 'network' as const,
  autoPaymentId: null,
})

describe('update-transaction', () => {
  const given = deciderSpec(decideUpdate(testPolicy), {
    command: c.updateTransaction,
    now,
    newId,
    caller: network,
  })

  it('captures part of the hold, posting it and releasing the rest', () => {
    given(tx())
      .when({ transactionId, action: 'capture', amount: 25_000 })
      .then(
        TransactionCaptured.create({
          ...ref('visa'),
          authorizedAmount: 30_000,
          capturedAmount: 25_000,
          releasedAmount: 5_000,
          balance: { creditLimit: 100_000, holds: 0, posted: 45_000, available: 55_000 },
        }),
      )
  })

  it('refuses a capture over the hold with 409 CAPTURE_EXCEEDS_HOLD', () => {
    given(tx()).when({ transactionId, action: 'capture', amount: 30_001 }).thenRefused('CAPTURE_EXCEEDS_HOLD')
  })

  it('refuses every action but from an authorized hold with 409 INVALID_TRANSITION', () => {
    for (const status of ['captured', 'reversed', 'expired', 'failed', 'declined'] as const) {
      for (const action of ['capture', 'reverse'] as const) {
        given(tx({ status, hold: 0, posted: status === 'captured' ? 30_000 : 0 }))
          .when({ transactionId, action })
          .thenRefused('INVALID_TRANSITION', { status: 409 })
      }
      given(tx({ status, hold: 0 }))
        .when({ transactionId, action: 'adjust', amount: 10 })
        .thenRefused('INVALID_TRANSITION')
    }
  })

  it('refuses an amount with reverse, and none with adjust, with 400', () => {
    given(tx())
      .when({ transactionId, action: 'reverse', amount: 1 })
      .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/amount' }] })
    given(tx())
      .when({ transactionId, action: 'adjust' })
      .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/amount' }] })
  })

  it('raises a hold by at most the available credit, as an authorization would be decided', () => {
    // 50,000 available: the hold may grow from 30,000 to 80,000, not 80,001.
    given(tx()).when({ transactionId, action: 'adjust', amount: 80_001 }).thenRefused('INSUFFICIENT_CREDIT')
    given(tx({}, card({ status: 'blocked' })))
      .when({ transactionId, action: 'adjust', amount: 30_001 })
      .thenRefused('CARD_BLOCKED')
    given(tx({}, card({ status: 'lost' })))
      .when({ transactionId, action: 'adjust', amount: 30_001 })
      .thenRefused('CARD_LOST')
    given(tx({}, card({ expiresAt: now })))
      .when({ transactionId, action: 'adjust', amount: 30_001 })
      .thenRefused('CARD_EXPIRED')
    const roomy = card({ creditLimit: 100_000_000, holds: 30_000, posted: 0 })
    given(tx({}, roomy))
      .when({ transactionId, action: 'adjust', amount: testPolicy.amountLimits.gold + 1 })
      .thenRefused('AMOUNT_LIMIT')
    // Down is always allowed, even on a blocked card; the same amount is nothing to do.
    given(tx({}, card({ status: 'blocked' })))
      .when({ transactionId, action: 'adjust', amount: 1 })
      .then(
        TransactionAdjusted.create({
          ...ref('visa'),
          previousAmount: 30_000,
          authorizedAmount: 1,
          balance: { creditLimit: 100_000, holds: 1, posted: 20_000, available: 79_999 },
        }),
      )
    given(tx()).when({ transactionId, action: 'adjust', amount: 30_000 }).then([])
  })

  it('answers an unknown transaction with 404 TRANSACTION_NOT_FOUND', () => {
    given({ transaction: undefined, card: { status: 'absent', cardId: '', version: 0 } })
      .when({ transactionId, action: 'reverse' })
      .thenRefused('TRANSACTION_NOT_FOUND', { status: 404 })
  })
})

describe('mark-transaction-failed', () => {
  const given = deciderSpec(decideFail, { command: c.markTransactionFailed, now, newId, caller: agent })

  it("releases an authorized hold, or a captured transaction's posting", () => {
    given(tx())
      .when({ transactionId, reason: 'Timeout' })
      .then(
        TransactionFailed.create({
          ...ref('agent-1'),
          previousStatus: 'authorized',
          authorizedAmount: 30_000,
          capturedAmount: 0,
          releasedAmount: 30_000,
          reason: 'Timeout',
          balance: { creditLimit: 100_000, holds: 0, posted: 20_000, available: 80_000 },
        }),
      )
    given(tx({ status: 'captured', hold: 0, posted: 20_000 }, card({ holds: 0 })))
      .when({ transactionId, reason: 'Settlement rejected' })
      .then(
        TransactionFailed.create({
          ...ref('agent-1'),
          previousStatus: 'captured',
          authorizedAmount: 30_000,
          capturedAmount: 20_000,
          releasedAmount: 20_000,
          reason: 'Settlement rejected',
          balance: { creditLimit: 100_000, holds: 0, posted: 0, available: 100_000 },
        }),
      )
  })

  it('refuses a reversed, expired, failed or declined one with 409 INVALID_TRANSITION', () => {
    for (const status of ['reversed', 'expired', 'failed', 'declined'] as const) {
      given(tx({ status, hold: 0 }))
        .when({ transactionId, reason: 'x' })
        .thenRefused('INVALID_TRANSITION')
    }
  })
})

describe('expire-hold', () => {
  const given = deciderSpec(decideExpireHold, { command: c.expireHold, newId, caller: system })

  it('releases an authorized hold from its expiry on, and does nothing before it or once settled', () => {
    given(tx())
      .when({ cardId, transactionId }, { now: '2031-03-07T09:00:00.000Z' })
      .then(
        HoldExpired.create({
          ...ref('system:timers'),
          at: '2031-03-07T09:00:00.000Z',
          authorizedAmount: 30_000,
          releasedAmount: 30_000,
          balance: { creditLimit: 100_000, holds: 0, posted: 20_000, available: 80_000 },
        }),
      )
    given(tx()).when({ cardId, transactionId }, { now: '2031-03-07T08:59:59.999Z' }).then([])
    given(tx({ status: 'captured', hold: 0, posted: 30_000 }))
      .when({ cardId, transactionId }, { now: '2031-04-01T00:00:00.000Z' })
      .then([])
  })

  it('refuses a transaction of another card with 404', () => {
    given(tx())
      .when({ cardId: newId, transactionId }, { now: '2031-04-01T00:00:00.000Z' })
      .thenRefused('TRANSACTION_NOT_FOUND')
  })
})

describe('auto-payments', () => {
  const register = deciderSpec(decideRegisterAutoPayment(testPolicy), {
    command: c.registerAutoPayment,
    now,
    newId,
    caller: kim,
  })
  const cancel = deciderSpec(decideCancelAutoPayment, {
    command: c.cancelAutoPayment,
    now,
    newId,
    caller: kim,
  })
  const submit = deciderSpec(decideSubmitAutoPayment(testPolicy), {
    command: c.submitAutoPayment,
    newId,
    caller: system,
  })
  const input = { cardId, merchantId: 'stream-tv', amount: 13_900, dayOfMonth: 1 }
  const row: AutoPaymentRow = {
    autoPaymentId: newId,
    cardId,
    customerId: 'kim',
    merchantId: 'stream-tv',
    merchantName: 'Auto-payment',
    mcc: '5968',
    country: 'KR',
    amount: 13_900,
    currency: 'KRW',
    dayOfMonth: 1,
    status: 'active',
    nextDueAt: '2031-04-01T00:00:00.000Z',
  }

  it('finds the next due moment: this month if the day is still ahead, else the next', () => {
    expect(nextDue(1, new Date(now))).toBe('2031-04-01T00:00:00.000Z')
    expect(nextDue(2, new Date(now))).toBe('2031-03-02T00:00:00.000Z')
    expect(nextDue(1, new Date('2031-12-01T00:00:00.000Z'))).toBe('2032-01-01T00:00:00.000Z')
  })

  it('refuses a lost or expired card, an amount over the product limit, a taken id and others’ cards', () => {
    const state = (o: Partial<Card> = {}, autoPaymentIdTaken = false) => ({
      card: card(o),
      autoPaymentIdTaken,
    })
    register(state({ status: 'lost' }))
      .when(input)
      .thenRefused('CARD_LOST', { status: 409 })
    register(state({ expiresAt: now }))
      .when(input)
      .thenRefused('CARD_EXPIRED', { status: 409 })
    register(state({ creditLimit: 100_000_000 }))
      .when({ ...input, amount: testPolicy.amountLimits.gold + 1 })
      .thenRefused('AMOUNT_LIMIT')
    register(state({}, true))
      .when({ ...input, autoPaymentId: newId })
      .thenRefused('AUTO_PAYMENT_ID_TAKEN')
    register(state({ customerId: 'lee' }))
      .when(input)
      .thenRefused('CARD_NOT_FOUND', { status: 404 })
  })

  it("cancels once; another customer's is not found", () => {
    const state = { autoPayment: row, card: card() }
    cancel(state)
      .when({ autoPaymentId: newId })
      .then(
        AutoPaymentCancelled.create({
          cardId,
          customerId: 'kim',
          product: 'gold',
          currency: 'KRW',
          actor: 'kim',
          at: now,
          autoPaymentId: newId,
          merchantId: 'stream-tv',
          merchantName: 'Auto-payment',
          mcc: '5968',
          country: 'KR',
          amount: 13_900,
          dayOfMonth: 1,
        }),
      )
    cancel({ autoPayment: { ...row, status: 'cancelled', nextDueAt: null }, card: card() })
      .when({ autoPaymentId: newId })
      .then([])
    cancel(state)
      .when({ autoPaymentId: newId }, { caller: { id: 'lee', roles: ['customer'] } })
      .thenRefused('AUTO_PAYMENT_NOT_FOUND')
  })

  it('submits only the payment still due, from its moment on; a cancelled one never', () => {
    const state = { autoPayment: row, card: card() }
    const dueAt = '2031-04-01T00:00:00.000Z'
    submit(state).when({ autoPaymentId: newId, dueAt }, { now: '2031-03-31T23:59:59.999Z' }).then([])
    submit(state).when({ autoPaymentId: newId, dueAt: '2031-03-01T00:00:00.000Z' }, { now: dueAt }).then([])
    submit({ ...state, autoPayment: { ...row, status: 'cancelled', nextDueAt: null } })
      .when({ autoPaymentId: newId, dueAt }, { now: dueAt })
      .then([])
    submit({ autoPayment: undefined, card: card() })
      .when({ autoPaymentId: newId, dueAt }, { now: dueAt })
      .thenRefused('AUTO_PAYMENT_NOT_FOUND')
  })
})
