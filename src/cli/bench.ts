import { pino } from 'pino'
import { ConfigError, loadConfig, notAnswering } from '../app/config.js'
import { createScratchDatabase } from '../storage/scratch-database.js'
import { domains as allDomains } from '../app/domains.js'
import { startTandem, type Tandem } from '../app/tandem.js'

export interface BusBenchOptions {
  operations: number
  /** Run against this PostgreSQL instead of an in-memory PGlite. */
  postgresUrl?: string
  concurrency?: number
  /** Share of operations that are commands (the rest are queries). */
  commandShare?: number
  quiet?: boolean
  /** Operations run first and not counted (default 10,000). */
  warmUp?: number
  /** Only these domains' mixes (default: every registered domain that offers one). */
  domains?: readonly string[]
  /**
   * On SIGINT or SIGTERM, drop the scratch database and exit (the CLI's run: Ctrl-C left a
   * `tandem_bench_*` database on the server for good).
   */
  exitOnSignal?: boolean
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
  /** Queries answered from the cache. */
  cacheHits: number
  /** Operations run first, not counted. */
  warmUp: number
  /** The guide's speed grade, from the average time (see `grade`). */
  grade: string
}

/** Why `domains` cannot be measured (a name with no benchmark mix), or undefined if they can. */
export function mixRefusal(domains: readonly string[] | undefined): string | undefined {
  const offered = allDomains.filter((d) => d.benchMix)
  const unknown = domains?.filter((name) => !offered.some((d) => d.name === name)) ?? []
  if (unknown.length === 0) return undefined
  return `No benchmark mix for ${unknown.join(', ')} (offered: ${offered.map((d) => d.name).join(', ')})`
}

/**
 * The guide's `benchmark N`: N operations through the in-process command and query buses, with all
 * middleware and the query cache on: each registered domain's mix of commands and queries
 * (`Domain.benchMix`), the domains taking turns.
 */
export async function benchBus(options: BusBenchOptions): Promise<BusBenchResult> {
  const base = loadConfig()
  const refused = mixRefusal(options.domains)
  if (refused !== undefined) throw new ConfigError(refused)
  // Only the domains measured are served: another's projections and processors would read the log
  // after every command too.
  const domains = options.domains ? allDomains.filter((d) => options.domains?.includes(d.name)) : allDomains
  // Each part is closed once, whether the run ends or a signal stops it, and only once it is made.
  const made = {
    scratch: undefined as Promise<Scratch> | undefined,
    tandem: undefined as Promise<Tandem> | undefined,
  }
  let closed: Promise<void> | undefined
  const close = () =>
    (closed ??= (async () => {
      await (await made.tandem?.catch(() => undefined))?.close()
      await (await made.scratch?.catch(() => undefined))?.drop()
    })())
  const stopped = { bySignal: false }
  const abandon = (signal: NodeJS.Signals) => {
    stopped.bySignal = true
    void close()
      .catch(() => undefined)
      .then(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  const signals = options.postgresUrl && options.exitOnSignal ? (['SIGINT', 'SIGTERM'] as const) : []
  for (const signal of signals) process.once(signal, abandon)
  try {
    made.scratch = options.postgresUrl ? scratchOn(options.postgresUrl) : undefined
    const scratch = await made.scratch
    if (scratch && !options.quiet)
      console.error(
        `On the scratch database ${new URL(scratch.url).pathname.slice(1)}, dropped when the run ends.`,
      )
    made.tandem = startTandem({
      config: {
        ...base,
        databaseUrl: scratch?.url,
        readDatabaseUrl: undefined,
        redisUrl: undefined,
        authSecret: 'benchmark-secret-not-for-serving',
      },
      inMemory: !options.postgresUrl,
      domains,
      log: pino({ level: 'warn' }),
    })
    return await run(await made.tandem, options)
  } catch (error) {
    // Stopped: the operations cut by the close fail, and the process exits once the database is gone.
    if (stopped.bySignal) await new Promise(() => undefined)
    throw error
  } finally {
    for (const signal of signals) process.off(signal, abandon)
    if (!stopped.bySignal) await close()
  }
}

type Scratch = Awaited<ReturnType<typeof createScratchDatabase>>

async function run(tandem: Tandem, options: BusBenchOptions): Promise<BusBenchResult> {
  const buses = { commands: tandem.commands, queries: tandem.queries }
  const mixes = await Promise.all(
    tandem.domains.flatMap((d) => (d.benchMix ? [d.benchMix.prepare(buses, new Date())] : [])),
  )
  if (mixes.length === 0) throw new Error('No registered domain offers a benchmark mix')
  await tandem.projections.caughtUp()

  const share = options.commandShare ?? 0.05
  const concurrency = options.concurrency ?? 8
  let latencies: number[] = []
  let commands = 0
  let errors = 0
  let hits = 0
  let lookups = 0
  let failures = new Map<string, number>()
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

  /** Operations `from` to `to` - 1, `concurrency` at a time. */
  const operations = async (from: number, to: number) => {
    let next = from
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < to) await operation(next++)
      }),
    )
  }
  // A warm-up, not counted: the steady state is measured (V8 compiles the hot paths only after some
  // thousands of calls: after 1,000 operations a fresh process answered the study mix at half speed),
  // with the code compiled and the cache holding what the mix reads, as a server that has been up would.
  const warmUp = options.warmUp ?? 10_000
  await operations(0, warmUp)
  await tandem.projections.caughtUp()
  latencies = []
  failures = new Map()
  commands = errors = hits = lookups = 0
  const started = performance.now()
  await operations(warmUp, warmUp + options.operations)
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0)
  const avgMs = round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length))
  const result: BusBenchResult = {
    store: tandem.mode === 'server' ? 'postgres' : 'pglite',
    operations: options.operations,
    commands,
    queries: lookups,
    errors,
    seconds: round(seconds),
    opsPerSecond: Math.round(options.operations / seconds),
    avgMs,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    cacheHitRate: round(hits / Math.max(1, lookups)),
    cacheHits: hits,
    warmUp,
    grade: grade(avgMs),
  }
  if (!options.quiet) print(result)
  if (failures.size > 0 && !options.quiet) console.log('Refusals:', Object.fromEntries(failures))
  return result
}

/**
 * The guide's speed grade (its run: 2.85 ms on average, "fast"), from the average time of one
 * operation: under 1 ms very fast, under 5 ms fast, under 20 ms moderate, else slow.
 */
export function grade(avgMs: number): string {
  if (avgMs < 1) return '🚀 very fast'
  if (avgMs < 5) return '⚡ fast'
  if (avgMs < 20) return '🙂 moderate'
  return '🐢 slow'
}

/** The guide's result block, line for line, with what Tandem measures besides. */
function print(r: BusBenchResult): void {
  console.log(`=== CQRS benchmark results (Tandem, ${r.store}) ===
Total runs:        ${r.operations} (${r.commands} commands, ${r.queries} queries, ${r.errors} errors; after ${r.warmUp} not counted)
Total time:        ${r.seconds.toFixed(3)} s
Average time:      ${r.avgMs.toFixed(3)} ms  (p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms, p99 ${r.p99Ms} ms)
Throughput:        ${r.opsPerSecond} ops/s
Cache hit rate:    ${(r.cacheHitRate * 100).toFixed(1)}% (${r.cacheHits}/${r.queries})
Speed grade:       ${r.grade}`)
}

const round = (n: number) => Math.round(n * 1000) / 1000

/** A scratch database on the server `--postgres` names; one that does not answer is named in the error. */
async function scratchOn(url: string) {
  try {
    return await createScratchDatabase(url, 'bench')
  } catch (error) {
    throw notAnswering('--postgres', url, error)
  }
}
