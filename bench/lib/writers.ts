import type { Measurement } from './results.js'
import { Latencies, round } from './stats.js'

export interface WritersOptions {
  label: string
  kind: Measurement['kind']
  writers: number
  seconds: number
  /** One write by `writer`; its promise settles when the write is durable (committed). */
  op: (writer: number) => Promise<void>
}

/** `writers` concurrent callers, each doing one write at a time until the time is up (closed loop). */
export async function runWriters(options: WritersOptions): Promise<Measurement> {
  const latencies = new Latencies()
  const failures: Record<string, number> = {}
  let ok = 0
  let failed = 0
  const start = performance.now()
  const deadline = start + options.seconds * 1000
  await Promise.all(
    Array.from({ length: options.writers }, async (_, writer) => {
      while (performance.now() < deadline) {
        const begun = performance.now()
        try {
          await options.op(writer)
          latencies.add(performance.now() - begun)
          ok++
        } catch (error) {
          failed++
          const message = error instanceof Error ? error.message : String(error)
          failures[message] = (failures[message] ?? 0) + 1
        }
      }
    }),
  )
  const seconds = (performance.now() - start) / 1000
  return {
    label: options.label,
    kind: options.kind,
    tool: 'in-process',
    concurrency: options.writers,
    seconds: round(seconds),
    completed: ok + failed,
    ok,
    errors: failed,
    ...(failed > 0 ? { statusCodes: failures } : {}),
    throughput: Math.round(ok / seconds),
    unit: 'appends/s',
    ...latencies.summary(),
  }
}
