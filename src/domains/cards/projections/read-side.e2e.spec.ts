import { describe, expect, it } from 'vitest'
import {
  commandUrl,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  modes,
  queryUrl,
  useTestServer,
} from '../../../kernel/testing.js'
import { agent, cardsTestDomain, customer, inYears, network, payment } from '../testing/cards.js'

/**
 * The read side over HTTP: bad input is a 400 problem naming the field (bad month, day, range out of
 * order or too long, unknown bucket or engine, limit past 100, a foreign cursor), other customers'
 * data 403 or 404, a role without reads 403; never a 500 (the server fails the test on any).
 */

const q = (name: string, params: Record<string, string | number> = {}) => queryUrl('cards', name, params)
const admin = { id: 'admin-1', roles: ['admin'] }

describe.each(modes)('cards read side over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [cardsTestDomain] })

  async function setup(customerId: string) {
    const issued = await server().post(
      commandUrl('cards', 'issue-card'),
      { customerId, product: 'gold', creditLimit: 1_000_000, currency: 'KRW', expiresAt: inYears(3) },
      { caller: agent },
    )
    const cardId = expectSucceeded<{ cardId: string }>(issued).result.cardId
    const paid = await server().post(commandUrl('cards', 'authorize-transaction'), payment(cardId, 7_000), {
      caller: network,
    })
    return { cardId, position: expectSucceeded(paid).position }
  }

  it('answers a transaction at once with X-Min-Position, as data and a cursor', async () => {
    const { cardId, position } = await setup('hana')
    const answer = await server().get(q('get-recent-transactions', { cardId: cardId.toUpperCase() }), {
      caller: customer('hana'),
      headers: { 'x-min-position': position },
    })
    expect(answer.statusCode).toBe(200)
    expect(answer.json()).toMatchObject({
      data: [{ cardId, amount: 7_000, status: 'authorized' }],
      nextCursor: null,
    })
    expect(BigInt(String(answer.headers['x-read-position']))).toBeGreaterThanOrEqual(BigInt(position))
  })

  it('refuses bad input with 400 VALIDATION_FAILED naming the field', async () => {
    const kim = { caller: customer('kim') }
    // A customer id is a user id as tokens have it: one no token can hold is no one's (nor logged as read).
    for (const bad of ['cust1\n', ' cust1', 'cust1\u200b', '\u2028x']) {
      expectInvalid(
        await server().get(q('get-recent-transactions', { customerId: bad }), { caller: agent }),
        '/customerId',
      )
      expectInvalid(
        await server().get(q('get-access-log', { customerId: bad }), { caller: admin }),
        '/customerId',
      )
    }
    const month = (m: string) => q('get-monthly-spending-summary', { month: m })
    for (const bad of ['2031-13', '2031-00', '2031-3', '31-03', 'march', '0000-01'])
      expectInvalid(await server().get(month(bad), kim), '/month')
    // No month: this month's (an empty one here).
    const thisMonth = await server().get(q('get-monthly-spending-summary', {}), kim)
    expect(thisMonth.statusCode).toBe(200)
    expect(thisMonth.json<{ data: { month: string } }>().data.month).toMatch(/^[0-9]{4}-[0-9]{2}$/)
    expectInvalid(
      await server().get(q('get-monthly-spending-summary', { month: '2031-03', months: 25 }), kim),
      '/months',
    )
    const merchant = (p: Record<string, string>) =>
      server().get(
        q('get-merchant-summary', { merchantId: 'cafe-1', from: '2031-03-01', to: '2031-03-30', ...p }),
        {
          caller: agent,
        },
      )
    expectInvalid(await merchant({ from: '2031-04-01' }), '/from')
    expectInvalid(await merchant({ bucket: 'week' }), '/bucket')
    expectInvalid(await merchant({ from: '2031-02-30' }), '/from')
    expectInvalid(await merchant({ to: '2031-3-30' }), '/to')
    expectInvalid(await merchant({ from: '2029-01-01' }), '/to')
    expectInvalid(await merchant({ engine: 'oracle' }), '/engine')
    expectInvalid(await merchant({ merchantId: 'café!' }), '/merchantId')
    expectInvalid(await merchant({ extra: '1' }))
    const byDate = (p: Record<string, string>) =>
      server().get(q('get-spending-by-date', { from: '2031-03-01', to: '2031-03-31', ...p }), kim)
    expectInvalid(await byDate({ from: '2031-04-01' }), '/from')
    expectInvalid(await byDate({ from: '0000-12-31' }), '/from')
    expectInvalid(await byDate({ bucket: 'year' }), '/bucket')
    expectInvalid(
      await server().get(q('get-spending-by-product', { from: '2031-05', to: '2031-01' }), kim),
      '/from',
    )
    expectInvalid(
      await server().get(q('get-spending-by-product', { from: '2029-01', to: '2031-01' }), kim),
      '/to',
    )
    // The caps as the messages count them: 24 months after from is 25 covered, one too many; the
    // message says what a range may cover and what this one did.
    const months = await server().get(q('get-spending-by-product', { from: '2029-01', to: '2031-01' }), kim)
    expect(months.json<{ errors: { message: string }[] }>().errors[0]?.message).toBe(
      'must be at most 23 months after from: a range covers at most 24 months (this one 25)',
    )
    const days = await byDate({ from: '2030-03-01', to: '2031-03-02' })
    expect(days.json<{ errors: { message: string }[] }>().errors[0]?.message).toBe(
      'must be at most 365 days after from: a range of bucket day covers at most 366 days (this one 367)',
    )
    for (const limit of [0, 101, -1, 'ten']) {
      expectInvalid(await server().get(q('get-recent-transactions', { limit }), kim), '/limit')
      expectInvalid(await server().get(q('get-access-log', { limit }), { caller: admin }), '/limit')
    }
    expectInvalid(
      await server().get(q('get-recent-transactions', { cursor: 'not-a-cursor' }), kim),
      '/cursor',
    )
    expectInvalid(await server().get(q('get-recent-transactions', { cardId: 'nope' }), kim), '/cardId')
    expectInvalid(await server().get(q('get-card-history', { cardId: 'nope' }), kim), '/cardId')
    expectInvalid(
      await server().get(q('get-access-log', { from: '2031-03-02T00:00:00Z', to: '2031-03-01T00:00:00Z' }), {
        caller: admin,
      }),
      '/from',
    )
    // To the digit: within one millisecond, a start after the end is refused too.
    expectInvalid(
      await server().get(
        q('get-access-log', { from: '2031-03-01T00:00:00.0009Z', to: '2031-03-01T00:00:00.0001Z' }),
        { caller: admin },
      ),
      '/from',
    )
    // What PostgreSQL cannot take: year 0000, a day no calendar has, a position past 2^63-1.
    const cursor = (key: string) => Buffer.from(key).toString('base64url')
    const { cardId } = await setup('bora')
    for (const key of ['history|9223372036854775808', 'history|9999999999999999999'])
      expectInvalid(
        await server().get(q('get-card-history', { cardId, cursor: cursor(key) }), {
          caller: customer('bora'),
        }),
        '/cursor',
      )
    const uuid = '0190b0c0-0000-7000-8000-000000000001'
    for (const key of [`access|0000-01-01T00:00:00.000Z|${uuid}`, `access|2031-02-30T00:00:00.000Z|${uuid}`])
      expectInvalid(
        await server().get(q('get-access-log', { cursor: cursor(key) }), { caller: admin }),
        '/cursor',
      )
    for (const field of ['from', 'to'])
      expectInvalid(
        await server().get(q('get-access-log', { [field]: '0000-01-01T00:00:00Z' }), { caller: admin }),
        `/${field}`,
      )
  })

  it("never shows another customer's data: their card 404 as an unknown one, their id 403", async () => {
    const { cardId } = await setup('jin')
    const other = { caller: customer('someone') }
    expectProblem(await server().get(q('get-recent-transactions', { cardId }), other), 404, 'CARD_NOT_FOUND')
    expectProblem(await server().get(q('get-card-history', { cardId }), other), 404, 'CARD_NOT_FOUND')
    for (const [name, params] of [
      ['get-recent-transactions', {}],
      ['get-monthly-spending-summary', { month: '2031-03' }],
      ['get-spending-by-date', { from: '2031-03-01', to: '2031-03-02' }],
      ['get-spending-by-product', { from: '2031-01', to: '2031-03' }],
    ] as const)
      expectProblem(await server().get(q(name, { ...params, customerId: 'jin' }), other), 403, 'FORBIDDEN')
    const merchant = q('get-merchant-summary', { merchantId: 'shop-1', from: '2031-03-01', to: '2031-03-02' })
    expectProblem(await server().get(merchant, other), 403, 'FORBIDDEN')
    expectProblem(await server().get(q('get-access-log'), { caller: agent }), 403, 'FORBIDDEN')
    expectProblem(
      await server().get(q('get-recent-transactions', { cardId }), { caller: network }),
      403,
      'FORBIDDEN',
    )
    expectProblem(await server().get(q('get-recent-transactions', { cardId })), 401, 'UNAUTHENTICATED')
  })
})
