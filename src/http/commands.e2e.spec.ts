import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  alice,
  bob,
  commandUrl,
  createEventVia,
  expectProblem,
  expectSucceeded,
  futureSlot,
  organizer,
  queryUrl,
  startTestServer,
  type TestServer,
} from '../testing/http.js'
import type { Caller } from '../core/messages.js'
import { modes } from '../testing/services.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const carol: Caller = { id: 'carol', roles: [] }

describe.each(modes)('event commands over HTTP (%s)', (mode) => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer(mode)
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  const details = async (eventId: string, position: string) => {
    const response = await s.get(queryUrl('get-event-details', { eventId }), {
      headers: { 'x-min-position': position },
    })
    expect(response.statusCode).toBe(200)
    return response.json<{ data: Record<string, unknown> }>().data
  }
  const myRegistrations = async (caller: Caller, position: string) => {
    const response = await s.get(queryUrl('list-my-registrations'), {
      caller,
      headers: { 'x-min-position': position },
    })
    expect(response.statusCode).toBe(200)
    return response.json<{ data: Record<string, unknown>[] }>().data
  }

  describe('create-event', () => {
    it('answers with the command answer: commandId, status, position of the last event, time, result', async () => {
      const response = await s.post(
        commandUrl('create-event'),
        { title: 'CQRS night', venue: 'Hall A', description: 'Talks', capacity: 30, ...futureSlot() },
        { caller: organizer },
      )
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^application\/json/)
      const body = response.json<Record<string, unknown>>()
      expect(Object.keys(body).sort()).toEqual([
        'commandId',
        'executionTimeMs',
        'position',
        'result',
        'status',
      ])
      expect(body).toMatchObject({
        commandId: expect.stringMatching(uuid) as unknown,
        status: 'succeeded',
        position: expect.stringMatching(/^[1-9][0-9]*$/) as unknown,
        executionTimeMs: expect.any(Number) as unknown,
        result: { eventId: expect.stringMatching(uuid) as unknown },
      })
      expect(body.position).toBe(await s.head())
      expect(response.headers['x-request-id']).toEqual(expect.any(String))
    })

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

    it('keeps a client-chosen id, and refuses it a second time with 409 EVENT_ALREADY_EXISTS', async () => {
      const eventId = randomUUID()
      expect((await createEventVia(s, { eventId })).eventId).toBe(eventId)
      const head = await s.head()
      const again = await s.post(
        commandUrl('create-event'),
        { eventId, title: 'Again', capacity: 5, ...futureSlot() },
        { caller: organizer },
      )
      expectProblem(again, 409, 'EVENT_ALREADY_EXISTS')
      expect(await s.head()).toBe(head)
    })

    it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
      const body = { title: 'Ids', capacity: 5, ...futureSlot() }
      const given = await s.post(commandUrl('create-event'), body, {
        caller: organizer,
        headers: { 'x-request-id': 'client-req.42' },
      })
      expect(given.headers['x-request-id']).toBe('client-req.42')
      const bad = await s.post(
        commandUrl('create-event'),
        { ...body, ...futureSlot() },
        { caller: organizer, headers: { 'x-request-id': 'bad id with spaces' } },
      )
      expect(bad.headers['x-request-id']).toMatch(uuid)
    })
  })

  describe('update-event', () => {
    it('changes the event and answers with its id and the new position', async () => {
      const { eventId } = await createEventVia(s, { title: 'Before', capacity: 5 })
      const answer = expectSucceeded(
        await s.post(
          commandUrl('update-event'),
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
        await s.post(commandUrl('update-event'), { eventId, venue: null }, { caller: organizer }),
      )
      expect(await details(eventId, answer.position)).toMatchObject({ venue: null })
    })

    it('raising the capacity confirms waitlisted people in order', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: alice }))
      const waiting = expectSucceeded<{ registrationId: string; status: string }>(
        await s.post(commandUrl('register-participant'), { eventId, waitlist: true }, { caller: bob }),
      )
      expect(waiting.result.status).toBe('waitlisted')
      const raised = expectSucceeded(
        await s.post(commandUrl('update-event'), { eventId, capacity: 2 }, { caller: organizer }),
      )
      expect(await details(eventId, raised.position)).toMatchObject({ confirmedCount: 2, waitlistCount: 0 })
      const [bobs] = (await myRegistrations(bob, raised.position)).filter((r) => r.eventId === eventId)
      expect(bobs).toMatchObject({ registrationId: waiting.result.registrationId, status: 'confirmed' })
    })

    // API.md: "`position` is the event-log position of the command's last event, as a decimal string".
    it('answers with a decimal position even when nothing changes', async () => {
      const { eventId } = await createEventVia(s, { title: 'Same' })
      const answer = expectSucceeded(
        await s.post(commandUrl('update-event'), { eventId, title: 'Same' }, { caller: organizer }),
      )
      expect(answer).toMatchObject({ position: expect.stringMatching(/^[0-9]+$/) as unknown })
    })
  })

  describe('delete-event', () => {
    it('removes the event from details and listings and cancels its registrations', async () => {
      const { eventId } = await createEventVia(s)
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: carol }))
      const answer = expectSucceeded(
        await s.post(commandUrl('delete-event'), { eventId }, { caller: organizer }),
      )
      expect(answer.result).toEqual({ eventId })
      const gone = await s.get(queryUrl('get-event-details', { eventId }), {
        headers: { 'x-min-position': answer.position },
      })
      expectProblem(gone, 404, 'EVENT_NOT_FOUND')
      const upcoming = await s.get(queryUrl('list-upcoming-events', { limit: 100 }), {
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
      expectSucceeded(await s.post(commandUrl('delete-event'), { eventId }, { caller: organizer }))
      const head = await s.head()
      for (const [name, body, caller] of [
        ['delete-event', { eventId }, organizer],
        ['update-event', { eventId, title: 'Back' }, organizer],
        ['register-participant', { eventId }, alice],
      ] as const) {
        expectProblem(await s.post(commandUrl(name), body, { caller }), 404, 'EVENT_NOT_FOUND')
      }
      expect(await s.head()).toBe(head)
    })
  })

  describe('register-participant and cancel-registration', () => {
    it('registers the caller and shows the seat taken and the registration', async () => {
      const { eventId } = await createEventVia(s, { title: 'Seats', capacity: 3 })
      const answer = expectSucceeded<{ registrationId: string; status: string }>(
        await s.post(commandUrl('register-participant'), { eventId, name: 'Alice' }, { caller: alice }),
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
          commandUrl('register-participant'),
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
        await s.post(commandUrl('register-participant'), { eventId }, { caller: alice }),
      )
      const second = expectSucceeded<{ registrationId: string; status: string }>(
        await s.post(commandUrl('register-participant'), { eventId, waitlist: true }, { caller: bob }),
      )
      expect(second.result.status).toBe('waitlisted')
      const [waiting] = (await myRegistrations(bob, second.position)).filter((r) => r.eventId === eventId)
      expect(waiting).toMatchObject({ status: 'waitlisted', waitlistPosition: 1 })

      const cancelled = expectSucceeded(
        await s.post(commandUrl('cancel-registration'), { eventId }, { caller: alice }),
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

    it('cancels without promotion when nobody waits', async () => {
      const { eventId } = await createEventVia(s, { capacity: 2 })
      const registered = expectSucceeded<{ registrationId: string }>(
        await s.post(commandUrl('register-participant'), { eventId }, { caller: alice }),
      )
      const cancelled = expectSucceeded(
        await s.post(commandUrl('cancel-registration'), { eventId }, { caller: alice }),
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
          s.post(commandUrl('register-participant'), { eventId }, { caller: { id: `rush-${n}`, roles: [] } }),
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
      const response = await s.post(commandUrl(name), body, { caller })
      expectProblem(response, status, code)
      expect(await s.head()).toBe(head)
    }

    it('409 EVENT_FULL when every seat is taken and waitlist is not asked for', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: alice }))
      await refused('register-participant', { eventId }, bob, 409, 'EVENT_FULL')
      await refused('register-participant', { eventId, waitlist: false }, bob, 409, 'EVENT_FULL')
    })

    it('409 ALREADY_REGISTERED for a second registration, confirmed or waitlisted', async () => {
      const { eventId } = await createEventVia(s, { capacity: 1 })
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: alice }))
      expectSucceeded(
        await s.post(commandUrl('register-participant'), { eventId, waitlist: true }, { caller: bob }),
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
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: alice }))
      expectSucceeded(await s.post(commandUrl('cancel-registration'), { eventId }, { caller: alice }))
      await refused('cancel-registration', { eventId }, alice, 404, 'REGISTRATION_NOT_FOUND')
      await refused('cancel-registration', { eventId: randomUUID() }, alice, 404, 'REGISTRATION_NOT_FOUND')
    })

    it('409 CAPACITY_BELOW_REGISTRATIONS when the capacity would drop below the confirmed count', async () => {
      const { eventId } = await createEventVia(s, { capacity: 3 })
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: alice }))
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: bob }))
      await refused('update-event', { eventId, capacity: 1 }, organizer, 409, 'CAPACITY_BELOW_REGISTRATIONS')
      expectSucceeded(
        await s.post(commandUrl('update-event'), { eventId, capacity: 2 }, { caller: organizer }),
      )
    })
  })
})
