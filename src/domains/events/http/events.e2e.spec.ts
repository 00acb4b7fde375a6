import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../../kernel/index.js'
import {
  admin,
  alice,
  bob,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  modes,
  useTestServer,
  type TestServer,
} from '../../../kernel/testing.js'
import { eventsDomain } from '../index.js'
import { commandCases, queryCases, valid } from '../testing/bad-input.js'
import {
  createEventVia,
  eventCommand,
  eventQuery,
  futureSlot,
  organizer,
  otherOrganizer,
} from '../testing/http.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const carol: Caller = { id: 'carol', roles: [] }
const person = (id: string): Caller => ({ id, roles: [] })
const hour = 3600_000

interface Details {
  eventId: string
  startsAt: string
  confirmedCount: number
}
interface Page<T> {
  data: T[]
  nextCursor: string | null
}
interface Registration {
  registrationId: string
  eventId: string
  status: string
  waitlistPosition?: number
}

/** A window of time of its own, `n` hours wide, far from other tests' events. */
let windows = 0
function timeWindow(hours = 24): {
  from: string
  to: string
  at: (h: number) => { startsAt: string; endsAt: string }
} {
  windows += 1
  const start = Date.UTC(2040, 0, 1) + windows * 30 * 24 * hour
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    from: iso(start),
    to: iso(start + hours * hour),
    at: (h) => ({ startsAt: iso(start + h * hour), endsAt: iso(start + h * hour + hour) }),
  }
}

/**
 * The events domain over HTTP: who may do what to an event, its inputs, capacity, waitlist, dates,
 * listings and ids. One server per mode for the whole file; what the platform does with any
 * domain (tokens, JSON, paging, caching, operations) is tested on the notes domain in src/http/.
 */
describe.each(modes)('the events domain over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [eventsDomain] })
  /** The file's server, for the tests below (set once it has started). */
  let s: TestServer
  beforeAll(() => {
    s = server()
  })

  const details = async (eventId: string, position: string) => {
    const response = await s.get(eventQuery('get-event-details', { eventId }), {
      headers: { 'x-min-position': position },
    })
    expect(response.statusCode).toBe(200)
    return response.json<{ data: Record<string, unknown> }>().data
  }
  const myRegistrations = async (caller: Caller, position: string) => {
    const response = await s.get(eventQuery('list-my-registrations'), {
      caller,
      headers: { 'x-min-position': position },
    })
    expect(response.statusCode).toBe(200)
    return response.json<{ data: Record<string, unknown>[] }>().data
  }
  const register = async (eventId: string, caller: Caller, body: Record<string, unknown> = {}) =>
    expectSucceeded<{ registrationId: string; status: string }>(
      await s.post(eventCommand('register-participant'), { eventId, ...body }, { caller }),
    )

  describe('who may do what', () => {
    let eventId: string
    beforeAll(async () => {
      eventId = (await createEventVia(s, { capacity: 50 })).eventId
    })

    describe('403 FORBIDDEN, nothing written', () => {
      const forbidden = async (name: string, body: unknown, caller: typeof alice) => {
        const head = await s.head()
        expectProblem(await s.post(eventCommand(name), body, { caller }), 403, 'FORBIDDEN')
        expect(await s.head()).toBe(head)
      }

      it('a participant creating an event', async () => {
        await forbidden('create-event', { title: 'Mine', capacity: 5, ...futureSlot() }, alice)
      })

      it("another organizer changing or deleting someone's event", async () => {
        await forbidden('update-event', { eventId, title: 'Taken over' }, otherOrganizer)
        await forbidden('delete-event', { eventId }, otherOrganizer)
        await forbidden('update-event', { eventId, capacity: 1 }, alice)
      })

      it('a participant registering or cancelling someone else', async () => {
        await forbidden('register-participant', { eventId, participantId: bob.id }, alice)
        expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: bob }))
        await forbidden('cancel-registration', { eventId, participantId: bob.id }, alice)
      })

      it("a participant listing someone else's registrations", async () => {
        const response = await s.get(eventQuery('list-my-registrations', { participantId: bob.id }), {
          caller: alice,
        })
        expectProblem(response, 403, 'FORBIDDEN')
      })

      it('an organizer listing a participant of their own event', async () => {
        const response = await s.get(eventQuery('list-my-registrations', { participantId: bob.id }), {
          caller: organizer,
        })
        expectProblem(response, 403, 'FORBIDDEN')
      })
    })

    describe('what roles allow', () => {
      it('an admin may change and delete any event, and register and cancel anyone', async () => {
        const own = await createEventVia(s, { capacity: 5 }, otherOrganizer)
        for (const [name, body] of [
          ['update-event', { eventId: own.eventId, title: 'By admin' }],
          ['register-participant', { eventId: own.eventId, participantId: 'frank' }],
          ['cancel-registration', { eventId: own.eventId, participantId: 'frank' }],
          ['delete-event', { eventId: own.eventId }],
        ] as const) {
          expectSucceeded(await s.post(eventCommand(name), body, { caller: admin }))
        }
      })

      it('an admin may create an event', async () => {
        expectSucceeded(
          await s.post(
            eventCommand('create-event'),
            { title: 'Admin', capacity: 5, ...futureSlot() },
            { caller: admin },
          ),
        )
      })

      it('the organizer may cancel a participant of their event', async () => {
        const { eventId: own } = await createEventVia(s)
        expectSucceeded(
          await s.post(eventCommand('register-participant'), { eventId: own }, { caller: alice }),
        )
        expectSucceeded(
          await s.post(
            eventCommand('cancel-registration'),
            { eventId: own, participantId: alice.id },
            { caller: organizer },
          ),
        )
      })

      it('public queries answer without a token', async () => {
        const details = await s.get(eventQuery('get-event-details', { eventId }))
        expect(details.statusCode).toBe(200)
        expect(details.json<{ data: { eventId: string } }>().data.eventId).toBe(eventId)
        expect((await s.get(eventQuery('list-upcoming-events'))).statusCode).toBe(200)
      })
    })
  })

  describe('bad input', () => {
    let eventId: string
    beforeAll(async () => {
      eventId = (await createEventVia(s, { capacity: 5 })).eventId
    })

    for (const c of [...commandCases, ...queryCases]) {
      it(`${c.name}: ${c.status} ${c.code}, nothing written`, async () => {
        const head = await s.head()
        const response = await c.send(s, eventId)
        expectProblem(response, c.status, c.code)
        if (c.status === 400) expectInvalid(response, ...(c.paths ?? []))
        expect(await s.head()).toBe(head)
      })
    }

    // Both listings read sorted sets by `<time>|<id>` members: neither takes a key it did not give.
    it.each([
      ['a key that is not a listing key', Buffer.from('not-a-key').toString('base64url')],
      ['Redis range syntax', Buffer.from('[+').toString('base64url')],
      ['a long key', Buffer.from('z'.repeat(140)).toString('base64url')],
      ['two parts that are no time and id', Buffer.from('a|b').toString('base64url')],
      ['a time and no id', Buffer.from('2031-01-01T00:00:00.000Z|x').toString('base64url')],
    ])('answers a forged cursor (%s) with a 400 at /cursor', async (_name, cursor) => {
      for (const url of [
        eventQuery('list-upcoming-events', { cursor }),
        eventQuery('list-my-registrations', { cursor }),
      ]) {
        expectInvalid(await s.get(url, { caller: alice }), '/cursor')
      }
    })

    it('accepts the boundary values: title of 200, description of 5000, capacity 1 and 100000', async () => {
      for (const body of [
        { ...valid, title: 't'.repeat(200), description: 'd'.repeat(5000), capacity: 1 },
        { ...valid, capacity: 100_000 },
      ]) {
        const response = await s.post(eventCommand('create-event'), body, { caller: organizer })
        expect(response.statusCode).toBe(200)
      }
    })
  })

  describe('create-event', () => {
    it('makes the caller the organizer and shows the event at the command position', async () => {
      const slot = futureSlot()
      const { eventId, position } = await createEventVia(s, { title: 'Shown', capacity: 7, ...slot })
      expect(await details(eventId, position)).toMatchObject({
        eventId,
        title: 'Shown',
        description: null,
        venue: null,
        startsAt: slot.startsAt,
        endsAt: slot.endsAt,
        capacity: 7,
        confirmedCount: 0,
        waitlistCount: 0,
        remainingSeats: 7,
        organizerId: organizer.id,
      })
    })

    it('normalizes times to UTC', async () => {
      const { eventId, position } = await createEventVia(s, {
        startsAt: '2033-05-01T10:00:00+02:00',
        endsAt: '2033-05-01T12:00:00+02:00',
      })
      expect(await details(eventId, position)).toMatchObject({
        startsAt: '2033-05-01T08:00:00.000Z',
        endsAt: '2033-05-01T10:00:00.000Z',
      })
    })
  })

  describe('update-event', () => {
    it('changes the event and answers with its id and the new position', async () => {
      const { eventId } = await createEventVia(s, { title: 'Before', capacity: 5 })
      const answer = expectSucceeded(
        await s.post(
          eventCommand('update-event'),
          { eventId, title: 'After', venue: 'Room 2', capacity: 8 },
          { caller: organizer },
        ),
      )
      expect(answer.result).toEqual({ eventId })
      expect(answer.position).toBe(await s.head())
      expect(await details(eventId, answer.position)).toMatchObject({
        title: 'After',
        venue: 'Room 2',
        capacity: 8,
        remainingSeats: 8,
      })
    })

    it('clears a venue with null', async () => {
      const { eventId } = await createEventVia(s, { venue: 'Somewhere' })
      const answer = expectSucceeded(
        await s.post(eventCommand('update-event'), { eventId, venue: null }, { caller: organizer }),
      )
      expect(await details(eventId, answer.position)).toMatchObject({ venue: null })
    })

    it('raising the capacity confirms waitlisted people in order', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: alice }))
      const waiting = expectSucceeded<{ registrationId: string; status: string }>(
        await s.post(eventCommand('register-participant'), { eventId, waitlist: true }, { caller: bob }),
      )
      expect(waiting.result.status).toBe('waitlisted')
      const raised = expectSucceeded(
        await s.post(eventCommand('update-event'), { eventId, capacity: 2 }, { caller: organizer }),
      )
      expect(await details(eventId, raised.position)).toMatchObject({ confirmedCount: 2, waitlistCount: 0 })
      const [bobs] = (await myRegistrations(bob, raised.position)).filter((r) => r.eventId === eventId)
      expect(bobs).toMatchObject({ registrationId: waiting.result.registrationId, status: 'confirmed' })
    })

    // API.md: "`position` is the event-log position of the command's last event, as a decimal string".
    it('answers with a decimal position even when nothing changes', async () => {
      const { eventId } = await createEventVia(s, { title: 'Same' })
      const answer = expectSucceeded(
        await s.post(eventCommand('update-event'), { eventId, title: 'Same' }, { caller: organizer }),
      )
      expect(answer).toMatchObject({ position: expect.stringMatching(/^[0-9]+$/) as unknown })
    })
  })

  describe('delete-event', () => {
    it('removes the event from details and listings and cancels its registrations', async () => {
      const { eventId } = await createEventVia(s)
      expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: carol }))
      const answer = expectSucceeded(
        await s.post(eventCommand('delete-event'), { eventId }, { caller: organizer }),
      )
      expect(answer.result).toEqual({ eventId })
      const gone = await s.get(eventQuery('get-event-details', { eventId }), {
        headers: { 'x-min-position': answer.position },
      })
      expectProblem(gone, 404, 'EVENT_NOT_FOUND')
      const upcoming = await s.get(eventQuery('list-upcoming-events', { limit: 100 }), {
        headers: { 'x-min-position': answer.position },
      })
      expect(upcoming.json<{ data: { eventId: string }[] }>().data.map((e) => e.eventId)).not.toContain(
        eventId,
      )
      const carols = (await myRegistrations(carol, answer.position)).filter((r) => r.eventId === eventId)
      expect(carols).toMatchObject([{ status: 'cancelled' }])
    })

    it('refuses a deleted event with 404 EVENT_NOT_FOUND and writes nothing', async () => {
      const { eventId } = await createEventVia(s)
      expectSucceeded(await s.post(eventCommand('delete-event'), { eventId }, { caller: organizer }))
      const head = await s.head()
      for (const [name, body, caller] of [
        ['delete-event', { eventId }, organizer],
        ['update-event', { eventId, title: 'Back' }, organizer],
        ['register-participant', { eventId }, alice],
      ] as const) {
        expectProblem(await s.post(eventCommand(name), body, { caller }), 404, 'EVENT_NOT_FOUND')
      }
      expect(await s.head()).toBe(head)
    })
  })

  describe('register-participant and cancel-registration', () => {
    it('registers the caller and shows the seat taken and the registration', async () => {
      const { eventId } = await createEventVia(s, { title: 'Seats', capacity: 3 })
      const answer = expectSucceeded<{ registrationId: string; status: string }>(
        await s.post(eventCommand('register-participant'), { eventId, name: 'Alice' }, { caller: alice }),
      )
      expect(answer.result).toEqual({
        registrationId: expect.stringMatching(uuid) as unknown,
        status: 'confirmed',
      })
      expect(answer.position).toBe(await s.head())
      expect(await details(eventId, answer.position)).toMatchObject({ confirmedCount: 1, remainingSeats: 2 })
      const mine = (await myRegistrations(alice, answer.position)).filter((r) => r.eventId === eventId)
      expect(mine).toEqual([
        {
          registrationId: answer.result.registrationId,
          eventId,
          eventTitle: 'Seats',
          startsAt: expect.any(String) as unknown,
          status: 'confirmed',
          registeredAt: expect.any(String) as unknown,
        },
      ])
    })

    it('lets the organizer register someone else', async () => {
      const { eventId } = await createEventVia(s)
      const answer = expectSucceeded(
        await s.post(
          eventCommand('register-participant'),
          { eventId, participantId: 'dave' },
          { caller: organizer },
        ),
      )
      const daves = await myRegistrations({ id: 'dave', roles: [] }, answer.position)
      expect(daves.map((r) => r.eventId)).toContain(eventId)
    })

    it('waitlists when full and waitlist is true; a cancellation promotes the first in line', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      const first = expectSucceeded<{ registrationId: string }>(
        await s.post(eventCommand('register-participant'), { eventId }, { caller: alice }),
      )
      const second = expectSucceeded<{ registrationId: string; status: string }>(
        await s.post(eventCommand('register-participant'), { eventId, waitlist: true }, { caller: bob }),
      )
      expect(second.result.status).toBe('waitlisted')
      const [waiting] = (await myRegistrations(bob, second.position)).filter((r) => r.eventId === eventId)
      expect(waiting).toMatchObject({ status: 'waitlisted', waitlistPosition: 1 })

      const cancelled = expectSucceeded(
        await s.post(eventCommand('cancel-registration'), { eventId }, { caller: alice }),
      )
      expect(cancelled.result).toEqual({
        registrationId: first.result.registrationId,
        promotedRegistrationId: second.result.registrationId,
      })
      expect(await details(eventId, cancelled.position)).toMatchObject({
        confirmedCount: 1,
        waitlistCount: 0,
        remainingSeats: 0,
      })
      const [promoted] = (await myRegistrations(bob, cancelled.position)).filter((r) => r.eventId === eventId)
      expect(promoted).toMatchObject({ status: 'confirmed' })
    })

    it('moves everyone behind up the waitlist when one ahead leaves, in a list read before too', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      const carol: Caller = { id: 'carol', roles: [] }
      const dave: Caller = { id: 'dave', roles: [] }
      await register(eventId, alice)
      await register(eventId, bob, { waitlist: true })
      await register(eventId, carol, { waitlist: true })
      const last = expectSucceeded(
        await s.post(eventCommand('register-participant'), { eventId, waitlist: true }, { caller: dave }),
      )
      const rank = async (caller: Caller, position: string) =>
        (await myRegistrations(caller, position)).find((r) => r.eventId === eventId)?.waitlistPosition
      // Read (and cached) before the waitlist moves.
      expect([await rank(carol, last.position), await rank(dave, last.position)]).toEqual([2, 3])
      const left = expectSucceeded(
        await s.post(eventCommand('cancel-registration'), { eventId }, { caller: bob }),
      )
      expect([await rank(carol, left.position), await rank(dave, left.position)]).toEqual([1, 2])
      // A seat frees: carol is confirmed, dave is next in line.
      const freed = expectSucceeded(
        await s.post(eventCommand('cancel-registration'), { eventId }, { caller: alice }),
      )
      expect(await rank(carol, freed.position)).toBeUndefined()
      expect(await rank(dave, freed.position)).toBe(1)
    })

    it('cancels without promotion when nobody waits', async () => {
      const { eventId } = await createEventVia(s, { capacity: 2 })
      const registered = expectSucceeded<{ registrationId: string }>(
        await s.post(eventCommand('register-participant'), { eventId }, { caller: alice }),
      )
      const cancelled = expectSucceeded(
        await s.post(eventCommand('cancel-registration'), { eventId }, { caller: alice }),
      )
      expect(cancelled.result).toEqual({
        registrationId: registered.result.registrationId,
        promotedRegistrationId: null,
      })
      expect(await details(eventId, cancelled.position)).toMatchObject({
        confirmedCount: 0,
        remainingSeats: 2,
      })
    })
  })

  describe('concurrent registrations', () => {
    it('never overbook: exactly the capacity is confirmed, the others are refused with 409', async () => {
      const { eventId } = await createEventVia(s, { capacity: 3 })
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, n) =>
          s.post(
            eventCommand('register-participant'),
            { eventId },
            { caller: { id: `rush-${n}`, roles: [] } },
          ),
        ),
      )
      const confirmed = answers.filter((a) => a.statusCode === 200)
      expect(confirmed).toHaveLength(3)
      for (const refused of answers.filter((a) => a.statusCode !== 200)) {
        expect(refused.statusCode).toBe(409)
        expect(refused.json<{ code: string }>().code).toMatch(/^(EVENT_FULL|CONCURRENCY_CONFLICT)$/)
      }
      const last = confirmed
        .map((a) => a.json<{ position: string }>().position)
        .reduce((a, b) => (BigInt(a) > BigInt(b) ? a : b))
      expect(await details(eventId, last)).toMatchObject({ confirmedCount: 3, remainingSeats: 0 })
    })
  })

  describe('business refusals write nothing', () => {
    const refused = async (
      name: string,
      body: unknown,
      caller: typeof alice,
      status: number,
      code: string,
    ) => {
      const head = await s.head()
      const response = await s.post(eventCommand(name), body, { caller })
      expectProblem(response, status, code)
      expect(await s.head()).toBe(head)
    }

    it('409 EVENT_FULL when every seat is taken and waitlist is not asked for', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: alice }))
      await refused('register-participant', { eventId }, bob, 409, 'EVENT_FULL')
      await refused('register-participant', { eventId, waitlist: false }, bob, 409, 'EVENT_FULL')
    })

    it('409 ALREADY_REGISTERED for a second registration, confirmed or waitlisted', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: alice }))
      expectSucceeded(
        await s.post(eventCommand('register-participant'), { eventId, waitlist: true }, { caller: bob }),
      )
      await refused('register-participant', { eventId }, alice, 409, 'ALREADY_REGISTERED')
      await refused('register-participant', { eventId, waitlist: true }, bob, 409, 'ALREADY_REGISTERED')
    })

    it('409 REGISTRATION_CLOSED once the event has started', async () => {
      const startsAt = new Date(Date.now() + 3600_000)
      const { eventId } = await createEventVia(s, {
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 3600_000).toISOString(),
      })
      s.tandem.shiftClock(3600_000)
      try {
        await refused('register-participant', { eventId }, alice, 409, 'REGISTRATION_CLOSED')
      } finally {
        s.tandem.shiftClock(0)
      }
    })

    it('409 EVENT_STARTS_IN_PAST for a start before now, on create and when an update moves it there', async () => {
      const past = { startsAt: '2020-01-01T10:00:00Z', endsAt: '2020-01-01T12:00:00Z' }
      await refused(
        'create-event',
        { title: 'Late', capacity: 5, ...past },
        organizer,
        409,
        'EVENT_STARTS_IN_PAST',
      )
      const { eventId } = await createEventVia(s)
      await refused('update-event', { eventId, ...past }, organizer, 409, 'EVENT_STARTS_IN_PAST')
      const justGone = new Date(Date.now() - 1000).toISOString()
      for (const blank of ['   ', '\t\n', '\u3000', '\u200b\u200b']) {
        await refused(
          'create-event',
          { title: blank, capacity: 5, ...futureSlot() },
          organizer,
          400,
          'VALIDATION_FAILED',
        )
        await refused('update-event', { eventId, title: blank }, organizer, 400, 'VALIDATION_FAILED')
      }
      await refused('update-event', { eventId, startsAt: justGone }, organizer, 409, 'EVENT_STARTS_IN_PAST')
    })

    it('404 EVENT_NOT_FOUND for an event that never existed', async () => {
      const eventId = randomUUID()
      await refused('register-participant', { eventId }, alice, 404, 'EVENT_NOT_FOUND')
      await refused('update-event', { eventId, title: 'X' }, organizer, 404, 'EVENT_NOT_FOUND')
      await refused('delete-event', { eventId }, organizer, 404, 'EVENT_NOT_FOUND')
    })

    it('404 REGISTRATION_NOT_FOUND when there is nothing to cancel', async () => {
      const { eventId } = await createEventVia(s)
      await refused('cancel-registration', { eventId }, alice, 404, 'REGISTRATION_NOT_FOUND')
      expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: alice }))
      expectSucceeded(await s.post(eventCommand('cancel-registration'), { eventId }, { caller: alice }))
      await refused('cancel-registration', { eventId }, alice, 404, 'REGISTRATION_NOT_FOUND')
      await refused('cancel-registration', { eventId: randomUUID() }, alice, 404, 'REGISTRATION_NOT_FOUND')
    })

    it('409 CAPACITY_BELOW_REGISTRATIONS when the capacity would drop below the confirmed count', async () => {
      const { eventId } = await createEventVia(s, { capacity: 3 })
      expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: alice }))
      expectSucceeded(await s.post(eventCommand('register-participant'), { eventId }, { caller: bob }))
      await refused('update-event', { eventId, capacity: 1 }, organizer, 409, 'CAPACITY_BELOW_REGISTRATIONS')
      expectSucceeded(
        await s.post(eventCommand('update-event'), { eventId, capacity: 2 }, { caller: organizer }),
      )
    })
  })

  describe('list-upcoming-events', () => {
    let last = '0'
    /** Lists at the position of the last event this block created. */
    const list = async (params: Record<string, string | number>) => {
      const response = await s.get(eventQuery('list-upcoming-events', params), {
        headers: { 'x-min-position': last },
      })
      expect(response.statusCode).toBe(200)
      return response
    }

    it('answers { data, nextCursor } and pages by start time then id, without loss or repeats', async () => {
      const w = timeWindow()
      const created: { eventId: string; startsAt: string }[] = []
      for (const h of [5, 1, 3, 3, 2]) {
        const slot = w.at(h)
        const event = await createEventVia(s, slot)
        last = event.position
        created.push({ eventId: event.eventId, startsAt: slot.startsAt })
      }
      const expected = created
        .sort((a, b) =>
          a.startsAt === b.startsAt ? (a.eventId < b.eventId ? -1 : 1) : a.startsAt < b.startsAt ? -1 : 1,
        )
        .map((e) => e.eventId)

      const seen: string[] = []
      const sizes: number[] = []
      let cursor: string | null = null
      do {
        const response = await list({ from: w.from, to: w.to, limit: 2, ...(cursor ? { cursor } : {}) })
        const page = response.json<Page<Details>>()
        expect(Object.keys(page).sort()).toEqual(['data', 'nextCursor'])
        expect(response.headers['x-cache']).toMatch(/^(hit|miss)$/)
        expect(response.headers['x-read-position']).toMatch(/^[0-9]+$/)
        expect(response.headers['server-timing']).toMatch(/^query;dur=/)
        seen.push(...page.data.map((e) => e.eventId))
        sizes.push(page.data.length)
        cursor = page.nextCursor
      } while (cursor !== null && sizes.length < 10)
      expect(seen).toEqual(expected)
      expect(sizes).toEqual([2, 2, 1])
    })

    it('keeps to the from/to window', async () => {
      const w = timeWindow(10)
      const inside = await createEventVia(s, w.at(4))
      const before = await createEventVia(s, w.at(-2))
      const after = await createEventVia(s, w.at(12))
      last = after.position
      const ids = (await list({ from: w.from, to: w.to, limit: 100 }))
        .json<Page<Details>>()
        .data.map((e) => e.eventId)
      expect(ids).toContain(inside.eventId)
      expect(ids).not.toContain(before.eventId)
      expect(ids).not.toContain(after.eventId)
    })

    it('refuses a window that ends before it begins, to the digit past the millisecond', async () => {
      for (const [from, to] of [
        ['2099-01-02T00:00:00Z', '2099-01-01T00:00:00Z'],
        ['2099-01-01T00:00:00.0009Z', '2099-01-01T00:00:00.0001Z'],
      ] as const)
        expectInvalid(await s.get(eventQuery('list-upcoming-events', { from, to })), '/from')
      // One instant, or two within one millisecond in order: a window, empty or not.
      for (const [from, to] of [
        ['2099-01-01T00:00:00Z', '2099-01-01T00:00:00.000Z'],
        ['2099-01-01T00:00:00.0001Z', '2099-01-01T00:00:00.0009Z'],
      ] as const)
        expect((await s.get(eventQuery('list-upcoming-events', { from, to }))).statusCode).toBe(200)
    })

    it('leaves out events that have started', async () => {
      s.tandem.shiftClock(-2 * hour)
      const started = await createEventVia(s, {
        startsAt: new Date(Date.now() - hour).toISOString(),
        endsAt: new Date(Date.now() + hour).toISOString(),
      }).finally(() => s.tandem.shiftClock(0))
      last = started.position
      const ids = (
        await list({ from: '2000-01-01T00:00:00Z', to: new Date(Date.now() + 2 * hour).toISOString() })
      )
        .json<Page<Details>>()
        .data.map((e) => e.eventId)
      expect(ids).not.toContain(started.eventId)
    })

    it('leaves out an event once it starts, from a cached page too', async () => {
      // Far enough ahead for a machine three times slower to create and list it twice before it starts.
      const startsAt = new Date(Date.now() + 3_000).toISOString()
      const soon = await createEventVia(s, { startsAt, endsAt: new Date(Date.now() + hour).toISOString() })
      last = soon.position
      const params = { from: startsAt, to: startsAt }
      const ids = async () => (await list(params)).json<Page<Details>>().data.map((e) => e.eventId)
      expect(await ids()).toEqual([soon.eventId])
      const cached = await list(params)
      expect(cached.headers['x-cache']).toBe('hit')
      await new Promise((resolve) => setTimeout(resolve, Date.parse(startsAt) - Date.now() + 20))
      expect(await ids()).toEqual([])
    })

    it('works without a token', async () => {
      const response = await s.get(eventQuery('list-upcoming-events'))
      expect(response.statusCode).toBe(200)
      expect(Array.isArray(response.json<Page<Details>>().data)).toBe(true)
    })
  })

  describe('list-my-registrations', () => {
    const eve: Caller = { id: 'eve', roles: [] }

    it("lists the caller's registrations newest first, by status, page by page", async () => {
      const first = await createEventVia(s, { title: 'First', capacity: 5 })
      const second = await createEventVia(s, { title: 'Second', capacity: 1 })
      const third = await createEventVia(s, { title: 'Third', capacity: 5 })
      const r1 = await register(first.eventId, eve)
      await register(second.eventId, alice)
      const r2 = await register(second.eventId, eve, { waitlist: true })
      const r3 = await register(third.eventId, eve)
      const cancelled = expectSucceeded(
        await s.post(eventCommand('cancel-registration'), { eventId: third.eventId }, { caller: eve }),
      )
      const at = { 'x-min-position': cancelled.position }

      const all = await s.get(eventQuery('list-my-registrations'), { caller: eve, headers: at })
      expect(all.statusCode).toBe(200)
      const page = all.json<Page<Registration>>()
      expect(Object.keys(page).sort()).toEqual(['data', 'nextCursor'])
      expect(page.nextCursor).toBeNull()
      expect(page.data).toMatchObject([
        { registrationId: r3.result.registrationId, status: 'cancelled', eventTitle: 'Third' },
        { registrationId: r2.result.registrationId, status: 'waitlisted', waitlistPosition: 1 },
        { registrationId: r1.result.registrationId, status: 'confirmed', eventTitle: 'First' },
      ])

      for (const [status, expected] of [
        ['confirmed', r1],
        ['waitlisted', r2],
        ['cancelled', r3],
      ] as const) {
        const filtered = await s.get(eventQuery('list-my-registrations', { status }), {
          caller: eve,
          headers: at,
        })
        expect(filtered.json<Page<Registration>>().data.map((r) => r.registrationId)).toEqual([
          expected.result.registrationId,
        ])
      }

      const paged: string[] = []
      let cursor: string | null = null
      for (let n = 0; n < 5; n++) {
        const params: Record<string, string | number> = { limit: 1, ...(cursor ? { cursor } : {}) }
        const next = (
          await s.get(eventQuery('list-my-registrations', params), { caller: eve, headers: at })
        ).json<Page<Registration>>()
        paged.push(...next.data.map((r) => r.registrationId))
        cursor = next.nextCursor
        if (cursor === null) break
      }
      expect(paged).toEqual(page.data.map((r) => r.registrationId))
    })

    it("lets an admin list another participant's registrations", async () => {
      const { eventId } = await createEventVia(s)
      const registered = await register(eventId, bob)
      const response = await s.get(eventQuery('list-my-registrations', { participantId: bob.id }), {
        caller: admin,
        headers: { 'x-min-position': registered.position },
      })
      expect(response.statusCode).toBe(200)
      expect(response.json<Page<Registration>>().data.map((r) => r.registrationId)).toContain(
        registered.result.registrationId,
      )
    })

    it('lets a participant name themself', async () => {
      const response = await s.get(eventQuery('list-my-registrations', { participantId: organizer.id }), {
        caller: organizer,
      })
      expect(response.statusCode).toBe(200)
    })
  })

  /**
   * An id has one canonical form (lower case): PostgreSQL's uuid type takes every spelling as one
   * row, so the streams, the stream memory, the caches and the read models must too.
   */
  describe('ids in other cases', () => {
    const join = (eventId: string, caller: Caller) =>
      s.post(eventCommand('register-participant'), { eventId, waitlist: true }, { caller })

    it('does not overbook when registrations alternate the id in lower and upper case', async () => {
      const { eventId } = await createEventVia(s, { capacity: 3 })
      const statuses: string[] = []
      let position = '0'
      for (let i = 0; i < 6; i++) {
        const id = i % 2 ? eventId.toUpperCase() : eventId
        const answer = expectSucceeded<{ status: string }>(await join(id, person(`alt-${i}`)))
        statuses.push(answer.result.status)
        position = answer.position
      }
      expect(statuses).toEqual([
        'confirmed',
        'confirmed',
        'confirmed',
        'waitlisted',
        'waitlisted',
        'waitlisted',
      ])
      expect(await details(eventId.toUpperCase(), position)).toMatchObject({
        eventId,
        confirmedCount: 3,
        waitlistCount: 3,
        remainingSeats: 0,
      })
    })

    it('keeps a deleted event deleted whichever case the id is sent in', async () => {
      const { eventId } = await createEventVia(s)
      const upper = eventId.toUpperCase()
      expectSucceeded(await s.post(eventCommand('delete-event'), { eventId: upper }, { caller: organizer }))
      const head = await s.head()
      expectProblem(await join(eventId, alice), 404, 'EVENT_NOT_FOUND')
      expectProblem(
        await s.post(eventCommand('delete-event'), { eventId }, { caller: organizer }),
        404,
        'EVENT_NOT_FOUND',
      )
      expect(await s.head()).toBe(head)
      const [row] = await s.tandem.sql.query<{ status: string }>(
        'SELECT status FROM events.event WHERE event_id = $1',
        [eventId],
      )
      expect(row?.status).toBe('deleted')
      const deletions = await s.tandem.sql.query(
        `SELECT 1 FROM tandem.event_log WHERE type = 'EventDeleted' AND lower(stream_id) = $1`,
        [`event-${eventId}`],
      )
      expect(deletions).toHaveLength(1)
    })

    it('answers an event created with an upper-case id in lower case, under either spelling', async () => {
      const upper = randomUUID().toUpperCase()
      const created = expectSucceeded<{ eventId: string }>(
        await s.post(
          eventCommand('create-event'),
          {
            eventId: upper,
            title: 'Shouted',
            capacity: 5,
            startsAt: '2033-01-01T10:00:00Z',
            endsAt: '2033-01-01T12:00:00Z',
          },
          { caller: organizer },
        ),
      )
      const eventId = upper.toLowerCase()
      expect(created.result.eventId).toBe(eventId)
      expect(await details(eventId, created.position)).toMatchObject({ eventId, title: 'Shouted' })
      expect(await details(upper, created.position)).toMatchObject({ eventId, title: 'Shouted' })
      expectProblem(
        await s.post(
          eventCommand('create-event'),
          {
            eventId,
            title: 'Again',
            capacity: 5,
            startsAt: '2033-01-01T10:00:00Z',
            endsAt: '2033-01-01T12:00:00Z',
          },
          { caller: organizer },
        ),
        409,
        'EVENT_ALREADY_EXISTS',
      )

      const registered = expectSucceeded(await join(upper, alice))
      const mine = await s.get(eventQuery('list-my-registrations'), {
        caller: alice,
        headers: { 'x-min-position': registered.position },
      })
      const rows = mine
        .json<{ data: { eventId: string; eventTitle: string }[] }>()
        .data.filter((r) => r.eventId === eventId)
      expect(rows).toEqual([expect.objectContaining({ eventId, eventTitle: 'Shouted' })])
    })

    it('refuses the other spellings PostgreSQL would take: braces, no hyphens, a urn', async () => {
      const { eventId } = await createEventVia(s)
      const head = await s.head()
      for (const spelling of [
        `{${eventId}}`,
        eventId.replaceAll('-', ''),
        `urn:uuid:${eventId}`,
        ` ${eventId}`,
      ]) {
        expectProblem(await join(spelling, alice), 400, 'VALIDATION_FAILED')
        const query = await s.get(eventQuery('get-event-details', { eventId: spelling }))
        expectProblem(query, 400, 'VALIDATION_FAILED')
      }
      expect(await s.head()).toBe(head)
    })

    it.each([
      [
        'create-event',
        'title',
        { capacity: 5, startsAt: '2033-02-01T10:00:00Z', endsAt: '2033-02-01T12:00:00Z' },
      ],
      [
        'create-event',
        'venue',
        { title: 'T', capacity: 5, startsAt: '2033-02-01T10:00:00Z', endsAt: '2033-02-01T12:00:00Z' },
      ],
      ['register-participant', 'name', { eventId: randomUUID() }],
      ['register-participant', 'participantId', { eventId: randomUUID() }],
    ])('refuses a lone surrogate in %s %s with 400, writing nothing', async (command, field, body) => {
      const head = await s.head()
      const caller = { ...organizer, roles: ['organizer', 'admin'] }
      for (const text of ['bad \ud800 x', '\udfff', 'nul \u0000']) {
        const response = await s.post(eventCommand(command), { ...body, [field]: text }, { caller })
        expect(expectProblem(response, 400, 'VALIDATION_FAILED').errors).toEqual([
          // A user id's own rule refuses them first (core/schemas.ts, userIdPattern).
          {
            path: `/${field}`,
            message: expect.stringMatching(/^must not contain|^is not a user id/) as unknown,
          },
        ])
      }
      expect(await s.head()).toBe(head)
    })

    it('sends a live query on an upper-case id the changes of the event', async () => {
      const { eventId, position } = await createEventVia(s, { capacity: 4 })
      await s.settle(position)
      const address = await s.app.listen({ port: 0, host: '127.0.0.1' })
      const controller = new AbortController()
      try {
        const response = await fetch(
          `${address}${eventQuery('get-event-details/stream', { eventId: eventId.toUpperCase() })}`,
          { signal: controller.signal },
        )
        if (!response.body) throw new Error('no body')
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
        let text = ''
        const until = async (pattern: RegExp) => {
          while (!pattern.test(text)) {
            const { value, done } = await reader.read()
            if (done) throw new Error(`stream ended before ${String(pattern)}: ${text}`)
            text += value
          }
        }
        await until(/"confirmedCount":0/)
        expectSucceeded(await join(eventId, alice))
        await until(/"confirmedCount":1/)
      } finally {
        controller.abort()
      }
    })
  })
})
