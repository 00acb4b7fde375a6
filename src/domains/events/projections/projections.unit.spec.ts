import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Caller } from '../../../kernel/index.js'
import { origin, projectionSpec, type ReadModel } from '../../../kernel/testing.js'
import {
  EventCreated,
  EventDeleted,
  EventUpdated,
  ParticipantRegistered,
  ParticipantWaitlisted,
  RegistrationCancelled,
  WaitlistedParticipantConfirmed,
} from '../messages.js'
import { eventDetailsProjection, getEventDetails, listUpcomingEvents } from './event-details.js'
import { listMyRegistrations, registrationsProjection } from './registrations.js'

// The clock the upcoming listing reads; every event below starts after it unless a test says otherwise.
const now = new Date('2031-01-01T00:00:00.000Z')
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(now)
})
afterEach(() => {
  vi.useRealTimers()
})

const ann: Caller = { id: 'ann', roles: [] }
const bob: Caller = { id: 'bob', roles: [] }
const ada: Caller = { id: 'ada', roles: ['admin'] }

const uuid = (n: number) => `0190a0d0-0000-7000-8000-${String(n).padStart(12, '0')}`
const day = (d: number, hour = 18) =>
  `2031-02-${String(d).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00.000Z`

// Events, as the deciders record them.

function created(eventId: string, o: { startsAt?: string; capacity?: number; title?: string } = {}) {
  const startsAt = o.startsAt ?? day(10)
  return EventCreated.create({
    eventId,
    organizerId: 'olga',
    title: o.title ?? `Event ${eventId.slice(-2)}`,
    description: null,
    venue: 'Hall A',
    startsAt,
    endsAt: new Date(Date.parse(startsAt) + 3_600_000).toISOString(),
    capacity: o.capacity ?? 2,
    createdAt: '2030-12-01T00:00:00.000Z',
  })
}
const registration = (registrationId: string, eventId: string, participantId: string, seq: number) => ({
  registrationId,
  eventId,
  participantId,
  name: null,
  email: null,
  seq,
  registeredAt: `2030-12-${String(seq).padStart(2, '0')}T10:00:00.000Z`,
})
const registered = (...args: Parameters<typeof registration>) =>
  ParticipantRegistered.create(registration(...args))
const waitlisted = (...args: Parameters<typeof registration>) =>
  ParticipantWaitlisted.create(registration(...args))
const cancelled = (
  registrationId: string,
  eventId: string,
  participantId: string,
  previousStatus: 'confirmed' | 'waitlisted',
) =>
  RegistrationCancelled.create({
    registrationId,
    eventId,
    participantId,
    previousStatus,
    cancelledAt: '2030-12-20T00:00:00.000Z',
  })
const promoted = (registrationId: string, eventId: string, participantId: string) =>
  WaitlistedParticipantConfirmed.create({
    registrationId,
    eventId,
    participantId,
    confirmedAt: '2030-12-20T00:00:00.000Z',
  })
const deleted = (eventId: string) => EventDeleted.create({ eventId, deletedAt: '2030-12-21T00:00:00.000Z' })

/**
 * Both read models, built from the given events through the real KV targets (memory KV: a unit
 * spec), read by their queries. Each `given` starts from empty read models.
 */
const given = projectionSpec('embedded', [eventDetailsProjection, registrationsProjection])

const details = (m: ReadModel, eventId: string) => m.ask(getEventDetails, { eventId })
const upcoming = (m: ReadModel, q: Parameters<typeof listUpcomingEvents.handle>[0] = {}) =>
  m.ask(listUpcomingEvents, q)
const registrations = (
  m: ReadModel,
  caller: Caller,
  q: Parameters<typeof listMyRegistrations.handle>[0] = {},
) => m.ask(listMyRegistrations, q, caller)
const upcomingIds = async (m: ReadModel, q: Parameters<typeof upcoming>[1] = {}) =>
  (await upcoming(m, q)).items.map((e) => e.eventId)

/** Every page of a listing, following cursors. */
async function allPages<T>(
  page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>,
) {
  const items: T[] = []
  let cursor: string | undefined
  for (let pages = 0; pages < 50; pages++) {
    const answer = await page(cursor)
    items.push(...answer.items)
    if (answer.nextCursor === null) return items
    cursor = answer.nextCursor
  }
  throw new Error('The cursors never end')
}

const e1 = uuid(1)
const e2 = uuid(2)

describe('event details', () => {
  it('shows a new event with all its seats free', async () => {
    const m = await given(created(e1, { capacity: 3, title: 'Meetup', startsAt: day(10) }))
    expect(await details(m, e1)).toEqual({
      eventId: e1,
      title: 'Meetup',
      description: null,
      venue: 'Hall A',
      startsAt: day(10),
      endsAt: day(10, 19),
      capacity: 3,
      confirmedCount: 0,
      waitlistCount: 0,
      remainingSeats: 3,
      organizerId: 'olga',
      createdAt: '2030-12-01T00:00:00.000Z',
      updatedAt: '2030-12-01T00:00:00.000Z',
    })
  })

  it('counts confirmed and waitlisted people and the seats left, through cancellations and promotions', async () => {
    const m = await given(
      created(e1, { capacity: 2 }),
      registered(uuid(101), e1, 'ann', 1),
      registered(uuid(102), e1, 'bob', 2),
    )
    await m.apply(waitlisted(uuid(103), e1, 'cat', 3), waitlisted(uuid(104), e1, 'dan', 4))
    expect(await details(m, e1)).toMatchObject({ confirmedCount: 2, waitlistCount: 2, remainingSeats: 0 })

    await m.apply(cancelled(uuid(101), e1, 'ann', 'confirmed'), promoted(uuid(103), e1, 'cat'))
    expect(await details(m, e1)).toMatchObject({ confirmedCount: 2, waitlistCount: 1, remainingSeats: 0 })

    await m.apply(cancelled(uuid(104), e1, 'dan', 'waitlisted'))
    expect(await details(m, e1)).toMatchObject({ confirmedCount: 2, waitlistCount: 0, remainingSeats: 0 })

    await m.apply(cancelled(uuid(102), e1, 'bob', 'confirmed'))
    expect(await details(m, e1)).toMatchObject({ confirmedCount: 1, waitlistCount: 0, remainingSeats: 1 })
  })

  it('applies an update: the new capacity changes the seats left', async () => {
    const m = await given(created(e1, { capacity: 2 }), registered(uuid(101), e1, 'ann', 1))
    await m.apply(
      EventUpdated.create({
        eventId: e1,
        changes: { capacity: 5, title: 'Bigger', venue: null },
        updatedAt: '2030-12-15T00:00:00.000Z',
      }),
    )
    expect(await details(m, e1)).toMatchObject({
      capacity: 5,
      title: 'Bigger',
      venue: null,
      confirmedCount: 1,
      remainingSeats: 4,
      updatedAt: '2030-12-15T00:00:00.000Z',
    })
  })

  it('answers EVENT_NOT_FOUND for an event never created, and for a deleted one', async () => {
    const m = await given(created(e1), registered(uuid(101), e1, 'ann', 1), created(e2))
    await m.apply(deleted(e1))
    await expect(details(m, e1)).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND', status: 404 })
    await expect(details(m, uuid(99))).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND', status: 404 })
    expect(await upcomingIds(m)).toEqual([e2])
  })

  it('ignores events about an event it never saw created', async () => {
    const m = await given(registered(uuid(101), e1, 'ann', 1), deleted(e2))
    await expect(details(m, e1)).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' })
    expect(await upcomingIds(m)).toEqual([])
  })
})

describe('upcoming events', () => {
  it('lists by start time, then by id', async () => {
    const m = await given(
      created(uuid(5), { startsAt: day(12) }),
      created(uuid(3), { startsAt: day(10) }),
      created(uuid(4), { startsAt: day(11) }),
      created(uuid(2), { startsAt: day(10) }),
    )
    expect(await upcomingIds(m)).toEqual([uuid(2), uuid(3), uuid(4), uuid(5)])
  })

  it('does not list events that have started', async () => {
    const m = await given(
      created(uuid(1), { startsAt: '2030-12-31T23:00:00.000Z' }),
      created(uuid(2), { startsAt: now.toISOString() }),
      created(uuid(3), { startsAt: '2031-01-01T00:00:00.001Z' }),
    )
    expect(await upcomingIds(m)).toEqual([uuid(3)])
    vi.setSystemTime(new Date('2031-01-01T00:00:01.000Z'))
    expect(await upcomingIds(m)).toEqual([])
  })

  it('moves an event whose start changes', async () => {
    const m = await given(created(e1, { startsAt: day(10) }), created(e2, { startsAt: day(11) }))
    await m.apply(
      EventUpdated.create({
        eventId: e1,
        changes: { startsAt: day(12) },
        updatedAt: '2030-12-15T00:00:00.000Z',
      }),
    )
    expect(await upcomingIds(m)).toEqual([e2, e1])
    expect((await upcoming(m)).items.map((e) => e.startsAt)).toEqual([day(11), day(12)])
  })

  it('keeps one entry per event when its start changes twice within one batch', async () => {
    const moved = (startsAt: string) =>
      EventUpdated.create({ eventId: e1, changes: { startsAt }, updatedAt: '2030-12-15T00:00:00.000Z' })
    const m = await given(
      created(e1, { startsAt: day(10) }),
      created(e2, { startsAt: day(11) }),
      moved(day(12)),
      moved(day(9)),
    )
    expect(await upcomingIds(m)).toEqual([e1, e2])
  })

  it('filters by from and to', async () => {
    const m = await given(...[10, 11, 12, 13, 14].map((d) => created(uuid(d), { startsAt: day(d) })))
    expect(await upcomingIds(m, { from: day(11, 12), to: day(13, 20) })).toEqual([
      uuid(11),
      uuid(12),
      uuid(13),
    ])
    expect(await upcomingIds(m, { from: day(12, 19) })).toEqual([uuid(13), uuid(14)])
    expect(await upcomingIds(m, { to: day(11, 20) })).toEqual([uuid(10), uuid(11)])
    // A `from` in the past does not bring back started events.
    expect(await upcomingIds(m, { from: '2030-01-01T00:00:00.000Z' })).toEqual([10, 11, 12, 13, 14].map(uuid))
  })

  it('pages through every event once, in order, following cursors', async () => {
    const starts = [12, 10, 10, 11, 13, 10, 12]
    const m = await given(...starts.map((d, i) => created(uuid(i + 1), { startsAt: day(d) })))
    const expected = (await upcoming(m, { limit: 100 })).items.map((e) => e.eventId)
    expect(expected).toEqual([uuid(2), uuid(3), uuid(6), uuid(4), uuid(1), uuid(7), uuid(5)])
    for (const limit of [1, 2, 3, 7]) {
      const ids = (await allPages((cursor) => upcoming(m, { limit, cursor }))).map((e) => e.eventId)
      expect(ids).toEqual(expected)
    }
  })

  it('gives no cursor when the page holds the last event', async () => {
    const m = await given(created(uuid(1)), created(uuid(2)), created(uuid(3)))
    expect((await upcoming(m, { limit: 3 })).nextCursor).toBeNull()
    expect((await upcoming(m, { limit: 2 })).nextCursor).not.toBeNull()
  })

  it('neither skips nor repeats when events are added and removed between pages', async () => {
    const m = await given(...[10, 11, 12, 13].map((d) => created(uuid(d), { startsAt: day(d) })))
    const first = await upcoming(m, { limit: 2 })
    expect(first.items.map((e) => e.eventId)).toEqual([uuid(10), uuid(11)])
    // One before the cursor (already passed), one after it; one on the first page goes.
    await m.apply(
      created(uuid(1), { startsAt: day(10, 20) }),
      created(uuid(2), { startsAt: day(12, 20) }),
      deleted(uuid(10)),
    )
    const rest = await allPages((cursor) =>
      upcoming(m, { limit: 2, cursor: cursor ?? first.nextCursor ?? '' }),
    )
    expect(rest.map((e) => e.eventId)).toEqual([uuid(12), uuid(2), uuid(13)])
  })

  it('answers, or refuses with 400, a from or to that the schema accepts: no input is a 500', async () => {
    const m = await given(created(uuid(1), { startsAt: day(10) }))
    const leapSecond = '2031-06-30T23:59:60Z' // valid RFC 3339, but not a time JavaScript's Date can read
    for (const q of [{ from: leapSecond }, { to: leapSecond }]) {
      // The query's own refusal, not the schema's (`ask` checks the input first, as the bus does).
      const outcome = await upcoming(m, q).then(
        () => 'answered',
        (error: unknown) => {
          const { code, errors } = error as { code?: string; errors?: { message: string }[] }
          return `${code ?? String(error)}: ${errors?.[0]?.message ?? ''}`
        },
      )
      expect(['answered', 'VALIDATION_FAILED: is not a time (a leap second is not kept)']).toContain(outcome)
    }
  })

  it('refuses a tampered cursor with 400 VALIDATION_FAILED', async () => {
    const m = await given(created(uuid(1)), created(uuid(2)))
    const { nextCursor } = await upcoming(m, { limit: 1 })
    await expect(upcoming(m, { cursor: `${nextCursor ?? ''}=` })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
    })
  })
})

describe('my registrations', () => {
  const r = (n: number) => uuid(100 + n)
  /** Three events; ann holds a registration in each, registered on seq days 1, 2 and 3. */
  async function annsWeek() {
    const m = await given(
      created(uuid(1), { title: 'One', startsAt: day(10) }),
      created(uuid(2), { title: 'Two', startsAt: day(11) }),
      created(uuid(3), { title: 'Three', startsAt: day(12), capacity: 1 }),
      registered(r(1), uuid(1), 'ann', 1),
      registered(r(2), uuid(2), 'ann', 2),
      registered(r(9), uuid(3), 'bob', 3),
      waitlisted(r(3), uuid(3), 'ann', 4),
    )
    return m
  }

  it('lists the caller’s registrations newest first, with the event’s title and start', async () => {
    const m = await annsWeek()
    expect(await registrations(m, ann)).toEqual({
      items: [
        {
          registrationId: r(3),
          eventId: uuid(3),
          eventTitle: 'Three',
          startsAt: day(12),
          status: 'waitlisted',
          registeredAt: '2030-12-04T10:00:00.000Z',
          waitlistPosition: 1,
        },
        {
          registrationId: r(2),
          eventId: uuid(2),
          eventTitle: 'Two',
          startsAt: day(11),
          status: 'confirmed',
          registeredAt: '2030-12-02T10:00:00.000Z',
        },
        {
          registrationId: r(1),
          eventId: uuid(1),
          eventTitle: 'One',
          startsAt: day(10),
          status: 'confirmed',
          registeredAt: '2030-12-01T10:00:00.000Z',
        },
      ],
      nextCursor: null,
    })
  })

  it('follows the event’s title and start when they change', async () => {
    const m = await annsWeek()
    await m.apply(
      EventUpdated.create({
        eventId: uuid(2),
        changes: { title: 'Two, moved', startsAt: day(20) },
        updatedAt: '2030-12-15T00:00:00.000Z',
      }),
      EventUpdated.create({
        eventId: uuid(1),
        changes: { capacity: 9 },
        updatedAt: '2030-12-15T00:00:00.000Z',
      }),
    )
    const items = (await registrations(m, ann)).items
    expect(items.map((i) => [i.eventTitle, i.startsAt])).toEqual([
      ['Three', day(12)],
      ['Two, moved', day(20)],
      ['One', day(10)],
    ])
  })

  it('filters by status', async () => {
    const m = await annsWeek()
    await m.apply(cancelled(r(1), uuid(1), 'ann', 'confirmed'))
    const ids = async (status: 'confirmed' | 'waitlisted' | 'cancelled') =>
      (await registrations(m, ann, { status })).items.map((i) => [i.registrationId, i.status])
    expect(await ids('confirmed')).toEqual([[r(2), 'confirmed']])
    expect(await ids('waitlisted')).toEqual([[r(3), 'waitlisted']])
    expect(await ids('cancelled')).toEqual([[r(1), 'cancelled']])
    expect((await registrations(m, ann)).items.map((i) => i.status)).toEqual([
      'waitlisted',
      'confirmed',
      'cancelled',
    ])
  })

  it('gives each waitlisted person their place, 1-based, moving up when someone ahead leaves', async () => {
    const m = await given(
      created(e1, { capacity: 1 }),
      registered(r(1), e1, 'zoe', 1),
      waitlisted(r(2), e1, 'ann', 2),
      waitlisted(r(3), e1, 'bob', 3),
      waitlisted(r(4), e1, 'cat', 4),
    )
    const place = async (caller: Caller) => (await registrations(m, caller)).items[0]?.waitlistPosition
    expect(await place(ann)).toBe(1)
    expect(await place(bob)).toBe(2)

    await m.apply(cancelled(r(1), e1, 'zoe', 'confirmed'), promoted(r(2), e1, 'ann'))
    expect((await registrations(m, ann)).items[0]).toMatchObject({ status: 'confirmed' })
    expect((await registrations(m, ann)).items[0]).not.toHaveProperty('waitlistPosition')
    expect(await place(bob)).toBe(1)
    expect(await place({ id: 'cat', roles: [] })).toBe(2)

    await m.apply(cancelled(r(3), e1, 'bob', 'waitlisted'))
    expect(await place({ id: 'cat', roles: [] })).toBe(1)
  })

  it('shows the registrations of a deleted event as cancelled', async () => {
    const m = await annsWeek()
    await m.apply(deleted(uuid(3)), deleted(uuid(2)))
    const items = (await registrations(m, ann)).items
    expect(items.map((i) => [i.registrationId, i.status, i.eventTitle])).toEqual([
      [r(3), 'cancelled', 'Three'],
      [r(2), 'cancelled', 'Two'],
      [r(1), 'confirmed', 'One'],
    ])
    expect(items[0]).not.toHaveProperty('waitlistPosition')
    expect((await registrations(m, ann, { status: 'confirmed' })).items.map((i) => i.registrationId)).toEqual(
      [r(1)],
    )
    expect((await registrations(m, ann, { status: 'waitlisted' })).items).toEqual([])
    expect((await registrations(m, bob)).items.map((i) => i.status)).toEqual(['cancelled'])
  })

  it('cancels registrations made in the same batch as the deletion', async () => {
    const m = await given(created(e1), registered(r(1), e1, 'ann', 1), deleted(e1))
    expect((await registrations(m, ann)).items.map((i) => i.status)).toEqual(['cancelled'])
  })

  it('pages newest first without skipping or repeating', async () => {
    const m = await given(
      created(e1, { capacity: 100 }),
      ...[1, 2, 3, 4, 5].map((n) => registered(r(n), e1, 'ann', n)),
    )
    for (const limit of [1, 2, 4, 5]) {
      const ids = (await allPages((cursor) => registrations(m, ann, { limit, cursor }))).map(
        (i) => i.registrationId,
      )
      expect(ids).toEqual([r(5), r(4), r(3), r(2), r(1)])
    }
  })

  it('shows another participant’s registrations only to an admin', async () => {
    const m = await annsWeek()
    await expect(registrations(m, bob, { participantId: 'ann' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
    })
    expect(
      (await registrations(m, ada, { participantId: 'ann' })).items.map((i) => i.registrationId),
    ).toEqual([r(3), r(2), r(1)])
    expect((await registrations(m, ann, { participantId: 'ann' })).items).toHaveLength(3)
  })
})

describe('applying batches through the KV target', () => {
  it('changes nothing when the same batch is applied twice from the same checkpoint', async () => {
    const m = await given()
    const batch = [
      created(e1, { capacity: 1 }),
      registered(uuid(101), e1, 'ann', 1),
      waitlisted(uuid(102), e1, 'bob', 2),
    ].map(m.record)
    expect(await m.applyBatch(batch, origin)).toEqual([true, true])
    const before = [
      await details(m, e1),
      await registrations(m, ann),
      await registrations(m, bob),
      await upcoming(m),
    ]

    expect(await m.applyBatch(batch, origin)).toEqual([false, false])
    const after = [
      await details(m, e1),
      await registrations(m, ann),
      await registrations(m, bob),
      await upcoming(m),
    ]
    expect(after).toEqual(before)
    expect(await details(m, e1)).toMatchObject({ confirmedCount: 1, waitlistCount: 1 })
  })

  it('refuses a batch from a checkpoint already passed, and moves the checkpoint with each batch', async () => {
    const m = await given()
    const first = [created(e1)].map(m.record)
    const second = [registered(uuid(101), e1, 'ann', 1)].map(m.record)
    await m.applyBatch(first, origin)
    await m.applyBatch(second, { txId: '1', position: '1' })
    expect(await m.applyBatch(second, { txId: '1', position: '1' })).toEqual([false, false])
    expect(await details(m, e1)).toMatchObject({ confirmedCount: 1 })
    expect(await m.checkpoint('event-details')).toEqual({ txId: '2', position: '2' })
  })
})
