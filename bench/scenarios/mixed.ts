import { Acks } from '../lib/acks.js'
import { detailsPath, participants, randomOf, registrations, upcomingPath } from '../lib/feed.js'
import { runLoad, type LoadOptions } from '../lib/load.js'
import { startTandemServer } from '../lib/tandem-server.js'
import { measure, measureBare } from './http.js'
import { preparedPerSecond } from './register.js'
import {
  describeMeasurement,
  noErrors,
  percent,
  ratio,
  registrationChecks,
  type Scenario,
} from './scenario.js'

/**
 * Scenario 6, the seed's demonstration: register-participant throughput and p99 alone, then with 100
 * more clients reading get-event-details (of the events being written) and list-upcoming-events at
 * full speed. Reads must not stall writes: the write throughput ratio is the figure.
 */
export const mixedScenario: Scenario = {
  name: 'mixed',
  title: 'Writes with and without 100 readers at full speed',
  async run(ctx, mode) {
    const writers = ctx.scale(100, 4)
    const readers = ctx.scale(100, 4)
    const events = ctx.scale(1000, 50)
    const perLoad = Math.round((ctx.smoke ? 300 : preparedPerSecond) * (ctx.seconds + ctx.warmSeconds))
    const bare = await measureBare(ctx, writers)
    const tandem = await startTandemServer(ctx, mode)
    try {
      const eventIds = await tandem.seed(events, 100_000)
      const pick = randomOf(eventIds)
      const tokens = participants(tandem.auth, `bench-mixed-${mode}`)
      const acks = new Acks()
      const writeLoad = (label: string) => {
        const feed = registrations(tokens, perLoad, pick)
        const options: LoadOptions = {
          label,
          url: tandem.server.url,
          serverPid: tandem.server.pid,
          connections: writers,
          seconds: ctx.seconds,
          warmSeconds: ctx.warmSeconds,
          unit: 'commands/s',
          next: feed.next,
          onResponse: acks.onResponse,
        }
        return { feed, options }
      }
      let reads = 0
      const readLoad: LoadOptions = {
        label: 'readers: get-event-details / list-upcoming-events',
        url: tandem.server.url,
        serverPid: tandem.server.pid,
        connections: readers,
        seconds: ctx.seconds,
        warmSeconds: ctx.warmSeconds,
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
      const audit = await tandem.audit(eventIds)
      const kept = ratio(writesWithReads.throughput, writesAlone.throughput)
      const measurements = [bare, writesAlone, ...mixed]
      return {
        measurements,
        targets: [
          {
            name: 'writes kept with 100 readers (throughput ratio)',
            target: '>= 50% (no stall)',
            actual:
              `${percent(kept)} (${writesWithReads.throughput} vs ${writesAlone.throughput} commands/s` +
              `${writesWithReads.errors > 0 ? `, ${writesWithReads.errors} write errors` : ''}; ` +
              `readers got ${readsWithWrites.throughput} req/s, ${readsWithWrites.errors} errors)`,
            pass: kept >= 0.5 && writesWithReads.errors === 0,
          },
          {
            name: 'write p99 with readers vs alone',
            target: 'recorded',
            actual: `${writesWithReads.p99Ms} ms vs ${writesAlone.p99Ms} ms`,
            pass: null,
          },
        ],
        checks: [noErrors(measurements), ...registrationChecks(audit, acks.ok, acks.unanswered(sent))],
        figures: {
          writers,
          readers,
          events,
          writeThroughputRatio: kept,
          writeP99RatioWithReads: ratio(writesWithReads.p99Ms, writesAlone.p99Ms),
          readThroughput: readsWithWrites.throughput,
        },
        notes: [
          `${writers} writer connections (new participant each, random one of ${events} events), then the same ` +
            `with ${readers} reader connections at full speed: 4/5 get-event-details of a random one of those events, ` +
            '1/5 list-upcoming-events. Each write drops the cached answers it touches, so readers often miss the cache.',
          'The seed asks that reads not stall writes; the harness reads that as: writes keep at least half their ' +
            'throughput with the readers on (the machine has 2 cores shared by everything, so some drop is CPU share, not a stall).',
          'Both loads come from one autocannon process (one event loop): see the CPU split.',
        ],
      }
    } finally {
      await tandem.close()
    }
  },
}
