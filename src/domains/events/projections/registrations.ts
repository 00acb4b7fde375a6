import {
  UserId,
  unreachable,
  ForbiddenError,
  defineQuery,
  Page,
  signedIn,
  keyAfter,
  Limit,
  type KvBatch,
  defineKvProjection,
  memberKey,
  pageOf,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { allEvents } from '../messages.js'

/**
 * The registrations read model: each registration, each participant's registrations by time (all,
 * and per status), each event's waitlist in order, and the event's title and start for listings.
 */

const Status = Type.Enum(['confirmed', 'waitlisted', 'cancelled'])
type Status = Static<typeof Status>

interface Doc {
  registrationId: string
  eventId: string
  participantId: string
  status: Status
  seq: number
  registeredAt: string
}
interface EventSummary {
  title: string
  startsAt: string
}

const name = 'registrations'
const reg = (id: string) => `registration:${id}`
const summary = (eventId: string) => `event:${eventId}`
const ofEvent = (eventId: string) => `event:${eventId}:registrations`
const waitlist = (eventId: string) => `event:${eventId}:waitlist`
/** The ranks on an event's waitlist: touched when one leaves it, which moves those behind up. */
const waitlistTag = (eventId: string) => `waitlist:${eventId}`
const byParticipant = (participantId: string, status: Status | 'all') =>
  `participant:${participantId}:${status}`
/** A participant's registrations sort by time, then id: members are `<registeredAt>|<registrationId>`. */
const member = (d: Doc) => `${d.registeredAt}|${d.registrationId}`

function setStatus(kv: KvBatch, d: Doc, status: Status) {
  kv.zrem(byParticipant(d.participantId, d.status), member(d))
  if (d.status === 'waitlisted') kv.zrem(waitlist(d.eventId), d.registrationId)
  const next = { ...d, status }
  kv.setJson(reg(d.registrationId), next)
  kv.zadd(byParticipant(d.participantId, status), 0, member(next))
  if (status === 'waitlisted') kv.zadd(waitlist(d.eventId), d.seq, d.registrationId)
}

export const registrationsProjection = defineKvProjection({
  domain: 'events',
  name,
  version: 1,
  events: allEvents,
  tags({ type, data }) {
    // A participant's lists change with their registrations; every list showing an event, with its
    // title and start; and a registration leaving the waitlist (cancelled or confirmed) moves every
    // one behind it up, in their lists too.
    if (!('participantId' in data)) return [`event-summary:${data.eventId}`]
    const leaves = type === 'RegistrationCancelled' || type === 'WaitlistedParticipantConfirmed'
    return [`registrations:${data.participantId}`, ...(leaves ? [waitlistTag(data.eventId)] : [])]
  },
  prefetch: (events) =>
    events.flatMap((e) => {
      switch (e.type) {
        case 'EventUpdated':
          return [summary(e.data.eventId)]
        case 'RegistrationCancelled':
        case 'WaitlistedParticipantConfirmed':
          return [reg(e.data.registrationId)]
        // A new registration's document is written, not read; the others read nothing.
        case 'EventCreated':
        case 'EventDeleted':
        case 'ParticipantRegistered':
        case 'ParticipantWaitlisted':
          return []
        default:
          return unreachable(e)
      }
    }),
  async apply(event, kv) {
    switch (event.type) {
      case 'EventCreated':
      case 'EventUpdated': {
        const d = event.type === 'EventCreated' ? event.data : event.data.changes
        const current = await kv.getJson<EventSummary>(summary(event.data.eventId))
        if (d.title === undefined && d.startsAt === undefined) return
        kv.setJson(summary(event.data.eventId), {
          title: d.title ?? current?.title ?? '',
          startsAt: d.startsAt ?? current?.startsAt ?? '',
        })
        return
      }
      case 'ParticipantRegistered':
      case 'ParticipantWaitlisted': {
        const d = event.data
        const status = event.type === 'ParticipantRegistered' ? 'confirmed' : 'waitlisted'
        const doc: Doc = { ...d, status }
        kv.setJson(reg(d.registrationId), doc)
        kv.sadd(ofEvent(d.eventId), d.registrationId)
        kv.zadd(byParticipant(d.participantId, 'all'), 0, member(doc))
        kv.zadd(byParticipant(d.participantId, status), 0, member(doc))
        if (status === 'waitlisted') kv.zadd(waitlist(d.eventId), d.seq, d.registrationId)
        return
      }
      case 'RegistrationCancelled':
      case 'WaitlistedParticipantConfirmed': {
        const doc = await kv.getJson<Doc>(reg(event.data.registrationId))
        if (doc) setStatus(kv, doc, event.type === 'RegistrationCancelled' ? 'cancelled' : 'confirmed')
        return
      }
      case 'EventDeleted': {
        // Every participant's lists change, those filtered on `cancelled` included.
        for (const id of await kv.smembers(ofEvent(event.data.eventId))) {
          const doc = await kv.getJson<Doc>(reg(id))
          if (doc && doc.status !== 'cancelled') {
            setStatus(kv, doc, 'cancelled')
            kv.touch(`registrations:${doc.participantId}`)
          }
        }
        return
      }
    }
  },
})

export const MyRegistration = Type.Object({
  registrationId: Type.String({ format: 'uuid' }),
  eventId: Type.String({ format: 'uuid' }),
  eventTitle: Type.String(),
  startsAt: Type.String({ format: 'date-time' }),
  status: Status,
  registeredAt: Type.String({ format: 'date-time' }),
  waitlistPosition: Type.Optional(Type.Integer({ minimum: 1, description: '1 is next in line' })),
})
type MyRegistration = Static<typeof MyRegistration>

export const listMyRegistrations = defineQuery({
  domain: 'events',
  name: 'list-my-registrations',
  summary: "The caller's registrations, newest first (another participant's only for an admin)",
  input: Type.Object(
    {
      participantId: Type.Optional(UserId('Whose registrations (admins); default: the caller')),
      status: Type.Optional(Status),
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  output: Page(MyRegistration),
  access: signedIn(),
  readModels: [name],
  paged: true,
  examples: [{ limit: 10 }, { status: 'confirmed', limit: 5 }],
  cache: {
    ttlMs: 30_000,
    tags: (q, page, caller) => [
      `registrations:${q.participantId ?? caller?.id ?? ''}`,
      ...page.items.map((r) => `event-summary:${r.eventId}`),
      ...page.items.flatMap((r) => (r.status === 'waitlisted' ? [waitlistTag(r.eventId)] : [])),
    ],
  },
  async handle(q, { caller, stores }) {
    const participantId = q.participantId ?? caller?.id ?? ''
    if (participantId !== caller?.id && !caller?.roles.includes('admin')) {
      throw new ForbiddenError("Only an admin may list another participant's registrations")
    }
    const kv = stores.kv(name)
    const limit = q.limit ?? 20
    // A cursor names a member: `<time>|<id>`, checked (a made-up one is a 400, not the whole list).
    const key = keyAfter(q.cursor, 'list-my-registrations')
    const max = key === undefined ? ('+' as const) : (`(${key.time}|${key.id}` as const)
    const members = await kv.zrangeByLex(byParticipant(participantId, q.status ?? 'all'), {
      min: '-',
      max,
      count: limit + 1,
      reverse: true,
    })
    const page = members.slice(0, limit).map((m) => m.slice(m.indexOf('|') + 1))
    const docs = (await kv.mget(page.map(reg))).flatMap((d) => (d ? [JSON.parse(d) as Doc] : []))
    const events = await kv.mget(docs.map((d) => summary(d.eventId)))
    const items = await Promise.all(
      docs.map(async (d, i): Promise<MyRegistration> => {
        const event = JSON.parse(events[i] ?? '{"title":"","startsAt":""}') as EventSummary
        const item = {
          registrationId: d.registrationId,
          eventId: d.eventId,
          eventTitle: event.title,
          startsAt: event.startsAt,
          status: d.status,
          registeredAt: d.registeredAt,
        }
        if (d.status !== 'waitlisted') return item
        const rank = await kv.zrank(waitlist(d.eventId), d.registrationId)
        return rank === null ? item : { ...item, waitlistPosition: rank + 1 }
      }),
    )
    return { items, nextCursor: pageOf(members, limit, memberKey, 'list-my-registrations').nextCursor }
  },
})
