import type { Span } from './load.js'
import type { Measurement } from './results.js'
import { Latencies, round } from './stats.js'

/** How long writers write: for a time, or (a smoke run) until they have done so many writes together. */
export type Stint = { seconds: number } | { operations: number }

/** A span's warm-up and its measured part, as stints for writers. */
export function stints(span: Span): { warm: Stint; measured: Stint } {
  return 'seconds' in span
    ? { warm: { seconds: span.warmSeconds }, measured: { seconds: span.seconds } }
    : { warm: { operations: span.warmRequests }, measured: { operations: span.requests } }
}

export interface WritersOptions {
  label: string
  kind: Measurement['kind']
  writers: number
  stint: Stint
  /** One write by `writer`; its promise settles when the write is durable (committed). */
  op: (writer: number) => Promise<void>
}

/** `writers` concurrent callers, each doing one write at a time until the stint is over (closed loop). */
export async function runWriters(options: WritersOptions): Promise<Measurement> {
  const { stint } = options
  const latencies = new Latencies()
  const failures: Record<string, number> = {}
  let ok = 0
  let failed = 0
  let started = 0
  const start = performance.now()
  const more =
    'seconds' in stint
      ? () => performance.now() < start + stint.seconds * 1000
      : () => started++ < stint.operations
  await Promise.all(
    Array.from({ length: options.writers }, async (_, writer) => {
      while (more()) {
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
