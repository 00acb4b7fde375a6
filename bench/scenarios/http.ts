import type { BenchContext } from '../lib/context.js'
import { runLoad, type LoadOptions } from '../lib/load.js'
import type { Measurement } from '../lib/results.js'
import { describeMeasurement } from './scenario.js'

type Load = Omit<LoadOptions, 'seconds' | 'warmSeconds'>

/** Measures one load for the context's time, after its warm-up on the same connections, and prints it. */
export async function measure(ctx: BenchContext, load: Load): Promise<Measurement> {
  const m = await runLoad({ ...load, seconds: ctx.seconds, warmSeconds: ctx.warmSeconds })
  ctx.log(describeMeasurement(m))
  return m
}

/** The machine's ceiling for this load: a bare Fastify GET returning a small JSON object, same setup. */
export async function measureBare(ctx: BenchContext, connections: number): Promise<Measurement> {
  const bare = await ctx.bare()
  return measure(ctx, {
    label: 'bare Fastify GET (ceiling)',
    kind: 'baseline',
    url: bare.url,
    serverPid: bare.pid,
    connections,
    next: () => ({ method: 'GET', path: '/bare' }),
  })
}

export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

export async function getText(url: string): Promise<string> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`)
  return response.text()
}
