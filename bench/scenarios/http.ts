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

/** How many answers of a query looked in the query cache so far (`/api/cqrs/stats`), and how many it had. */
export async function answersSoFar(url: string, query: string): Promise<{ count: number; hits: number }> {
  const stats = await getJson<{
    queries: Record<string, { cacheHits?: number; cacheMisses?: number } | undefined>
  }>(`${url}/api/cqrs/stats`)
  const hits = stats.queries[query]?.cacheHits ?? 0
  return { count: hits + (stats.queries[query]?.cacheMisses ?? 0), hits }
}

/** The share of the answers between two `answersSoFar` that came from the cache (0 if none). */
export function hitRateBetween(
  before: { count: number; hits: number },
  after: { count: number; hits: number },
) {
  const count = after.count - before.count
  return count > 0 ? Math.round(((after.hits - before.hits) / count) * 1000) / 1000 : 0
}

export async function getText(url: string): Promise<string> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`)
  return response.text()
}
