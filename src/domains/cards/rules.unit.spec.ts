import { describe, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { deciderSpec } from '../../kernel/testing.js'
import {
  CardBlocked,
  CardIssued,
  CardReportedLost,
  CardUnblocked,
  CreditLimitChanged,
  TransactionAuthorized,
  TransactionDeclined,
  type DeclineReason,
} from './messages.js'
import {
  decideAuthorize,
  decideBlock,
  decideChangeLimit,
  decideIssue,
  decideReportLost,
  decideUnblock,
  type CardState,
} from './rules.js'
import { commands as c, testPolicy } from './testing/cards.js'
import { agent, card, cardId, kim, network, newId, now } from './testing/fixtures.js'

// Given: Kim's card (testing/fixtures.ts), a fixed clock and id.

const lee: Caller = { id: 'lee', roles: ['customer'] }
const absent: CardState = { status: 'absent', cardId, version: 0 }
const ref = (actor: string) => ({
  cardId,
  customerId: 'kim',
  product: 'gold' as const,
  currency: 'KRW',
  actor,
  at: now,
})
const balance = (holds: number, posted = 20_000, creditLimit = 100_000) => ({
  creditLimit,
  holds,
  posted,
  available: creditLimit - holds - posted,
})

describe('issue-card', () => {
  const given = deciderSpec(decideIssue, { command: c.issueCard, now, newId, caller: agent })
  const input = {
    cardId: cardId.toUpperCase(),
    customerId: 'kim',
    product: 'gold' as const,
    creditLimit: 100_000,
    currency: 'KRW',
    expiresAt: '2033-01-01T09:00:00+09:00',
  }

  it('issues an active card with nothing outstanding, its expiry in UTC', () => {
    given(absent)
      .when(input)
      .then(
        CardIssued.create({
          ...ref('agent-1'),
          creditLimit: 100_000,
          expiresAt: '2033-01-01T00:00:00.000Z',
          balance: balance(0, 0),
        }),
      )
  })

  it('refuses an id that is taken with 409 CARD_ID_TAKEN, a bad expiry with 400 whether or not it is', () => {
    given(card()).when(input).thenRefused('CARD_ID_TAKEN', { status: 409 })
    for (const expiresAt of ['2031-06-30T23:59:60Z', '2100-01-01T00:00:00Z'])
      given(card())
        .when({ ...input, expiresAt })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/expiresAt' }] })
  })

  it('refuses an expiry now or past, or from 2100 on, with 400', () => {
    for (const expiresAt of [now, '2031-02-28T00:00:00Z', '2100-01-01T00:00:00Z']) {
      given(absent)
        .when({ ...input, expiresAt })
        .thenRefused('VALIDATION_FAILED', { status: 400, errors: [{ path: '/expiresAt' }] })
    }
  })
})

describe('report-card-lost', () => {
  const given = deciderSpec(decideReportLost, { command: c.reportCardLost, now, newId })

  it("takes the card's own customer, or an agent, from active or blocked", () => {
    given(card())
      .when({ cardId }, { caller: kim })
      .then(CardReportedLost.create({ ...ref('kim'), previousStatus: 'active' }))
    given(card({ status: 'blocked' }))
      .when({ cardId }, { caller: agent })
      .then(CardReportedLost.create({ ...ref('agent-1'), previousStatus: 'blocked' }))
  })

  it('does nothing for a card already lost', () => {
    given(card({ status: 'lost' }))
      .when({ cardId }, { caller: kim })
      .then([])
  })

  it("answers another customer's card, and an unknown one, with 404 CARD_NOT_FOUND", () => {
    given(card()).when({ cardId }, { caller: lee }).thenRefused('CARD_NOT_FOUND', { status: 404 })
    given(absent).when({ cardId }, { caller: agent }).thenRefused('CARD_NOT_FOUND', { status: 404 })
  })
})

describe('block-card and unblock-card', () => {
  const block = deciderSpec(decideBlock, { command: c.blockCard, now, newId, caller: agent })
  const unblock = deciderSpec(decideUnblock, { command: c.unblockCard, now, newId, caller: agent })

  it('blocks an active card and unblocks a blocked one; each again does nothing', () => {
    block(card())
      .when({ cardId, reason: 'Fraud call' })
      .then(CardBlocked.create({ ...ref('agent-1'), reason: 'Fraud call' }))
    block(card({ status: 'blocked' }))
      .when({ cardId })
      .then([])
    unblock(card({ status: 'blocked' }))
      .when({ cardId })
      .then(CardUnblocked.create(ref('agent-1')))
    unblock(card()).when({ cardId }).then([])
  })

  it('refuses to block or unblock a lost card with 409 CARD_LOST', () => {
    block(card({ status: 'lost' }))
      .when({ cardId })
      .thenRefused('CARD_LOST', { status: 409 })
    unblock(card({ status: 'lost' }))
      .when({ cardId })
      .thenRefused('CARD_LOST', { status: 409 })
  })

  it('refuses an unknown card with 404', () => {
    block(absent).when({ cardId }).thenRefused('CARD_NOT_FOUND')
    unblock(absent).when({ cardId }).thenRefused('CARD_NOT_FOUND')
  })
})

describe('change-credit-limit', () => {
  const given = deciderSpec(decideChangeLimit, { command: c.changeCreditLimit, now, newId, caller: agent })

  it('changes the limit down to exactly what is outstanding', () => {
    given(card())
      .when({ cardId, creditLimit: 50_000 })
      .then(
        CreditLimitChanged.create({
          ...ref('agent-1'),
          previousLimit: 100_000,
          creditLimit: 50_000,
          balance: balance(30_000, 20_000, 50_000),
        }),
      )
    given(card()).when({ cardId, creditLimit: 100_000 }).then([])
  })

  it('refuses a limit below holds + posted with 409 LIMIT_BELOW_OUTSTANDING', () => {
    given(card())
      .when({ cardId, creditLimit: 49_999 })
      .thenRefused('LIMIT_BELOW_OUTSTANDING', { status: 409 })
  })
})

describe('authorize-transaction', () => {
  const given = deciderSpec(decideAuthorize(testPolicy), {
    command: c.authorizeTransaction,
    now,
    newId,
    caller: network,
  })
  const input = {
    cardId,
    amount: 50_000,
    currency: 'KRW',
    merchantId: 'Shop-1',
    merchantName: 'Shop One',
    mcc: '5411',
    country: 'KR',
    city: 'Seoul',
  }
  const payment = {
    transactionId: newId,
    merchantId: 'shop-1',
    merchantName: 'Shop One',
    mcc: '5411',
    country: 'KR',
    city: 'Seoul',
    occurredAt: now,
    source: 'network' as const,
    autoPaymentId: null,
  }
  const state = (c: CardState, transactionIdTaken = false) => ({ card: c, transactionIdTaken })
  const declined = (reason: DeclineReason, o: { amount?: number; currency?: string } = {}) =>
    TransactionDeclined.create({
      ...ref('visa'),
      ...payment,
      currency: o.currency ?? 'KRW',
      decision: 'declined',
      reason,
      amount: o.amount ?? 50_000,
      balance: balance(30_000),
    })

  it('approves exactly the available credit, as a hold that expires after the configured hours', () => {
    given(state(card()))
      .when(input)
      .then(
        TransactionAuthorized.create({
          ...ref('visa'),
          ...payment,
          decision: 'approved',
          amount: 50_000,
          holdExpiresAt: '2031-03-08T09:00:00.000Z',
          balance: balance(80_000),
        }),
      )
  })

  it('declines one unit past the available credit with INSUFFICIENT_CREDIT', () => {
    given(state(card()))
      .when({ ...input, amount: 50_001 })
      .then(declined('INSUFFICIENT_CREDIT', { amount: 50_001 }))
  })

  it('declines a lost, blocked or expired card, another currency and an amount over the product limit', () => {
    given(state(card({ status: 'lost' })))
      .when(input)
      .then(declined('CARD_LOST'))
    given(state(card({ status: 'blocked' })))
      .when(input)
      .then(declined('CARD_BLOCKED'))
    given(state(card({ expiresAt: now })))
      .when(input)
      .then(declined('CARD_EXPIRED'))
    given(state(card()))
      .when({ ...input, currency: 'USD' })
      .then(declined('CURRENCY_MISMATCH', { currency: 'USD' }))
    const big = card({ creditLimit: 100_000_000, holds: 0, posted: 0 })
    const over = testPolicy.amountLimits.gold + 1
    given(state(big))
      .when({ ...input, amount: over })
      .then(
        TransactionDeclined.create({
          ...ref('visa'),
          ...payment,
          decision: 'declined',
          reason: 'AMOUNT_LIMIT',
          amount: over,
          balance: balance(0, 0, 100_000_000),
        }),
      )
  })

  it('declines an unknown card with CARD_NOT_FOUND, naming no customer or product', () => {
    given(state(absent))
      .when(input)
      .then(
        TransactionDeclined.create({
          ...ref('visa'),
          ...payment,
          customerId: null,
          product: null,
          decision: 'declined',
          reason: 'CARD_NOT_FOUND',
          amount: 50_000,
          balance: null,
        }),
      )
  })

  it('refuses a taken network transaction id with 409 TRANSACTION_ID_TAKEN, a bad time with 400 whether or not it is', () => {
    given(state(card(), true))
      .when({ ...input, transactionId: newId })
      .thenRefused('TRANSACTION_ID_TAKEN', { status: 409 })
    given(state(card(), true))
      .when({ ...input, transactionId: newId, occurredAt: '2030-12-31T23:59:60Z' })
      .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/occurredAt' }] })
  })

  it('refuses an occurredAt over 30 days old or more than 5 minutes ahead with 400', () => {
    for (const occurredAt of ['2031-01-01T00:00:00Z', '2031-03-01T09:06:00Z']) {
      given(state(card()))
        .when({ ...input, occurredAt })
        .thenRefused('VALIDATION_FAILED', { status: 400, errors: [{ path: '/occurredAt' }] })
    }
  })
})
