import type { Caller, CommandBus, DemoExample } from '../../kernel/index.js'
import type { CardCommands } from './commands.js'
import { MAX_AMOUNT } from './messages.js'
import type { CardPolicy } from './rules.js'

const customer: Caller = { id: 'demo-card-customer', roles: ['customer'] }
const agent: Caller = { id: 'demo-card-agent', roles: ['agent'] }
const network: Caller = { id: 'demo-card-network', roles: ['network'] }

export const demoCallers: readonly (Caller & { label: string })[] = [
  { label: 'card-customer', ...customer },
  { label: 'card-agent', ...agent },
  { label: 'card-network', ...network },
  { label: 'card-admin', id: 'demo-card-admin', roles: ['admin'] },
]

/**
 * The demo's amounts against the product limits the environment chose (CARDS_AMOUNT_LIMIT_*): an
 * auto-payment over the limit is refused, which would stop the demo's seeding and an example.
 */
const withinLimit = (policy: CardPolicy, product: 'gold', amount: number) =>
  Math.min(amount, policy.amountLimits[product])
/** One over the limit (declined with AMOUNT_LIMIT), unless the limit is the largest amount there is. */
const overLimit = (policy: CardPolicy, product: 'gold' | 'classic') =>
  Math.min(policy.amountLimits[product] + 1, MAX_AMOUNT)

/** The demo customer's card: fixed, so the banner's examples name it without reading anything. */
export const demoCardId = '0190b0c0-0000-7000-8000-00000000de01'
const otherCardId = '0190b0c0-0000-7000-8000-00000000de02'

/** Shops in Korea the demo pays at, each with one payment's amount (all under every product's default limit). */
export const shops = [
  { merchantId: 'cafe-seoul-042', merchantName: 'Cafe Seoul', mcc: '5814', city: 'Seoul', amount: 6_500 },
  {
    merchantId: 'e-mart-yongsan',
    merchantName: 'E-Mart Yongsan',
    mcc: '5411',
    city: 'Seoul',
    amount: 84_300,
  },
  { merchantId: 'korail', merchantName: 'Korail', mcc: '4112', city: 'Busan', amount: 59_800 },
  {
    merchantId: 'grand-hotel-busan',
    merchantName: 'Grand Hotel Busan',
    mcc: '7011',
    city: 'Busan',
    amount: 230_000,
  },
] as const

/** Two cards, a few payments on the demo customer's (captured, one still a hold, one declined), an auto-payment. */
export function seedDemo(commands: CardCommands, policy: CardPolicy) {
  return async (bus: CommandBus): Promise<void> => {
    const run = async <R>(
      done: Promise<{ status: 'succeeded'; result: R } | { status: 'failed'; error: Error }>,
    ) => {
      const outcome = await done
      if (outcome.status === 'failed') throw outcome.error
      return outcome.result
    }
    const expiresAt = new Date(Date.now() + 3 * 365 * 24 * 3600_000).toISOString()
    const issue = (cardId: string, customerId: string, product: 'gold' | 'classic', creditLimit: number) =>
      run(
        bus.execute(
          commands.issueCard,
          { cardId, customerId, product, creditLimit, currency: 'KRW', expiresAt },
          { caller: agent },
        ),
      )
    await issue(demoCardId, customer.id, 'gold', 3_000_000)
    await issue(otherCardId, 'demo-card-other-customer', 'classic', 1_000_000)
    for (const [i, shop] of shops.entries()) {
      const decided = await run(
        bus.execute(
          commands.authorizeTransaction,
          { cardId: demoCardId, currency: 'KRW', country: 'KR', ...shop },
          { caller: network },
        ),
      )
      if (i < 3 && decided.decision === 'approved') {
        await run(
          bus.execute(
            commands.updateTransaction,
            { transactionId: decided.transactionId, action: 'capture' },
            { caller: network },
          ),
        )
      }
    }
    const over = {
      cardId: otherCardId,
      currency: 'KRW',
      country: 'KR',
      ...shops[3],
      amount: overLimit(policy, 'classic'),
    }
    await run(bus.execute(commands.authorizeTransaction, over, { caller: network })) // declined: AMOUNT_LIMIT
    await run(
      bus.execute(
        commands.registerAutoPayment,
        {
          cardId: demoCardId,
          merchantId: 'stream-tv',
          merchantName: 'StreamTV',
          amount: withinLimit(policy, 'gold', 13_900),
          dayOfMonth: 15,
        },
        { caller: customer },
      ),
    )
  }
}

/** The banner's examples: each works as printed, again and again (a decline is an answer too). */
export async function demoExamples(policy: CardPolicy): Promise<DemoExample[]> {
  const path = (name: string) => `/api/commands/cards/${name}`
  const payment = {
    cardId: demoCardId,
    currency: 'KRW',
    merchantId: 'cafe-seoul-042',
    merchantName: 'Cafe Seoul',
    mcc: '5814',
    country: 'KR',
    city: 'Seoul',
  }
  return [
    {
      title: "Authorize a payment on the demo customer's card (the network's decision: approved or declined)",
      method: 'POST',
      path: path('authorize-transaction'),
      body: { ...payment, amount: 4_800 },
      as: 'card-network',
    },
    {
      title: 'One over the gold card’s single-payment limit: declined with AMOUNT_LIMIT, recorded',
      method: 'POST',
      path: path('authorize-transaction'),
      body: { ...payment, amount: overLimit(policy, 'gold') },
      as: 'card-network',
    },
    {
      title: 'The demo customer registers a monthly auto-payment on their card',
      method: 'POST',
      path: path('register-auto-payment'),
      body: {
        cardId: demoCardId,
        merchantId: 'music-plus',
        merchantName: 'Music Plus',
        amount: withinLimit(policy, 'gold', 10_900),
        dayOfMonth: 3,
      },
      as: 'card-customer',
    },
    {
      title: 'A casino payment (a risky merchant category): the anomaly processor raises an alert on it',
      method: 'POST',
      path: path('authorize-transaction'),
      body: {
        ...payment,
        merchantId: 'seoul-casino',
        merchantName: 'Seoul Casino',
        mcc: '7995',
        amount: 50_000,
      },
      as: 'card-network',
    },
    {
      title:
        'The open anomaly alerts, newest first, as an agent sees them (/stream sends each new one live; ' +
        'the processor raises the casino payment’s a moment after the payment answers)',
      method: 'GET',
      path: '/api/queries/cards/get-anomaly-alerts?status=open&limit=5',
      as: 'card-agent',
    },
    ...readExamples(),
  ]
}

/** The read side's queries over the demo data, on the dates the banner is printed (UTC). */
function readExamples(): DemoExample[] {
  const query = (name: string, params: Record<string, string>) =>
    `/api/queries/cards/${name}?${new URLSearchParams(params).toString()}`
  const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 24 * 3600_000).toISOString().slice(0, 10)
  const month = day(0).slice(0, 7)
  const first = new Date(`${month}-01T00:00:00.000Z`)
  const monthsAgo = (n: number) =>
    new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() - n, 1)).toISOString().slice(0, 7)
  const customerId = customer.id
  return [
    {
      title: "The demo customer's cards, each as it stands: status, limit, outstanding, available",
      method: 'GET',
      path: query('get-cards', { limit: '5' }),
      as: 'card-customer',
    },
    {
      title: "The demo customer's recent transactions, newest first, each with its current status",
      method: 'GET',
      path: query('get-recent-transactions', { cardId: demoCardId, limit: '5' }),
      as: 'card-customer',
    },
    {
      title: "This month's spending by category and card, and the trend against the previous months",
      method: 'GET',
      path: query('get-monthly-spending-summary', { month }),
      as: 'card-customer',
    },
    {
      title: "A merchant's payments over the last 30 days, by day (agents and admins)",
      method: 'GET',
      path: query('get-merchant-summary', { merchantId: 'e-mart-yongsan', from: day(29), to: day(0) }),
      as: 'card-agent',
    },
    {
      title: "The demo customer's spending by date, as an agent reads it (on the access log)",
      method: 'GET',
      path: query('get-spending-by-date', { customerId, from: day(29), to: day(0) }),
      as: 'card-agent',
    },
    {
      title: 'Every customer’s spending by card product, month by month',
      method: 'GET',
      path: query('get-spending-by-product', { from: monthsAgo(2), to: month }),
      as: 'card-admin',
    },
    {
      title: 'The same answered by DuckDB, summed from the transactions at read time (engine=duckdb)',
      method: 'GET',
      path: query('get-spending-by-product', { from: monthsAgo(2), to: month, engine: 'duckdb' }),
      as: 'card-admin',
    },
    {
      title: "The demo card's events and its state (limit, outstanding, status); add &at=<time> for the past",
      method: 'GET',
      path: query('get-card-history', { cardId: demoCardId, limit: '5' }),
      as: 'card-agent',
    },
    {
      title: "Who read the demo customer's card data, and when (admin)",
      method: 'GET',
      path: query('get-access-log', { customerId }),
      as: 'card-admin',
    },
  ]
}
