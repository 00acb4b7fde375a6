import {
  unreachable,
  anyone,
  defineQuery,
  Page,
  type LexBound,
  defineKvProjection,
  keyAfter,
  laterTime,
  Limit,
  memberKey,
  pageOf,
  ValidationError,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { allEvents, type EventsEvent } from '../messages.js'
import { notFound, utc } from '../rules.js'

/** The event-details read model: one document per event, and the upcoming events ordered by start. */

const Time = Type.String({ format: 'date-time' })
export const EventDetails = Type.Object({
  eventId: Type.String({ format: 'uuid' }),
  title: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  venue: Type.Union([Type.String(), Type.Null()]),
  startsAt: Time,
  endsAt: Time,
  capacity: Type.Integer(),
  confirmedCount: Type.Integer(),
  waitlistCount: Type.Integer(),
  remainingSeats: Type.Integer(),
  organizerId: Type.String(),
  createdAt: Time,
  updatedAt: Time,
})
type Details = Static<typeof EventDetails>

const name = 'event-details'
const doc = (eventId: string) => `event:${eventId}`
const upcoming = 'upcoming'
/** Upcoming events sort by start time, then id: members are `<startsAt>|<eventId>`, all at score 0. */
const member = (d: { startsAt: string; eventId: string }) => `${d.startsAt}|${d.eventId}`

export const eventDetailsProjection = defineKvProjection({
  domain: 'events',
  name,
  version: 1,
  events: allEvents,
  tags: (event) => [`event:${event.data.eventId}`, 'events:upcoming'],
  prefetch: (events) => events.map((e) => doc(e.data.eventId)),
  async apply(event, kv) {
    if (event.type === 'EventCreated') {
      const d = event.data
      const details: Details = {
        ...d,
        confirmedCount: 0,
        waitlistCount: 0,
        remainingSeats: d.capacity,
        updatedAt: d.createdAt,
      }
      kv.setJson(doc(d.eventId), details)
      kv.zadd(upcoming, 0, member(d))
      return
    }
    const current = await kv.getJson<Details>(doc(event.data.eventId))
    if (!current) return
    const next = evolveDetails(current, event)
    if (next === undefined) {
      kv.del(doc(current.eventId))
      kv.zrem(upcoming, member(current))
      return
    }
    if (next.startsAt !== current.startsAt) {
      kv.zrem(upcoming, member(current))
      kv.zadd(upcoming, 0, member(next))
    }
    kv.setJson(doc(next.eventId), { ...next, remainingSeats: next.capacity - next.confirmedCount })
  },
})

/** The document after an event; undefined once the event is deleted. */
function evolveDetails(d: Details, event: EventsEvent): Details | undefined {
  switch (event.type) {
    case 'EventCreated':
      return d
    case 'EventUpdated':
      return { ...d, ...event.data.changes, updatedAt: event.data.updatedAt }
    case 'EventDeleted':
      return undefined
    case 'ParticipantRegistered':
      return { ...d, confirmedCount: d.confirmedCount + 1 }
    case 'ParticipantWaitlisted':
      return { ...d, waitlistCount: d.waitlistCount + 1 }
    case 'RegistrationCancelled':
      return event.data.previousStatus === 'confirmed'
        ? { ...d, confirmedCount: d.confirmedCount - 1 }
        : { ...d, waitlistCount: d.waitlistCount - 1 }
    case 'WaitlistedParticipantConfirmed':
      return { ...d, confirmedCount: d.confirmedCount + 1, waitlistCount: d.waitlistCount - 1 }
    default:
      return unreachable(event)
  }
}

export const getEventDetails = defineQuery({
  domain: 'events',
  name: 'get-event-details',
  summary: 'One event, with its seats taken and left',
  input: Type.Object({ eventId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
  output: EventDetails,
  access: anyone,
  readModels: [name],
  notFound: 'EVENT_NOT_FOUND',
  live: true,
  examples: [{ eventId: '0190a0d0-4c5e-7a1b-8c2d-3e4f5a6b7c8d' }],
  cache: { ttlMs: 60_000, tags: (q) => [`event:${q.eventId}`] },
  async handle(q, { stores }) {
    const text = await stores.kv(name).get(doc(q.eventId))
    if (text === null) throw notFound()
    return JSON.parse(text) as Details
  },
})

export const listUpcomingEvents = defineQuery({
  domain: 'events',
  name: 'list-upcoming-events',
  summary: 'Events not yet started, by start time then id',
  input: Type.Object(
    {
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
      from: Type.Optional(Time),
      to: Type.Optional(Time),
    },
    { additionalProperties: false },
  ),
  output: Page(EventDetails),
  access: anyone,
  readModels: [name],
  paged: true,
  examples: [{ limit: 10 }, { from: '2099-01-01T00:00:00Z', to: '2099-12-31T23:59:59Z', limit: 5 }],
  cache: {
    ttlMs: 5_000,
    tags: () => ['events:upcoming'],
    // Kept no longer than until the first event listed starts: then it is no longer upcoming.
    until: (_q, page) => (page.items[0] ? Date.parse(page.items[0].startsAt) : undefined),
  },
  async handle(q, { stores }) {
    const kv = stores.kv(name)
    const limit = q.limit ?? 20
    const now = new Date().toISOString()
    // A window that ends before it begins is a mistake, refused as other ranges are (not an empty page).
    if (q.from !== undefined && q.to !== undefined && laterTime(q.from, q.to))
      throw new ValidationError([{ path: '/from', message: 'must not be after to' }])
    const from = q.from === undefined ? undefined : utc(q.from, '/from', 'ceil')
    // Not yet started: members sort as `<startsAt>|<eventId>`, and everything starting at `now` or
    // earlier sorts below `<now>|~`. `from` and `to` are both inclusive.
    const floor =
      from !== undefined && from > now
        ? { key: from, inclusive: true }
        : { key: `${now}|~`, inclusive: false }
    // A cursor names a member: `<time>|<id>`, checked (a made-up one is a 400, not a page from nowhere).
    const key = keyAfter(q.cursor, 'list-upcoming-events')
    const after = key === undefined ? undefined : `${key.time}|${key.id}`
    const min: LexBound =
      after !== undefined && after >= floor.key
        ? `(${after}`
        : floor.inclusive
          ? `[${floor.key}`
          : `(${floor.key}`
    const max: LexBound = q.to === undefined ? '+' : `[${utc(q.to, '/to')}|~`
    const members = await kv.zrangeByLex(upcoming, { min, max, count: limit + 1 })
    const page = members.slice(0, limit)
    const docs = await kv.mget(page.map((m) => doc(m.slice(m.indexOf('|') + 1))))
    const items = docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d) as Details)
    return { items, nextCursor: pageOf(members, limit, memberKey, 'list-upcoming-events').nextCursor }
  },
})
