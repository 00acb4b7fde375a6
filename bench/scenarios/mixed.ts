import type { BenchContext } from '../lib/context.js'
import { Acks } from '../lib/acks.js'
import { detailsPath, participants, randomOf, registrations, upcomingPath } from '../lib/feed.js'
import { mostRequests, runLoad, type LoadOptions } from '../lib/load.js'
import type { Check, Measurement, Mode } from '../lib/results.js'
import type { TandemServer } from '../lib/tandem-server.js'
import type { Target } from '../lib/targets.js'
import { measure } from './http.js'
import { preparedPerSecond } from './register.js'
import {
  describeMeasurement,
  inPercent,
  noErrors,
  ratio,
  registrationChecks,
  type Scenario,
} from './scenario.js'

interface Deployment {
  /** Short name, prefixed to each measurement's label. */
  name: string
  /** Takes the writes (command role). */
  writer: TandemServer
  /** Takes the reads (query role); the writer itself in a one-process deployment. */
  reader: TandemServer
}

interface Side {
  name: string
  measurements: Measurement[]
  checks: Check[]
  kept: number
  target: Target
}

/**
 * Scenario 6, the seed's demonstration: register-participant throughput and p99 alone, then with 100
 * more clients reading get-event-details (of the events being written) and list-upcoming-events at
 * full speed. Reads must not stall writes: the write throughput ratio is the figure. In server mode
 * it runs twice: one process doing everything, then writes and reads in processes of their own
 * roles (command + projector, query) on the same PostgreSQL and Redis.
 */
export const mixedScenario: Scenario = {
  name: 'mixed',
  title: 'Writes with and without 100 readers at full speed',
  async run(ctx, mode) {
    const writers = ctx.scale(100, 4)
    const bare = await ctx.ceiling()
    const sides: Side[] = []
    const one = await ctx.tandem(mode)
    try {
      sides.push(await writesBesideReads(ctx, { name: 'one process', writer: one, reader: one }))
    } finally {
      await one.close()
    }
    if (mode === 'server') {
      const { writer, reader, close } = await ctx.splitRoles()
      try {
        sides.push(await writesBesideReads(ctx, { name: 'split roles', writer, reader }))
      } finally {
        await close()
      }
    }
    // The deployment each mode is meant to run as: embedded is one process; server splits roles.
    const judged = sides.at(-1)
    const measurements = sides.flatMap((s) => s.measurements)
    return {
      measurements,
      targets: sides.map((s) => ({ ...s.target, applies: s === judged })),
      checks: [noErrors([bare, ...measurements]), ...sides.flatMap((s) => s.checks)],
      figures: Object.fromEntries(
        sides.flatMap((s, i) => {
          const [alone, withReads, reads] = s.measurements
          const prefix = i === 0 ? '' : 'split.'
          return [
            [`${prefix}writeThroughputRatio`, s.kept],
            [`${prefix}writeP99RatioWithReads`, ratio(withReads?.p99Ms ?? 0, alone?.p99Ms ?? 0)],
            [`${prefix}readThroughput`, reads?.throughput ?? 0],
          ]
        }),
      ),
      notes: [
        ...notes(ctx, mode, writers),
        ...sides.map(
          ({ name, measurements: [alone, withReads] }) =>
            `${name}: write p99 ${withReads?.p99Ms} ms with the readers, ${alone?.p99Ms} ms alone.`,
        ),
      ],
    }
  },
}

async function writesBesideReads(ctx: BenchContext, deployment: Deployment): Promise<Side> {
  const { name, writer, reader } = deployment
  const writers = ctx.scale(100, 4)
  const readers = ctx.scale(100, 4)
  const events = ctx.scale(1000, 5)
  const perLoad = mostRequests(ctx.span, preparedPerSecond)
  const eventIds = await writer.seed(events, 100_000)
  if (reader !== writer) await reader.caughtUp()
  const pick = randomOf(eventIds)
  const tokens = participants(writer.auth, `bench-mixed-${writer.mode}-${name.replace(/\W+/g, '-')}`)
  const acks = new Acks()
  const writeLoad = (label: string) => {
    const feed = registrations(tokens, perLoad, pick)
    const options: LoadOptions = {
      label: `${name}: ${label}`,
      url: writer.server.url,
      serverPid: writer.server.pid,
      connections: writers,
      span: ctx.span,
      unit: 'commands/s',
      next: feed.next,
      onResponse: acks.onResponse,
    }
    return { feed, options }
  }
  let reads = 0
  const readLoad: LoadOptions = {
    label: `${name}: readers (details / upcoming)`,
    url: reader.server.url,
    serverPid: reader.server.pid,
    connections: readers,
    span: ctx.span,
    // 4 in 5 reads are one event's details, 1 in 5 the first page of upcoming events.
    next: () => ({ method: 'GET', path: reads++ % 5 === 4 ? upcomingPath : detailsPath(pick()) }),
  }

  const alone = writeLoad('writes alone')
  const writesAlone = await measure(ctx, alone.options)
  const together = writeLoad('writes with 100 readers')
  // Both loads warm up and are measured over the same window.
  const mixed = await Promise.all([runLoad(together.options), runLoad(readLoad)])
  const [writesWithReads, readsWithWrites] = mixed
  for (const m of mixed) ctx.log(describeMeasurement(m))
  const sent = alone.feed.used + together.feed.used
  const audit = await writer.audit(eventIds)
  const kept = ratio(writesWithReads.throughput, writesAlone.throughput)
  return {
    name,
    measurements: [writesAlone, writesWithReads, readsWithWrites],
    checks: registrationChecks(audit, acks.ok, acks.unanswered(sent)).map((check) => ({
      ...check,
      name: `${name}: ${check.name}`,
    })),
    kept,
    target: {
      name: `${name}: writes kept with 100 readers (throughput ratio, no stall)`,
      reference: 50,
      unit: '%',
      better: 'higher',
      relative: true,
      actual: inPercent(kept),
      detail:
        `${writesWithReads.throughput} vs ${writesAlone.throughput} commands/s; ` +
        `readers got ${readsWithWrites.throughput} req/s, ${readsWithWrites.errors} errors`,
      ...(writesWithReads.errors > 0 ? { failedBy: `${writesWithReads.errors} write errors` } : {}),
    },
  }
}

function notes(ctx: BenchContext, mode: Mode, writers: number): string[] {
  const events = ctx.scale(1000, 5)
  return [
    `${writers} writer connections (new participant each, random one of ${events} events), then the same ` +
      `with ${ctx.scale(100, 4)} reader connections at full speed: 4/5 get-event-details of a random one of ` +
      'those events, 1/5 list-upcoming-events. Each write drops the cached answers it touches, so readers ' +
      'often miss the cache.',
    ...(mode === 'server'
      ? [
          'Server mode runs twice: one process with every role, then `--role command,projector` taking the ' +
            'writes and `--role query` taking the reads, on the same PostgreSQL and Redis (the query process ' +
            "follows the projector's progress and cache tags over LISTEN/NOTIFY). The pass mark is judged " +
            'on the split deployment; the one-process figure is recorded beside it.',
        ]
      : []),
    'The seed asks that reads not stall writes; the harness reads that as: writes keep at least half their ' +
      'throughput with the readers on (the machine has 2 cores shared by everything, so some drop is CPU share, not a stall).',
    'Both loads come from one autocannon process (one event loop): see the CPU split. The CPU split names ' +
      "one Tandem process as the server: the writes' process for the write loads, the readers' for the reads.",
  ]
}
