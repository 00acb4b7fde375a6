import { pino } from 'pino'
import type { Tandem } from '../../src/app/tandem.js'
import type { Caller } from '../../src/core/messages.js'
import { createScratchDatabase } from '../../src/storage/scratch-database.js'
import type { BenchContext } from '../lib/context.js'
import { product } from '../lib/product.js'
import type { Check, Measurement, Mode } from '../lib/results.js'
import { Latencies, round } from '../lib/stats.js'
import { studyNotes } from '../lib/study-text.js'
import { describeMeasurement } from './scenario.js'
import type { Part } from './study.js'

const prefix = 'bench-summaries'
/** Queued at a time by the callers that queue the requests. */
const callers = 8

interface Counts {
  pending: number
  ready: number
  failed: number
}

const load = async () => ({
  ...(await product<typeof import('../../src/app/tandem.js')>('app/tandem.js')),
  ...(await product<typeof import('../../src/app/config.js')>('app/config.js')),
  ...(await product<typeof import('../../src/domains/study/commands.js')>('domains/study/commands.js')),
  ...(await product<typeof import('../../src/domains/study/projections/summaries.js')>(
    'domains/study/projections/summaries.js',
  )),
})

/**
 * 1,000 generate-summary commands queued while the processors are stopped, then the processors
 * started: the time until the write model has none pending and the read models caught up, in
 * process on a fresh Tandem (embedded: in-memory PGlite; server: a scratch PostgreSQL database).
 */
export async function drainSummaries(ctx: BenchContext, mode: Mode): Promise<Part> {
  const product = await load()
  const count = ctx.smoke ? 20 : 1000
  const contentChars = ctx.smoke ? 1000 : 3000
  const learners = ctx.smoke ? 2 : 10
  const scratch = mode === 'server' ? await createScratchDatabase(ctx.postgresUrl, 'bench') : undefined
  const tandem = await product.startTandem({
    config: {
      ...product.loadConfig(),
      databaseUrl: scratch?.url,
      readDatabaseUrl: undefined,
      redisUrl: undefined,
      roles: undefined,
      authSecret: 'benchmark-secret-not-for-serving',
    },
    inMemory: !scratch,
    log: pino({ level: 'warn' }),
  })
  try {
    const callersOf = Array.from({ length: learners }, (_, n): Caller => ({
      id: `${prefix}-${n}`,
      roles: [],
    }))
    const subjectIds: string[] = []
    for (const caller of callersOf) {
      const input = { name: 'Summaries', category: 'language', difficultyLevel: 'beginner' }
      const done = await tandem.commands.execute(product.createSubject, input, { caller })
      if (done.status === 'failed') throw done.error
      subjectIds.push(done.result.subjectId)
    }
    const contents = Array.from({ length: count }, (_, i) => studyNotes(contentChars, i + 2))
    await tandem.processors.stop()
    const queued = new Latencies()
    let next = 0
    const queueStarted = performance.now()
    await Promise.all(
      Array.from({ length: callers }, async () => {
        for (let i = next++; i < count; i = next++) {
          const n = i % learners
          const input = { subjectId: subjectIds[n] ?? '', content: contents[i] ?? '' }
          const started = performance.now()
          const done = await tandem.commands.execute(product.generateSummary, input, { caller: callersOf[n] })
          if (done.status === 'failed') throw done.error
          queued.add(performance.now() - started)
        }
      }),
    )
    const queueSeconds = (performance.now() - queueStarted) / 1000
    const before = await counts(tandem)

    const startedAt = Date.now()
    const drainStarted = performance.now()
    await tandem.processors.start()
    const deadline = drainStarted + (ctx.smoke ? 60_000 : 600_000)
    let after = before
    while (after.pending > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25))
      after = await counts(tandem)
    }
    const caughtUp = await tandem.projections.caughtUp()
    const drainSeconds = (performance.now() - drainStarted) / 1000
    const rate = round(after.ready / drainSeconds, 1)
    const readModel = await readModelCounts(tandem, product.getStudySummaries, callersOf)
    const deadLetters = (await tandem.processors.status()).reduce((n, s) => n + s.deadLetters, 0)

    const measurements: Measurement[] = [
      {
        label: `generate-summary queued (${contentChars.toLocaleString('en-US')} characters each)`,
        kind: 'tandem',
        tool: 'in-process',
        concurrency: callers,
        seconds: round(queueSeconds),
        completed: count,
        ok: count,
        errors: 0,
        throughput: Math.round(count / queueSeconds),
        unit: 'commands/s',
        ...queued.summary(),
      },
      {
        label: `summary processor: ${count.toLocaleString('en-US')} queued summaries drained (time to ready)`,
        kind: 'tandem',
        tool: 'in-process',
        concurrency: 1,
        seconds: round(drainSeconds),
        completed: count - after.pending,
        ok: after.ready,
        errors: count - after.ready,
        throughput: rate,
        unit: 'summaries/s',
        ...(await readyTimes(tandem, startedAt)).summary(),
      },
    ]
    for (const m of measurements) ctx.log(describeMeasurement(m))
    const checks: Check[] = [
      {
        name: 'every queued summary drained: ready, none failed or pending',
        pass:
          before.pending === count &&
          after.ready === count &&
          readModel.ready === count &&
          readModel.pending + readModel.failed + after.failed + deadLetters === 0 &&
          caughtUp,
        detail:
          `before the processors started: ${before.pending} pending; after: write model ${after.ready} ready, ` +
          `${after.failed} failed, ${after.pending} pending; get-study-summaries ${readModel.ready} ready, ` +
          `${readModel.failed} failed, ${readModel.pending} pending; ${deadLetters} dead letters, read models ` +
          (caughtUp ? 'caught up' : 'NOT caught up'),
      },
    ]
    return {
      measurements,
      targets: [],
      checks,
      figures: {
        'drain.summaries': count,
        'drain.contentChars': contentChars,
        'drain.seconds': round(drainSeconds),
        'drain.summariesPerSecond': rate,
        'drain.queuedPerSecond': Math.round(count / queueSeconds),
      },
      notes: [
        `Summary drain: in the bench process, a fresh Tandem (${mode === 'server' ? 'a scratch PostgreSQL database' : 'in-memory PGlite'}, ` +
          `memory KV) with its processors stopped takes ${count.toLocaleString('en-US')} generate-summary commands ` +
          `from ${learners} learners (${callers} at a time; ${contentChars.toLocaleString('en-US')}-character ` +
          'Korean and English notes, each text its own), all pending. The processors then start: the rate is ' +
          'summaries per second from that start until the write model has none pending and the read models ' +
          "caught up (polled every 25 ms); the latency columns are each summary's time to ready (its " +
          'completed_at) from the start. Every summary must then be ready in get-study-summaries (cache off).',
      ],
    }
  } finally {
    await tandem.close()
    await scratch?.drop()
  }
}

async function counts(tandem: Tandem): Promise<Counts> {
  const rows = await tandem.sql.query<{ status: keyof Counts; n: string }>(
    `SELECT status, count(*) AS n FROM study.summary WHERE learner_id LIKE $1 GROUP BY status`,
    [`${prefix}-%`],
  )
  const found: Counts = { pending: 0, ready: 0, failed: 0 }
  for (const row of rows) found[row.status] = Number(row.n)
  return found
}

/** Each summary's time to ready, in ms from when the processors started. */
async function readyTimes(tandem: Tandem, startedAt: number): Promise<Latencies> {
  const rows = await tandem.sql.query<{ at: string }>(
    `SELECT (extract(epoch FROM completed_at) * 1000)::text AS at FROM study.summary
     WHERE learner_id LIKE $1 AND status = 'ready'`,
    [`${prefix}-%`],
  )
  const times = new Latencies()
  for (const row of rows) times.add(Math.max(0.001, Number(row.at) - startedAt))
  return times
}

/** Statuses as get-study-summaries shows them to each learner (cache off, every page). */
async function readModelCounts(
  tandem: Tandem,
  query: typeof import('../../src/domains/study/projections/summaries.js').getStudySummaries,
  callers: readonly Caller[],
): Promise<Counts> {
  const found: Counts = { pending: 0, ready: 0, failed: 0 }
  for (const caller of callers) {
    let cursor: string | undefined
    do {
      const asked = await tandem.queries.ask(
        query,
        { limit: 100, ...(cursor ? { cursor } : {}) },
        { caller, useCache: false },
      )
      if (asked.status === 'failed') throw asked.error
      for (const item of asked.data.items) found[item.status]++
      cursor = asked.data.nextCursor ?? undefined
    } while (cursor)
  }
  return found
}
