/**
 * The query cache's invalidations (src/core/cache.ts): 2,000 of 1,500 tags each, drawn from 40,000
 * card ids (a cards projection's batches), with no answer being computed (a projector's process) and
 * with one (a query process under load, where each tag is marked). Prints µs per tag, each case
 * twice, alternated. Not part of `npm run bench`: `npx tsx bench/cache-invalidate.ts` after
 * `npm run build` (it times the compiled module, as the product runs it).
 */
import { product } from './lib/product.js'

const { createQueryCache } = await product<typeof import('../src/core/cache.js')>('core/cache.js')
const ids = Array.from(
  { length: 40_000 },
  (_, i) => `cards/card:${i.toString(16).padStart(8, '0')}-0000-7000-8000-0`,
)

function run(answering: boolean): number {
  const cache = createQueryCache()
  if (answering) cache.stamp() // an answer being computed, never set
  let spent = 0
  let tags = 0
  for (let batch = 0; batch < 2_000; batch++) {
    const touched = new Set<string>()
    for (let k = 0; k < 1_500; k++) touched.add(ids[Math.floor(Math.random() * ids.length)] as string)
    const began = performance.now()
    cache.invalidate(touched)
    spent += performance.now() - began
    tags += touched.size
  }
  return (spent * 1000) / tags
}

for (const answering of [false, true, false, true]) {
  const label = answering ? 'an answer being computed' : 'no answer being computed'
  console.log(`${label.padEnd(26)} ${run(answering).toFixed(3)} µs per tag`)
}
