import { pino } from 'pino'
import { loadConfig } from '../app/config.js'
import { createScratchDatabase } from '../storage/scratch-database.js'
import { startTandem, type Tandem } from '../app/tandem.js'
import type { Caller } from '../core/messages.js'
import { createEvent, registerParticipant } from '../domains/events/commands.js'
import { getEventDetails, listUpcomingEvents } from '../domains/events/projections/event-details.js'
import { listMyRegistrations } from '../domains/events/projections/registrations.js'

export interface BusBenchOptions {
  operations: number
  /** Run against this PostgreSQL instead of an in-memory PGlite. */
  postgresUrl?: string
  concurrency?: number
  /** Share of operations that are commands (the rest are queries). */
  commandShare?: number
  events?: number
  quiet?: boolean
}

export interface BusBenchResult {
  store: 'pglite' | 'postgres'
  operations: number
  commands: number
  queries: number
  errors: number
  seconds: number
  opsPerSecond: number
  avgMs: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  cacheHitRate: number
}

/**
 * The guide's `benchmark N`: N operations through the in-process command and query buses, with all
 * middleware and the query cache on: event-registration commands mixed with its three queries.
 */
export async function benchBus(options: BusBenchOptions): Promise<BusBenchResult> {
  const base = loadConfig()
  const scratch = options.postgresUrl ? await createScratchDatabase(options.postgresUrl, 'bench') : undefined
  const tandem = await startTandem({
    config: {
      ...base,
      databaseUrl: scratch?.url,
      readDatabaseUrl: undefined,
      redisUrl: undefined,
      authSecret: 'benchmark-secret-not-for-serving',
    },
    inMemory: !options.postgresUrl,
    log: pino({ level: 'warn' }),
  })
  try {
    return await run(tandem, options)
  } finally {
    await tandem.close()
    await scratch?.drop()
  }
}

async function run(tandem: Tandem, options: BusBenchOptions): Promise<BusBenchResult> {
  const organizer: Caller = { id: 'bench-organizer', roles: ['organizer'] }
  const eventIds: string[] = []
  for (let i = 0; i < (options.events ?? 50); i++) {
    const startsAt = new Date(Date.now() + (i + 1) * 24 * 3600_000)
    const done = await tandem.commands.execute(
      createEvent,
      {
        title: `Benchmark event ${i}`,
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 3600_000).toISOString(),
        capacity: 100_000,
      },
      { caller: organizer },
    )
    if (done.status === 'failed') throw done.error
    eventIds.push(done.result.eventId)
  }
  await tandem.projections.caughtUp()

  const share = options.commandShare ?? 0.05
  const concurrency = options.concurrency ?? 8
  const latencies: number[] = []
  let commands = 0
  let errors = 0
  let next = 0
  let hits = 0
  let lookups = 0
  const failures = new Map<string, number>()
  const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)] as T

  async function operation(i: number) {
    const start = performance.now()
    const r = Math.random()
    const user: Caller = { id: `bench-user-${i % 500}`, roles: [] }
    if (r < share) {
      commands++
      const done = await tandem.commands.execute(
        registerParticipant,
        { eventId: pick(eventIds), participantId: `bench-${i}`, waitlist: true },
        { caller: organizer },
      )
      if (done.status === 'failed') {
        errors++
        failures.set(done.error.code, (failures.get(done.error.code) ?? 0) + 1)
      }
    } else {
      const asked =
        r < share + (1 - share) * 0.7
          ? await tandem.queries.ask(getEventDetails, { eventId: pick(eventIds) })
          : r < share + (1 - share) * 0.9
            ? await tandem.queries.ask(listUpcomingEvents, { limit: 20 })
            : await tandem.queries.ask(listMyRegistrations, {}, { caller: user })
      lookups++
      if (asked.status === 'failed') {
        errors++
        failures.set(asked.error.code, (failures.get(asked.error.code) ?? 0) + 1)
      } else if (asked.cacheHit) hits++
    }
    latencies.push(performance.now() - start)
  }

  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < options.operations) await operation(next++)
    }),
  )
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0)
  const result: BusBenchResult = {
    store: tandem.mode === 'server' ? 'postgres' : 'pglite',
    operations: options.operations,
    commands,
    queries: lookups,
    errors,
    seconds: round(seconds),
    opsPerSecond: Math.round(options.operations / seconds),
    avgMs: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    cacheHitRate: round(hits / Math.max(1, lookups)),
  }
  if (!options.quiet) print(result)
  if (failures.size > 0 && !options.quiet) console.log('Refusals:', Object.fromEntries(failures))
  return result
}

function print(r: BusBenchResult): void {
  console.log(`=== Tandem CQRS bus benchmark (${r.store}) ===
Operations:        ${r.operations} (${r.commands} commands, ${r.queries} queries, ${r.errors} errors)
Total time:        ${r.seconds.toFixed(3)} s
Average:           ${r.avgMs.toFixed(3)} ms  (p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms, p99 ${r.p99Ms} ms)
Throughput:        ${r.opsPerSecond} ops/s
Cache hit rate:    ${(r.cacheHitRate * 100).toFixed(1)}%`)
}

const round = (n: number) => Math.round(n * 1000) / 1000
