import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestProcesses, type Mode, type TestTandem } from '../../../kernel/testing.js'
import { agent, commands as c, issue, network, payment, run } from '../testing/cards.js'
import { alertStream } from './alert.js'
import { alertIdOf } from './rules.js'
import { alertsOf, anomalyTestDomain, until } from './testing/detection.js'

/**
 * How long from an authorization's request until its alert is queryable, on the platform's own
 * wake-up path (the default 1 s poll is never what wakes anyone): the command's commit wakes the
 * processor (in process, and by NOTIFY in others), whose command's commit wakes the projection,
 * whose progress drops the query's cached answer. Server mode runs it as a deployment would: the
 * authorizations and queries on one process (roles command, query), the processor and projections
 * on another (projector). Reports the figures (the alert's event in the log, then the alert in the
 * query's answer); asserts only that every alert arrives.
 */
const payments = 100

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN

describe.each(['embedded', 'server'] as Mode[])('alert latency after the authorization (%s)', (mode) => {
  let front: TestTandem
  let all: TestTandem[]
  beforeAll(async () => {
    const roles =
      mode === 'server' ? [{ roles: ['command', 'query'] as const }, { roles: ['projector'] as const }] : [{}]
    all = await startTestProcesses(
      mode,
      roles.map((r) => ({ ...r })),
      { domains: [anomalyTestDomain] },
    )
    front = all[0] as TestTandem
  })
  afterAll(async () => {
    for (const t of all.toReversed()) await t.dispose()
  })

  it(`raises and shows each of ${payments} risky payments' alerts, and reports the latency`, async () => {
    const customerId = `latency-${mode}`
    const cardId = await issue(front, { customerId, creditLimit: 100_000_000 })
    const latencies: number[] = []
    const inLog: number[] = []
    for (let i = 0; i < payments; i++) {
      const started = performance.now()
      const { transactionId } = await run<{ transactionId: string }>(
        front,
        c.authorizeTransaction,
        // Hours apart as the network says (no velocity), at a casino: one risky-mcc alert each.
        payment(cardId, 10_000, {
          mcc: '7995',
          occurredAt: new Date(Date.now() - (i + 1) * 3_600_000).toISOString(),
        }),
        network,
      )
      const alertId = alertIdOf('risky-mcc', transactionId)
      const raised = `SELECT 1 FROM tandem.event_log WHERE stream_id = $1`
      await until(async () => (await front.sql.query(raised, [alertStream(alertId)])).length > 0)
      inLog.push(performance.now() - started)
      await until(async () => {
        const page = await alertsOf(front, { customerId, limit: 1 }, agent)
        return typeof page !== 'string' && page.items[0]?.alertId === alertId
      })
      latencies.push(performance.now() - started)
    }
    const report = (what: string, values: number[]) => {
      const sorted = values.toSorted((a, b) => a - b)
      const figures = {
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
      }
      const shown = Object.entries(figures).map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
      const max = (sorted.at(-1) ?? NaN).toFixed(1)
      console.log(`${what} (${mode}, ${payments} payments): ${shown.join(', ')}, max ${max} ms`)
    }
    report('alert raised in the log', inLog)
    report('alert queryable', latencies)
    expect(latencies).toHaveLength(payments)
  })
})
