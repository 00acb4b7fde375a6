import { type BenchMix, type Caller } from '../../kernel/index.js'
import type { CardCommands } from './commands.js'
import { shops } from './demo.js'
import { spending } from './projections/index.js'
import { getRecentTransactions } from './projections/recent-queries.js'

const customers = 500
const products = ['classic', 'gold', 'platinum'] as const
const agent: Caller = { id: 'bench-card-agent', roles: ['agent'] }
const network: Caller = { id: 'bench-card-network', roles: ['network'] }
const customer = (n: number): Caller => ({ id: `bench-customer-${n}`, roles: ['customer'] })
const day = 24 * 3600_000

/**
 * The cards domain in the guide's benchmark: 500 customers with a card each (credit for any run),
 * paying at the demo's 4 shops in Korea. Writes: an authorization 80%, the capture of an approved one 20%. Reads:
 * a customer's recent transactions 50%, their month's spending 25%, their last 30 days by date 15%,
 * a shop's last 30 days (an agent) 10%.
 */
export const benchMix = (commands: CardCommands): BenchMix => ({
  async prepare({ commands: bus, queries }, now) {
    const expiresAt = new Date(now.getTime() + 3 * 365 * day).toISOString()
    // Issued 50 at a time: one after another, 500 cards were most of a spec's time on PostgreSQL.
    const issue = async (n: number) => {
      const input = {
        customerId: customer(n).id,
        product: products[n % products.length] ?? 'gold',
        creditLimit: 100_000_000_000,
        currency: 'KRW',
        expiresAt,
      }
      const done = await bus.execute(commands.issueCard, input, { caller: agent })
      if (done.status === 'failed') throw done.error
      return done.result.cardId
    }
    const cardIds: string[] = []
    for (let first = 0; first < customers; first += 50) {
      const batch = Array.from({ length: Math.min(50, customers - first) }, (_, i) => issue(first + i))
      cardIds.push(...(await Promise.all(batch)))
    }
    const month = now.toISOString().slice(0, 7)
    const from = new Date(now.getTime() - 29 * day).toISOString().slice(0, 10)
    const to = now.toISOString().slice(0, 10)
    const pick = (r: number) => Math.floor(r * customers)
    const approved: string[] = []
    return {
      async command(i, r) {
        const transactionId = r < 0.2 ? approved.shift() : undefined
        if (transactionId)
          return bus.execute(
            commands.updateTransaction,
            { transactionId, action: 'capture' },
            { caller: network },
          )
        const n = pick(r)
        const payment = {
          ...shops[(i + n) % shops.length],
          cardId: cardIds[n] ?? '',
          currency: 'KRW',
          country: 'KR',
        }
        const done = await bus.execute(commands.authorizeTransaction, payment, { caller: network })
        if (done.status === 'succeeded' && done.result.decision === 'approved') {
          approved.push(done.result.transactionId)
          if (approved.length > 1000) approved.shift()
        }
        return done
      },
      query: (_i, r) =>
        r < 0.5
          ? queries.ask(getRecentTransactions, { limit: 20 }, { caller: customer(pick(r / 0.5)) })
          : r < 0.75
            ? queries.ask(
                spending.getMonthlySpendingSummary,
                { month },
                { caller: customer(pick((r - 0.5) / 0.25)) },
              )
            : r < 0.9
              ? queries.ask(
                  spending.getSpendingByDate,
                  { from, to },
                  { caller: customer(pick((r - 0.75) / 0.15)) },
                )
              : queries.ask(
                  spending.getMerchantSummary,
                  { merchantId: shops[pick((r - 0.9) / 0.1) % shops.length]?.merchantId ?? '', from, to },
                  { caller: agent },
                ),
    }
  },
})
