import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ReadStores } from '../../src/core/read-stores.js'
import {
  duckdbSpendingEngine,
  openCardAnalytics,
  type CardAnalytics,
} from '../../src/domains/cards/analytics/index.js'
import { createPostgres } from '../../src/storage/postgres.js'
import type { BenchContext } from '../lib/context.js'
import type { Span } from '../lib/load.js'
import type { Measurement } from '../lib/results.js'
import { Latencies, round } from '../lib/stats.js'
import { customerOf, merchantIdOf, type CardsPlan } from './cards-plan.js'
import { describeMeasurement, type Outcome } from './scenario.js'

/**
 * The second analytics engine on the same log: DuckDB in this process (a file, as a query process of
 * server mode would keep it), fed from the scratch database once the SQL read models are built.
 * Ingest, storage and query latency are timed here, in process: no HTTP in front of it yet (the
 * queries' handlers do not call it), so its latencies sit beside the SQL rollups' over HTTP with that
 * difference stated.
 */
export interface DuckSide {
  engine: CardAnalytics
  /** How long after a command's answer DuckDB has its event, following the log (`samples` commands). */
  freshness(
    authorize: () => Promise<string>,
    samples: number,
  ): Promise<{ p50Ms: number; p99Ms: number; maxMs: number }>
  close(): Promise<void>
}

/** The follower's poll when the log has nothing new (the kernel's projections poll as a fallback too). */
const pollMs = 50

export async function openDuckSide(
  ctx: BenchContext,
  databaseUrl: string,
  figures: Outcome['figures'],
): Promise<DuckSide> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cards-duckdb-'))
  const sql = createPostgres({ url: databaseUrl, max: 4, applicationName: 'bench-duckdb' })
  const engine = await openCardAnalytics({ sql, path: join(dir, 'facts.duckdb'), readers: 4 })
  const began = performance.now()
  const applied = await engine.catchUp()
  const seconds = (performance.now() - began) / 1000
  const storage = await engine.storage()
  figures['duckdb.ingest.events'] = applied
  figures['duckdb.ingest.seconds'] = round(seconds, 1)
  figures['duckdb.ingest.eventsPerSecond'] = Math.round(applied / Math.max(seconds, 1e-3))
  figures['duckdb.storage.rows'] = storage.rows
  figures['duckdb.storage.MiB'] = round(storage.bytes / 2 ** 20, 1)
  ctx.log(
    `  DuckDB ingested ${applied} transaction events in ${round(seconds, 1)} s; file ${figures['duckdb.storage.MiB']} MiB`,
  )
  return {
    engine,
    freshness: (authorize, samples) => duckFreshness(engine, authorize, samples, pollMs),
    async close() {
      await engine.close()
      await sql.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A closed loop of `concurrency` callers over `span`, in this process: a Measurement like autocannon's. */
export async function inProcessLoad(
  label: string,
  concurrency: number,
  span: Span,
  op: () => Promise<unknown>,
): Promise<Measurement> {
  const latencies = new Latencies()
  let ok = 0
  let errors = 0
  let started = 0
  const timed = 'seconds' in span
  const warmEnd = timed ? performance.now() + span.warmSeconds * 1000 : 0
  const end = timed ? warmEnd + span.seconds * 1000 : Infinity
  const total = timed ? Infinity : span.warmRequests + span.requests
  let windowStart = timed ? warmEnd : Infinity
  const caller = async () => {
    for (;;) {
      const n = started++
      if (n >= total || performance.now() >= end) return
      if (!timed && n === span.warmRequests) windowStart = performance.now()
      const t0 = performance.now()
      const counted = timed ? t0 >= windowStart : n >= span.warmRequests
      try {
        await op()
        if (counted) {
          ok++
          latencies.add(performance.now() - t0)
        }
      } catch {
        if (counted) errors++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  const seconds = Math.max(1e-3, (performance.now() - Math.min(windowStart, performance.now())) / 1000)
  return {
    label,
    kind: 'tandem',
    tool: 'in-process',
    concurrency,
    seconds: round(seconds),
    completed: ok + errors,
    ok,
    errors,
    throughput: Math.round(ok / seconds),
    unit: 'queries/s',
    ...latencies.summary(),
  }
}

/**
 * Freshness: how long after a command's answer the engine has applied its event, following the log
 * with its poll (`pollMs`): `samples` authorizations sent one after another.
 */
export async function duckFreshness(
  engine: CardAnalytics,
  authorize: () => Promise<string>,
  samples: number,
  pollMs: number,
): Promise<{ p50Ms: number; p99Ms: number; maxMs: number }> {
  engine.follow(pollMs)
  const latencies = new Latencies()
  for (let k = 0; k < samples; k++) {
    const position = await authorize()
    const t0 = performance.now()
    while (!(await engine.hasApplied(position))) await new Promise((resolve) => setTimeout(resolve, 2))
    latencies.add(performance.now() - t0)
  }
  const { p50Ms, p99Ms, maxMs } = latencies.summary()
  return { p50Ms, p99Ms, maxMs }
}

/** The read side's engine questions, drawn over the plan's data: the same draws for both engines. */
export function questions(plan: CardsPlan) {
  const lastDay = plan.base + plan.transactions * plan.spacingMs
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
  const month = (ms: number) => day(ms).slice(0, 7)
  const pick = (n: number) => Math.floor(Math.random() * n)
  return {
    monthly: () => ({
      customerId: customerOf(plan, pick(plan.cards)),
      month: month(lastDay - pick(90) * 86_400_000),
      months: 6,
    }),
    merchant: () => {
      // Popular merchants as often as the plan pays them: the square of a uniform draw.
      const to = lastDay - pick(60) * 86_400_000
      return {
        merchantId: merchantIdOf(plan, Math.floor(Math.random() ** 2 * plan.merchants)),
        from: day(to - 29 * 86_400_000),
        to: day(to),
        bucket: Math.random() < 0.5 ? ('day' as const) : ('month' as const),
      }
    },
    byDate: () => ({
      customerId: null,
      from: day(lastDay - 29 * 86_400_000),
      to: day(lastDay),
      bucket: 'day' as const,
    }),
    byProduct: () => ({ customerId: null, from: month(lastDay - 62 * 86_400_000), to: month(lastDay) }),
  }
}

// DuckDB is this process's own replica: the engine does not read the stores the queries pass.
const noStores = {} as ReadStores

/**
 * The analytics questions asked of DuckDB in process at 50 callers over its 4 read connections,
 * answered whole (rows aggregated at read time, shaped by the read side's functions): the same work
 * as the queries' handlers with engine=duckdb, without HTTP.
 */
export async function measureDuck(
  ctx: BenchContext,
  engine: CardAnalytics,
  plan: CardsPlan,
  figures: Outcome['figures'],
): Promise<Measurement[]> {
  const duckdb = duckdbSpendingEngine(engine)
  const q = questions(plan)
  const asks: [string, string, () => Promise<unknown>][] = [
    [
      'monthly',
      'DuckDB: monthly spending summary (6 months of trend)',
      () => duckdb.monthlySummary(q.monthly(), noStores),
    ],
    [
      'merchant',
      'DuckDB: merchant summary over 30 days',
      () => duckdb.merchantSummary(q.merchant(), noStores),
    ],
    [
      'byDate',
      'DuckDB: spending by date, every customer, 30 days',
      () => duckdb.spendingByDate(q.byDate(), noStores),
    ],
    [
      'byProduct',
      'DuckDB: spending by product, every customer, 3 months',
      () => duckdb.spendingByProduct(q.byProduct(), noStores),
    ],
  ]
  const measured: Measurement[] = []
  const callers = ctx.scale(50, 4)
  for (const [key, label, op] of asks) {
    const m = await inProcessLoad(`${label} (${callers} callers, in process)`, callers, ctx.span, op)
    ctx.log(describeMeasurement(m))
    measured.push(m)
    figures[`duckdb.${key}.p50Ms`] = m.p50Ms
    figures[`duckdb.${key}.p99Ms`] = m.p99Ms
    figures[`duckdb.${key}.rate`] = m.throughput
  }
  return measured
}
