import { pino } from 'pino'
import { loadConfig } from '../app/config.js'
import { createScratchDatabase } from '../storage/scratch-database.js'
import { startTandem, type Tandem } from '../app/tandem.js'

export interface BusBenchOptions {
  operations: number
  /** Run against this PostgreSQL instead of an in-memory PGlite. */
  postgresUrl?: string
  concurrency?: number
  /** Share of operations that are commands (the rest are queries). */
  commandShare?: number
  quiet?: boolean
}

export interface BusBenchResult {
  store: 'pglite' | 'postgres'
  operations: number
  commands: number
  queries: number
  errors: number
  seconds: number
  opsPerSecond: number
  avgMs: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  cacheHitRate: number
}

/**
 * The guide's `benchmark N`: N operations through the in-process command and query buses, with all
 * middleware and the query cache on: each registered domain's mix of commands and queries
 * (`Domain.benchMix`), the domains taking turns.
 */
export async function benchBus(options: BusBenchOptions): Promise<BusBenchResult> {
  const base = loadConfig()
  const scratch = options.postgresUrl ? await createScratchDatabase(options.postgresUrl, 'bench') : undefined
  const tandem = await startTandem({
    config: {
      ...base,
      databaseUrl: scratch?.url,
      readDatabaseUrl: undefined,
      redisUrl: undefined,
      authSecret: 'benchmark-secret-not-for-serving',
    },
    inMemory: !options.postgresUrl,
    log: pino({ level: 'warn' }),
  })
  try {
    return await run(tandem, options)
  } finally {
    await tandem.close()
    await scratch?.drop()
  }
}

async function run(tandem: Tandem, options: BusBenchOptions): Promise<BusBenchResult> {
  const buses = { commands: tandem.commands, queries: tandem.queries }
  const mixes = await Promise.all(
    tandem.domains.flatMap((d) => (d.benchMix ? [d.benchMix.prepare(buses, new Date())] : [])),
  )
  if (mixes.length === 0) throw new Error('No registered domain offers a benchmark mix')
  await tandem.projections.caughtUp()

  const share = options.commandShare ?? 0.05
  const concurrency = options.concurrency ?? 8
  const latencies: number[] = []
  let commands = 0
  let errors = 0
  let next = 0
  let hits = 0
  let lookups = 0
  const failures = new Map<string, number>()
  const failed = (code: string) => {
    errors++
    failures.set(code, (failures.get(code) ?? 0) + 1)
  }

  /** Operation `i` goes to the domains in turn; a share of them are commands. */
  async function operation(i: number) {
    const start = performance.now()
    const mix = mixes[i % mixes.length] as (typeof mixes)[number]
    const r = Math.random()
    if (r < share) {
      commands++
      const done = await mix.command(i, r / share)
      if (done.status === 'failed') failed(done.error.code)
    } else {
      const asked = await mix.query(i, (r - share) / (1 - share))
      lookups++
      if (asked.status === 'failed') failed(asked.error.code)
      else if (asked.cacheHit) hits++
    }
    latencies.push(performance.now() - start)
  }

  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < options.operations) await operation(next++)
    }),
  )
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0)
  const result: BusBenchResult = {
    store: tandem.mode === 'server' ? 'postgres' : 'pglite',
    operations: options.operations,
    commands,
    queries: lookups,
    errors,
    seconds: round(seconds),
    opsPerSecond: Math.round(options.operations / seconds),
    avgMs: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    cacheHitRate: round(hits / Math.max(1, lookups)),
  }
  if (!options.quiet) print(result)
  if (failures.size > 0 && !options.quiet) console.log('Refusals:', Object.fromEntries(failures))
  return result
}

function print(r: BusBenchResult): void {
  console.log(`=== Tandem CQRS bus benchmark (${r.store}) ===
Operations:        ${r.operations} (${r.commands} commands, ${r.queries} queries, ${r.errors} errors)
Total time:        ${r.seconds.toFixed(3)} s
Average:           ${r.avgMs.toFixed(3)} ms  (p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms, p99 ${r.p99Ms} ms)
Throughput:        ${r.opsPerSecond} ops/s
Cache hit rate:    ${(r.cacheHitRate * 100).toFixed(1)}%`)
}

const round = (n: number) => Math.round(n * 1000) / 1000
