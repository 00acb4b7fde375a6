import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { isUnavailable, modes, startTestTandem, type TestTandem } from '../../kernel/testing.js'
import { cancelRegistration, createEvent, registerParticipant, updateEvent } from './commands.js'
import { getEventDetails } from './projections/event-details.js'

const organizer: Caller = { id: 'organizer', roles: ['organizer'] }
const person = (id: string): Caller => ({ id, roles: [] })
/** The same UUID with every other letter in upper case. */
const mixedCase = (id: string) => id.replace(/./g, (c, i: number) => (i % 2 ? c.toUpperCase() : c))

describe.each(modes)('event registration under concurrency (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode)
  })
  afterAll(async () => t.dispose())

  async function newEvent(capacity: number): Promise<string> {
    const done = await t.commands.execute(
      createEvent,
      { title: 'Race', startsAt: '2032-05-01T10:00:00Z', endsAt: '2032-05-01T12:00:00Z', capacity },
      { caller: organizer },
    )
    if (done.status === 'failed') throw done.error
    return done.result.eventId
  }

  /** The write model's own view, straight from its tables. */
  async function writeModel(eventId: string) {
    const [event] = await t.sql.query<{ confirmed: number; waitlisted: number; capacity: number }>(
      'SELECT confirmed_count AS confirmed, waitlist_count AS waitlisted, capacity FROM events.event WHERE event_id = $1',
      [eventId],
    )
    const rows = await t.sql.query<{ participant: string; status: string; seq: number }>(
      `SELECT participant_id AS participant, status, seq::int AS seq FROM events.registration WHERE event_id = $1 ORDER BY seq`,
      [eventId],
    )
    return { event, rows }
  }

  async function readModel(eventId: string) {
    await t.projections.caughtUp()
    const details = await t.queries.ask(getEventDetails, { eventId }, { useCache: false })
    if (details.status === 'failed') throw details.error
    return details.data
  }

  it('confirms exactly the capacity when 500 people register for 100 seats at once', async () => {
    const eventId = await newEvent(100)
    const outcomes = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        t.commands.execute(registerParticipant, { eventId }, { caller: person(`racer-${i}`) }),
      ),
    )
    const succeeded = outcomes.filter((o) => o.status === 'succeeded')
    const refused = outcomes.flatMap((o) => (o.status === 'failed' ? [o.error.code] : []))
    expect(succeeded).toHaveLength(100)
    expect(new Set(refused)).toEqual(new Set(['EVENT_FULL']))
    const { event, rows } = await writeModel(eventId)
    expect(event?.confirmed).toBe(100)
    expect(rows.filter((r) => r.status === 'confirmed')).toHaveLength(100)
    const details = await readModel(eventId)
    expect(details.confirmedCount).toBe(100)
    expect(details.remainingSeats).toBe(0)
  })

  it('confirms exactly the capacity when 200 register for 20 seats at once, the id spelt in mixed cases', async () => {
    const eventId = await newEvent(20)
    const spellings = [eventId, eventId.toUpperCase(), mixedCase(eventId)]
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        t.commands.execute(
          registerParticipant,
          { eventId: spellings[i % 3], waitlist: true },
          { caller: person(`mixed-${i}`) },
        ),
      ),
    )
    const results = outcomes.map((o) => (o.status === 'succeeded' ? o.result.status : o.error.code))
    expect(results.filter((r) => r === 'confirmed')).toHaveLength(20)
    expect(results.filter((r) => r === 'waitlisted')).toHaveLength(180)
    const { event, rows } = await writeModel(eventId)
    expect(event).toMatchObject({ confirmed: 20, waitlisted: 180 })
    expect(rows.filter((r) => r.status === 'confirmed')).toHaveLength(20)
    const [log] = await t.sql.query<{ streams: string[] }>(
      `SELECT array_agg(DISTINCT stream_id) AS streams FROM tandem.event_log WHERE lower(stream_id) = $1`,
      [`event-${eventId}`],
    )
    expect(log?.streams).toEqual([`event-${eventId}`])
    const details = await readModel(eventId.toUpperCase())
    expect(details).toMatchObject({ eventId, confirmedCount: 20, waitlistCount: 180, remainingSeats: 0 })
  })

  it('lets exactly one of 50 identical registrations through', async () => {
    const eventId = await newEvent(10)
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        t.commands.execute(registerParticipant, { eventId }, { caller: person('twin') }),
      ),
    )
    expect(outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(1)
    const refused = outcomes.flatMap((o) => (o.status === 'failed' ? [o.error.code] : []))
    expect(refused).toEqual(Array.from({ length: 49 }, () => 'ALREADY_REGISTERED'))
    expect((await writeModel(eventId)).rows).toHaveLength(1)
  })

  it('serves the waitlist first come, first served while seats free up concurrently', async () => {
    const eventId = await newEvent(20)
    for (let i = 0; i < 20; i++) {
      const done = await t.commands.execute(registerParticipant, { eventId }, { caller: person(`seat-${i}`) })
      expect(done.status).toBe('succeeded')
    }
    // Thirty join the waitlist concurrently: their order of arrival is whatever the database serialized.
    const joined = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        t.commands.execute(registerParticipant, { eventId, waitlist: true }, { caller: person(`wait-${i}`) }),
      ),
    )
    expect(joined.every((o) => o.status === 'succeeded' && o.result.status === 'waitlisted')).toBe(true)
    const queue = (await writeModel(eventId)).rows
      .filter((r) => r.status === 'waitlisted')
      .map((r) => r.participant)
    expect(queue).toHaveLength(30)

    // Twelve seat holders cancel at once, and the capacity is raised by 3 at the same time.
    const cancellations = Array.from({ length: 12 }, (_, i) =>
      t.commands.execute(cancelRegistration, { eventId }, { caller: person(`seat-${i}`) }),
    )
    const raise = t.commands.execute(updateEvent, { eventId, capacity: 23 }, { caller: organizer })
    const outcomes = await Promise.all([...cancellations, raise])
    expect(outcomes.every((o) => o.status === 'succeeded')).toBe(true)

    const { event, rows } = await writeModel(eventId)
    const promoted = rows
      .filter((r) => r.participant.startsWith('wait-') && r.status === 'confirmed')
      .map((r) => r.participant)
    expect(promoted).toEqual(queue.slice(0, 15))
    expect(rows.filter((r) => r.status === 'waitlisted').map((r) => r.participant)).toEqual(queue.slice(15))
    expect(event).toEqual({ confirmed: 23, waitlisted: 15, capacity: 23 })
    const details = await readModel(eventId)
    expect([details.confirmedCount, details.waitlistCount, details.remainingSeats]).toEqual([23, 15, 0])
  })

  it('never double-registers when a client retries with the same idempotency key in parallel', async () => {
    const eventId = await newEvent(5)
    const attempts = await Promise.all(
      Array.from({ length: 20 }, () =>
        t.commands.execute(
          registerParticipant,
          { eventId },
          { caller: person('retrier'), idempotencyKey: 'retry-1' },
        ),
      ),
    )
    const succeeded = attempts.flatMap((o) => (o.status === 'succeeded' ? [o] : []))
    const busy = attempts.flatMap((o) => (o.status === 'failed' ? [o.error.code] : []))
    expect(new Set(busy).size).toBeLessThanOrEqual(1)
    if (busy.length > 0) expect(busy[0]).toBe('IDEMPOTENCY_IN_PROGRESS')
    expect(new Set(succeeded.map((o) => o.result.registrationId)).size).toBe(1)
    expect(succeeded.filter((o) => !o.replayed)).toHaveLength(1)
    expect((await writeModel(eventId)).rows).toHaveLength(1)
  })

  // PGlite runs in this process: there is no connection to cut.
  it.runIf(mode === 'server')(
    'loses and doubles nothing, and keeps serving, while the database cuts its connections',
    async () => {
      const eventIds = await Promise.all([newEvent(2000), newEvent(2000), newEvent(2000)])
      const cut = () =>
        t.sql
          .query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'tandem' AND pid <> pg_backend_pid()`,
          )
          .catch(() => undefined) // its own connection may have been cut the round before
      const acknowledged: string[] = []
      const unknown: unknown[] = []
      for (let round = 0; round < 100 && (round < 20 || unknown.length === 0); round++) {
        const sent = Array.from({ length: 15 }, (_, i) => {
          const participant = `cut-${round}-${i}`
          const eventId = eventIds[i % eventIds.length] ?? ''
          return t.commands
            .execute(registerParticipant, { eventId }, { caller: person(participant) })
            .then((done) => {
              if (done.status === 'succeeded') acknowledged.push(participant)
              else throw done.error
            })
            .catch((error: unknown) => void unknown.push(error))
        })
        if (round % 2 === 1) await new Promise((resolve) => setImmediate(resolve)).then(cut)
        await Promise.all(sent)
      }
      expect(unknown.length).toBeGreaterThan(0) // the cuts did land
      // A command cut off may have committed or not: it fails as unavailable (503), never as a
      // refusal or an internal error.
      for (const error of unknown) expect(isUnavailable(error), String(error)).toBe(true)
      let confirmed = 0
      for (const eventId of eventIds) {
        const { event, rows } = await writeModel(eventId)
        expect(event?.confirmed).toBe(rows.filter((r) => r.status === 'confirmed').length)
        expect(new Set(rows.map((r) => r.participant)).size).toBe(rows.length) // none twice
        expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1)) // no gap, no double
        const read = await readModel(eventId)
        expect(read.confirmedCount).toBe(event?.confirmed)
        confirmed += event?.confirmed ?? 0
      }
      const recorded = new Set<string>()
      for (const eventId of eventIds)
        for (const row of (await writeModel(eventId)).rows) recorded.add(row.participant)
      expect(acknowledged.filter((p) => !recorded.has(p))).toEqual([]) // none acknowledged and lost
      const [log] = await t.sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tandem.event_log
         WHERE type = 'ParticipantRegistered' AND stream_id = ANY($1::text[])`,
        [eventIds.map((id) => `event-${id}`)],
      )
      expect(log?.n).toBe(confirmed)
      // And it serves on.
      const after = await t.commands.execute(
        registerParticipant,
        { eventId: eventIds[0] },
        { caller: person('after') },
      )
      expect(after.status).toBe('succeeded')
    },
  )
})
