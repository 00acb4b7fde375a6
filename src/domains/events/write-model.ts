import { type SqlClient, type Statement, type Migration } from '../../kernel/index.js'
import type { EventsEvent } from './messages.js'
import { evolve, type ActiveRegistration, type EventRow, type EventState } from './rules.js'

/** The normalized write model: events and their registrations, in PostgreSQL. */
export const migrations: readonly Migration[] = [
  {
    id: 'events/001-write-model',
    sql: `
      CREATE SCHEMA events;
      CREATE TABLE events.event (
        event_id uuid PRIMARY KEY,
        organizer_id text NOT NULL,
        title text NOT NULL,
        description text,
        venue text,
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        capacity integer NOT NULL CHECK (capacity BETWEEN 1 AND 100000),
        confirmed_count integer NOT NULL CHECK (confirmed_count >= 0),
        waitlist_count integer NOT NULL CHECK (waitlist_count >= 0),
        next_seq bigint NOT NULL,
        status text NOT NULL CHECK (status IN ('scheduled', 'deleted')),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CHECK (ends_at > starts_at),
        -- The invariant, once more where no code path can get around it.
        CHECK (confirmed_count <= capacity)
      ) WITH (fillfactor = 70); -- room on the page: every registration rewrites its event's row (HOT updates)
      CREATE TABLE events.registration (
        registration_id uuid PRIMARY KEY,
        event_id uuid NOT NULL REFERENCES events.event,
        participant_id text NOT NULL,
        name text,
        email text,
        status text NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
        seq bigint NOT NULL,
        registered_at timestamptz NOT NULL,
        confirmed_at timestamptz,
        cancelled_at timestamptz
      );
      -- One active registration per participant and event.
      CREATE UNIQUE INDEX registration_active ON events.registration (event_id, participant_id)
        WHERE status <> 'cancelled';
      CREATE INDEX registration_waitlist ON events.registration (event_id, seq) WHERE status = 'waitlisted'`,
  },
]

const eventColumns = `event_id::text AS "eventId", organizer_id AS "organizerId", title, description, venue,
  starts_at AS "startsAt", ends_at AS "endsAt", capacity, confirmed_count AS "confirmedCount",
  waitlist_count AS "waitlistCount", next_seq::int AS "nextSeq", status, version,
  created_at AS "createdAt", updated_at AS "updatedAt"`

const registrationColumns = `registration_id::text AS "registrationId", participant_id AS "participantId",
  status, seq::int AS seq`

type RawEvent = Omit<EventRow, 'startsAt' | 'endsAt' | 'createdAt' | 'updatedAt'> & {
  status: 'scheduled' | 'deleted'
  startsAt: Date
  endsAt: Date
  createdAt: Date
  updatedAt: Date
}

function toState(raw: RawEvent | undefined): EventState {
  if (!raw) return { status: 'absent' }
  return {
    ...raw,
    startsAt: raw.startsAt.toISOString(),
    endsAt: raw.endsAt.toISOString(),
    createdAt: raw.createdAt.toISOString(),
    updatedAt: raw.updatedAt.toISOString(),
  }
}

/** Reads the event and locks its row: commands on one event take turns, so counts cannot race. */
export async function loadEvent(tx: SqlClient, eventId: string): Promise<EventState> {
  const [raw] = await tx.query<RawEvent>(
    `SELECT ${eventColumns} FROM events.event WHERE event_id = $1 FOR UPDATE`,
    [eventId],
  )
  return toState(raw)
}

const activeRegistration = `(SELECT row_to_json(r) FROM (SELECT ${registrationColumns} FROM events.registration
  WHERE event_id = $1 AND participant_id = $2 AND status <> 'cancelled') r)`

/**
 * For a registration: the event (locked) and the participant's active registration, in one statement.
 * In READ COMMITTED the registration is read with the snapshot the statement started with, which may
 * predate the commit of a concurrent registration holding the lock; such a duplicate then fails on the
 * one-active-registration index and the command runs again, seeing it.
 */
export async function loadForRegistration(tx: SqlClient, eventId: string, participantId: string) {
  const [row] = await tx.query<RawEvent & { active: ActiveRegistration | null }>(
    `SELECT ${eventColumns}, ${activeRegistration} AS active FROM events.event WHERE event_id = $1 FOR UPDATE`,
    [eventId, participantId],
  )
  if (!row) return { event: toState(undefined), active: undefined }
  const { active, ...event } = row
  return { event: toState(event), active: active ?? undefined }
}

/**
 * For a cancellation: the event (locked), the participant's active registration and the head of the
 * waitlist, which nothing else guards: two statements, sent together, so that the second starts after
 * the lock is held and sees every commit before it.
 */
export async function loadForCancellation(tx: SqlClient, eventId: string, participantId: string) {
  const [event, [row]] = await Promise.all([
    loadEvent(tx, eventId),
    tx.query<{ active: ActiveRegistration | null; next: ActiveRegistration | null }>(
      `SELECT ${activeRegistration} AS active,
         (SELECT row_to_json(w) FROM (SELECT ${registrationColumns} FROM events.registration
            WHERE event_id = $1 AND status = 'waitlisted' ORDER BY seq LIMIT 1) w) AS next`,
      [eventId, participantId],
    ),
  ])
  return { event, active: row?.active ?? undefined, nextWaitlisted: row?.next ?? undefined }
}

/** The first `count` waitlisted registrations, in order of arrival. */
export async function loadWaitlist(
  tx: SqlClient,
  eventId: string,
  count: number,
): Promise<ActiveRegistration[]> {
  if (count <= 0) return []
  return tx.query<ActiveRegistration>(
    `SELECT ${registrationColumns} FROM events.registration
     WHERE event_id = $1 AND status = 'waitlisted' ORDER BY seq LIMIT $2`,
    [eventId, count],
  )
}

const blank: EventRow = {
  eventId: '',
  organizerId: '',
  title: '',
  description: null,
  venue: null,
  startsAt: '',
  endsAt: '',
  capacity: 1,
  confirmedCount: 0,
  waitlistCount: 0,
  nextSeq: 1,
  version: 0,
  createdAt: '',
  updatedAt: '',
}

/** The event as the events leave it: what its row holds after them, as `loadEvent` would read it. */
export function eventAfter(
  events: readonly EventsEvent[],
  state: EventState,
): { status: 'scheduled' | 'deleted' } & EventRow {
  const { status: _, ...before } = state.status === 'absent' ? { status: 'absent', ...blank } : state
  const deleted = state.status === 'deleted' || events.some((e) => e.type === 'EventDeleted')
  return { status: deleted ? 'deleted' : 'scheduled', ...events.reduce(evolve, before) }
}

/** The rows the events change: the event row as it ends up, and each registration touched. */
export function persist(events: readonly EventsEvent[], state: EventState): Statement[] {
  const after = eventAfter(events, state)
  const statements: Statement[] = [
    state.status === 'absent' ? insertEvent(after) : updateEvent(after, after.status),
  ]
  for (const event of events) statements.push(...registrationRows(event))
  return statements
}

/** The columns a command can change, each with the value it takes from the row. */
const changeable: readonly [string, (row: EventRow, status: EventStatus) => unknown][] = [
  ['title', (r) => r.title],
  ['description', (r) => r.description],
  ['venue', (r) => r.venue],
  ['starts_at', (r) => r.startsAt],
  ['ends_at', (r) => r.endsAt],
  ['capacity', (r) => r.capacity],
  ['confirmed_count', (r) => r.confirmedCount],
  ['waitlist_count', (r) => r.waitlistCount],
  ['next_seq', (r) => r.nextSeq],
  ['status', (_r, status) => status],
  ['version', (r) => r.version],
  ['updated_at', (r) => r.updatedAt],
]
type EventStatus = 'scheduled' | 'deleted'
const values = (row: EventRow, status: EventStatus) => changeable.map(([, value]) => value(row, status))

const insertColumns = [...changeable.map(([column]) => column), 'event_id', 'organizer_id', 'created_at']
const insertEventText = `INSERT INTO events.event (${insertColumns.join(', ')})
  VALUES (${insertColumns.map((_, i) => `$${i + 1}`).join(', ')})`
const updateEventText = `UPDATE events.event SET ${changeable.map(([column], i) => `${column} = $${i + 1}`).join(', ')}
  WHERE event_id = $${changeable.length + 1}`

function insertEvent(row: EventRow): Statement {
  return {
    text: insertEventText,
    params: [...values(row, 'scheduled'), row.eventId, row.organizerId, row.createdAt],
  }
}

/** The locked row, as the events left it: absolute values are safe under the lock. */
function updateEvent(row: EventRow, status: EventStatus): Statement {
  return { text: updateEventText, params: [...values(row, status), row.eventId] }
}

function registrationRows(event: EventsEvent): Statement[] {
  switch (event.type) {
    case 'ParticipantRegistered':
    case 'ParticipantWaitlisted': {
      const d = event.data
      const confirmed = event.type === 'ParticipantRegistered'
      return [
        {
          text: `INSERT INTO events.registration (registration_id, event_id, participant_id, name, email, status, seq,
                   registered_at, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          params: [
            d.registrationId,
            d.eventId,
            d.participantId,
            d.name,
            d.email,
            confirmed ? 'confirmed' : 'waitlisted',
            d.seq,
            d.registeredAt,
            confirmed ? d.registeredAt : null,
          ],
        },
      ]
    }
    case 'RegistrationCancelled':
      return [
        {
          text: `UPDATE events.registration SET status = 'cancelled', cancelled_at = $2 WHERE registration_id = $1`,
          params: [event.data.registrationId, event.data.cancelledAt],
        },
      ]
    case 'WaitlistedParticipantConfirmed':
      return [
        {
          text: `UPDATE events.registration SET status = 'confirmed', confirmed_at = $2 WHERE registration_id = $1`,
          params: [event.data.registrationId, event.data.confirmedAt],
        },
      ]
    case 'EventDeleted':
      return [
        {
          text: `UPDATE events.registration SET status = 'cancelled', cancelled_at = $2
                 WHERE event_id = $1 AND status <> 'cancelled'`,
          params: [event.data.eventId, event.data.deletedAt],
        },
      ]
    case 'EventCreated':
    case 'EventUpdated':
      return []
  }
}
