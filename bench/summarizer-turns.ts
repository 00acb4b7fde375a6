/**
 * The local summarizer (src/domains/study/summarizer.ts) on 100,000 characters, five runs per text:
 * the time a summary took, and the longest turn of the event loop it held (it runs in slices, in the
 * process that serves HTTP). Two texts: unrelated Chinese characters in sentences of 332 (each a
 * bigram: the costliest text found), and the study guide's mix of English and Korean. Not part of
 * `npm run bench`: `npx tsx bench/summarizer-turns.ts` after `npm run build` (it times the compiled
 * module, as the product runs it).
 */
import { product } from './lib/product.js'

const { summarizerFor } = await product<typeof import('../src/domains/study/summarizer.js')>(
  'domains/study/summarizer.js',
)

let seed = 1
const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
let han = ''
while (han.length < 100_000) {
  for (let i = 0; i < 332; i++) han += String.fromCharCode(0x4e00 + Math.floor(next() * 0x4fff))
  han += '。'
}
let mixed = ''
for (let i = 0; mixed.length < 100_000; i++)
  mixed += `Idea ${i % 37} meets idea ${i % 11} in sentence ${i}. 문장 ${i}은 주제 ${i % 13}에 관한 내용입니다. `

const local = summarizerFor('local')
for (const [name, text] of [
  ['unrelated Chinese', han.slice(0, 100_000)],
  ['English and Korean', mixed.slice(0, 100_000)],
] as const) {
  for (let run = 0; run < 5; run++) {
    let last = performance.now()
    let longest = 0
    let counting = true
    const turn = () => {
      const now = performance.now()
      longest = Math.max(longest, now - last)
      last = now
      if (counting) setImmediate(turn)
    }
    setImmediate(turn)
    const began = performance.now()
    await local.summarize({ content: text, style: 'brief' })
    counting = false
    // The turn under way when the summary was ready (all of it, if it was made at once).
    longest = Math.max(longest, performance.now() - last)
    console.log(
      `${name}: ${(performance.now() - began).toFixed(0)} ms, longest turn ${longest.toFixed(1)} ms`,
    )
  }
}
