import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Domain } from '../app/domain.js'
import type { Caller } from '../core/messages.js'
import { createEvent, deleteEvent, registerParticipant } from '../domains/events/commands.js'
import { eventsDomain } from '../domains/events/index.js'
import { getEventDetails, listUpcomingEvents } from '../domains/events/projections/event-details.js'
import { allEvents, EventDeleted } from '../domains/events/messages.js'
import { silentLogger } from '../core/logger.js'
import { createMetrics } from '../core/metrics.js'
import type { StoredEvent } from '../core/envelope.js'
import { appendStatement, compareCheckpoints, origin, type Checkpoint } from '../storage/event-log.js'
import { startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { localWake } from '../transport/wake.js'
import { defineSqlProjection } from './projection.js'
import { positionWaiter } from './read-your-writes.js'
import { createRunner } from './runner.js'

const organizer: Caller = { id: 'organizer', roles: ['organizer'] }
const metadata = { commandId: 'raw', correlationId: 'raw', command: 'test/append' }

/** A promise opened from outside: one transaction's step waits on another's. */
function gate(): { opened: Promise<void>; open(): void } {
  let open: () => void = () => undefined
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open: () => open() }
}

/** A SQL read model for the tests: how many events of each type. It fails once, mid-batch, on request. */
let failOnce = false
const eventCounts = defineSqlProjection({
  domain: 'events',
  name: 'event-counts',
  version: 1,
  events: allEvents,
  tables: ['counts'],
  setup: (t) => `CREATE TABLE IF NOT EXISTS ${t('counts')} (type text PRIMARY KEY, n bigint NOT NULL)`,
  tags: () => ['event-counts'],
  async apply(event, tx, t) {
    tx.write({
      text: `INSERT INTO ${t('counts')} AS c (type, n) VALUES ($1, 1) ON CONFLICT (type) DO UPDATE SET n = c.n + 1`,
      params: [event.type],
    })
    if (failOnce && event.type === 'ParticipantRegistered') {
      failOnce = false
      throw new Error('projection failed mid-batch (injected)')
    }
  },
})
const domain: Domain = { ...eventsDomain, projections: [...eventsDomain.projections, eventCounts] }

describe.each(modes)('projections (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [domain] })
  })
  afterAll(async () => t.dispose())

  async function counts(): Promise<Record<string, number>> {
    const store = t.projections.stores.sql('event-counts')
    const rows = await store.sql.query<{ type: string; n: string }>(
      `SELECT type, n::text FROM ${store.table('counts')}`,
    )
    return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]))
  }

  async function logCounts(): Promise<Record<string, number>> {
    const rows = await t.sql.query<{ type: string; n: string }>(
      'SELECT type, count(*)::text AS n FROM tandem.event_log GROUP BY type',
    )
    return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]))
  }

  async function seed(events: number, registrations: number): Promise<string[]> {
    const ids: string[] = []
    for (let i = 0; i < events; i++) {
      const done = await t.commands.execute(
        createEvent,
        {
          title: `E${i}`,
          startsAt: `2033-01-${String((i % 28) + 1).padStart(2, '0')}T10:00:00Z`,
          endsAt: '2034-01-01T00:00:00Z',
          capacity: 1000,
        },
        { caller: organizer },
      )
      if (done.status === 'failed') throw done.error
      ids.push(done.result.eventId)
    }
    await Promise.all(
      Array.from({ length: registrations }, (_, i) =>
        t.commands.execute(
          registerParticipant,
          { eventId: ids[i % ids.length] },
          { caller: { id: `p${i}`, roles: [] } },
        ),
      ),
    )
    return ids
  }

  it('applies every event exactly once to a SQL read model, even when a batch fails midway', async () => {
    failOnce = true
    await seed(5, 40)
    expect(await t.projections.caughtUp(20_000)).toBe(true)
    expect(failOnce).toBe(false)
    expect(await counts()).toEqual(await logCounts())
  })

  it('catches up a backlog of many batches, each read while the one before is applied: every event once, in order, a failed apply too', async () => {
    await seed(3, 60)
    const [head] = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM tandem.event_log')
    const applied: string[] = []
    let stored: Checkpoint = origin
    let failures = 2
    const runner = createRunner({
      projection: eventCounts,
      generation: 1,
      source: t.sql,
      wake: localWake(),
      log: silentLogger,
      metrics: createMetrics(),
      batchSize: 7,
      target: {
        checkpoint: async () => stored,
        async apply(events: readonly StoredEvent[], from: Checkpoint, to: Checkpoint) {
          if (compareCheckpoints(from, stored) !== 0) return undefined
          // Slower than a read, so that the next read is back first; twice it fails, nothing applied.
          await new Promise((resolve) => setTimeout(resolve, 5))
          if (applied.length > 20 && failures-- > 0) throw new Error('apply failed (injected)')
          applied.push(...events.map((e) => e.position))
          stored = to
          return new Set<string>()
        },
      },
    })
    runner.start()
    try {
      const deadline = Date.now() + 20_000
      while (applied.length < (head?.n ?? 0) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20))
    } finally {
      await runner.stop()
    }
    const positions = await t.sql.query<{ p: string }>(
      'SELECT position::text AS p FROM tandem.event_log ORDER BY tx_id, position',
    )
    expect(failures).toBeLessThanOrEqual(0)
    expect(applied).toEqual(positions.map((r) => r.p))
    // The first catch-up's positions are not kept one by one: a wait finds them by their transaction.
    const [first] = await t.sql.query<{ p: string; tx: string }>(
      'SELECT position::text AS p, tx_id::text AS tx FROM tandem.event_log ORDER BY tx_id, position LIMIT 1',
    )
    expect(runner.hasApplied(first?.p ?? '', first?.tx)).toBe(true)
    expect(await positionWaiter(t.sql).waitFor(() => runner, first?.p ?? '', Date.now() + 5_000)).toBe(true)
  })

  it('answers a read-your-writes query only once the write is applied, and drops stale cache entries', async () => {
    const [eventId] = (await seed(1, 0)) as [string]
    await t.projections.caughtUp()
    const before = await t.queries.ask(getEventDetails, { eventId })
    const cached = await t.queries.ask(getEventDetails, { eventId })
    expect(cached.status === 'succeeded' && cached.cacheHit).toBe(true)
    const registered = await t.commands.execute(
      registerParticipant,
      { eventId },
      { caller: { id: 'ryw', roles: [] } },
    )
    if (registered.status === 'failed') throw registered.error
    const after = await t.queries.ask(
      getEventDetails,
      { eventId },
      { minPosition: BigInt(registered.position ?? '0') },
    )
    if (before.status === 'failed' || after.status === 'failed') throw new Error('query failed')
    expect(after.cacheHit).toBe(false)
    expect(after.data.confirmedCount).toBe(before.data.confirmedCount + 1)
    expect(BigInt(after.readPosition)).toBeGreaterThanOrEqual(BigInt(registered.position ?? '0'))
  })

  it('rebuilds beside the live generation while queries keep answering, then switches', async () => {
    const ids = await seed(30, 60)
    await t.projections.caughtUp()
    const snapshot = async () =>
      Promise.all(
        ids.map(async (eventId) => {
          const r = await t.queries.ask(getEventDetails, { eventId }, { useCache: false })
          if (r.status === 'failed') throw r.error
          return r.data
        }),
      )
    const before = await snapshot()
    const generation = (await t.projections.status()).find((p) => p.name === 'event-details')?.generation ?? 0

    let answered = 0
    let failed = 0
    let rebuilding = true
    const readers = Array.from({ length: 4 }, async () => {
      while (rebuilding) {
        const r = await t.queries.ask(listUpcomingEvents, { limit: 10 }, { useCache: false })
        if (r.status === 'succeeded' && r.data.items.length > 0) answered++
        else failed++
        await new Promise((resolve) => setImmediate(resolve))
      }
    })
    // The new generation is switched to as it caught up: its status never says it is behind, not even
    // before its serving runner's first read.
    // Nor what it says it has applied (X-Read-Position) below what the generation before had.
    const applied = () => BigInt(t.projections.position(['event-details']))
    const appliedBefore = applied()
    const behind: unknown[] = []
    const watcher = (async () => {
      while (rebuilding) {
        const now = (await t.projections.status()).find((p) => p.name === 'event-details')
        if (now && now.generation > generation && !now.caughtUp) behind.push(now)
        if (applied() < appliedBefore) behind.push(`applied ${applied()}`)
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    const rebuilt = await t.projections.rebuild('event-details')
    // The moment it switched, before the new generation's runner has read anything.
    if (applied() < appliedBefore) behind.push(`applied ${applied()} at the switch`)
    rebuilding = false
    await Promise.all([...readers, watcher])
    expect(behind).toEqual([])

    expect(rebuilt.generation).toBe(generation + 1)
    expect(failed).toBe(0)
    expect(answered).toBeGreaterThan(0)
    expect(await snapshot()).toEqual(before)
    const sqlRebuilt = await t.projections.rebuild('event-counts')
    expect(sqlRebuilt.generation).toBeGreaterThan(1)
    expect(await counts()).toEqual(await logCounts())
  })

  it('applies the log again when its store loses what was applied (Redis started again empty)', async () => {
    const [eventId] = (await seed(1, 2)) as [string]
    const confirmed = async () => {
      const r = await t.queries.ask(getEventDetails, { eventId }, { useCache: false })
      return r.status === 'succeeded' ? r.data.confirmedCount : r.error.code
    }
    await expect.poll(confirmed, { timeout: 10_000 }).toBe(2)
    // Every key of the KV read models, checkpoints included, gone while the process runs.
    await t.kv.deletePrefix('')
    // Read between, the store is found emptied or applied again already: the runners are told of
    // the loss at once (the store's key they track is gone), and compare their checkpoints with it.
    expect([2, 'EVENT_NOT_FOUND']).toContain(await confirmed())
    // Nothing new is written: all of it comes from applying the log again.
    await expect.poll(confirmed, { timeout: 10_000 }).toBe(2)
  })

  it('never answers older than before at a switch, while commands go on: the live generation stops, then the new one settles', async () => {
    const [eventId] = (await seed(1, 0)) as [string]
    // Applied before the reads below begin (they ask for no position).
    expect((await t.queries.ask(getEventDetails, { eventId })).status).toBe('succeeded')
    let writing = true
    let n = 0
    // Within the event's capacity of 1,000: each one confirmed.
    const writers = Array.from({ length: 8 }, async () => {
      while (writing && n < 900) {
        const done = await t.commands.execute(
          registerParticipant,
          { eventId },
          { caller: { id: `switch-${n++}`, roles: [] } },
        )
        if (done.status === 'failed') throw done.error
      }
    })
    // Read as a live stream reads: again at each invalidation, the switch's clearing of the cache
    // included, each count at least the one read before it (nothing is cancelled).
    const counts: Promise<number>[] = []
    const read = async () => {
      // Position 0: as a stream's refresh asks, not for the test's own last write (the harness's way).
      const r = await t.queries.ask(getEventDetails, { eventId }, { useCache: false, minPosition: 0n })
      if (r.status === 'failed') throw r.error
      return r.data.confirmedCount
    }
    const off = t.cache.onInvalidate(() => counts.push(read()))
    try {
      for (let round = 0; round < 4; round++) await t.projections.rebuild('event-details')
    } finally {
      writing = false
      await Promise.all(writers)
      off()
    }
    const fell: string[] = []
    let last = 0
    for (const count of await Promise.all(counts)) {
      if (count < last) fell.push(`${last} → ${count}`)
      last = Math.max(last, count)
    }
    expect(fell).toEqual([])
    expect(n).toBeGreaterThan(0)
  })

  it('keeps applying new events after a rebuild', async () => {
    const [eventId] = (await seed(1, 3)) as [string]
    const registered = await t.commands.execute(
      registerParticipant,
      { eventId },
      { caller: { id: 'late', roles: [] } },
    )
    if (registered.status === 'failed') throw registered.error
    const r = await t.queries.ask(
      getEventDetails,
      { eventId },
      { minPosition: BigInt(registered.position ?? '0') },
    )
    if (r.status === 'failed') throw r.error
    expect(r.data.confirmedCount).toBe(4)
  })
})

/** A read model of one rare event type: commits of other types do not wake its runner. */
const deletions = defineSqlProjection({
  domain: 'events',
  name: 'event-deletions',
  version: 1,
  events: [EventDeleted],
  tables: ['deleted'],
  setup: (t) => `CREATE TABLE IF NOT EXISTS ${t('deleted')} (event_id text PRIMARY KEY)`,
  tags: () => ['event-deletions'],
  apply(event, tx, t) {
    tx.write({ text: `INSERT INTO ${t('deleted')} (event_id) VALUES ($1)`, params: [event.data.eventId] })
    return Promise.resolve()
  },
})

describe.each(modes)('projections woken by the types they read (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    // No poll within the test: only a commit of its types, or a reader waiting on it, makes it read.
    t = await startTestTandem(mode, {
      domains: [{ ...eventsDomain, projections: [...eventsDomain.projections, deletions] }],
      pollMs: 600_000,
    })
  })
  afterAll(async () => t.dispose())

  const create = async () => {
    const done = await t.commands.execute(
      createEvent,
      { title: 'Woken', startsAt: '2033-02-01T10:00:00Z', endsAt: '2033-02-01T12:00:00Z', capacity: 5 },
      { caller: organizer },
    )
    if (done.status === 'failed') throw done.error
    return done
  }

  it('applies a commit of its types at once, without a poll', async () => {
    const { result } = await create()
    const deleted = await t.commands.execute(deleteEvent, { eventId: result.eventId }, { caller: organizer })
    if (deleted.status === 'failed') throw deleted.error
    // Status reads the runner without asking it to read: only the commit's wake-up can have moved it.
    const applied = async () =>
      (await t.projections.status()).find((p) => p.name === 'event-deletions')?.position === deleted.position
    const deadline = Date.now() + 20_000
    while (!(await applied()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(await applied()).toBe(true)
  })

  it('answers read-your-writes on a position of other types: the waiting reader asks it to read', async () => {
    const created = await create()
    // EventCreated does not wake event-deletions; without being asked it would read at its next poll.
    expect(await t.projections.waitFor(['event-deletions'], BigInt(created.position ?? '0'), 20_000)).toBe(
      true,
    )
  })

  it('moves the checkpoint of a projection whose events do not come once the log is far past it, and still applies them when they do', async () => {
    // A log of its own, with no deletion in it yet.
    const own = await startTestTandem(mode, { domains: [eventsDomain] })
    try {
      const created = await own.commands.execute(
        createEvent,
        { title: 'Kept', startsAt: '2033-02-01T10:00:00Z', endsAt: '2033-02-02T00:00:00Z', capacity: 100 },
        { caller: organizer },
      )
      if (created.status === 'failed') throw created.error
      const { eventId } = created.result
      for (let i = 0; i < 8; i++)
        await own.commands.execute(registerParticipant, { eventId }, { caller: { id: `m${i}`, roles: [] } })
      const [last] = await own.sql.query<Checkpoint>(
        'SELECT tx_id::text AS "txId", position::text AS position FROM tandem.event_log ORDER BY tx_id DESC, position DESC LIMIT 1',
      )
      const applied: string[] = []
      let stored: Checkpoint = origin
      let writes = 0
      const target = {
        checkpoint: async () => stored,
        async apply(events: readonly StoredEvent[], from: Checkpoint, to: Checkpoint) {
          if (compareCheckpoints(from, stored) !== 0) return undefined
          writes++
          applied.push(...events.map((e) => e.position))
          stored = to
          return new Set<string>()
        },
      }
      const deletions = { ...eventCounts, name: 'deletions', events: [EventDeleted.type] }
      const start = (persistAfter: number) => {
        const runner = createRunner({
          projection: deletions,
          generation: 1,
          target,
          source: own.sql,
          wake: localWake(),
          log: silentLogger,
          metrics: createMetrics(),
          persistAfter,
          lingerMs: 0,
        })
        runner.start()
        return runner
      }
      const until = async (done: () => boolean) => {
        const deadline = Date.now() + 10_000
        while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
      }
      // Nearer than its bound, the log leaves the stored checkpoint where it was: no write per commit.
      let runner = start(1_000_000)
      await until(() => runner.caughtUp)
      await runner.stop()
      expect([stored, writes]).toEqual([origin, 0])
      // Past it, the checkpoint moves to the log's last event: a start reads on from there. (A read
      // that meets a transaction still open, of any database on the server, stops short of it: the
      // move may come in steps, and a bound of 5 could leave the last step, nearer than 5, unwritten.)
      runner = start(1)
      await until(() => compareCheckpoints(stored, last as Checkpoint) === 0)
      await runner.stop()
      expect(stored).toEqual(last)
      expect(applied).toEqual([])
      // Its events still apply, once, after a start from the moved checkpoint.
      const deleted = await own.commands.execute(deleteEvent, { eventId }, { caller: organizer })
      if (deleted.status === 'failed') throw deleted.error
      runner = start(5)
      await until(() => applied.length > 0)
      await runner.stop()
      expect(applied).toEqual([deleted.position])
    } finally {
      await own.dispose()
    }
  })

  // Two transactions at once: PGlite runs one at a time.
  it.runIf(mode === 'server')(
    'is caught up only once it has read the newest transaction, whose event may sit below the highest position',
    async () => {
      const deletion = () => {
        const eventId = randomUUID()
        const event = { type: EventDeleted.type, data: { eventId, deletedAt: new Date().toISOString() } }
        return {
          eventId,
          append: appendStatement({ id: `raw-${eventId}`, expectedVersion: 0 }, [event], metadata),
        }
      }
      const [older, newer] = [deletion(), deletion()]
      const [olderHasId, newerAppended, olderCommitted] = [gate(), gate(), gate()]
      // The older transaction takes its id first and appends last: its event has the highest position.
      const olderDone = t.sql.transaction(async (tx) => {
        await tx.query('SELECT pg_current_xact_id()')
        olderHasId.open()
        await newerAppended.opened
        const [row] = await tx.query<{ position: string }>(older.append.text, older.append.params)
        return row?.position ?? ''
      })
      const newerDone = t.sql.transaction(async (tx) => {
        await olderHasId.opened
        await tx.query('SELECT pg_current_xact_id()')
        await tx.query(newer.append.text, newer.append.params)
        newerAppended.open()
        await olderCommitted.opened
      })
      const highest = await olderDone
      // Read while the newer transaction runs: the older one's event is applied, the newer one's held.
      expect(await t.projections.waitFor(['event-deletions'], BigInt(highest), 20_000)).toBe(true)
      olderCommitted.open()
      await newerDone
      expect(await t.projections.caughtUp(20_000)).toBe(true)
      const store = t.projections.stores.sql('event-deletions')
      const rows = await store.sql.query<{ event_id: string }>(
        `SELECT event_id FROM ${store.table('deleted')} WHERE event_id = ANY($1::text[])`,
        [[older.eventId, newer.eventId]],
      )
      expect(rows.map((r) => r.event_id).sort()).toEqual([older.eventId, newer.eventId].sort())
    },
  )

  it('is not behind once it has read past the head, though its checkpoint is at its last own event', async () => {
    const created = await create()
    await t.projections.waitFor(['event-deletions'], BigInt(created.position ?? '0'), 20_000)
    const status = (await t.projections.status()).find((p) => p.name === 'event-deletions')
    expect(BigInt(status?.position ?? '0')).toBeLessThan(BigInt(created.position ?? '0'))
    expect(status?.behind).toBe(0)
  })
})
