import { Acks } from '../lib/acks.js'
import { participants, randomOf, registrations } from '../lib/feed.js'
import { mostRequests } from '../lib/load.js'
import { runPaced } from '../lib/pacer.js'
import {
  difference,
  histogramBuckets,
  quantile,
  shareAtOrBelow,
  sum,
  total,
  type Buckets,
} from '../lib/prom.js'
import { round } from '../lib/stats.js'
import { probeRedis } from '../lib/redis-probe.js'
import { referenceCeiling } from '../lib/targets.js'
import { monitorTransactions, type XactReport } from '../lib/xact-monitor.js'
import { getText } from './http.js'
import { describeMeasurement, inPercent, noErrors, registrationChecks, type Scenario } from './scenario.js'

const metric = 'tandem_projection_lag_seconds'
/** A bucket bound of the lag histogram: the share of applications within it is exact. */
const limitSeconds = 0.05
/** Commands per second offered on the reference machine; a run offers it scaled by its ceiling. */
const referenceRate = 1000

/**
 * Scenario 5: projection lag while register-participant arrives at a steady 1,000 commands/s (evenly
 * paced, open loop). The lag is Tandem's own histogram, read from /metrics before and after: the time
 * from an event's recorded_at to a projection applying it. Target: p99 < 50 ms. Both the rate and
 * the target are the reference machine's: a run offers the rate scaled by its ceiling, so a slower
 * machine is loaded as hard as the reference one, not harder.
 */
export const lagScenario: Scenario = {
  name: 'lag',
  title: 'Projection lag at 1,000 commands/s',
  async run(ctx, mode) {
    const bare = await ctx.ceiling()
    const rate = ctx.smoke ? 100 : Math.round((referenceRate * bare.throughput) / referenceCeiling)
    const connections = ctx.scale(100, 4)
    const events = ctx.scale(1000, 5)
    const tandem = await ctx.tandem(mode)
    try {
      const eventIds = await tandem.seed(events, 100_000)
      const tokens = participants(tandem.auth, `bench-lag-${mode}`)
      const acks = new Acks()
      const feed = registrations(tokens, Math.round(mostRequests(ctx.span, rate) * 1.05), randomOf(eventIds))
      const paced = {
        label: `register-participant at ${rate}/s`,
        url: tandem.server.url,
        rate,
        span: ctx.span,
        serverPid: tandem.server.pid,
        connections,
        unit: 'commands/s',
        next: feed.next,
        onResponse: acks.onResponse,
      }
      const metricsUrl = `${tandem.server.url}/metrics`
      // The reading when the window opens is answered while the load runs, so possibly after a few
      // measured commands were applied: the check that every one was observed counts from this one.
      const beforeRun = histogramBuckets(await getText(metricsUrl), metric, 'projection')
      let reading: Promise<string> | undefined
      const monitor = mode === 'server' ? monitorTransactions(ctx.postgresUrl) : undefined
      const redisProbe = mode === 'server' ? probeRedis(ctx.redisUrl) : undefined
      const commands = await runPaced({
        ...paced,
        onWindowStart: () => {
          reading = getText(metricsUrl)
        },
      })
      const xacts = await monitor?.stop()
      const ping = await redisProbe?.stop()
      if (!reading) throw new Error('The paced run never opened its measured window')
      const before = histogramBuckets(await reading, metric, 'projection')
      ctx.log(describeMeasurement(commands))
      const audit = await tandem.audit(eventIds)
      const after = histogramBuckets(await getText(metricsUrl), metric, 'projection')
      const lags = new Map<string, Buckets>()
      for (const [projection, buckets] of after)
        lags.set(projection, difference(buckets, before.get(projection)))
      const all = sum([...lags.values()])
      const sinceRun = sum([...after].map(([projection, b]) => difference(b, beforeRun.get(projection))))
      const p99 = round(quantile(all, 0.99) * 1000)
      const within = shareAtOrBelow(all, limitSeconds)
      const figures: Record<string, number> = {
        rate,
        achievedRate: commands.throughput,
        lagObservations: total(all),
        lagP50Ms: round(quantile(all, 0.5) * 1000),
        lagP95Ms: round(quantile(all, 0.95) * 1000),
        lagP99Ms: p99,
        shareWithin50Ms: round(within, 4),
      }
      for (const [projection, buckets] of lags)
        figures[`lagP99Ms.${projection}`] = round(quantile(buckets, 0.99) * 1000)
      if (ping) Object.assign(figures, { redisPingP99Ms: ping.p99Ms, redisPingMaxMs: ping.maxMs })
      if (xacts)
        figures.shareOfTimeAnXidHeldOver50Ms = round(
          xacts.samplesOverThreshold / Math.max(1, xacts.samples),
          3,
        )
      ctx.log(
        `  projection lag: p50 ${figures.lagP50Ms} p95 ${figures.lagP95Ms} p99 ${p99} ms (${total(all)} events applied)`,
      )
      return {
        measurements: [commands],
        targets: [
          {
            name: 'projection lag p99 (all projections)',
            reference: limitSeconds * 1000,
            unit: 'ms',
            better: 'lower',
            actual: p99,
            detail: `${(within * 100).toFixed(2)}% of applications within 50 ms`,
            applies: mode === 'server',
          },
          {
            name: 'rate held (share of the rate offered)',
            reference: 97,
            unit: '%',
            better: 'higher',
            relative: true,
            actual: inPercent(commands.throughput / rate),
            detail: `${commands.throughput} of ${rate} commands/s`,
            applies: mode === 'server',
          },
        ],
        checks: [
          noErrors([bare, commands]),
          ...registrationChecks(audit, acks.ok, acks.unanswered(feed.used)),
          {
            name: 'lag observed for every applied registration',
            pass: total(sinceRun) >= acks.ok,
            detail: `${total(sinceRun)} lag observations over ${after.size} projections for ${acks.ok} registrations (warm-up included)`,
          },
        ],
        figures,
        notes: [
          `${rate} commands/s offered: ${referenceRate.toLocaleString('en-US')}/s on the reference machine ` +
            `(ceiling ${referenceCeiling.toLocaleString('en-US')} req/s), scaled by this run's ceiling. ` +
            `Open loop: one request every ${round(1000 / rate)} ms over up to ${connections} keep-alive connections ` +
            "(bench/lib/pacer.ts; autocannon overallRate sends each second's quota in a burst). Latency counts from when " +
            'a request was due. Every request is a new participant.',
          `Lag: ${metric} from /metrics, difference between readings before and after the paced run (after the ` +
            'projections caught up), all projections (event-details and registrations) together; p99 interpolated ' +
            "inside its bucket (as Prometheus' histogram_quantile), and judged against the target scaled by the " +
            "run's ceiling, which is rarely a bucket bound; the share within 50 ms (a bound) is exact.",
          'It measures recorded_at (clock_timestamp() at INSERT, before COMMIT) to the projection applying the batch.',
          mode === 'server' ? 'Target applies to this mode.' : 'Embedded mode: recorded only.',
          `Lag p99 per projection: ${[...lags].map(([name, b]) => `${name} ${round(quantile(b, 0.99) * 1000)} ms`).join(', ')}.`,
          ...(commands.throughput < rate * 0.97
            ? [
                `The server did not keep up with ${rate}/s (it answered ${commands.throughput}/s): the open-loop queue ` +
                  'grew for the whole run, so command latency here is mostly waiting in that queue, and the lag is ' +
                  'measured with the server saturated.',
              ]
            : []),
          ...(xacts ? [describeTransactions(xacts, tandem.database)] : []),
          ...(ping
            ? [
                `Redis PING from the bench process every 20 ms during the run: p50 ${ping.p50Ms} ms, p99 ` +
                  `${ping.p99Ms} ms, max ${ping.maxMs} ms (Redis is one thread shared with the machine's other tenants).`,
              ]
            : []),
        ],
      }
    } finally {
      await tandem.close()
    }
  },
}

/** Who held the cluster-wide xmin back during the run (any database on the server counts). */
function describeTransactions(report: XactReport, own: string | undefined): string {
  const share = ((report.samplesOverThreshold / Math.max(1, report.samples)) * 100).toFixed(1)
  const who = report.oldest
    .map(
      (t) =>
        `${t.ageMs} ms in ${t.database === own ? "this run's database" : `database ${t.database}`} (${t.application || 'no application name'}, ${t.state})`,
    )
    .join('; ')
  return (
    `PostgreSQL activity (sampled every 50 ms during the run): in ${share}% of samples some transaction holding an xid ` +
    `had been open over ${report.thresholdMs} ms; longest seen: ${who || 'none'}.`
  )
}
