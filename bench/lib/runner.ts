import { availableParallelism, loadavg } from 'node:os'
import type { Scenario } from '../scenarios/scenario.js'
import type { BenchContext } from './context.js'
import { socketErrors, type Entry, type Mode } from './results.js'
import { gitState } from './machine.js'
import { storesOf } from './tandem-server.js'
import { judge, scaling } from './targets.js'

/** Runs one scenario in one mode and makes its results entry. */
export async function runScenario(ctx: BenchContext, scenario: Scenario, mode: Mode): Promise<Entry> {
  // Measured once per run, before the first scenario's servers start, and shared by every entry.
  const ceiling = await ctx.ceiling()
  ctx.log(`\n=== ${scenario.name}: ${scenario.title} (${mode}: ${storesOf(mode)}) ===`)
  const started = performance.now()
  const date = new Date().toISOString()
  const loadAverage = loadavg().map((n) => Math.round(n * 100) / 100)
  const { stores, targets, ...outcome } = await scenario.run(ctx, mode)
  if (mode === 'embedded' && outcome.measurements.some((m) => (m.statusCodes?.[socketErrors] ?? 0) > 0)) {
    outcome.notes.push(embeddedAcceptNote)
  }
  // wrk runs as its own process: its CPU shows as `other`.
  const disturbed = [ceiling, ...outcome.measurements].filter(
    (m) => m.tool !== 'wrk' && (m.cpu?.other ?? 0) >= disturbedCores,
  )
  if (disturbed.length > 0) {
    const which = disturbed.map((m) => `${m.label} (${m.cpu?.other} cores)`).join(', ')
    outcome.notes.push(
      `Disturbed: processes outside this benchmark used CPU during ${which}; compare with care.`,
    )
  }
  const entry: Entry = {
    scenario: scenario.name,
    title: scenario.title,
    mode,
    stores: stores ?? storesOf(mode),
    date,
    node: process.version,
    cpus: availableParallelism(),
    loadAverage,
    ...gitState(),
    command: ctx.command(scenario.name),
    secondsPerMeasurement: ctx.seconds,
    smoke: ctx.smoke,
    ceiling,
    ...outcome,
    targets: targets.map((t) => judge(t, ceiling.throughput)),
  }
  for (const t of entry.targets) {
    const verdict = t.pass === null ? 'recorded' : t.pass ? 'PASS' : 'FAIL'
    ctx.log(`  target  ${verdict.padEnd(8)} ${t.name}: ${t.actual}, required ${t.target} (${scaling(t)})`)
  }
  for (const c of entry.checks)
    ctx.log(`  check   ${(c.pass ? 'ok' : 'FAILED').padEnd(8)} ${c.name}: ${c.detail}`)
  ctx.log(`  (${scenario.name}, ${mode}: ${((performance.now() - started) / 1000).toFixed(1)} s)`)
  return entry
}

/** CPU (in cores) used by other processes above which a measurement is flagged as disturbed. */
const disturbedCores = 0.3

const embeddedAcceptNote =
  "Socket timeouts in embedded mode: while PGlite keeps the server's one event loop busy, the server accepts " +
  "new connections slowly (a traced run saw one 'connection' event about every 100 ms), so of 100 connections " +
  "opened at once some wait more than autocannon's 10 s timeout for their first answer. They count as errors."
