import type { SqlClient, Statement } from '../../core/sql.js'
import type { Migration } from '../../storage/migrations.js'
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
      );
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
        cancelled_at timestamptz,
        UNIQUE (event_id, seq)
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

/**
 * The event (locked) with the participant's active registration and the head of the waitlist.
 * Two statements, sent together: in READ COMMITTED a statement reads with the snapshot it started
 * with, so registrations read in the same statement as the lock could predate the lock holder's
 * commit. The second statement starts after the lock is held and sees everything committed before it.
 */
export async function loadRegistration(tx: SqlClient, eventId: string, participantId: string) {
  const [event, [row]] = await Promise.all([
    loadEvent(tx, eventId),
    tx.query<{ active: ActiveRegistration | null; next: ActiveRegistration | null }>(
      `SELECT
         (SELECT row_to_json(r) FROM (SELECT ${registrationColumns} FROM events.registration
            WHERE event_id = $1 AND participant_id = $2 AND status <> 'cancelled') r) AS active,
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

/** The rows the events change: the event row as it ends up, and each registration touched. */
export function persist(events: readonly EventsEvent[], state: EventState): Statement[] {
  const before = state.status === 'absent' ? blank : state
  const after = events.reduce(evolve, before)
  const deleted = state.status === 'deleted' || events.some((e) => e.type === 'EventDeleted')
  const statements: Statement[] = [upsertEvent(after, deleted ? 'deleted' : 'scheduled')]
  for (const event of events) statements.push(...registrationRows(event))
  return statements
}

function upsertEvent(row: EventRow, status: 'scheduled' | 'deleted'): Statement {
  return {
    text: `INSERT INTO events.event (event_id, organizer_id, title, description, venue, starts_at, ends_at, capacity,
             confirmed_count, waitlist_count, next_seq, status, version, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT (event_id) DO UPDATE SET title = $3, description = $4, venue = $5, starts_at = $6,
             ends_at = $7, capacity = $8, confirmed_count = $9, waitlist_count = $10, next_seq = $11,
             status = $12, version = $13, updated_at = $15`,
    params: [
      row.eventId,
      row.organizerId,
      row.title,
      row.description,
      row.venue,
      row.startsAt,
      row.endsAt,
      row.capacity,
      row.confirmedCount,
      row.waitlistCount,
      row.nextSeq,
      status,
      row.version,
      row.createdAt,
      row.updatedAt,
    ],
  }
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
