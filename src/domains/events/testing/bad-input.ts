import type { LightMyRequestResponse } from 'fastify'
import type { Caller } from '../../../kernel/index.js'
import { alice, type TestServer } from '../../../kernel/testing.js'
import { eventCommand, organizer } from './http.js'

/**
 * The events domain's bad input, a case each: its commands' and queries' schemas and checks (the
 * platform's JSON, media type and size handling is tested on the notes domain, src/http/).
 */

export const valid = {
  title: 'Valid',
  capacity: 10,
  startsAt: '2035-03-01T10:00:00Z',
  endsAt: '2035-03-01T12:00:00Z',
}

/** A bad request: sent with what it needs (an existing event's id), answered as `status`/`code`. */
export interface Case {
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
    s.post(eventCommand(name), body(eventId), { caller })

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

export const commandCases: Case[] = [
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
export const queryCases: Case[] = [
  invalidQuery(`${q}/list-upcoming-events?from=yesterday`, '/from'),
  invalidQuery(`${q}/list-upcoming-events?to=2026-13-01T00:00:00Z`, '/to'),
  invalidQuery(`${q}/list-upcoming-events?sort=desc`, '/sort'),
  invalidQuery(`${q}/list-my-registrations?limit=0`, '/limit', alice),
  invalidQuery(`${q}/list-my-registrations?limit=101`, '/limit', alice),
  invalidQuery(`${q}/list-my-registrations?limit=abc`, '/limit', alice),
  invalidQuery(`${q}/list-my-registrations?status=pending`, '/status', alice),
  invalidQuery(`${q}/list-my-registrations?participantId=`, '/participantId', alice),
]
