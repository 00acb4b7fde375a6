import type { BenchContext } from '../lib/context.js'
import { runLoad, type LoadOptions } from '../lib/load.js'
import type { Measurement } from '../lib/results.js'
import { describeMeasurement } from './scenario.js'

/** Measures one load over the context's span, after its warm-up on the same connections, and prints it. */
export async function measure(ctx: BenchContext, load: Omit<LoadOptions, 'span'>): Promise<Measurement> {
  const m = await runLoad({ ...load, span: ctx.span })
  ctx.log(describeMeasurement(m))
  return m
}

export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

/**
 * A query's statistics so far (`/api/cqrs/stats`): the answers that looked in the query cache
 * (`count`), how many it had and had not, and the server's time over all its answers (`totalMs`).
 */
export async function answersSoFar(
  url: string,
  query: string,
): Promise<{ count: number; hits: number; misses: number; totalMs: number }> {
  const stats = await getJson<{
    queries: Record<
      string,
      { count?: number; avgMs?: number; cacheHits?: number; cacheMisses?: number } | undefined
    >
  }>(`${url}/api/cqrs/stats`)
  const of = stats.queries[query]
  const hits = of?.cacheHits ?? 0
  const misses = of?.cacheMisses ?? 0
  return { count: hits + misses, hits, misses, totalMs: (of?.avgMs ?? 0) * (of?.count ?? 0) }
}

/** The share of the answers between two `answersSoFar` that came from the cache (0 if none). */
export function hitRateBetween(
  before: { count: number; hits: number },
  after: { count: number; hits: number },
) {
  const count = after.count - before.count
  return count > 0 ? Math.round(((after.hits - before.hits) / count) * 1000) / 1000 : 0
}

/**
 * The handler's own time per cache miss between two `answersSoFar`, in ms: the server's time in the
 * query's pipeline (from its statistics) over the answers that missed. A hit takes microseconds, so
 * nearly all of it is the misses'; the HTTP queueing before and after is not in it.
 */
export function missMsBetween(
  before: { misses: number; totalMs: number },
  after: { misses: number; totalMs: number },
) {
  const misses = after.misses - before.misses
  return misses > 0 ? Math.round(((after.totalMs - before.totalMs) / misses) * 100) / 100 : 0
}

export async function getText(url: string): Promise<string> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`)
  return response.text()
}
