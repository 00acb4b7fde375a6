import { fileURLToPath } from 'node:url'

/**
 * Loads a module of the product as it ships: compiled, from dist/ (`npm run bench` builds it first),
 * not the TypeScript that tsx compiles on the fly, which wraps every function it creates in a naming
 * helper (8% of get-event-details throughput in one measurement). With BENCH_FROM_SRC=1 (the smoke
 * test, which must not need a build) the sources are loaded instead. Type it with the source module:
 * `await product<typeof import('../../src/app/tandem.js')>('app/tandem.js')`.
 */
export function product<T>(path: string): Promise<T> {
  const tree = process.env.BENCH_FROM_SRC === '1' ? 'src' : 'dist'
  const file = fileURLToPath(new URL(`../../${tree}/${path}`, import.meta.url))
  // This module compiled beside the sources (src/testing/compiled-sources.ts) loads them compiled too.
  const typescript = tree === 'src' && import.meta.url.endsWith('.ts')
  return import(typescript ? file.replace(/\.js$/, '.ts') : file) as Promise<T>
}
