import type { BenchContext } from '../lib/context.js'
import type { Check, Entry, Measurement, Mode, ScenarioName } from '../lib/results.js'
import type { Target } from '../lib/targets.js'
import type { Audit } from '../server/protocol.js'

/**
 * What a scenario measures in one mode; the runner adds the scenario's name, the mode and the
 * machine, and judges the targets against the run's ceiling.
 */
export type Outcome = Pick<Entry, 'measurements' | 'checks' | 'figures' | 'notes'> & {
  /** Each stated for the reference machine (bench/lib/targets.ts), beside the figure it judges. */
  targets: Target[]
  /** When the scenario does not use the mode's usual stores (PGlite/memory KV, PostgreSQL/Redis). */
  stores?: string
}

export interface Scenario {
  name: ScenarioName
  title: string
  run(ctx: BenchContext, mode: Mode): Promise<Outcome>
}

export function describeMeasurement(m: Measurement): string {
  const cpu = m.cpu
    ? ` | cpu (cores): bench ${m.cpu.benchProcess}, server ${m.cpu.serverProcess}, postgres ${m.cpu.postgres}, redis ${m.cpu.redis}, other ${m.cpu.other} of ${m.cpu.cores}`
    : ''
  return (
    `  ${m.label.padEnd(46)} ${String(m.throughput).padStart(7)} ${m.unit.padEnd(10)} ` +
    `p50 ${m.p50Ms} p95 ${m.p95Ms} p99 ${m.p99Ms} ms  ok ${m.ok} errors ${m.errors}${cpu}`
  )
}

export const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0)
export const percent = (r: number) => `${(r * 100).toFixed(1)}%`
/** A ratio in percent, to one decimal: the figure of a relative target. */
export const inPercent = (r: number) => Math.round(r * 1000) / 10

/** Every measurement ran without errors: the figures are about answered requests only. */
export function noErrors(measurements: readonly Measurement[]): Check {
  const failing = measurements.filter((m) => m.errors > 0 || m.ok === 0)
  return {
    name: 'zero errors (every request answered 2xx, every operation succeeded)',
    about: 'errors',
    pass: failing.length === 0,
    detail:
      failing.length === 0
        ? `${measurements.reduce((n, m) => n + m.ok, 0)} requests, 0 errors`
        : failing
            .map((m) => `${m.label}: ok ${m.ok}, errors ${m.errors} ${JSON.stringify(m.statusCodes)}`)
            .join('; '),
  }
}

/**
 * The registrations the server recorded match those it acknowledged: no lost or doubled write, one
 * per participant, and the read model shows each. Requests cut off when a load stops may have been
 * recorded without their answer being read: at most one per connection.
 */
export function registrationChecks(audit: Audit, acknowledged: number, cutOff: number): Check[] {
  return [
    {
      name: 'registrations recorded = acknowledged',
      pass: audit.confirmed >= acknowledged && audit.confirmed <= acknowledged + cutOff,
      detail: `${audit.confirmed} recorded, ${acknowledged} acknowledged (up to ${cutOff} cut off by the load's end)`,
    },
    {
      name: 'one registration per participant',
      pass: audit.participants === audit.confirmed && audit.registeredEvents === audit.confirmed,
      detail: `${audit.participants} participants, ${audit.registeredEvents} ParticipantRegistered events`,
    },
    {
      name: 'read model caught up and agrees',
      pass: audit.caughtUp && audit.readModelConfirmed === audit.confirmed,
      detail: `event-details read model counts ${audit.readModelConfirmed} confirmed (write model ${audit.confirmed}), ${audit.caughtUp ? 'caught up' : 'NOT caught up'}`,
    },
  ]
}

/**
 * CPU time per answered request, in microseconds, by process: where the time goes. Only meaningful
 * when the machine's other tenants were quiet (see `other` in the CPU split).
 */
export function cpuPerRequest(m: Measurement, prefix: string): Record<string, number> {
  if (!m.cpu || m.throughput === 0) return {}
  const us = (cores: number) => Math.round((cores / m.throughput) * 1e6)
  return {
    [`${prefix}.serverUs`]: us(m.cpu.serverProcess),
    [`${prefix}.postgresUs`]: us(m.cpu.postgres),
    [`${prefix}.redisUs`]: us(m.cpu.redis),
    [`${prefix}.loadGeneratorUs`]: us(m.cpu.benchProcess),
    [`${prefix}.totalUs`]: us(m.cpu.busy),
  }
}
