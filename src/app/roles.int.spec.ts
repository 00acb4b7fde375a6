import pg from 'pg'
import { createClient } from 'redis'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnyCommand, Caller } from '../core/messages.js'
import { createEvent, registerParticipant } from '../domains/events/commands.js'
import { eventsDomain } from '../domains/events/index.js'
import { createPost, createUser, followUser } from '../domains/feed/commands.js'
import { feedDomain } from '../domains/feed/index.js'
import { studyDomain } from '../domains/study/index.js'
import { getStudyGoals, getSubjects } from '../domains/study/projections/subject-queries.js'
import { createNote } from '../testing/notes-domain/commands.js'
import { notesDomain, writer as noteWriter } from '../testing/notes-domain/index.js'
import { getEventDetails } from '../domains/events/projections/event-details.js'
import { isUnavailable } from '../core/sql.js'
import { buildServer } from '../http/server.js'
import {
  dropRedisReadModels,
  startTestProcesses,
  startTestTandem,
  testSecret,
  type TestTandem,
  type TestTandemOptions,
} from '../testing/harness.js'
import { postgresUrl, redisUrl, servicesAvailable } from '../testing/services.js'
import { openStream } from '../testing/sse.js'
import { ConfigError, loadConfig } from './config.js'
import type { Domain } from './domain.js'
import { migrateOnly, migrationsOf, redisPrefixOf, startTandem, type Tandem } from './tandem.js'
import { dropRedisPrefix } from '../projections/kv-redis.js'
import { kvCatalog, sqlTableName } from '../projections/targets.js'
import { postgresClaims } from '../storage/claims.js'
import { createScratchDatabase, withClient } from '../storage/scratch-database.js'

const organizer: Caller = { id: 'org', roles: ['organizer'] }
const admin: Caller = { id: 'root', roles: ['admin'] }
let participants = 0
const someone = (): Caller => ({ id: `p${++participants}`, roles: [] })

async function newEvent(t: TestTandem): Promise<string> {
  const created = await t.commands.execute(
    createEvent,
    { title: 'Split', startsAt: '2031-01-01T10:00:00Z', endsAt: '2031-01-01T11:00:00Z', capacity: 50 },
    { caller: organizer },
  )
  if (created.status !== 'succeeded') throw created.error
  return created.result.eventId
}

async function register(t: TestTandem, eventId: string): Promise<bigint> {
  const done = await t.commands.execute(registerParticipant, { eventId }, { caller: someone() })
  if (done.status !== 'succeeded') throw done.error
  return BigInt(done.position ?? '0')
}

/** Writes a note, and waits for the writer's projections to have applied it. */
async function noteApplied(t: TestTandem): Promise<void> {
  const note = await t.commands.execute(createNote, { title: 'kept', body: 'b' }, { caller: noteWriter })
  expect(note.status).toBe('succeeded')
  await t.projections.caughtUp()
}

/** Waits for as long as a slow, busy machine needs: no test here depends on speed. */
const patience = 30_000

async function confirmed(t: TestTandem, eventId: string, minPosition?: bigint) {
  const asked = await t.queries.ask(getEventDetails, { eventId }, { minPosition, maxWaitMs: patience })
  if (asked.status !== 'succeeded') throw asked.error
  return { count: asked.data.confirmedCount, cacheHit: asked.cacheHit }
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = patience): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A command-and-projector process and a query process on one scratch database, closed after `use`. */
async function withWriterAndReader(
  options: TestTandemOptions,
  use: (writer: TestTandem, reader: TestTandem) => Promise<void>,
): Promise<void> {
  const [writer, reader] = (await startTestProcesses(
    'server',
    [{ roles: ['command', 'projector'] }, { roles: ['query'] }],
    options,
  )) as [TestTandem, TestTandem]
  try {
    await use(writer, reader)
  } finally {
    await reader.dispose()
    await writer.dispose()
  }
}

/**
 * As a Redis restarted without its data: every key of the deployment gone, every connection of
 * its processes (named after its log) cut. Resolves once the connections are cut.
 */
async function restartRedisEmpty(writer: TestTandem, processOf: Pick<Tandem, 'sql'>) {
  await writer.kv.deletePrefix('')
  const admin = createClient({ url: redisUrl })
  await admin.connect()
  try {
    const name = (await redisPrefixOf(processOf.sql)).slice(0, -1)
    const clients = (await admin.clientList()).filter((c) => c.name === name)
    expect(clients.length).toBeGreaterThan(0)
    for (const client of clients) await admin.clientKill({ filter: 'ID', id: client.id })
  } finally {
    await admin.quit()
  }
}

describe.skipIf(!servicesAvailable)('processes split by role (server mode)', () => {
  // `writer` takes commands and applies projections into Redis; `reader` only answers queries.
  let writer: TestTandem
  let reader: TestTandem
  // What the processes warn about, so a test can wait for a thing to have happened, not for time.
  const warnings: string[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) })
  beforeAll(async () => {
    ;[writer, reader] = (await startTestProcesses(
      'server',
      [{ roles: ['command', 'projector'] }, { roles: ['query'] }],
      // No backstop poll within a test: progress and tags must come through the feed.
      { pollMs: 60_000, log, domains: [eventsDomain] },
    )) as [TestTandem, TestTandem]
  })
  afterAll(async () => {
    await reader.dispose()
    await writer.dispose()
  })

  it('applies projections only in the projector and follows them in the query process', async () => {
    const byName = async (t: TestTandem) => (await t.projections.status()).map((p) => p.appliedHere)
    expect(await byName(writer)).toEqual([true, true])
    expect(await byName(reader)).toEqual([false, false])
  })

  it("answers read-your-writes in the query process from the projector's progress", async () => {
    const eventId = await newEvent(writer)
    const position = await register(writer, eventId)
    expect(await confirmed(reader, eventId, position)).toEqual({ count: 1, cacheHit: false })
    expect(await confirmed(reader, eventId)).toEqual({ count: 1, cacheHit: true })
  })

  it('drops cached answers in the query process when the projector applies an event', async () => {
    const eventId = await newEvent(writer)
    expect(
      await reader.projections.waitFor(['event-details'], await register(writer, eventId), patience),
    ).toBe(true)
    expect(await confirmed(reader, eventId)).toMatchObject({ count: 1 })
    expect(await confirmed(reader, eventId)).toEqual({ count: 1, cacheHit: true })
    // Waiting for the position (not asking with it) leaves the cache in charge: only the tags
    // published by the projector can have dropped the entry.
    const position = await register(writer, eventId)
    expect(await reader.projections.waitFor(['event-details'], position, patience)).toBe(true)
    expect(await confirmed(reader, eventId)).toEqual({ count: 2, cacheHit: false })
  })

  it('clears every process cache from one', async () => {
    const eventId = await newEvent(writer)
    await confirmed(reader, eventId, await register(writer, eventId))
    expect(reader.cache.size).toBeGreaterThan(0)
    writer.projections.clearCaches()
    await eventually(() => reader.cache.size === 0)
  })

  it('switches the query process to a rebuilt generation', async () => {
    const eventId = await newEvent(writer)
    const position = await register(writer, eventId)
    await confirmed(reader, eventId, position)
    const before = (await reader.projections.status()).find((p) => p.name === 'event-details')
    const { generation } = await writer.projections.rebuild('event-details')
    expect(generation).toBe((before?.generation ?? 0) + 1)
    // The old generation outlives the switch, for the reader that reads it until it hears of the
    // switch: dropped at once, its keys were gone under the reader's reads (a wrong 404).
    expect(await writer.kv.get(`p:event-details:g${before?.generation}:checkpoint`)).not.toBeNull()
    await eventually(async () => {
      const now = (await reader.projections.status()).find((p) => p.name === 'event-details')
      return now?.generation === generation
    })
    expect(await confirmed(reader, eventId, position)).toEqual({ count: 1, cacheHit: false })
    // Caught up with nothing more written: the projector's report of the new generation may come
    // before the reader's switch (dropped then); the reader asks again. It waited for the next event.
    await eventually(async () => {
      const now = (await reader.projections.status()).find((p) => p.name === 'event-details')
      return now?.caughtUp === true
    })
  })

  it('catches up after its listener connection is cut, dropping what it may have missed', async () => {
    const eventId = await newEvent(writer)
    await confirmed(reader, eventId, await register(writer, eventId))
    expect(await confirmed(reader, eventId)).toMatchObject({ count: 1, cacheHit: true })
    // Cut every listener of this database; commit while they are away; the reader must recover.
    await writer.sql.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'tandem-listen'`,
    )
    const position = await register(writer, eventId)
    await eventually(() => reader.projections.waitFor(['event-details'], position, 100))
    expect(await confirmed(reader, eventId)).toEqual({ count: 2, cacheHit: false })
  })

  it('keeps trying to reconnect while the database refuses it, then catches up', async () => {
    const eventId = await newEvent(writer)
    await confirmed(reader, eventId, await register(writer, eventId))
    const [{ name } = { name: '' }] = await writer.sql.query<{ name: string }>(
      'SELECT current_database() AS name',
    )
    // A database cannot refuse connections to itself from within: ask from the maintenance database.
    const admin = new pg.Client({ connectionString: postgresUrl })
    await admin.connect()
    const allow = (yes: boolean) =>
      admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS ${yes ? 'true' : 'false'}`)
    await allow(false)
    try {
      await writer.sql.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'tandem-listen'`,
      )
      // Until both processes have had a reconnect attempt refused.
      const refused = () => warnings.filter((w) => w.includes('could not reconnect')).length
      const before = refused()
      await eventually(() => refused() >= before + 2)
    } finally {
      await allow(true)
      await admin.end()
    }
    const position = await register(writer, eventId)
    await eventually(() => reader.projections.waitFor(['event-details'], position, 100))
    expect(await confirmed(reader, eventId)).toEqual({ count: 2, cacheHit: false })
  })

  it('offers each process the routes of its roles only', async () => {
    const [commandApp, queryApp] = await Promise.all([buildServer(writer), buildServer(reader)])
    try {
      const eventId = await newEvent(writer)
      const path = `/api/queries/events/get-event-details?eventId=${eventId}`
      expect((await commandApp.inject({ method: 'GET', url: path })).json()).toMatchObject({
        code: 'ROUTE_NOT_FOUND',
      })
      await eventually(async () => (await queryApp.inject({ method: 'GET', url: path })).statusCode === 200)
      const post = await queryApp.inject({
        method: 'POST',
        url: '/api/commands/events/register-participant',
        headers: { authorization: `Bearer ${reader.token(someone())}` },
        payload: { eventId },
      })
      expect(post.json()).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND' })
      const rebuild = await queryApp.inject({
        method: 'POST',
        url: '/api/cqrs/projections/event-details/rebuild',
        headers: { authorization: `Bearer ${reader.token(admin)}` },
      })
      expect(rebuild.statusCode).toBe(409)
      expect(rebuild.json()).toMatchObject({ code: 'PROJECTION_NOT_APPLIED_HERE' })
      const stats = await queryApp.inject({ method: 'GET', url: '/api/cqrs/stats' })
      expect(stats.json()).toMatchObject({ mode: 'server', roles: ['query'] })
    } finally {
      await Promise.all([commandApp.close(), queryApp.close()])
    }
  })
})

describe.skipIf(!servicesAvailable)('two full processes on one database (server mode)', () => {
  let first: TestTandem
  let second: TestTandem
  beforeAll(async () => {
    ;[first, second] = (await startTestProcesses('server', [{}, {}], {
      pollMs: 200,
      domains: [eventsDomain],
      retireAfterMs: 300,
    })) as [TestTandem, TestTandem]
  })
  afterAll(async () => {
    await second.dispose()
    await first.dispose()
  })

  it('follow the catalog back to an older generation: the store lost it, a projector began again', async () => {
    const eventId = await newEvent(first)
    const position = await register(first, eventId)
    const generationOf = async (t: TestTandem) =>
      (await t.projections.status()).find((p) => p.name === 'event-details')?.generation
    const now = (await generationOf(first)) ?? 0
    await first.projections.rebuild('event-details')
    await eventually(async () => (await generationOf(second)) === now + 1)
    // As a projector started on an emptied Redis writes it: an earlier generation is live.
    const { version } = (await kvCatalog(first.kv).live('event-details')) ?? { version: 1 }
    await kvCatalog(first.kv).setLive('event-details', { generation: now, version })
    await eventually(async () => (await generationOf(first)) === now && (await generationOf(second)) === now)
    for (const t of [first, second]) expect(await confirmed(t, eventId, position)).toMatchObject({ count: 1 })
    // Past the time the switch away gave that generation to retire: live again, it is not dropped.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    for (const t of [first, second]) {
      const asked = await t.queries.ask(getEventDetails, { eventId }, { useCache: false })
      expect(asked.status === 'succeeded' && asked.data.confirmedCount).toBe(1)
    }
  })

  it('rebuild a read model once when both are asked at once: the other answers 409 REBUILD_IN_PROGRESS', async () => {
    const eventId = await newEvent(first)
    const position = await register(first, eventId)
    const statusOf = async (t: TestTandem) =>
      (await t.projections.status()).find((p) => p.name === 'event-details')
    const now = (await statusOf(first))?.generation ?? 0
    const applied = BigInt(first.projections.position(['event-details']))
    const apps = await Promise.all([first, second].map((t) => buildServer(t)))
    try {
      const answers = await Promise.all(
        apps.map((app, i) =>
          app.inject({
            method: 'POST',
            url: '/api/cqrs/projections/event-details/rebuild',
            headers: { authorization: `Bearer ${[first, second][i]?.token(admin)}` },
          }),
        ),
      )
      // Refused in the answer, not after it in a log: the claim is taken before the 202.
      expect(answers.map((a) => a.statusCode).toSorted()).toEqual([202, 409])
      expect(answers.find((a) => a.statusCode === 409)?.json()).toMatchObject({ code: 'REBUILD_IN_PROGRESS' })
      for (const t of [first, second])
        await eventually(async () => {
          const status = await statusOf(t)
          return status?.generation === now + 1 && status.rebuilding === undefined
        })
      // Switched to where the generation before stood, not to the last event of its own types.
      for (const t of [first, second])
        expect(BigInt(t.projections.position(['event-details']))).toBeGreaterThanOrEqual(applied)
      for (const t of [first, second])
        expect(await confirmed(t, eventId, position)).toMatchObject({ count: 1 })
    } finally {
      for (const app of apps) await app.close()
    }
  })

  it('refuse a second rebuild in one process until the first has given its claim up, switched or not', async () => {
    const began = await first.projections.beginRebuild('event-details')
    let done = false
    const refused: string[] = []
    const switched = began.switched.finally(() => (done = true))
    while (!done) {
      await first.projections.beginRebuild('event-details').then(
        (other) => refused.push(`began ${other.generation}`),
        (error: unknown) => refused.push((error as { code?: string }).code ?? String(error)),
      )
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await switched).toEqual({ generation: began.generation })
    expect(new Set(refused)).toEqual(new Set(['REBUILD_IN_PROGRESS']))
  })

  it('refuse a rebuild while another process of the deployment holds its claim', async () => {
    const other = postgresClaims({ url: first.config.databaseUrl ?? '', log: pino({ level: 'silent' }) })
    try {
      expect(await other.claim('rebuild:event-details')).toBe(true)
      await expect(first.projections.rebuild('event-details')).rejects.toMatchObject({
        code: 'REBUILD_IN_PROGRESS',
      })
      await other.release('rebuild:event-details')
      const now = (await first.projections.status()).find((p) => p.name === 'event-details')?.generation ?? 0
      expect(await first.projections.rebuild('event-details')).toEqual({ generation: now + 1 })
    } finally {
      await other.close()
    }
  })

  it("never serves a cached answer older than the other process's writes", async () => {
    const eventId = await newEvent(first)
    for (let i = 1; i <= 5; i++) {
      const position = await register(i % 2 === 0 ? first : second, eventId)
      for (const t of [first, second]) {
        expect(await t.projections.waitFor(['event-details'], position, patience)).toBe(true)
        expect((await confirmed(t, eventId)).count).toBe(i)
      }
    }
  })

  it('tell each other nothing while nothing is written, though every poll finds the horizon moved', async () => {
    const [{ name } = { name: '' }] = await first.sql.query<{ name: string }>(
      'SELECT current_database() AS name',
    )
    const url = new URL(postgresUrl)
    url.pathname = `/${name}`
    const listener = new pg.Client({ connectionString: url.toString() })
    await listener.connect()
    let heard = 0
    listener.on('notification', (n) => {
      if (n.payload?.includes('["p",')) heard++
    })
    await listener.query('LISTEN tandem_progress')
    try {
      const eventId = await newEvent(first)
      const position = await register(second, eventId)
      for (const t of [first, second])
        expect(await t.projections.waitFor(['event-details'], position, patience)).toBe(true)
      // The move past that event is told once by each projection; then a quiet stretch of six polls
      // (200 ms each). Each progress message is a transaction that moves the horizon, so before,
      // every poll found it moved and told the others so: the deployment never went quiet.
      const quiet = async (ms: number) => {
        const before = heard
        await new Promise((resolve) => setTimeout(resolve, ms))
        return heard === before
      }
      await eventually(() => quiet(600))
      expect(await quiet(1200)).toBe(true)
    } finally {
      await listener.end()
    }
  })
})

describe.skipIf(!servicesAvailable)(
  'a query process whose KV store loses what was applied (server mode)',
  () => {
    it('counts nothing applied until it is applied again: a read for a position waits, never answers from the emptied store', async () => {
      await withWriterAndReader({ pollMs: 200, domains: [eventsDomain] }, async (writer, reader) => {
        const eventId = await newEvent(writer)
        const position = await register(writer, eventId)
        expect(await confirmed(reader, eventId, position)).toMatchObject({ count: 1 })
        // Nothing applies the log again here: what the reader counts as applied is what it was told.
        await writer.projections.stop()
        // As Redis restarted without its data: every key of this deployment gone.
        await writer.kv.deletePrefix('')
        const details = async () =>
          (await reader.projections.status()).find((p) => p.name === 'event-details')
        await eventually(async () => (await details())?.caughtUp === false)
        const asked = await reader.queries.ask(
          getEventDetails,
          { eventId },
          { minPosition: position, maxWaitMs: 300 },
        )
        expect(asked.status === 'failed' && asked.error.code).toBe('READ_MODEL_LAGGING')
      })
    })
  },
)

describe.skipIf(!servicesAvailable)('a KV store back from a restart without its data (server mode)', () => {
  it('is checked before it is read again: the first read for a position after the reconnection waits, never answers from the emptied store', async () => {
    // The backstop's check (every pollMs) out of the way: only the reconnection can tell.
    await withWriterAndReader({ pollMs: 600_000, domains: [eventsDomain] }, async (writer, reader) => {
      const eventId = await newEvent(writer)
      const position = await register(writer, eventId)
      expect(await confirmed(reader, eventId, position)).toMatchObject({ count: 1 })
      await writer.projections.stop()
      await restartRedisEmpty(writer, reader)
      // Refused (503, or a read cut with its connection) while the connection is down; the first
      // read of the store after it is back waits. (An answer cached before is still right for that
      // position: read past the cache.)
      const ask = () =>
        reader.queries
          .ask(getEventDetails, { eventId }, { minPosition: position, maxWaitMs: 300, useCache: false })
          .catch((error: unknown) => {
            if (isUnavailable(error)) return undefined
            throw error
          })
      const deadline = Date.now() + patience
      let answer = await ask()
      while (
        (!answer || (answer.status === 'failed' && answer.error.code === 'UNAVAILABLE')) &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        answer = await ask()
      }
      expect(answer?.status === 'failed' && answer.error.code).toBe('READ_MODEL_LAGGING')
      // A report its projector sent before it found the loss, heard now: taken only as far as the
      // store holds (nothing), not as the position applied.
      const [at] = await writer.sql.query<{ tx: string }>(
        'SELECT tx_id::text AS tx FROM tandem.event_log WHERE position = $1',
        [position.toString()],
      )
      const stale = ['p', 'event-details', 1, at?.tx ?? '0', position.toString(), '0', 1]
      await writer.sql.query('SELECT pg_notify($1, $2)', [
        'tandem_progress',
        `a-projector-that-has-not-found-out:${JSON.stringify([stale])}`,
      ])
      await new Promise((resolve) => setTimeout(resolve, 300))
      const after = await ask()
      expect(after?.status === 'failed' && after.error.code).toBe('READ_MODEL_LAGGING')
    })
  })
})

describe.skipIf(!servicesAvailable)('a rebuild whose claim is lost (server mode)', () => {
  it('does not switch: another process may be building that generation by then', async () => {
    const t = await startTestTandem('server', { domains: [notesDomain] })
    const db = new pg.Client({ connectionString: t.config.databaseUrl })
    await db.connect()
    try {
      const created = await t.commands.execute(
        createNote,
        { title: 'kept', body: 'b' },
        { caller: noteWriter },
      )
      expect(created.status).toBe('succeeded')
      const generation = (await t.projections.status()).find((p) => p.name === 'note-list')?.generation ?? 0
      // The rebuild is held in its setup (one process at a time sets a generation up, on a lock)...
      await db.query('BEGIN')
      await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `read-setup:note-list:${generation + 1}`,
      ])
      const rebuilt = t.projections.rebuild('note-list').then(
        () => 'switched',
        (error: unknown) => (error as { code?: string }).code,
      )
      await eventually(async () => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
        )
        return rows[0]?.n === 1
      })
      // ... while its claim's connection is cut, as a network fault or an administrator would.
      await db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'tandem-claims' AND datname = current_database()`,
      )
      await new Promise((resolve) => setTimeout(resolve, 300))
      await db.query('COMMIT')
      expect(await rebuilt).toBe('REBUILD_IN_PROGRESS')
      const now = (await t.projections.status()).find((p) => p.name === 'note-list')
      expect(now?.generation).toBe(generation)
      expect(now?.rebuilding).toBeUndefined()
      // It claims again on a new connection: the next rebuild switches.
      expect(await t.projections.rebuild('note-list')).toEqual({ generation: generation + 1 })
    } finally {
      await db.end()
      await t.dispose()
    }
  })
})

describe.skipIf(!servicesAvailable)(
  'the lag a query process shows with its projector stopped (server mode)',
  () => {
    it('counts the events since the projector last reported, not since each projection last applied one', async () => {
      await withWriterAndReader({ domains: [eventsDomain, notesDomain] }, async (writer, reader) => {
        const note = await writer.commands.execute(
          createNote,
          { title: 'early', body: 'b' },
          { caller: noteWriter },
        )
        expect(note.status).toBe('succeeded')
        // Then 20 events of other types than the note list's.
        const eventId = await newEvent(writer)
        let position = 0n
        for (let i = 0; i < 19; i++) position = await register(writer, eventId)
        const behind = async () =>
          Object.fromEntries((await reader.projections.status()).map((p) => [p.name, p.behind]))
        await eventually(async () => Object.values(await behind()).every((n) => n === 0))
        expect(await reader.projections.waitFor(['note-list', 'event-details'], position, patience)).toBe(
          true,
        )
        await writer.projections.stop()
        for (let i = 0; i < 3; i++) await register(writer, eventId)
        const now = await behind()
        expect(now['event-details']).toBe(3)
        expect(now['note-list']).toBe(3)
      })
    })

    it('stays caught up, and ready, while a projector started again reads what was written meanwhile', async () => {
      await withWriterAndReader({ domains: [notesDomain] }, async (writer, reader) => {
        const note = () =>
          writer.commands.execute(createNote, { title: 't', body: 'b' }, { caller: noteWriter })
        expect((await note()).status).toBe('succeeded')
        await eventually(() => reader.projections.caughtUpNow(['note-list']))
        await writer.projections.stop()
        // More than one read of the log (500 events) to apply: the new projector reports itself
        // behind after each until it has them all.
        let last = 0n
        for (let round = 0; round < 6; round++) {
          const done = await Promise.all(Array.from({ length: 250 }, note))
          for (const d of done) {
            if (d.status !== 'succeeded') throw d.error
            if (BigInt(d.position ?? '0') > last) last = BigInt(d.position ?? '0')
          }
        }
        // What the reader says between any two of its turns while the new projector catches up.
        const said = new Set<boolean>()
        let watching = true
        const watch = (async () => {
          while (watching) {
            said.add(reader.projections.caughtUpNow(['note-list']))
            await new Promise((resolve) => setImmediate(resolve))
          }
        })()
        const next = await startTandem({
          config: { ...writer.config, roles: ['projector'] },
          domains: [notesDomain],
          log: pino({ level: 'silent' }),
        })
        try {
          expect(await reader.projections.waitFor(['note-list'], last, patience)).toBe(true)
        } finally {
          watching = false
          await watch
          await next.close()
        }
        expect([...said]).toEqual([true])
        const status = (await reader.projections.status()).find((p) => p.name === 'note-list')
        expect(status?.caughtUp).toBe(true)
      })
    })
  },
)

describe.skipIf(!servicesAvailable)(
  'old generations left by a projector that died waiting to drop them (server mode)',
  () => {
    it('are dropped by the next projector to start, in the KV store and the SQL store, two rebuilds back too', async () => {
      // The first projector waits ten minutes to drop what a rebuild replaced: as if killed meanwhile.
      const options = { domains: [eventsDomain, notesDomain], retireAfterMs: 600_000 }
      await withWriterAndReader(options, async (writer, reader) => {
        const prefix = await redisPrefixOf(writer.sql)
        const redis = createClient({ url: redisUrl })
        await redis.connect()
        let next: Tandem | undefined
        try {
          const eventId = await newEvent(writer)
          const position = await register(writer, eventId)
          expect(await confirmed(reader, eventId, position)).toMatchObject({ count: 1 })
          await noteApplied(writer)
          // Two rebuilds each within the wait: generations 1 and 2 are both left behind.
          expect((await writer.projections.rebuild('event-details')).generation).toBe(2)
          expect((await writer.projections.rebuild('note-list')).generation).toBe(2)
          expect((await writer.projections.rebuild('event-details')).generation).toBe(3)
          expect((await writer.projections.rebuild('note-list')).generation).toBe(3)
          const keysOf = async (generation: number) =>
            (await redis.keys(`${prefix}p:event-details:g${generation}:*`)).length
          const rowsOf = async (generation: number) =>
            (
              await writer.sql.query(
                "SELECT 1 FROM read.projections WHERE name = 'note-list' AND generation = $1",
                [generation],
              )
            ).length
          for (const generation of [1, 2]) {
            expect(await keysOf(generation)).toBeGreaterThan(0)
            expect(await rowsOf(generation)).toBe(1)
          }

          next = await startTandem({
            config: { ...writer.config, roles: ['projector'] },
            domains: [eventsDomain, notesDomain],
            retireAfterMs: 300,
            log: pino({ level: 'silent' }),
          })
          await eventually(async () => {
            const left = await Promise.all([keysOf(1), rowsOf(1), keysOf(2), rowsOf(2)])
            return left.every((n) => n === 0)
          })
          // The live generations stay, and answer.
          expect(await keysOf(3)).toBeGreaterThan(0)
          expect(await rowsOf(3)).toBe(1)
          expect(await confirmed(reader, eventId)).toMatchObject({ count: 1 })
        } finally {
          await next?.close()
          await redis.quit()
        }
      })
    })
  },
)

describe.skipIf(!servicesAvailable)('a rebuild left unfinished (server mode)', () => {
  it('is dropped by the next projector to start: its tables and its record, the live generation kept', async () => {
    await withWriterAndReader({ domains: [notesDomain] }, async (writer, reader) => {
      await noteApplied(writer)
      const live = (await writer.projections.status()).find((p) => p.name === 'note-list')?.generation ?? 0
      // As a rebuild killed (or whose claim was lost) before it switched leaves the next generation.
      const leftover = sqlTableName('note-list', live + 1, 'note')
      await writer.sql.query(`CREATE TABLE ${leftover} (note_id text)`)
      await writer.sql.query('INSERT INTO read.projections (name, generation, version) VALUES ($1, $2, 1)', [
        'note-list',
        live + 1,
      ])
      const recordOf = async (generation: number) =>
        (
          await writer.sql.query(
            "SELECT 1 FROM read.projections WHERE name = 'note-list' AND generation = $1",
            [generation],
          )
        ).length
      const next = await startTandem({
        config: { ...writer.config, roles: ['projector'] },
        domains: [notesDomain],
        log: pino({ level: 'silent' }),
      })
      try {
        await eventually(async () => (await recordOf(live + 1)) === 0)
        const [table] = await writer.sql.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
          leftover,
        ])
        expect(table?.t).toBeNull()
        expect(await recordOf(live)).toBe(1)
        expect((await reader.projections.status()).find((p) => p.name === 'note-list')?.generation).toBe(live)
      } finally {
        await next.close()
      }
    })
  })
})

describe.skipIf(!servicesAvailable)(
  'a rebuild to a new version, over one left unfinished (server mode)',
  () => {
    it('switches: the unfinished one is dropped by the rebuild, not beside it (which gave up its claim under it)', async () => {
      await withWriterAndReader({ domains: [notesDomain] }, async (writer) => {
        await noteApplied(writer)
        const live = (await writer.projections.status()).find((p) => p.name === 'note-list')?.generation ?? 0
        // A rebuild to a new version, killed before its switch, left the next generation; the live one
        // is the old version's. The process started again rebuilds to its version at start.
        await writer.sql.query(`CREATE TABLE ${sqlTableName('note-list', live + 1, 'note')} (note_id text)`)
        await writer.sql.query(
          'INSERT INTO read.projections (name, generation, version) VALUES ($1, $2, 1)',
          ['note-list', live + 1],
        )
        await writer.sql.query("UPDATE read.projections SET version = 0 WHERE name = 'note-list' AND live")
        const next = await startTandem({
          config: { ...writer.config, roles: ['projector'] },
          domains: [notesDomain],
          log: pino({ level: 'silent' }),
        })
        try {
          await eventually(async () => {
            const [row] = await writer.sql.query<{ generation: number; version: number }>(
              "SELECT generation, version FROM read.projections WHERE name = 'note-list' AND live",
            )
            return row?.generation === live + 1 && row.version === 1
          })
        } finally {
          await next.close()
        }
      })
    })
  },
)

describe.skipIf(!servicesAvailable)('projectors of two versions side by side (server mode)', () => {
  it('end on the newer version: the older one follows it, never applies it, and what it switched back to is rebuilt', async () => {
    // The notes domain with its note list at version 2: the deployment's newer code.
    const newer: Domain = {
      ...notesDomain,
      projections: notesDomain.projections.map((p) => (p.name === 'note-list' ? { ...p, version: 2 } : p)),
    }
    await withWriterAndReader({ domains: [newer] }, async (writer) => {
      await noteApplied(writer)
      const liveOf = async () =>
        (
          await writer.sql.query<{ generation: number; version: number }>(
            "SELECT generation, version FROM read.projections WHERE name = 'note-list' AND live",
          )
        )[0]
      const first = await liveOf()
      // An older projector starts (a node rolled back, or not yet upgraded): it rebuilds to its own
      // version and switches every process to it; the newer projector then rebuilds to version 2.
      const older = await startTandem({
        config: { ...writer.config, roles: ['projector'] },
        domains: [notesDomain],
        log: pino({ level: 'silent' }),
      })
      try {
        const appliedHere = async (t: Pick<Tandem, 'projections'>) =>
          (await t.projections.status()).find((p) => p.name === 'note-list')?.appliedHere
        await eventually(async () => {
          const live = await liveOf()
          return (
            live !== undefined &&
            live.version === 2 &&
            live.generation >= (first?.generation ?? 0) + 2 &&
            (await appliedHere(older)) === false &&
            (await appliedHere(writer)) === true
          )
        })
      } finally {
        await older.close()
      }
    })
  })
})

describe.skipIf(!servicesAvailable)(
  'a query reading what only a newer read model version writes (server mode)',
  () => {
    it('is 503 READ_MODEL_LAGGING in a process following a generation an older version built', async () => {
      await withWriterAndReader({ domains: [studyDomain] }, async (writer) => {
        const learner: Caller = { id: 'lee', roles: [] }
        const ask = async (t: Pick<Tandem, 'queries'>) => {
          const answer = await t.queries.ask(getStudyGoals, {}, { caller: learner })
          return answer.status === 'failed' ? `${answer.error.status} ${answer.error.code}` : 'answered'
        }
        expect(await ask(writer)).toBe('answered')
        // As an upgrade finds it: the live generation is the older version's, its rebuild not yet switched.
        const catalog = kvCatalog(writer.kv)
        const live = await catalog.live('study-subjects')
        if (!live) throw new Error('study-subjects is not placed')
        await catalog.setLive('study-subjects', { ...live, version: 3 })
        const next = await startTandem({
          config: { ...writer.config, roles: ['query'] },
          domains: [studyDomain],
          log: pino({ level: 'silent' }),
        })
        try {
          expect(await ask(next)).toBe('503 READ_MODEL_LAGGING')
          // The rest of the read model is the older version's too, and answers.
          const subjects = await next.queries.ask(getSubjects, {}, { caller: learner })
          expect(subjects.status).toBe('succeeded')
        } finally {
          await next.close()
        }
      })
    })
  },
)

describe.skipIf(!servicesAvailable)('a KV store flushed while connected (server mode)', () => {
  /** A log for the processes, and the flushes it has heard of (one line per process). */
  const hearingFlushes = () => {
    const flushed: string[] = []
    const log = pino(
      { level: 'warn' },
      {
        write: (line: string) => {
          if (line.includes('the store was flushed')) flushed.push(line)
        },
      },
    )
    return { flushed, log }
  }

  it('is checked before it is read again: a read for a position after the flush waits, never answers from the emptied store', async () => {
    // The backstop's check (every pollMs) out of the way, and no reconnection: only the flush can tell.
    const { flushed, log } = hearingFlushes()
    await withWriterAndReader({ pollMs: 600_000, domains: [eventsDomain], log }, async (writer, reader) => {
      const eventId = await newEvent(writer)
      const position = await register(writer, eventId)
      expect(await confirmed(reader, eventId, position)).toMatchObject({ count: 1 })
      await writer.projections.stop()
      // As FLUSHDB does to this deployment's keys (a FLUSHDB here would empty other test files'),
      // and as an eviction would: the connection stays up.
      await dropRedisPrefix(redisUrl, await redisPrefixOf(writer.sql), pino({ level: 'silent' }))
      // Each process hears of it on its own connection (within the time Redis takes to tell).
      await eventually(() => flushed.length >= 2)
      const asked = await reader.queries.ask(
        getEventDetails,
        { eventId },
        { minPosition: position, maxWaitMs: 300, useCache: false },
      )
      expect(asked.status === 'failed' && asked.error.code).toBe('READ_MODEL_LAGGING')
    })
  })

  it('does not answer from a read during which the flush was heard of, though the read models were applied again by its end', async () => {
    const { flushed, log } = hearingFlushes()
    await withWriterAndReader({ domains: [eventsDomain], log }, async (writer, reader) => {
      const eventId = await newEvent(writer)
      const position = await register(writer, eventId)
      expect(await confirmed(reader, eventId, position)).toMatchObject({ count: 1 })
      // A read begins (its losses counted), and the store is emptied under it: the read meets it empty.
      const since = reader.projections.losses()
      await dropRedisPrefix(redisUrl, await redisPrefixOf(writer.sql), pino({ level: 'silent' }))
      await eventually(() => flushed.length >= 2)
      // The projector applies the log again, past the position, before the read is judged.
      expect(await confirmed(reader, eventId, position)).toMatchObject({ count: 1 })
      expect(await reader.projections.stillHeld(['event-details'], since)).toBe(false)
      // A read begun after the loss was heard of is judged as before.
      expect(await reader.projections.stillHeld(['event-details'], reader.projections.losses())).toBe(true)
    })
  })

  it('sets the catalog entry of a rebuilt generation again, so the next projector goes on with it', async () => {
    await withWriterAndReader({ domains: [eventsDomain] }, async (writer, reader) => {
      const eventId = await newEvent(writer)
      const position = await register(writer, eventId)
      expect((await writer.projections.rebuild('event-details')).generation).toBe(2)
      const entry = 'tandem:projection:event-details'
      expect(await writer.kv.get(entry)).toContain('"generation":2')
      await dropRedisPrefix(redisUrl, await redisPrefixOf(writer.sql), pino({ level: 'silent' }))
      // The projector applies the log again into generation 2, and names it live again.
      await eventually(async () => (await writer.kv.get(entry))?.includes('"generation":2') === true)
      // Read with X-Min-Position: one that met the store emptied before the reader heard of the flush
      // is read again once the event is applied anew, never answered 404 from the emptied store.
      expect(await confirmed(reader, eventId, position)).toMatchObject({ count: 1 })
      const next = await startTandem({
        config: { ...writer.config, roles: ['projector'] },
        domains: [eventsDomain],
        log: pino({ level: 'silent' }),
      })
      try {
        const status = (await next.projections.status()).find((p) => p.name === 'event-details')
        expect(status?.generation).toBe(2)
      } finally {
        await next.close()
      }
    })
  })
})

/**
 * A command-and-projector process of `domains`, and a query process as a deployment starts it, serving
 * HTTP (the test harness's own waits for its writes would hold a stream's refreshes); `use` gets both
 * and the query process's port, and everything is closed after it.
 */
async function withQueryServer(
  domains: Domain[],
  use: (writer: TestTandem, reader: Tandem, port: number) => Promise<void>,
): Promise<void> {
  const [writer] = (await startTestProcesses('server', [{ roles: ['command', 'projector'] }], {
    domains,
  })) as [TestTandem]
  const reader = await startTandem({
    config: { ...writer.config, roles: ['query'] },
    domains,
    log: pino({ level: 'silent' }),
  })
  const queryApp = await buildServer(reader)
  try {
    await queryApp.listen({ port: 0, host: '127.0.0.1' })
    await use(writer, reader, (queryApp.server.address() as AddressInfo).port)
  } finally {
    await queryApp.close()
    await reader.close()
    await writer.dispose()
  }
}

describe.skipIf(!servicesAvailable)(
  'a live stream of a query process whose KV store came back empty (server mode)',
  () => {
    it('stays open while the read model is applied again: not found then is not gone', () =>
      withQueryServer([eventsDomain], async (writer, reader, port) => {
        const eventId = await newEvent(writer)
        const position = await register(writer, eventId)
        expect(await reader.projections.waitFor(['event-details'], position, patience)).toBe(true)
        const stream = await openStream(
          `http://127.0.0.1:${port}/api/queries/events/get-event-details/stream?eventId=${eventId}`,
        )
        try {
          expect((await stream.next()).event).toBe('answer')
          // Nothing applies the log again: the store stays empty, its read model not caught up.
          await writer.projections.stop()
          await restartRedisEmpty(writer, reader)
          await eventually(() => !reader.projections.caughtUpNow(['event-details']))
          await expect(stream.next(2000)).rejects.toThrow(/No event/)
        } finally {
          stream.close()
        }
      }))

    it('sends no refusal while the read model is applied again: a reader with a profile is not told to make one', () =>
      withQueryServer([feedDomain], async (writer, reader, port) => {
        const [ana, bo] = [
          { id: 'ana', roles: [] },
          { id: 'bo', roles: [] },
        ]
        const run = async (command: AnyCommand, input: object, caller: Caller) => {
          const done = await writer.commands.execute(command, input, { caller })
          if (done.status !== 'succeeded') throw done.error
          return { position: BigInt(done.position ?? '0'), result: done.result as { userId?: string } }
        }
        await run(createUser, { handle: 'ana_r', displayName: 'Ana' }, ana)
        const { result } = await run(createUser, { handle: 'bo_w', displayName: 'Bo' }, bo)
        await run(followUser, { userId: result.userId }, ana)
        const { position } = await run(createPost, { text: 'first' }, bo)
        const home = feedDomain.queries.find((q) => q.name === 'get-my-feed')?.readModels ?? []
        expect(await reader.projections.waitFor(home, position, patience)).toBe(true)
        const stream = await openStream(`http://127.0.0.1:${port}/api/queries/feed/get-my-feed/stream`, {
          authorization: `Bearer ${reader.auth.sign({ sub: ana.id, roles: [] })}`,
        })
        try {
          expect((await stream.next()).event).toBe('item')
          // Nothing applies the log again: ana's profile stays gone from the store, and the loss
          // makes every stream read again (409 PROFILE_REQUIRED, not an answer).
          await writer.projections.stop()
          await restartRedisEmpty(writer, reader)
          await eventually(() => !reader.projections.caughtUpNow(home))
          await expect(stream.next(2000)).rejects.toThrow(/No event/)
          // A stream opened now waits for the answer to return (here it never does, nothing applies
          // the log): once its wait is over, 503 READ_MODEL_LAGGING, not the refusal read from the
          // emptied store (a reader with a profile was told to make one).
          const began = Date.now()
          const opened = await fetch(`http://127.0.0.1:${port}/api/queries/feed/get-my-feed/stream`, {
            headers: {
              authorization: `Bearer ${reader.auth.sign({ sub: ana.id, roles: [] })}`,
              'x-max-wait-ms': '400',
            },
          })
          expect(opened.status).toBe(503)
          expect(((await opened.json()) as { code: string }).code).toBe('READ_MODEL_LAGGING')
          expect(Date.now() - began).toBeGreaterThanOrEqual(400)
        } finally {
          stream.close()
        }
      }))
  },
)

describe.skipIf(!servicesAvailable)('processes started at once on a new database (server mode)', () => {
  it('all start, and place each projection once', async () => {
    // As `docker compose up` starts them: three roles, every domain, nothing migrated yet.
    const scratch = await createScratchDatabase(postgresUrl, 'start')
    const config = {
      ...loadConfig({}),
      databaseUrl: scratch.url,
      redisUrl,
      authSecret: testSecret,
      logLevel: 'silent',
    }
    const started = await Promise.allSettled(
      (['command', 'query', 'projector'] as const).map((role) =>
        startTandem({ config: { ...config, roles: [role] }, log: pino({ level: 'silent' }) }),
      ),
    )
    const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
    try {
      expect(started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []))).toEqual([])
      const [sqlPlaced] = await (running[0] as Tandem).sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM read.projections WHERE live GROUP BY name HAVING count(*) > 1',
      )
      expect(sqlPlaced).toBeUndefined()
    } finally {
      const prefix = running[0] && (await redisPrefixOf(running[0].sql))
      for (const tandem of running) await tandem.close()
      await scratch.drop()
      if (prefix) await dropRedisReadModels(prefix)
    }
  })
})

it.runIf(servicesAvailable)(
  'says a PostgreSQL that refuses the database refused it, naming DATABASE_URL',
  async () => {
    const url = new URL(postgresUrl)
    url.pathname = '/tandem_no_such_database'
    const config = loadConfig({ DATABASE_URL: url.toString() })
    await expect(startTandem({ config, log: pino({ level: 'silent' }) })).rejects.toThrow(
      /^DATABASE_URL \([^)]+\/tandem_no_such_database\) refused: database "tandem_no_such_database" does not exist/,
    )
  },
)

it('refuses to start on a DATA_DIR whose database cannot be opened, naming the setting and the folder', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-pgdata-'))
  try {
    // A file where the database's folder goes (as good as a folder another user owns).
    await writeFile(join(dataDir, 'pgdata'), '')
    const config = loadConfig({ DATA_DIR: dataDir })
    await expect(startTandem({ config, log: pino({ level: 'silent' }) })).rejects.toThrow(
      `DATA_DIR ${dataDir}: the database in its pgdata folder cannot be opened (${join(dataDir, 'pgdata')} is a file)`,
    )
    // Refused, it holds the folder no more.
    await expect(readFile(join(dataDir, 'tandem.lock'))).rejects.toMatchObject({ code: 'ENOENT' })
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
})

it.runIf(servicesAvailable)(
  'says at start that a PostgreSQL which may lose its last commits in a crash needs its read models rebuilt after one',
  { timeout: 60_000 },
  async () => {
    const scratch = await createScratchDatabase(postgresUrl, 'durability', {
      migrations: [...migrationsOf([notesDomain]).write, ...migrationsOf([notesDomain]).read],
    })
    const warnings: string[] = []
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) })
    const start = async () => {
      const tandem = await startTandem({
        config: { ...loadConfig({ DATABASE_URL: scratch.url }), authSecret: testSecret },
        domains: [notesDomain],
        log,
      })
      await tandem.close()
    }
    try {
      await start()
      expect(warnings.filter((w) => w.includes('last commits'))).toEqual([])
      await withClient(scratch.url, (c) =>
        c.query(`ALTER DATABASE ${new URL(scratch.url).pathname.slice(1)} SET synchronous_commit = off`),
      )
      await start()
      const said = warnings.map((w) => JSON.parse(w) as { msg: string; settings?: string[] })
      expect(said.filter((w) => w.msg.includes('last commits'))).toEqual([
        expect.objectContaining({
          settings: ['synchronous_commit=off'],
          msg: 'PostgreSQL may lose its last commits in a crash: after one, rebuild every read model (tandem rebuild <projection>)',
        }),
      ])
    } finally {
      await scratch.drop()
    }
  },
)

it.runIf(servicesAvailable)(
  'starts a process with the command role alone while Redis does not answer, and takes commands',
  async () => {
    const t = await startTestTandem('server', {
      domains: [eventsDomain],
      config: { roles: ['command'], redisUrl: 'redis://127.0.0.1:1/0' },
    })
    try {
      expect((await register(t, await newEvent(t))) > 0n).toBe(true)
    } finally {
      await t.dispose()
    }
  },
)

it('refuses to start on a PostgreSQL that does not answer, naming DATABASE_URL', async () => {
  const config = loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' })
  await expect(startTandem({ config, log: pino({ level: 'silent' }) })).rejects.toThrow(
    /^DATABASE_URL \(127\.0\.0\.1:1\/nowhere\) does not answer/,
  )
})

it.runIf(servicesAvailable)(
  'refuses to start on a read database built from another event log, in either mode',
  { timeout: 60_000 },
  async () => {
    const [first, second, reads] = await Promise.all([
      createScratchDatabase(postgresUrl, 'log_a'),
      createScratchDatabase(postgresUrl, 'log_b'),
      createScratchDatabase(postgresUrl, 'reads'),
    ])
    const dataDir = await mkdtemp(join(tmpdir(), 'tandem-read-owner-'))
    try {
      const on = (env: NodeJS.ProcessEnv) =>
        migrateOnly({ config: loadConfig({ READ_DATABASE_URL: reads.url, DATA_DIR: dataDir, ...env }) })
      await on({ DATABASE_URL: first.url })
      // Again on its own read database: it is this log's.
      await on({ DATABASE_URL: first.url })
      const refusal =
        /^READ_DATABASE_URL holds the read models of another event log \([0-9a-f-]{36}\), not this one's/
      await expect(on({ DATABASE_URL: second.url })).rejects.toThrow(ConfigError)
      await expect(on({ DATABASE_URL: second.url })).rejects.toThrow(refusal)
      // An embedded log (a new DATA_DIR, as after removing ./data) on the same read database.
      await expect(on({})).rejects.toThrow(refusal)
    } finally {
      await Promise.all([first.drop(), second.drop(), reads.drop()])
      await rm(dataDir, { recursive: true, force: true })
    }
  },
)

describe('roles in embedded mode', () => {
  it('are refused: embedded mode is one process', async () => {
    await expect(startTestTandem('embedded', { config: { roles: ['query'] } })).rejects.toThrow(ConfigError)
  })
})
