import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../core/messages.js'
import {
  alice,
  commandUrl,
  createEventVia,
  expectProblem,
  expectSucceeded,
  organizer,
  queryUrl,
  startTestServer,
  type TestServer,
} from '../../testing/http.js'
import { modes } from '../../testing/services.js'

const person = (id: string): Caller => ({ id, roles: [] })

/**
 * An id has one canonical form (lower case): PostgreSQL's uuid type takes every spelling as one
 * row, so the streams, the stream memory, the caches and the read models must too.
 */
describe.each(modes)('ids in other cases over HTTP (%s)', (mode) => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer(mode)
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  const register = (eventId: string, caller: Caller) =>
    s.post(commandUrl('register-participant'), { eventId, waitlist: true }, { caller })
  const details = async (eventId: string, position: string) => {
    const response = await s.get(queryUrl('get-event-details', { eventId }), {
      headers: { 'x-min-position': position },
    })
    expect(response.statusCode).toBe(200)
    return response.json<{ data: Record<string, unknown> }>().data
  }

  it('does not overbook when registrations alternate the id in lower and upper case', async () => {
    const { eventId } = await createEventVia(s, { capacity: 3 })
    const statuses: string[] = []
    let position = '0'
    for (let i = 0; i < 6; i++) {
      const id = i % 2 ? eventId.toUpperCase() : eventId
      const answer = expectSucceeded<{ status: string }>(await register(id, person(`alt-${i}`)))
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
    expectSucceeded(await s.post(commandUrl('delete-event'), { eventId: upper }, { caller: organizer }))
    const head = await s.head()
    expectProblem(await register(eventId, alice), 404, 'EVENT_NOT_FOUND')
    expectProblem(
      await s.post(commandUrl('delete-event'), { eventId }, { caller: organizer }),
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
        commandUrl('create-event'),
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
        commandUrl('create-event'),
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

    const registered = expectSucceeded(await register(upper, alice))
    const mine = await s.get(queryUrl('list-my-registrations'), {
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
      expectProblem(await register(spelling, alice), 400, 'VALIDATION_FAILED')
      const query = await s.get(queryUrl('get-event-details', { eventId: spelling }))
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
      const response = await s.post(commandUrl(command), { ...body, [field]: text }, { caller })
      expect(expectProblem(response, 400, 'VALIDATION_FAILED').errors).toEqual([
        { path: `/${field}`, message: expect.stringMatching(/^must not contain/) as unknown },
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
        `${address}${queryUrl('get-event-details/stream', { eventId: eventId.toUpperCase() })}`,
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
      expectSucceeded(await register(eventId, alice))
      await until(/"confirmedCount":1/)
    } finally {
      controller.abort()
    }
  })
})
