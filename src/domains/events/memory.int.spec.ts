import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnyCommand, Caller, CommandBus } from '../../kernel/index.js'
import {
  commandProcess,
  modes,
  startTestTandem,
  type StreamMemory,
  type TestTandem,
} from '../../kernel/testing.js'
import { cancelRegistration, createEvent, deleteEvent, registerParticipant, updateEvent } from './commands.js'
import { loadEvent } from './write-model.js'

const organizer: Caller = { id: 'organizer', roles: ['organizer'] }
const person = (id: string): Caller => ({ id, roles: [] })

/**
 * What commands keep of an event between them (core/stream-memory.ts). Two "processes" are two
 * command buses on one database, each with its own memory: what one does, the other's memory
 * does not know.
 */
describe.each(modes)('the stream memory of event commands (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode)
  })
  afterAll(async () => t.dispose())

  /** A command process of its own, counting the event rows it reads (and locks). */
  const process = () => commandProcess(t, 'FROM events.event')

  async function run(bus: CommandBus, command: AnyCommand, input: object, caller: Caller) {
    const done = await bus.execute(`${command.domain}/${command.name}`, input, { caller })
    return done.status === 'succeeded' ? 'ok' : done.error.code
  }

  async function newEvent(bus: CommandBus, capacity: number): Promise<string> {
    const done = await bus.execute(
      createEvent,
      { title: 'Kept', startsAt: '2033-03-01T10:00:00+09:00', endsAt: '2033-03-01T12:00:00Z', capacity },
      { caller: organizer },
    )
    if (done.status === 'failed') throw done.error
    return done.result.eventId
  }

  async function kept(memory: StreamMemory, eventId: string) {
    const turn = await memory.take(`event-${eventId}`)
    turn.release()
    return turn.kept
  }

  it('keeps, after every command, the row a read would find', async () => {
    const a = process()
    const eventId = await newEvent(a.bus, 2)
    const expectKeptIsRead = async () =>
      expect(await kept(a.memory, eventId)).toEqual(await loadEvent(t.sql, eventId))
    await expectKeptIsRead()
    for (const [command, input, caller] of [
      [registerParticipant, { eventId }, person('p1')],
      [registerParticipant, { eventId }, person('p2')],
      [registerParticipant, { eventId, waitlist: true }, person('p3')],
      [
        updateEvent,
        { eventId, title: 'Renamed', venue: 'Hall', startsAt: '2033-03-01T09:00:00+09:00' },
        organizer,
      ],
      [cancelRegistration, { eventId }, person('p1')],
      [updateEvent, { eventId, capacity: 3 }, organizer],
      [deleteEvent, { eventId }, organizer],
    ] as const) {
      expect(await run(a.bus, command, input, caller)).toBe('ok')
      await expectKeptIsRead()
    }
  })

  it('decides a registration on a kept event without reading it', async () => {
    const a = process()
    const eventId = await newEvent(a.bus, 5)
    a.counted.reads = 0
    expect(await run(a.bus, registerParticipant, { eventId }, person('fast'))).toBe('ok')
    expect(a.counted.reads).toBe(0)
    expect(a.recalls).toEqual(['absent', 'recalled'])
    // Someone already registered: the index refuses the insert, and the command runs again, reading.
    expect(await run(a.bus, registerParticipant, { eventId }, person('fast'))).toBe('ALREADY_REGISTERED')
    expect(a.counted.reads).toBe(1)
  })

  it('commits registrations decided at once on kept events as one transaction, refusals apart', async () => {
    const a = process()
    const eventIds = await Promise.all(Array.from({ length: 8 }, () => newEvent(a.bus, 5)))
    await run(a.bus, registerParticipant, { eventId: eventIds[3] }, person('twice'))
    a.counted.reads = 0
    const outcomes = await Promise.all(
      eventIds.map((eventId, i) =>
        run(a.bus, registerParticipant, { eventId }, person(i === 3 ? 'twice' : `group-${i}`)),
      ),
    )
    // The duplicate fails the group; each is sent again alone, and the duplicate is read and refused.
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ALREADY_REGISTERED', 'ok', 'ok', 'ok', 'ok'])
    expect(a.counted.reads).toBe(1)
    // The seven kept events again: their registrations go in one transaction. (The refused one
    // read its event, and a refusal keeps nothing: it would read again.)
    const kept = eventIds.filter((_, i) => i !== 3)
    const again = await Promise.all(
      kept.map((eventId, i) => run(a.bus, registerParticipant, { eventId }, person(`again-${i}`))),
    )
    expect(again.every((o) => o === 'ok')).toBe(true)
    const transactions = await t.sql.query<{ tx: string }>(
      `SELECT DISTINCT tx_id::text AS tx FROM tandem.event_log
       WHERE stream_id = ANY($1::text[]) AND data->>'participantId' LIKE 'again-%'`,
      [kept.map((id) => `event-${id}`)],
    )
    expect(transactions).toHaveLength(1)
    const registered = await t.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events.registration WHERE event_id = ANY($1::uuid[])`,
      [eventIds],
    )
    expect(registered[0]?.n).toBe(1 + 7 + 7)
  })

  it('cannot overbook on what another process changed since', async () => {
    const [a, b] = [process(), process()]
    const eventId = await newEvent(a.bus, 2)
    expect(await run(a.bus, registerParticipant, { eventId }, person('first'))).toBe('ok')
    // b takes the last seat; a still remembers one seat free.
    expect(await run(b.bus, registerParticipant, { eventId }, person('second'))).toBe('ok')
    a.counted.reads = 0
    a.recalls.length = 0
    expect(await run(a.bus, registerParticipant, { eventId }, person('third'))).toBe('EVENT_FULL')
    expect(a.counted.reads).toBe(1)
    expect(a.recalls).toEqual(['recalled', 'refused', 'absent'])
    const rows = await t.sql.query<{ status: string }>(
      'SELECT status FROM events.registration WHERE event_id = $1',
      [eventId],
    )
    expect(rows.map((r) => r.status)).toEqual(['confirmed', 'confirmed'])
    expect(await loadEvent(t.sql, eventId)).toMatchObject({ confirmedCount: 2, version: 3 })
  })

  it('does not refuse on what another process changed since', async () => {
    const [a, b] = [process(), process()]
    const eventId = await newEvent(a.bus, 1)
    expect(await run(a.bus, registerParticipant, { eventId }, person('holder'))).toBe('ok')
    // b frees the seat; a still remembers the event full.
    expect(await run(b.bus, cancelRegistration, { eventId }, person('holder'))).toBe('ok')
    expect(await run(a.bus, registerParticipant, { eventId }, person('late'))).toBe('ok')
  })

  it('does not register for an event another process deleted since', async () => {
    const [a, b] = [process(), process()]
    const eventId = await newEvent(a.bus, 3)
    expect(await run(b.bus, deleteEvent, { eventId }, organizer)).toBe('ok')
    expect(await run(a.bus, registerParticipant, { eventId }, person('late'))).toBe('EVENT_NOT_FOUND')
    const rows = await t.sql.query('SELECT 1 FROM events.registration WHERE event_id = $1', [eventId])
    expect(rows).toHaveLength(0)
  })

  it('keeps the seats and the order of arrival when two processes register at once', async () => {
    const [a, b] = [process(), process()]
    const eventId = await newEvent(a.bus, 30)
    await run(b.bus, registerParticipant, { eventId }, person('warm-b')) // b remembers the event too
    const outcomes = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        run(
          i % 2 ? a.bus : b.bus,
          registerParticipant,
          { eventId, waitlist: i % 4 < 2 },
          person(`racer-${i}`),
        ),
      ),
    )
    const rows = await t.sql.query<{ status: string; seq: number }>(
      'SELECT status, seq::int AS seq FROM events.registration WHERE event_id = $1 ORDER BY seq',
      [eventId],
    )
    const confirmed = rows.filter((r) => r.status === 'confirmed')
    const waitlisted = rows.filter((r) => r.status === 'waitlisted')
    expect(confirmed).toHaveLength(30)
    expect(new Set(rows.map((r) => r.seq)).size).toBe(rows.length)
    // The seats went to the first to arrive; everyone after them waits, or was refused.
    expect(rows.slice(0, 30).every((r) => r.status === 'confirmed')).toBe(true)
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(rows.length - 1)
    expect(new Set(outcomes.filter((o) => o !== 'ok'))).toEqual(new Set(['EVENT_FULL']))
    expect(await loadEvent(t.sql, eventId)).toMatchObject({
      confirmedCount: 30,
      waitlistCount: waitlisted.length,
      nextSeq: rows.length + 1,
    })
  })

  // PGlite has one connection, which a transaction holds throughout: nothing to share out.
  it.runIf(mode === 'server')('keeps no connection for commands waiting on a busy event', async () => {
    const small = await startTestTandem(mode, { config: { databasePoolSize: 2 } })
    try {
      const create = async () => {
        const done = await small.commands.execute(
          createEvent,
          { title: 'Pool', startsAt: '2033-04-01T10:00:00Z', endsAt: '2033-04-01T12:00:00Z', capacity: 100 },
          { caller: organizer },
        )
        if (done.status === 'failed') throw done.error
        return done.result.eventId
      }
      const [hot, other] = [await create(), await create()]
      const finished: string[] = []
      const register = (eventId: string, who: string) =>
        small.commands.execute(registerParticipant, { eventId }, { caller: person(who) }).then((done) => {
          expect(done.status).toBe('succeeded')
          finished.push(who)
        })
      const crowd = Array.from({ length: 30 }, (_, i) => register(hot, `hot-${i}`))
      await Promise.all([...crowd, register(other, 'other')])
      // Thirty commands queued for the hot event leave the two connections free for the other one.
      expect(finished.indexOf('other')).toBeLessThan(5)
    } finally {
      await small.dispose()
    }
  })
})
