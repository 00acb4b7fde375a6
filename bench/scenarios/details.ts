import type { BenchContext } from '../lib/context.js'
import { withCpu } from '../lib/cpu.js'
import { detailsPath, randomOf } from '../lib/feed.js'
import { runWrk, wrkAvailable } from '../lib/wrk.js'
import type { Measurement } from '../lib/results.js'
import type { ServerProcess } from '../lib/server-process.js'
import type { Target } from '../lib/targets.js'
import { getJson, measure } from './http.js'
import { cpuPerRequest, describeMeasurement, inPercent, noErrors, ratio, type Scenario } from './scenario.js'

interface Stats {
  queries: Record<string, { count: number; cacheHitRate?: number; p99Ms: number }>
}

/**
 * Scenario 2: get-event-details over HTTP, 100 connections, each request for a random one of the
 * seeded events, beside the run's ceiling (a bare Fastify GET measured the same way).
 */
export const detailsScenario: Scenario = {
  name: 'details',
  title: 'get-event-details over HTTP',
  async run(ctx, mode) {
    const connections = ctx.scale(100, 4)
    const events = ctx.scale(1000, 5)
    const bare = await ctx.ceiling()
    const tandem = await ctx.tandem(mode)
    try {
      const eventIds = await tandem.seed(events, 100)
      const pick = randomOf(eventIds)
      const url = tandem.server.url
      const details = await measure(ctx, {
        label: 'get-event-details',
        url,
        serverPid: tandem.server.pid,
        connections,
        next: () => ({ method: 'GET', path: detailsPath(pick()) }),
      })
      const measurements: Measurement[] = [details]
      if (!ctx.smoke && wrkAvailable())
        measurements.push(...(await crossCheck(ctx, tandem.server, eventIds[0] ?? '', connections)))
      const stats = await getJson<Stats>(`${url}/api/cqrs/stats`)
      const served = stats.queries['events/get-event-details']
      const share = ratio(details.throughput, bare.throughput)
      return {
        measurements,
        targets: [
          {
            name: 'throughput vs bare Fastify (same run)',
            reference: 50,
            unit: '%',
            better: 'higher',
            relative: true,
            actual: inPercent(share),
            detail: `${details.throughput} vs ${bare.throughput} req/s`,
          },
          ...wrkShare(measurements),
          {
            name: 'p99 latency',
            reference: 10,
            unit: 'ms',
            better: 'lower',
            actual: details.p99Ms,
            detail: `bare Fastify in the same run: ${bare.p99Ms} ms`,
          },
        ],
        checks: [
          noErrors([bare, ...measurements]),
          {
            name: 'the server counted the queries',
            pass: (served?.count ?? 0) >= details.ok,
            detail: `${served?.count ?? 0} get-event-details handled, cache hit rate ${served?.cacheHitRate ?? 0}`,
          },
        ],
        figures: {
          events,
          connections,
          shareOfBare: share,
          cacheHitRate: served?.cacheHitRate ?? 0,
          ...cpuPerRequest(details, 'cpuPerQuery'),
        },
        notes: [
          `${events} events seeded; each request asks for a random one (autocannon setupRequest). ` +
            'Answers come from the query cache after the first miss per event (TTL 60 s, dropped when the event changes).',
          'Server and load generator are separate processes (the server is forked); PostgreSQL/Redis share the same 2 cores.',
        ],
      }
    } finally {
      await tandem.close()
    }
  },
}

/** wrk, one thread, against the bare route and one event's details: is autocannon the bottleneck? */
async function crossCheck(
  ctx: BenchContext,
  server: ServerProcess,
  eventId: string,
  connections: number,
): Promise<Measurement[]> {
  const bareServer = await ctx.bare()
  const out: Measurement[] = []
  for (const [label, target, pid] of [
    ['wrk: bare Fastify GET', `${bareServer.url}/bare`, bareServer.pid],
    ['wrk: get-event-details (one event)', `${server.url}${detailsPath(eventId)}`, server.pid],
  ] as const) {
    const load = { label, kind: 'cross-check' as const, url: target, connections, seconds: ctx.seconds }
    // Never in a smoke run: its span is counted in requests, which wrk does not do.
    if (!('seconds' in ctx.span)) throw new Error('wrk runs for a time')
    await runWrk({ ...load, seconds: ctx.span.warmSeconds })
    const [m, cpu] = await withCpu(pid, () => runWrk(load))
    out.push({ ...m, cpu })
    ctx.log(describeMeasurement({ ...m, cpu }))
  }
  return out
}

/** The same ratio as measured by wrk, which loads the server harder than autocannon can from one core. */
function wrkShare(measurements: readonly Measurement[]): Target[] {
  const bare = measurements.find(
    (m) => m.tool === 'wrk' && m.kind === 'cross-check' && m.label.includes('bare'),
  )
  const tandem = measurements.find((m) => m.tool === 'wrk' && !m.label.includes('bare'))
  if (!bare || !tandem) return []
  const share = ratio(tandem.throughput, bare.throughput)
  return [
    {
      name: 'throughput vs bare Fastify, wrk cross-check (one event)',
      reference: 50,
      unit: '%',
      better: 'higher',
      relative: true,
      actual: inPercent(share),
      detail: `${tandem.throughput} vs ${bare.throughput} req/s`,
    },
  ]
}
