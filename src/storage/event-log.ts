import type { NewEvent, StreamRef } from '../core/messages.js'
import type { SqlClient, Statement } from '../core/sql.js'
import type { EventMetadata, StoredEvent } from '../core/envelope.js'

export type { EventMetadata, StoredEvent } from '../core/envelope.js'

/**
 * Where a reader stands: the (transaction id, position) of the last event it consumed. Events are
 * consumed in that order, not by position alone: see `readAfter`.
 */
export interface Checkpoint {
  txId: string
  position: string
}

export const origin: Checkpoint = { txId: '0', position: '0' }

export function compareCheckpoints(a: Checkpoint, b: Checkpoint): number {
  const byTx = compareDecimal(a.txId, b.txId)
  return byTx !== 0 ? byTx : compareDecimal(a.position, b.position)
}

/**
 * Where a reader reads on from: after its checkpoint, or, once a complete read (fewer events than its
 * limit) has seen every event of the transactions below `horizon`, from transaction `horizon` on. A
 * reader of few event types keeps its checkpoint at the last event it applied; reading from there
 * each time would scan every later event of other types again, on every commit.
 */
export function readFrom(checkpoint: Checkpoint, horizon: string): Checkpoint {
  if (horizon === '0') return checkpoint
  const below = { txId: (BigInt(horizon) - 1n).toString(), position: '9223372036854775807' }
  return compareCheckpoints(below, checkpoint) > 0 ? below : checkpoint
}

/**
 * Where a read that stopped short and found none of a reader's events moves its stored checkpoint:
 * to the log's last event below the horizon, once that is `after` positions or more past it (a
 * restart then walks at most that much of the log for types that did not come). Nearer, nothing,
 * so that a quiet reader writes nothing on every commit of other types.
 */
export function farBelow(batch: Batch, checkpoint: Checkpoint, after: number): Checkpoint | undefined {
  const { below } = batch
  if (batch.full || batch.events.length > 0 || !below) return undefined
  return BigInt(below.position) - BigInt(checkpoint.position) >= BigInt(after) &&
    compareCheckpoints(below, checkpoint) > 0
    ? below
    : undefined
}

/**
 * How far past its checkpoint the log goes before a reader that found none of its events moves it:
 * one write per thousand events of other types, and a process started while a projector is stopped
 * counts the lag of its read models (status.ts) at most this far from what the projector had read.
 */
export const defaultPersistAfter = 1_000

/**
 * The version a stream is at, as the transaction sees it (0: no events). For a state-stored
 * aggregate whose rows do not hold its stream's version; the append still checks it.
 */
export async function streamVersion(sql: SqlClient, streamId: string): Promise<number> {
  const [row] = await sql.query<{ version: number }>(
    'SELECT coalesce(max(stream_version), 0)::int AS version FROM tandem.event_log WHERE stream_id = $1',
    [streamId],
  )
  return row?.version ?? 0
}

/** Compares non-negative decimal strings without converting them to numbers. */
export function compareDecimal(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0
}

/**
 * The statement that appends `events` to a stream after `expectedVersion`, returning their positions.
 * It fails as a serialization failure (40001, tried again) if the stream's previous event was written
 * by a newer transaction: readers, who read in transaction order, would take the two in the wrong
 * order (migration core/011).
 */
export function appendStatement(
  stream: StreamRef,
  events: readonly NewEvent[],
  metadata: EventMetadata,
): Statement {
  const meta = JSON.stringify(metadata)
  if (events.length === 1) {
    const [event] = events as [NewEvent]
    return {
      text: `INSERT INTO tandem.event_log (stream_id, stream_version, type, data, metadata)
             SELECT $1, $2, $3, $4::jsonb, $5::jsonb WHERE tandem.follows_stream_head($1, $2)
             RETURNING position`,
      params: [stream.id, stream.expectedVersion + 1, event.type, JSON.stringify(event.data), meta],
    }
  }
  return {
    text: `INSERT INTO tandem.event_log (stream_id, stream_version, type, data, metadata)
           SELECT $1, v, t, d::jsonb, $5::jsonb FROM unnest($2::int[], $3::text[], $4::text[]) AS e(v, t, d)
           WHERE tandem.follows_stream_head($1, v)
           RETURNING position`,
    params: [
      stream.id,
      events.map((_, i) => stream.expectedVersion + 1 + i),
      events.map((e) => e.type),
      events.map((e) => JSON.stringify(e.data)),
      meta,
    ],
  }
}

export interface Batch {
  events: StoredEvent[]
  /**
   * Every transaction below it had ended when the batch was read, so once a reader has consumed all
   * events below it, nothing below it can appear later. The oldest transaction still running, but no
   * further than one past the log's newest transaction: an id past that may be handed out again after
   * the database crashes (see `readAfter`).
   */
  horizon: string
  /**
   * Committed events lie at or past the horizon, unread: a transaction that began before them is
   * still running (anywhere on the server: another database's too). They become readable when it
   * ends, which wakes nobody, so the reader should look again soon rather than wait for its poll.
   */
  held: boolean
  /**
   * The newest transaction holding events, as the read saw the log (null: none). A horizon that moves
   * while this stays below where it was passes no event: it can show no waiter anything new.
   */
  top: string | null
  /** The read stopped at its limit: more events may follow at once. */
  full: boolean
  /**
   * The log's last event below the horizon, of whatever type (undefined: none). A read that stopped
   * short has seen every event of its types up to it: a reader that found none can keep it as its
   * checkpoint, and a process starting from there does not walk those events again.
   */
  below?: Checkpoint
  /**
   * The last event the read took, of whatever type: where its reader's checkpoint goes once the
   * batch is applied. Past the last of `events` when a shared read (projections/shared-reads.ts)
   * gave this reader only the events of its types; undefined when the read took none.
   */
  through?: Checkpoint
}

/**
 * Reads the events after `after`, gap-safe. Positions come from a sequence and commit out of order:
 * a reader trusting `position > checkpoint` skips an event whose transaction commits after a later
 * one was read. So only events of transactions below the snapshot's xmin (all ended) are read, in
 * (transaction id, position) order, which cannot change once they are visible.
 *
 * The horizon stops one past the log's newest transaction (`crashSafeHorizon`): a transaction that
 * wrote nothing (a NOTIFY, a read that took an id) commits without waiting for its WAL to reach the
 * disk, and after a crash PostgreSQL hands its id out again. A reader that had moved past such ids
 * skipped the first events written after the restart (seen: a read model a registration short for
 * good after `pg_ctl stop -m immediate` under load). A transaction that wrote events waited for the
 * disk before it committed: no id up to the newest of them is handed out again.
 */
export async function readAfter(
  sql: SqlClient,
  after: Checkpoint,
  options: { limit: number; types?: readonly string[] },
): Promise<Batch> {
  // tandem.events_after walks the log's (tx_id, position) index in order (migration core/009).
  type Row = Nullable<EventRow> & {
    horizon: string
    top: string | null
    held: boolean
    below_tx: string | null
    below_position: string | null
  }
  const rows = await sql.query<Row>(
    `WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
          m AS (SELECT max(tx_id) AS top FROM tandem.event_log),
          b AS (SELECT l.tx_id, l.position FROM h CROSS JOIN LATERAL (
                  SELECT tx_id, position FROM tandem.event_log WHERE tx_id < h.xmin
                  ORDER BY tx_id DESC, position DESC LIMIT 1) l)
     SELECT ${crashSafeHorizon('h.xmin', 'm.top')} AS horizon, m.top::text AS top, m.top >= h.xmin AS held,
            b.tx_id::text AS below_tx, b.position::text AS below_position,
            e.position::text, e.tx_id::text, e.stream_id, e.stream_version,
            e.type, e.data, e.metadata, ${recordedMs}
     FROM h CROSS JOIN m LEFT JOIN b ON true
       LEFT JOIN LATERAL tandem.events_after(h.xmin, $1::xid8, $2::bigint, $4::text[], $3::integer) e ON true`,
    [after.txId, after.position, options.limit, options.types ?? null],
  )
  const first = rows[0]
  const horizon = first?.horizon ?? after.txId
  const events = rows.filter((r): r is Row & EventRow => r.position !== null).map(toStoredEvent)
  const last = events.at(-1)
  return {
    events,
    horizon,
    held: first?.held === true,
    top: first?.top ?? null,
    full: events.length === options.limit,
    ...(last ? { through: { txId: last.txId, position: last.position } } : {}),
    ...(first?.below_tx && first.below_position
      ? { below: { txId: first.below_tx, position: first.below_position } }
      : {}),
  }
}

/**
 * The events of one stream in version order; with `asOf`, only those recorded by then: the stream as
 * it stood at that moment.
 */
export async function readStream(
  sql: SqlClient,
  streamId: string,
  options: { asOf?: Date } = {},
): Promise<StoredEvent[]> {
  const rows = await sql.query<EventRow>(
    `SELECT position::text, tx_id::text, stream_id, stream_version, type, data, metadata, ${recordedMs}
     FROM tandem.event_log WHERE stream_id = $1 AND recorded_at <= coalesce($2::timestamptz, 'infinity')
     ORDER BY stream_version`,
    [streamId, options.asOf ?? null],
  )
  return rows.map(toStoredEvent)
}

/** The events at these positions, in position order (positions the log does not hold are left out). */
export async function readPositions(sql: SqlClient, positions: readonly string[]): Promise<StoredEvent[]> {
  if (positions.length === 0) return []
  const rows = await sql.query<EventRow>(
    `SELECT position::text, tx_id::text, stream_id, stream_version, type, data, metadata, ${recordedMs}
     FROM tandem.event_log WHERE position = ANY($1::bigint[]) ORDER BY event_log.position`,
    [positions],
  )
  return rows.map(toStoredEvent)
}

/** Locks a stream until the transaction ends (for commands that read it whole: see `readStream`). */
export const lockStream = (streamId: string): Statement => ({
  text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 7419)) AS locked',
  params: [streamId],
})

/** The transaction that wrote the event at `position`, or undefined if there is none. */
export async function transactionOf(sql: SqlClient, position: string): Promise<string | undefined> {
  const [row] = await sql.query<{ tx_id: string }>(
    'SELECT tx_id::text FROM tandem.event_log WHERE position = $1',
    [position],
  )
  return row?.tx_id
}

/**
 * SQL for a read's horizon, as text: the snapshot's `xmin`, but no further than one past `top`, the
 * log's newest transaction (null: an empty log). Ids past the newest transaction that wrote to the
 * disk may be handed out again after a crash (`readAfter`).
 */
export const crashSafeHorizon = (xmin: string, top: string) =>
  `least(${xmin}::text::numeric, coalesce(${top}::text::numeric + 1, 1))::text`

/**
 * The log's head: its highest position ('0' when empty), and its last event in the order readers take
 * it (transaction, then position). The two differ where a transaction that took its id first (at its
 * first write) appended after a newer one and committed first: a reader past the highest position
 * may not have read the newer one's event below it; one past `last` has read every event.
 */
export async function logHead(sql: SqlClient): Promise<{ position: string; last: Checkpoint | undefined }> {
  // Named apart from the columns: `ORDER BY position` would otherwise sort the text output ('9' > '45').
  const [row] = await sql.query<{ head: string | null; tx: string | null; last: string | null }>(
    `SELECT (SELECT position::text AS top FROM tandem.event_log ORDER BY position DESC LIMIT 1) AS head,
            l.tx_id::text AS tx, l.position::text AS last
     FROM (SELECT 1) AS one LEFT JOIN LATERAL (
       SELECT tx_id, position FROM tandem.event_log ORDER BY tx_id DESC, position DESC LIMIT 1) l ON true`,
  )
  return {
    position: row?.head ?? '0',
    last: row?.tx && row.last ? { txId: row.tx, position: row.last } : undefined,
  }
}

/** The highest position written so far (one index read: waiters for a position read it often). */
export async function headPosition(sql: SqlClient): Promise<string> {
  const [row] = await sql.query<{ head: string }>(
    'SELECT position::text AS head FROM tandem.event_log ORDER BY position DESC LIMIT 1',
  )
  return row?.head ?? '0'
}

type Nullable<T> = { [K in keyof T]: T[K] | null }

/**
 * When an event was recorded, as epoch milliseconds (rounded down, as a Date keeps it): a number is
 * parsed in a fraction of a timestamp's time, on every event every reader reads.
 */
const recordedMs = 'floor(extract(epoch FROM recorded_at) * 1000)::float8 AS recorded_ms'

interface EventRow {
  position: string
  tx_id: string
  stream_id: string
  stream_version: number
  type: string
  data: unknown
  metadata: EventMetadata
  recorded_ms: number
}

function toStoredEvent(r: EventRow): StoredEvent {
  return {
    position: r.position,
    txId: r.tx_id,
    streamId: r.stream_id,
    version: r.stream_version,
    type: r.type,
    data: r.data,
    metadata: r.metadata,
    recordedAt: new Date(r.recorded_ms),
  }
}
