/**
 * What storing answers into a full query cache costs (src/core/cache.ts): 300,000 pages of 20 parsed
 * transaction documents, each with its body, stored under a key of its own (the cards benchmark's
 * full size, where almost no question is asked twice), against the same pages made and not stored.
 * Prints the CPU and the main thread's garbage collection per page, each case twice, alternated. Not
 * part of `npm run bench`: `npx tsx bench/cache-churn.ts` after `npm run build` (it times the
 * compiled module, as the product runs it).
 */
import { randomUUID } from 'node:crypto'
import { PerformanceObserver } from 'node:perf_hooks'
import { product } from './lib/product.js'

const { createQueryCache } = await product<typeof import('../src/core/cache.js')>('core/cache.js')
const pages = 300_000
const docs = Array.from({ length: 5_000 }, () =>
  JSON.stringify({
    transactionId: randomUUID(),
    cardId: randomUUID(),
    customerId: 'cust-000123',
    merchantId: randomUUID(),
    merchantName: 'Some Merchant Name',
    category: 'groceries',
    amount: 12_345,
    currency: 'KRW',
    status: 'captured',
    occurredAt: new Date().toISOString(),
    authorizedAt: new Date().toISOString(),
    position: '123456',
  }),
)

let collecting = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) collecting += entry.duration
}).observe({ entryTypes: ['gc'] })

async function run(stored: boolean): Promise<{ cpuUs: number; gcUs: number }> {
  const cache = createQueryCache({ maxBytes: stored ? 256 * 2 ** 20 : 0 })
  const [cpu, gc] = [process.cpuUsage(), collecting]
  for (let i = 0; i < pages; i++) {
    const items = Array.from(
      { length: 21 },
      (_, k) => JSON.parse(docs[(i * 21 + k) % docs.length] ?? '{}') as unknown,
    )
    const page = { items: items.slice(0, 20), nextCursor: 'next' }
    const stamp = cache.stamp()
    cache.set(
      `cards/get-recent-transactions?cardId=${i}`,
      { value: { page, body: JSON.stringify(page) }, readPosition: '1' },
      { tags: [`cards/card:${i}`], ttlMs: 30_000, stamp },
    )
    // Collections observed as they come, as a server's turns would let them.
    if (i % 1_000 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  const used = process.cpuUsage(cpu)
  return { cpuUs: (used.user + used.system) / pages, gcUs: ((collecting - gc) * 1000) / pages }
}

for (let round = 0; round < 2; round++) {
  for (const stored of [false, true]) {
    const { cpuUs, gcUs } = await run(stored)
    console.log(
      `${stored ? 'stored in a full cache' : 'not stored'}: ${cpuUs.toFixed(1)} µs of CPU a page, ${gcUs.toFixed(1)} µs of it collecting on the main thread`,
    )
  }
}
