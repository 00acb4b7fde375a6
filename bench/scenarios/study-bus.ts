import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { BusBenchResult } from '../../src/cli/bench.js'
import type { BenchContext } from '../lib/context.js'
import type { Measurement, Mode } from '../lib/results.js'
import { compiledCli } from '../../src/testing/compiled-sources.js'
import { round } from '../lib/stats.js'
import { toMeasurement } from './bus.js'
import { describeMeasurement, inPercent } from './scenario.js'
import type { Part } from './study.js'

/** Operations per second on the reference machine: 100 times the guide's 351.2. */
const reference = 35_120
/** The guide's cache hit rate, in percent: a share of lookups, the same on any machine. */
const guideHitRate = 87.3
/** `tandem bench`'s default callers. */
const callers = 8

/** The middle value (of an odd count; the upper middle of an even one). */
export const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

/**
 * `tandem bench 1000 --domain study` (benchBus on the study mix), several times on a fresh Tandem
 * each: 1,000 operations last tens of milliseconds, so one run says little; the median is judged.
 */
export async function guideBenchmark(ctx: BenchContext, mode: Mode): Promise<Part> {
  const postgresUrl = mode === 'server' ? ctx.postgresUrl : undefined
  const operations = ctx.smoke ? 200 : 1000
  const runs = ctx.smoke ? 1 : 5
  const results = []
  const measurements: Measurement[] = []
  for (let run = 1; run <= runs; run++) {
    const result = await tandemBench(operations, postgresUrl)
    const label = `tandem bench ${operations} --domain study (${result.store}), run ${run} of ${runs}`
    const measurement: Measurement = toMeasurement(result, callers, label)
    ctx.log(describeMeasurement(measurement))
    results.push(result)
    measurements.push(measurement)
  }
  const ops = results.map((r) => r.opsPerSecond)
  const hitRates = results.map((r) => inPercent(r.cacheHitRate))
  const failed = results.reduce((n, r) => n + r.errors, 0)
  const of = `median of ${runs} fresh runs`
  return {
    measurements,
    targets: [
      {
        name: `tandem bench ${operations}: throughput (100x the guide's 351.2 ops/s), ${of}`,
        reference,
        unit: 'ops/s',
        better: 'higher',
        actual: median(ops),
        detail: `runs: ${ops.join(', ')} ops/s`,
      },
      {
        name: `tandem bench ${operations}: cache hit rate (the guide's 87.3%), ${of}`,
        reference: guideHitRate,
        unit: '%',
        better: 'higher',
        absolute: true,
        actual: median(hitRates),
        detail: `runs: ${hitRates.join(', ')}%`,
      },
    ],
    checks: [
      {
        name: 'tandem bench: every operation succeeded',
        about: 'errors',
        pass: failed === 0 && results.every((r) => r.operations === r.commands + r.queries),
        detail: results
          .map((r) => `${r.commands} commands, ${r.queries} queries, ${r.errors} failed`)
          .join('; '),
      },
    ],
    figures: {
      'bench.operations': operations,
      'bench.runs': runs,
      'bench.opsPerSecondMedian': median(ops),
      'bench.opsPerSecondRuns': ops.join(' '),
      'bench.cacheHitRateMedian': round(median(hitRates) / 100),
      'bench.cacheHitRateRuns': results.map((r) => r.cacheHitRate).join(' '),
      'bench.avgMsMedian': median(results.map((r) => r.avgMs)),
    },
    notes: [
      `Guide's benchmark: \`tandem bench ${operations} --domain study\` (benchBus from src/cli/bench.ts, ` +
        `${callers} callers, its default), ${runs} times, each on a fresh Tandem (${mode === 'server' ? 'a scratch PostgreSQL database' : 'in-memory PGlite'}, ` +
        'memory KV), each in a process of its own as `tandem bench ... --json`. Each run seeds 50 learners with ' +
        '4 subjects, runs 10,000 operations first, uncounted (the warm-up: V8 compiles the hot paths only after ' +
        'some thousands of calls), then measures: 5% update-study-progress (25 minutes, progress kept at 50%), ' +
        '95% get-subjects / get-subject-detail (half each) with the query cache on. The median run is judged; ' +
        "every run is recorded. Throughput is scaled by the run's ceiling; the hit rate is not (a share of lookups).",
    ],
  }
}

const root = fileURLToPath(new URL('../../', import.meta.url))

/**
 * `tandem bench N --domain study --json`, as a person would run it: a process of its own each time
 * (the product as built, or the sources with BENCH_FROM_SRC=1), so nothing of the bench process (the
 * ceiling's load left a heap that halved the figure) weighs on it.
 */
async function tandemBench(operations: number, postgresUrl: string | undefined): Promise<BusBenchResult> {
  // On the sources (the smoke run), their compiled copy: under tsx the imports cost seconds more.
  const cli = process.env.BENCH_FROM_SRC === '1' ? [await compiledCli()] : ['dist/cli/main.js']
  const args = ['bench', String(operations), '--domain', 'study', '--json']
  if (postgresUrl) args.push('--postgres', postgresUrl)
  const { stdout } = await promisify(execFile)(process.execPath, [...cli, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    maxBuffer: 1 << 20,
  })
  const line = stdout.trim().split('\n').at(-1) ?? ''
  return JSON.parse(line) as BusBenchResult
}
