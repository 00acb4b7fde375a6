import type { LightMyRequestResponse } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import {
  alice,
  commandUrl,
  createEventVia,
  expectInvalid,
  expectProblem,
  organizer,
  startTestServer,
  type TestServer,
} from '../testing/http.js'
import { modes } from '../testing/services.js'

const valid = {
  title: 'Valid',
  capacity: 10,
  startsAt: '2035-03-01T10:00:00Z',
  endsAt: '2035-03-01T12:00:00Z',
}

/** A bad request: sent with what it needs (an existing event's id), answered as `status`/`code`. */
interface Case {
  name: string
  send: (s: TestServer, eventId: string) => Promise<LightMyRequestResponse>
  status: number
  code: string
  /** For a 400: the paths `errors` must name. */
  paths?: string[]
}

const post =
  (name: string, body: (eventId: string) => unknown, caller: Caller = organizer) =>
  (s: TestServer, eventId: string) =>
    s.post(commandUrl(name), body(eventId), { caller })

const raw =
  (contentType: string | undefined, payload: string, name = 'create-event') =>
  (s: TestServer) =>
    s.app.inject({
      method: 'POST',
      url: commandUrl(name),
      headers: {
        authorization: s.bearer(organizer),
        ...(contentType ? { 'content-type': contentType } : {}),
      },
      payload,
    })

const create = (body: Record<string, unknown>) => post('create-event', () => body)
const invalidCreate = (name: string, body: Record<string, unknown>, ...paths: string[]): Case => ({
  name: `create-event: ${name}`,
  send: create(body),
  status: 400,
  code: 'VALIDATION_FAILED',
  paths,
})
const { title: _t, ...noTitle } = valid
const { capacity: _c, ...noCapacity } = valid

const commandCases: Case[] = [
  invalidCreate('no field at all', {}, '/title', '/startsAt', '/endsAt', '/capacity'),
  invalidCreate('missing title', noTitle, '/title'),
  invalidCreate('missing capacity', noCapacity, '/capacity'),
  invalidCreate('title is a number', { ...valid, title: 42 }, '/title'),
  invalidCreate('title is null', { ...valid, title: null }, '/title'),
  invalidCreate('capacity is a string', { ...valid, capacity: '10' }, '/capacity'),
  invalidCreate('venue is an object', { ...valid, venue: { name: 'x' } }, '/venue'),
  invalidCreate('an unknown field', { ...valid, color: 'red' }, '/color'),
  invalidCreate('a field the server sets (organizerId)', { ...valid, organizerId: 'me' }, '/organizerId'),
  invalidCreate('title of 201 characters', { ...valid, title: 'x'.repeat(201) }, '/title'),
  invalidCreate('empty title', { ...valid, title: '' }, '/title'),
  invalidCreate(
    'description of 5001 characters',
    { ...valid, description: 'd'.repeat(5001) },
    '/description',
  ),
  invalidCreate('venue of 201 characters', { ...valid, venue: 'v'.repeat(201) }, '/venue'),
  invalidCreate('capacity 0', { ...valid, capacity: 0 }, '/capacity'),
  invalidCreate('capacity 100001', { ...valid, capacity: 100_001 }, '/capacity'),
  invalidCreate('capacity 1.5', { ...valid, capacity: 1.5 }, '/capacity'),
  invalidCreate('capacity -1', { ...valid, capacity: -1 }, '/capacity'),
  invalidCreate('month 13', { ...valid, startsAt: '2026-13-01T00:00:00Z' }, '/startsAt'),
  invalidCreate('"yesterday" as a time', { ...valid, startsAt: 'yesterday' }, '/startsAt'),
  invalidCreate('February 30', { ...valid, endsAt: '2035-02-30T00:00:00Z' }, '/endsAt'),
  invalidCreate('a date without a time', { ...valid, endsAt: '2035-03-02' }, '/endsAt'),
  invalidCreate('year 0001', { ...valid, startsAt: '0001-01-01T00:00:00Z' }, '/startsAt'),
  invalidCreate('endsAt before startsAt', { ...valid, endsAt: '2035-03-01T09:00:00Z' }, '/endsAt'),
  invalidCreate('endsAt equal to startsAt', { ...valid, endsAt: valid.startsAt }, '/endsAt'),
  invalidCreate('an eventId that is not a UUID', { ...valid, eventId: 'event-1' }, '/eventId'),
  {
    name: 'create-event: bad JSON',
    send: raw('application/json', '{"title": '),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-event: a JSON array',
    send: raw('application/json', '[1, 2]'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-event: a JSON string',
    send: raw('application/json', '"event"'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-event: a JSON number',
    send: raw('application/json', '42'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-event: JSON null',
    send: raw('application/json', 'null'),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'create-event: an empty body with content-type json',
    send: raw('application/json', ''),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-event: a __proto__ key',
    send: raw('application/json', JSON.stringify(valid).replace('{', '{"__proto__":{"admin":true},')),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  ...[
    'text/plain',
    'text/plain; charset=utf-8',
    'application/vnd.api+json',
    'application/jsonx',
    'multipart/form-data; boundary=x',
  ].map((type): Case => ({
    name: `create-event: a JSON body sent as ${type}`,
    send: raw(type, JSON.stringify(valid)),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  })),
  {
    name: 'create-event: a JSON body without Content-Type',
    send: raw(undefined, JSON.stringify(valid)),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'create-event: no body and no Content-Type (read as {})',
    send: raw(undefined, ''),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/title', '/capacity'],
  },
  {
    name: 'create-event: application/xml',
    send: raw('application/xml', '<event/>'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'create-event: a form',
    send: raw('application/x-www-form-urlencoded', 'title=x'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'create-event: a body over 1 MiB',
    send: raw('application/json', JSON.stringify({ ...valid, description: 'x'.repeat(1024 * 1024) })),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'update-event: no field to change',
    send: post('update-event', (eventId) => ({ eventId })),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'update-event: no eventId',
    send: post('update-event', () => ({ title: 'x' })),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/eventId'],
  },
  {
    name: 'update-event: capacity 0',
    send: post('update-event', (eventId) => ({ eventId, capacity: 0 })),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/capacity'],
  },
  {
    name: 'update-event: title null',
    send: post('update-event', (eventId) => ({ eventId, title: null })),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/title'],
  },
  {
    name: 'update-event: endsAt before the current start',
    send: post('update-event', (eventId) => ({ eventId, endsAt: '2000-01-01T00:00:00Z' })),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/endsAt'],
  },
  {
    name: 'update-event: an unknown field',
    send: post('update-event', (eventId) => ({ eventId, confirmedCount: 0 })),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/confirmedCount'],
  },
  {
    name: 'delete-event: no eventId',
    send: post('delete-event', () => ({})),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/eventId'],
  },
  {
    name: 'delete-event: an unknown field',
    send: post('delete-event', (eventId) => ({ eventId, force: true })),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/force'],
  },
  {
    name: 'register-participant: a non-UUID eventId',
    send: post('register-participant', () => ({ eventId: 'abc' }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/eventId'],
  },
  {
    name: 'register-participant: eventId is a number',
    send: post('register-participant', () => ({ eventId: 7 }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/eventId'],
  },
  {
    name: 'register-participant: waitlist "yes"',
    send: post('register-participant', (eventId) => ({ eventId, waitlist: 'yes' }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/waitlist'],
  },
  {
    name: 'register-participant: a bad email',
    send: post('register-participant', (eventId) => ({ eventId, email: 'not-an-email' }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/email'],
  },
  {
    name: 'register-participant: an empty participantId',
    send: post('register-participant', (eventId) => ({ eventId, participantId: '' }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/participantId'],
  },
  {
    name: 'register-participant: a name of 201 characters',
    send: post('register-participant', (eventId) => ({ eventId, name: 'n'.repeat(201) }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/name'],
  },
  {
    name: 'register-participant: an unknown field',
    send: post('register-participant', (eventId) => ({ eventId, seat: 'A1' }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/seat'],
  },
  {
    name: 'cancel-registration: eventId is a number',
    send: post('cancel-registration', () => ({ eventId: 123 }), alice),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/eventId'],
  },
  {
    name: 'cancel-registration: bad JSON',
    send: raw('application/json', '{eventId}', 'cancel-registration'),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
]

const get = (url: string, caller?: Caller) => (s: TestServer) => s.get(url, caller ? { caller } : {})
const invalidQuery = (url: string, path: string, caller?: Caller): Case => ({
  name: `GET ${url}`,
  send: get(url, caller),
  status: 400,
  code: 'VALIDATION_FAILED',
  paths: [path],
})
const q = '/api/queries/events'
const someId = '0190a3c2-5e7a-7c3d-9a1b-2c3d4e5f6a7b'
const queryCases: Case[] = [
  invalidQuery(`${q}/get-event-details`, '/eventId'),
  invalidQuery(`${q}/get-event-details?eventId=abc`, '/eventId'),
  invalidQuery(`${q}/get-event-details?eventId=${someId}&eventId=${someId}`, '/eventId'),
  invalidQuery(`${q}/get-event-details?eventId=${someId}&extra=1`, '/extra'),
  invalidQuery(`${q}/get-event-details?eventId[]=${someId}`, '/eventId'),
  invalidQuery(`${q}/get-event-details/stream?eventId=abc`, '/eventId'),
  invalidQuery(`${q}/list-upcoming-events?limit=0`, '/limit'),
  invalidQuery(`${q}/list-upcoming-events?limit=101`, '/limit'),
  invalidQuery(`${q}/list-upcoming-events?limit=abc`, '/limit'),
  invalidQuery(`${q}/list-upcoming-events?limit=1.5`, '/limit'),
  invalidQuery(`${q}/list-upcoming-events?limit=true`, '/limit'),
  invalidQuery(`${q}/list-upcoming-events?limit=`, '/limit'),
  invalidQuery(`${q}/list-upcoming-events?limit=1&limit=2`, '/limit'),
  invalidQuery(`${q}/list-upcoming-events?cursor=!!not*a*cursor!!`, '/cursor'),
  invalidQuery(`${q}/list-upcoming-events?cursor=${'A'.repeat(201)}`, '/cursor'),
  invalidQuery(`${q}/list-upcoming-events?from=yesterday`, '/from'),
  invalidQuery(`${q}/list-upcoming-events?to=2026-13-01T00:00:00Z`, '/to'),
  invalidQuery(`${q}/list-upcoming-events?sort=desc`, '/sort'),
  invalidQuery(`${q}/list-my-registrations?limit=0`, '/limit', alice),
  invalidQuery(`${q}/list-my-registrations?limit=101`, '/limit', alice),
  invalidQuery(`${q}/list-my-registrations?limit=abc`, '/limit', alice),
  invalidQuery(`${q}/list-my-registrations?status=pending`, '/status', alice),
  invalidQuery(`${q}/list-my-registrations?participantId=`, '/participantId', alice),
  invalidQuery(`${q}/list-my-registrations?cursor=%25%25`, '/cursor', alice),
]

describe.each(modes)('bad input over HTTP (%s)', (mode) => {
  let s: TestServer
  let eventId: string
  beforeAll(async () => {
    s = await startTestServer(mode)
    eventId = (await createEventVia(s, { capacity: 5 })).eventId
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  for (const c of [...commandCases, ...queryCases]) {
    it(`${c.name}: ${c.status} ${c.code}, nothing written`, async () => {
      const head = await s.head()
      const response = await c.send(s, eventId)
      expectProblem(response, c.status, c.code)
      if (c.status === 400) expectInvalid(response, ...(c.paths ?? []))
      expect(await s.head()).toBe(head)
    })
  }

  it('answers 400 for a cursor changed by one character', async () => {
    const first = await createEventVia(s, {
      startsAt: '2036-01-01T10:00:00Z',
      endsAt: '2036-01-01T11:00:00Z',
    })
    const second = await createEventVia(s, {
      startsAt: '2036-01-01T12:00:00Z',
      endsAt: '2036-01-01T13:00:00Z',
    })
    const window = 'from=2036-01-01T00:00:00Z&to=2036-01-02T00:00:00Z'
    const page = await s.get(`${q}/list-upcoming-events?${window}&limit=1`, {
      headers: { 'x-min-position': second.position },
    })
    const { data, nextCursor } = page.json<{ data: { eventId: string }[]; nextCursor: string }>()
    expect(data.map((e) => e.eventId)).toEqual([first.eventId])
    expect(nextCursor).toEqual(expect.any(String))
    // '*' is not in the base64url alphabet: the cursor no longer decodes to what was given out.
    const tampered = `${nextCursor.slice(0, 10)}*${nextCursor.slice(11)}`
    expectInvalid(await s.get(`${q}/list-upcoming-events?${window}&cursor=${tampered}`), '/cursor')
  })

  it.each([
    ['a key that is not a listing key', Buffer.from('not-a-key').toString('base64url')],
    ['Redis range syntax', Buffer.from('[+').toString('base64url')],
    ['a long key', Buffer.from('z'.repeat(140)).toString('base64url')],
  ])('answers a forged cursor (%s) with a page or a 400, never a 500', async (_name, cursor) => {
    for (const url of [
      `${q}/list-upcoming-events?cursor=${cursor}`,
      `${q}/list-my-registrations?cursor=${cursor}`,
    ]) {
      const response = await s.get(url, { caller: alice })
      expect([200, 400]).toContain(response.statusCode)
      if (response.statusCode === 200)
        expect(response.json<{ data: unknown[] }>().data).toEqual(expect.any(Array))
    }
  })

  it('answers 413 for 2 MiB of whitespace, and writes nothing', async () => {
    const head = await s.head()
    const response = await s.app.inject({
      method: 'POST',
      url: commandUrl('create-event'),
      headers: { authorization: s.bearer(organizer), 'content-type': 'application/json' },
      payload: Buffer.alloc(2 * 1024 * 1024, 0x20),
    })
    expectProblem(response, 413, 'PAYLOAD_TOO_LARGE')
    expect(await s.head()).toBe(head)
  })

  it.each(['application/json; charset=utf-8', 'Application/JSON'])(
    'accepts a command sent as %s',
    async (type) => {
      const response = await s.app.inject({
        method: 'POST',
        url: commandUrl('create-event'),
        headers: { authorization: s.bearer(organizer), 'content-type': type },
        payload: JSON.stringify(valid),
      })
      expect(response.statusCode).toBe(200)
    },
  )

  it('accepts the boundary values: title of 200, description of 5000, capacity 1 and 100000', async () => {
    for (const body of [
      { ...valid, title: 't'.repeat(200), description: 'd'.repeat(5000), capacity: 1 },
      { ...valid, capacity: 100_000 },
    ]) {
      const response = await s.post(commandUrl('create-event'), body, { caller: organizer })
      expect(response.statusCode).toBe(200)
    }
  })
})
