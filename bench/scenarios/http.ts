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

export async function getText(url: string): Promise<string> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`)
  return response.text()
}
