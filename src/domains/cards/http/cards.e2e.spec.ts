import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  commandUrl,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  modes,
  useTestServer,
} from '../../../kernel/testing.js'
import { MAX_AMOUNT, MAX_CREDIT_LIMIT } from '../messages.js'
import {
  agent,
  cardRow,
  cardsTestDomain,
  customer,
  inYears,
  network,
  payment,
  testPolicy,
} from '../testing/cards.js'

type Decision = { transactionId: string; decision: string; reason?: string }
const url = (name: string) => commandUrl('cards', name)

describe.each(modes)('cards over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [cardsTestDomain] })

  async function issueVia(o: { customerId?: string; creditLimit?: number } = {}): Promise<string> {
    const body = {
      customerId: o.customerId ?? `c-${randomUUID()}`,
      product: 'gold',
      creditLimit: o.creditLimit ?? 100_000,
      currency: 'KRW',
      expiresAt: inYears(3),
    }
    return expectSucceeded<{ cardId: string }>(
      await server().post(url('issue-card'), body, { caller: agent }),
    ).result.cardId
  }
  const authorize = (body: unknown, headers: Record<string, string> = {}) =>
    server().post(url('authorize-transaction'), body, { caller: network, headers })

  it('takes ids in upper case as the same card and transaction', async () => {
    const cardId = await issueVia()
    const decided = expectSucceeded<Decision>(await authorize(payment(cardId.toUpperCase(), 1_000))).result
    expect(decided.decision).toBe('approved')
    const captured = await server().post(
      url('update-transaction'),
      { transactionId: decided.transactionId.toUpperCase(), action: 'capture' },
      { caller: network },
    )
    expect(expectSucceeded(captured).result).toEqual({
      transactionId: decided.transactionId,
      status: 'captured',
      hold: 0,
      posted: 1_000,
    })
    expect(await cardRow(server().tandem, cardId)).toMatchObject({ holds: 0, posted: 1_000 })
  })

  it('refuses unknown fields, bad codes and amounts past the caps with 400, changing nothing', async () => {
    const cardId = await issueVia()
    const cases: [Record<string, unknown>, string][] = [
      [{ ...payment(cardId, 1), extra: 1 }, ''],
      [payment(cardId, 0), '/amount'],
      [payment(cardId, MAX_AMOUNT + 1), '/amount'],
      [payment(cardId, 1.5), '/amount'],
      [payment(cardId, 1, { currency: 'krw' }), '/currency'],
      [payment(cardId, 1, { currency: 'XXX' }), '/currency'], // three capitals, but no currency's code
      [payment(cardId, 1, { country: 'KOR' }), '/country'],
      [payment(cardId, 1, { country: 'ZZ' }), '/country'], // two capitals, but no country's code
      [payment(cardId, 1, { mcc: '541' }), '/mcc'],
      [payment(cardId, 1, { merchantName: '   ' }), '/merchantName'],
      [payment(cardId, 1, { merchantName: 'a\u0000b' }), '/merchantName'],
      [payment('{' + cardId + '}', 1), '/cardId'],
      [payment(cardId, 1, { occurredAt: '2001-01-01T00:00:00Z' }), '/occurredAt'],
    ]
    for (const [body, path] of cases) {
      const answer = await authorize(body)
      if (path) expectInvalid(answer, path)
      else expectProblem(answer, 400, 'VALIDATION_FAILED')
    }
    const issue = { customerId: 'x', product: 'gold', currency: 'KRW', expiresAt: inYears(1) }
    expectInvalid(
      await server().post(
        url('issue-card'),
        { ...issue, creditLimit: MAX_CREDIT_LIMIT + 1 },
        { caller: agent },
      ),
      '/creditLimit',
    )
    expectInvalid(
      await server().post(url('issue-card'), { ...issue, creditLimit: -1 }, { caller: agent }),
      '/creditLimit',
    )
    for (const currency of ['ABC', 'XTS', 'HRK'])
      expectInvalid(
        await server().post(url('issue-card'), { ...issue, creditLimit: 1, currency }, { caller: agent }),
        '/currency',
      )
    // A customer is a token's sub: one with a blank at an end is nobody's (no token carries it).
    for (const customerId of ['x ', ' x', 'x\ny'])
      expectInvalid(
        await server().post(url('issue-card'), { ...issue, creditLimit: 1, customerId }, { caller: agent }),
        '/customerId',
      )
    expectInvalid(
      await server().post(
        url('issue-card'),
        { ...issue, creditLimit: 1, product: 'black' },
        { caller: agent },
      ),
      '/product',
    )
    expectInvalid(
      await server().post(
        url('register-auto-payment'),
        { cardId, merchantId: 'm', amount: 1, dayOfMonth: 29 },
        { caller: agent },
      ),
      '/dayOfMonth',
    )
    expectInvalid(
      await server().post(
        url('register-auto-payment'),
        { cardId, merchantId: 'm', amount: 1, dayOfMonth: 1, country: 'XX' },
        { caller: agent },
      ),
      '/country',
    )
    expect(await cardRow(server().tandem, cardId)).toMatchObject({ holds: 0, posted: 0, version: 1 })
  })

  it('takes the caps themselves: the largest limit, and a payment of exactly the product limit', async () => {
    const body = {
      customerId: 'max',
      product: 'gold',
      creditLimit: MAX_CREDIT_LIMIT,
      currency: 'KRW',
      expiresAt: inYears(1),
    }
    const { cardId } = expectSucceeded<{ cardId: string }>(
      await server().post(url('issue-card'), body, { caller: agent }),
    ).result
    const gold = testPolicy.amountLimits.gold
    expect(expectSucceeded<Decision>(await authorize(payment(cardId, gold))).result.decision).toBe('approved')
    expect(expectSucceeded<Decision>(await authorize(payment(cardId, gold + 1))).result.reason).toBe(
      'AMOUNT_LIMIT',
    )
  })

  it("keeps other customers' cards theirs: 404 for a card not theirs, 403 for what a customer may never do", async () => {
    const cardId = await issueVia({ customerId: 'owner' })
    const other = customer('intruder')
    expectProblem(
      await server().post(url('report-card-lost'), { cardId }, { caller: other }),
      404,
      'CARD_NOT_FOUND',
    )
    expectProblem(
      await server().post(
        url('register-auto-payment'),
        { cardId, merchantId: 'm', amount: 1, dayOfMonth: 1 },
        { caller: other },
      ),
      404,
      'CARD_NOT_FOUND',
    )
    expectProblem(
      await server().post(url('block-card'), { cardId }, { caller: customer('owner') }),
      403,
      'FORBIDDEN',
    )
    expectProblem(
      await server().post(url('authorize-transaction'), payment(cardId, 1), { caller: customer('owner') }),
      403,
      'FORBIDDEN',
    )
    expectProblem(
      await server().post(url('authorize-transaction'), payment(cardId, 1)),
      401,
      'UNAUTHENTICATED',
    )
    expect(
      expectSucceeded(await server().post(url('report-card-lost'), { cardId }, { caller: customer('owner') }))
        .result,
    ).toEqual({
      cardId,
      status: 'lost',
    })
  })

  it('lets an admin capture and fail transactions, as an agent may', async () => {
    const admin = { id: 'admin-1', roles: ['admin'] }
    const cardId = await issueVia()
    const decided = async () => expectSucceeded<Decision>(await authorize(payment(cardId, 1_000))).result
    const { transactionId } = await decided()
    const captured = await server().post(
      url('update-transaction'),
      { transactionId, action: 'capture' },
      { caller: admin },
    )
    expect(expectSucceeded(captured).result).toMatchObject({ status: 'captured', posted: 1_000 })
    const failed = await server().post(
      url('mark-transaction-failed'),
      { transactionId: (await decided()).transactionId, reason: 'settlement failed' },
      { caller: admin },
    )
    expect(expectSucceeded(failed).result).toMatchObject({ status: 'failed', hold: 0 })
    expect(await cardRow(server().tandem, cardId)).toMatchObject({ holds: 0, posted: 1_000 })
  })

  it('replays a retried authorization and never charges twice, also when the retries race', async () => {
    const cardId = await issueVia({ creditLimit: 10_000 })
    const key = { 'idempotency-key': `auth-${randomUUID()}` }
    const first = expectSucceeded<Decision>(await authorize(payment(cardId, 4_000), key))
    const again = await authorize(payment(cardId, 4_000), key)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(expectSucceeded<Decision>(again).result).toEqual(first.result)
    expectProblem(await authorize(payment(cardId, 4_001), key), 422, 'IDEMPOTENCY_KEY_REUSED')
    expect(await cardRow(server().tandem, cardId)).toMatchObject({ holds: 4_000 })

    const raced = { 'idempotency-key': `race-${randomUUID()}` }
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => authorize(payment(cardId, 5_000), raced)),
    )
    const decided = answers
      .filter((a) => a.statusCode === 200)
      .map((a) => a.json<{ result: Decision }>().result)
    expect(answers.every((a) => a.statusCode === 200 || a.statusCode === 409)).toBe(true)
    expect(new Set(decided.map((d) => d.transactionId)).size).toBe(1)
    expect(await cardRow(server().tandem, cardId)).toMatchObject({ holds: 9_000 })
  })

  it('approves no more than the credit when 40 different payments race on one card', async () => {
    const cardId = await issueVia({ creditLimit: 10_000 })
    const answers = await Promise.all(Array.from({ length: 40 }, () => authorize(payment(cardId, 1_000))))
    const decisions = answers.map((a) => expectSucceeded<Decision>(a).result)
    expect(decisions.filter((d) => d.decision === 'approved')).toHaveLength(10)
    expect(decisions.filter((d) => d.reason === 'INSUFFICIENT_CREDIT')).toHaveLength(30)
    expect(await cardRow(server().tandem, cardId)).toMatchObject({ holds: 10_000 })
  })

  it('answers unknown ids with 404 codes and a decline, never a 500', async () => {
    const missing = randomUUID()
    expectProblem(
      await server().post(url('block-card'), { cardId: missing }, { caller: agent }),
      404,
      'CARD_NOT_FOUND',
    )
    expectProblem(
      await server().post(
        url('update-transaction'),
        { transactionId: missing, action: 'reverse' },
        { caller: network },
      ),
      404,
      'TRANSACTION_NOT_FOUND',
    )
    expectProblem(
      await server().post(url('cancel-auto-payment'), { autoPaymentId: missing }, { caller: agent }),
      404,
      'AUTO_PAYMENT_NOT_FOUND',
    )
    expect(expectSucceeded<Decision>(await authorize(payment(missing, 1))).result).toMatchObject({
      decision: 'declined',
      reason: 'CARD_NOT_FOUND',
    })
  })
})
