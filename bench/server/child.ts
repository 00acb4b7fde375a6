import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import type { Tandem } from '../../src/app/tandem.js'
import type { Caller } from '../../src/core/messages.js'
import { product } from '../lib/product.js'
import type { Audit, Ready, Reply, Request, StudyAudit, StudySubject } from './protocol.js'
import { profile } from './profiling.js'

/**
 * A Tandem server process for the HTTP scenarios, forked by the bench process so the load generator
 * and the server each have their own event loop: the real HTTP API (embedded when BENCH_DATABASE_URL
 * is unset). The bare Fastify ceiling is bench/server/bare.ts.
 */

const { parseRoles } = await product<typeof import('../../src/app/config.js')>('app/config.js')
const { redisPrefixOf, startTandem } =
  await product<typeof import('../../src/app/tandem.js')>('app/tandem.js')
const { createEvent } = await product<typeof import('../../src/domains/events/commands.js')>(
  'domains/events/commands.js',
)
const { getEventDetails } = await product<
  typeof import('../../src/domains/events/projections/event-details.js')
>('domains/events/projections/event-details.js')
const { getSubjectDetail } = await product<
  typeof import('../../src/domains/study/projections/subject-queries.js')
>('domains/study/projections/subject-queries.js')
const { buildServer } = await product<typeof import('../../src/http/server.js')>('http/server.js')
const { headPosition } =
  await product<typeof import('../../src/storage/event-log.js')>('storage/event-log.js')
const { kvPrefix } =
  await product<typeof import('../../src/projections/targets.js')>('projections/targets.js')

const send = (message: Ready | Reply) => process.send?.(message)
const organizer: Caller = { id: 'bench-organizer', roles: ['organizer'] }

async function startServer(): Promise<{ app: FastifyInstance; tandem: Tandem }> {
  const env = process.env
  const tandem = await startTandem({
    config: {
      port: 0,
      host: '127.0.0.1',
      dataDir: './data-bench-unused',
      databaseUrl: env.BENCH_DATABASE_URL,
      readDatabaseUrl: undefined,
      redisUrl: env.BENCH_REDIS_URL,
      authSecret: env.BENCH_AUTH_SECRET,
      logLevel: env.BENCH_LOG_LEVEL ?? 'warn',
      databasePoolSize: Number(env.BENCH_POOL_SIZE ?? 10),
      streamMemoryStreams: Number(env.BENCH_STREAM_MEMORY_STREAMS ?? 10_000),
      roles: env.BENCH_ROLES ? parseRoles(env.BENCH_ROLES, 'BENCH_ROLES') : undefined,
    },
    inMemory: !env.BENCH_DATABASE_URL,
    log: pino({ level: env.BENCH_LOG_LEVEL ?? 'warn' }),
  })
  return { app: await buildServer(tandem), tandem }
}

/** Creates `count` upcoming events through the command bus, 16 at a time, and waits for the read models. */
async function seed(tandem: Tandem, count: number, capacity: number): Promise<string[]> {
  const ids: string[] = new Array<string>(count)
  let next = 0
  const day = 24 * 3600_000
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const startsAt = new Date(Date.now() + (i + 1) * day)
      const done = await tandem.commands.execute(
        createEvent,
        {
          title: `Benchmark event ${i}`,
          venue: 'Bench hall',
          startsAt: startsAt.toISOString(),
          endsAt: new Date(startsAt.getTime() + 3600_000).toISOString(),
          capacity,
        },
        { caller: organizer },
      )
      if (done.status === 'failed') throw done.error
      ids[i] = done.result.eventId
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  if (!(await tandem.projections.caughtUp()))
    throw new Error('The projections did not catch up after seeding')
  return ids
}

/**
 * Counts the registrations for these events in the write model, the log and the read model (a smoke
 * run shares one server between scenarios, each on events of its own). Requests cut off when a load
 * stopped may still be committing: counts are taken again until the log's head stays put.
 */
async function audit(tandem: Tandem, eventIds: readonly string[]): Promise<Audit> {
  return settled(tandem, () => count(tandem, eventIds))
}

/** Counts taken again until the log's head stays put (or ten times). */
async function settled<T>(tandem: Tandem, counts: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const head = await headPosition(tandem.sql)
    const counted = await counts()
    if ((await headPosition(tandem.sql)) === head || attempt === 10) return counted
  }
}

/** The minutes these subjects' progress updates recorded: write model, log and read model. */
async function studyCount(tandem: Tandem, subjects: readonly StudySubject[]): Promise<StudyAudit> {
  const caughtUp = await tandem.projections.caughtUp()
  const ids = [subjects.map((s) => s.subjectId).join(',')]
  const [write] = await tandem.sql.query<{ minutes: string | null }>(
    `SELECT sum(total_minutes) AS minutes FROM study.subject
     WHERE subject_id::text = ANY (string_to_array($1, ','))`,
    ids,
  )
  const [sessions] = await tandem.sql.query<{ sessions: string; minutes: string | null }>(
    `SELECT count(*) AS sessions, sum(minutes) AS minutes FROM study.study_session
     WHERE subject_id::text = ANY (string_to_array($1, ','))`,
    ids,
  )
  const [log] = await tandem.sql.query<{ updated: string }>(
    `SELECT count(*) AS updated FROM tandem.event_log
     WHERE type = 'StudyProgressUpdated' AND data->>'subjectId' = ANY (string_to_array($1, ','))`,
    ids,
  )
  let readModelMinutes = 0
  for (const { subjectId, learnerId } of subjects) {
    const caller: Caller = { id: learnerId, roles: [] }
    const asked = await tandem.queries.ask(getSubjectDetail, { subjectId }, { caller, useCache: false })
    if (asked.status === 'failed') throw asked.error
    readModelMinutes += asked.data.totalMinutes
  }
  return {
    writeMinutes: Number(write?.minutes ?? 0),
    sessions: Number(sessions?.sessions ?? 0),
    sessionMinutes: Number(sessions?.minutes ?? 0),
    progressEvents: Number(log?.updated ?? 0),
    readModelMinutes,
    caughtUp,
  }
}

async function count(tandem: Tandem, eventIds: readonly string[]): Promise<Audit> {
  const caughtUp = await tandem.projections.caughtUp()
  // One text parameter: both drivers pass it as is (an array's encoding differs between them).
  const ids = [eventIds.join(',')]
  const [counts] = await tandem.sql.query<{ confirmed: string; participants: string }>(
    `SELECT count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
            count(DISTINCT participant_id) FILTER (WHERE status = 'confirmed') AS participants
     FROM events.registration WHERE event_id::text = ANY (string_to_array($1, ','))`,
    ids,
  )
  const [log] = await tandem.sql.query<{ registered: string }>(
    `SELECT count(*) AS registered FROM tandem.event_log
     WHERE type = 'ParticipantRegistered' AND data->>'eventId' = ANY (string_to_array($1, ','))`,
    ids,
  )
  let readModelConfirmed = 0
  for (const eventId of eventIds) {
    const asked = await tandem.queries.ask(getEventDetails, { eventId }, { useCache: false })
    if (asked.status === 'failed') throw asked.error
    readModelConfirmed += asked.data.confirmedCount
  }
  return {
    confirmed: Number(counts?.confirmed ?? 0),
    participants: Number(counts?.participants ?? 0),
    registeredEvents: Number(log?.registered ?? 0),
    readModelConfirmed,
    caughtUp,
  }
}

/** A query's answer as `caller`, read past the cache; a refusal is an error. */
async function ask(tandem: Tandem, address: string, input: unknown, caller: string): Promise<unknown> {
  const asked = await tandem.queries.ask(address, input, {
    caller: { id: caller, roles: [] },
    useCache: false,
  })
  if (asked.status === 'failed') throw asked.error
  return asked.data
}

async function main(): Promise<void> {
  const { app, tandem } = await startServer()
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const redisPrefix =
    tandem.mode === 'server' && tandem.config.redisUrl ? await redisPrefixOf(tandem.sql) : undefined
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await app.close()
      await tandem.close()
    })())

  process.on('message', (message: Request) => {
    const handle = async (): Promise<unknown> => {
      switch (message.op) {
        case 'seed':
          return seed(tandem, message.events, message.capacity)
        case 'audit':
          return audit(tandem, message.eventIds)
        case 'studyAudit':
          return settled(tandem, () => studyCount(tandem, message.subjects))
        case 'caughtUp':
          if (!(await tandem.projections.caughtUp())) throw new Error('The read models did not catch up')
          return null
        case 'close':
          await close()
          return null
        case 'sqlCommit':
          await tandem.sql.transaction((tx) => tx.commit(message.statements))
          return null
        case 'sqlQuery':
          return tandem.sql.query(message.text, message.params)
        case 'ask':
          return ask(tandem, message.address, message.input, message.caller)
        case 'kvNewest': {
          const kv = tandem.projections.stores.kv(message.model)
          const range = { min: '-', max: '+', count: message.count, reverse: true } as const
          return Promise.all(message.keys.map((key) => kv.zrangeByLex(key, range)))
        }
        case 'projectionStatus':
          return tandem.projections.status()
        case 'profile':
          return profile(message.action, message.file)
        case 'kvPrefix': {
          const status = (await tandem.projections.status()).find((s) => s.name === message.model)
          if (!status) throw new Error(`No read model ${message.model} here`)
          return kvPrefix(message.model, status.generation)
        }
      }
    }
    handle().then(
      (value) => {
        send({ id: message.id, ok: true, value })
        if (message.op === 'close') process.disconnect()
      },
      (error: unknown) => send({ id: message.id, ok: false, error: String(error) }),
    )
  })
  // The bench process went away: do not outlive it.
  process.on('disconnect', () => void close().finally(() => process.exit(0)))
  send({ op: 'ready', port, ...(redisPrefix ? { redisPrefix } : {}) })
}

main().catch((error: unknown) => {
  console.error('bench server failed to start:', error)
  process.exit(1)
})
