import type { BusBenchResult } from '../../src/cli/bench.js'
import { withCpu } from '../lib/cpu.js'
import { product } from '../lib/product.js'
import type { Measurement } from '../lib/results.js'
import { describeMeasurement, type Scenario } from './scenario.js'

/** Operations per second on the reference machine: 100 times the guide's 351. */
const reference = 35_100
/** The measured concurrency, then the sweep recorded beside it. */
const concurrency = 8
const sweep = [1, 32]
/** The events domain's mix only: benchBus runs every registered domain's by default (study: its own scenario). */
const domains = ['events']

/**
 * Scenario 1: the guide's in-process benchmark (src/cli/bench.ts) through the command and query
 * buses with all middleware: 5% register-participant commands, 95% of the three queries. A short
 * run sizes the operation count so the measured run lasts about the measurement time.
 */
export const benchBus: typeof import('../../src/cli/bench.js').benchBus = async (options) =>
  (await product<typeof import('../../src/cli/bench.js')>('cli/bench.js')).benchBus(options)

export const busScenario: Scenario = {
  name: 'bus',
  title: "In-process command and query buses (the guide's benchmark)",
  async run(ctx, mode) {
    const postgresUrl = mode === 'server' ? ctx.postgresUrl : undefined
    const operations = ctx.smoke ? 200 : await sizeFor(ctx.seconds, postgresUrl)
    const run = async (callers: number) => {
      const [result, cpu] = await withCpu(undefined, () =>
        // A smoke run checks that it completes: the warm-up (10,000 operations) would be most of it.
        benchBus({
          operations,
          postgresUrl,
          quiet: true,
          concurrency: callers,
          domains,
          ...(ctx.smoke ? { warmUp: operations } : {}),
        }),
      )
      const measurement: Measurement = { ...toMeasurement(result, callers), cpu }
      ctx.log(describeMeasurement(measurement))
      return { result, measurement }
    }
    const { result, measurement } = await run(concurrency)
    const others: Measurement[] = []
    for (const callers of ctx.smoke ? [] : sweep) others.push((await run(callers)).measurement)
    return {
      stores:
        mode === 'server' ? 'PostgreSQL (scratch database) + memory KV' : 'in-memory PGlite + memory KV',
      measurements: [measurement, ...others],
      targets: [
        {
          name: "throughput (100x the guide's 351 ops/s)",
          reference,
          unit: 'ops/s',
          better: 'higher',
          actual: result.opsPerSecond,
        },
      ],
      checks: [
        {
          name: 'every operation succeeded',
          about: 'errors',
          pass: result.errors === 0 && result.operations === result.commands + result.queries,
          detail: `${result.commands} commands, ${result.queries} queries, ${result.errors} failed`,
        },
      ],
      figures: {
        operations: result.operations,
        commands: result.commands,
        queries: result.queries,
        cacheHitRate: result.cacheHitRate,
        avgMs: result.avgMs,
      },
      notes: [
        `benchBus from src/cli/bench.ts (also \`tandem bench N --domain events\`), the events domain's mix only: ${operations} operations, ${concurrency} concurrent ` +
          'callers, 5% register-participant commands (waitlist on, 50 events), 95% get-event-details / ' +
          'list-upcoming-events / list-my-registrations with the query cache on. The target is judged at ' +
          `${concurrency} callers; ${sweep.join(' and ')} callers are recorded beside it (the guide's own figure is ` +
          'one operation at a time). PGlite has one connection, so more callers only queue; PostgreSQL gains from them.',
        mode === 'server'
          ? 'Store: a scratch PostgreSQL database (benchBus keeps KV read models in memory: no Redis).'
          : 'Store: in-memory PGlite, memory KV.',
        'The bench process is the whole system here: load and server share one event loop. The target is ' +
          "scaled by the run's bare-Fastify ceiling like the HTTP ones: both are one core running JavaScript.",
      ],
    }
  },
}

/** Operations that take about `seconds`, from a short run (each benchBus starts a fresh Tandem). */
async function sizeFor(seconds: number, postgresUrl: string | undefined): Promise<number> {
  const sizing = await benchBus({ operations: 5000, postgresUrl, quiet: true, concurrency, domains })
  return Math.max(5000, Math.round(sizing.opsPerSecond * seconds))
}

export function toMeasurement(r: BusBenchResult, callers: number, label?: string): Measurement {
  return {
    label: label ?? `benchBus (${r.store}), ${callers} callers`,
    kind: 'tandem',
    tool: 'in-process',
    concurrency: callers,
    seconds: r.seconds,
    completed: r.operations,
    ok: r.operations - r.errors,
    errors: r.errors,
    throughput: r.opsPerSecond,
    unit: 'ops/s',
    p50Ms: r.p50Ms,
    p95Ms: r.p95Ms,
    p99Ms: r.p99Ms,
  }
}
