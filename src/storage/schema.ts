import type { SqlClient } from '../core/sql.js'
import type { Migration } from './migrations.js'

/** The migration that gives a new event log its identity. */
export const logIdentityMigration = 'core/003-log-identity'

/** The platform's own tables in the write database: the event log, idempotency records, timers, the audit log. */
export const writeMigrations: readonly Migration[] = [
  {
    id: 'core/001-event-log',
    sql: `
      CREATE TABLE tandem.event_log (
        position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        stream_id text NOT NULL,
        stream_version integer NOT NULL CHECK (stream_version > 0),
        type text NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT event_log_stream_version UNIQUE (stream_id, stream_version)
      );
      -- Readers walk the log in (transaction, position) order: see event-log.ts.
      CREATE INDEX event_log_tx_order ON tandem.event_log (tx_id, position)`,
  },
  {
    id: 'core/002-idempotency',
    sql: `
      CREATE TABLE tandem.idempotency (
        user_id text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        command_id uuid NOT NULL,
        result jsonb,
        tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key)
      );
      CREATE INDEX idempotency_created ON tandem.idempotency (created_at)`,
  },
  {
    id: logIdentityMigration,
    sql: `
      -- Names this event log: read stores kept elsewhere (Redis) key their data by it, so a fresh
      -- database never meets read models built from another one.
      CREATE TABLE tandem.log_identity (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), one boolean UNIQUE DEFAULT true);
      INSERT INTO tandem.log_identity DEFAULT VALUES`,
  },
  {
    id: 'core/004-idempotent-refusals',
    sql: `
      -- A key's first answer may be a refusal (EVENT_FULL): kept so that a retry gets it again.
      ALTER TABLE tandem.idempotency ADD COLUMN refusal jsonb`,
  },
  {
    id: 'core/005-timers',
    sql: `
      -- Commands to run later (storage/timers.ts): one per key, written with the scheduling command.
      -- fire_at is when a scheduler may next claim it: due_at, then past a claim's lease or a retry.
      CREATE TABLE tandem.timers (
        key text PRIMARY KEY,
        id uuid NOT NULL,
        command text NOT NULL,
        input jsonb NOT NULL,
        caller jsonb NOT NULL,
        due_at timestamptz NOT NULL,
        fire_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        scheduled_by jsonb NOT NULL,
        scheduled_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX timers_fire_at ON tandem.timers (fire_at)`,
  },
  {
    id: 'core/006-processors',
    sql: `
      -- Where each processor stands in the log (processors/store.ts), moved by compare-and-set.
      CREATE TABLE tandem.processor_checkpoints (
        processor text PRIMARY KEY,
        version integer NOT NULL,
        tx_id xid8 NOT NULL,
        position bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- Events a processor gave up on after its attempts, until a retry handles them.
      CREATE TABLE tandem.processor_dead_letters (
        processor text NOT NULL,
        position bigint NOT NULL,
        tx_id xid8 NOT NULL,
        event_type text NOT NULL,
        error text NOT NULL,
        attempts integer NOT NULL,
        parked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (processor, position)
      )`,
  },
  {
    id: 'core/007-audit-log',
    sql: `
      -- Who did what, when, with what outcome (core/audit.ts): commands of the domains that opt in,
      -- and reads of another person's data. Append-only; paged newest first by (at, id) within a
      -- domain, filtered by actor or by subject.
      CREATE TABLE tandem.audit_log (
        id uuid PRIMARY KEY,
        at timestamptz NOT NULL,
        kind text NOT NULL CHECK (kind IN ('command', 'read')),
        domain text NOT NULL,
        action text NOT NULL,
        actor_id text,
        actor_roles jsonb NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('succeeded', 'refused', 'failed', 'read')),
        status integer,
        code text,
        subject_id text,
        command_id uuid,
        correlation_id text,
        replayed boolean NOT NULL DEFAULT false,
        details jsonb NOT NULL
      );
      CREATE INDEX audit_log_domain ON tandem.audit_log (domain, at, id);
      CREATE INDEX audit_log_actor ON tandem.audit_log (domain, actor_id, at, id);
      CREATE INDEX audit_log_subject ON tandem.audit_log (domain, subject_id, at, id) WHERE subject_id IS NOT NULL`,
  },
  {
    id: 'core/008-audit-log-subjects',
    sql: `
      -- One entry per read, however many people it showed (they were an entry each: twenty inserts
      -- for a list page). subject_id stays the one person of a read that showed one.
      ALTER TABLE tandem.audit_log ADD COLUMN subject_ids text[] NOT NULL DEFAULT '{}';
      UPDATE tandem.audit_log SET subject_ids = ARRAY[subject_id] WHERE subject_id IS NOT NULL;
      CREATE INDEX audit_log_subjects ON tandem.audit_log USING gin (subject_ids);
      DROP INDEX tandem.audit_log_subject`,
  },
  {
    id: 'core/009-ordered-log-reads',
    sql: `
      -- A reader's next batch: the events after its checkpoint, of its types, in log order, walking
      -- the (tx_id, position) index and stopping at the limit. The planner, left alone, can take a
      -- bitmap scan of everything after the checkpoint and a sort instead when it expects few rows of
      -- those types (a log bulk-loaded and not analyzed yet): 1.5 s a read on 200,000 events, each time.
      CREATE FUNCTION tandem.events_after(below xid8, after_tx xid8, after_position bigint,
                                          types text[], max_rows integer)
      RETURNS SETOF tandem.event_log
      LANGUAGE sql STABLE
      SET enable_bitmapscan = off
      SET enable_seqscan = off
      SET enable_sort = off
      AS $fn$
        SELECT * FROM tandem.event_log
        WHERE tx_id < below AND (tx_id, position) > (after_tx, after_position)
          AND (types IS NULL OR type = ANY (types))
        ORDER BY tx_id, position
        LIMIT max_rows
      $fn$`,
  },
  {
    id: 'core/010-log-reads-not-compiled',
    sql: `
      -- The function's statement is planned without its values, so its estimate is a share of the
      -- whole log: on 19 million events it passed JIT's inlining threshold, and every read of 500
      -- events spent 150 ms compiling for 10 ms of work. Tandem's connections turn JIT off; this
      -- keeps any other caller of the function from paying it.
      ALTER FUNCTION tandem.events_after(xid8, xid8, bigint, text[], integer) SET jit = off`,
  },
  {
    id: 'core/011-appends-in-stream-order',
    sql: `
      -- Readers take the log in transaction order, and a transaction gets its id at its first write,
      -- or as it starts to wait for a row another transaction updated: it can wait there while newer
      -- transactions append to the same stream, then append after them. Readers would then see the
      -- stream's later event first. An append checks that the stream's previous event is not a newer
      -- transaction's; if it is, the command fails as a serialization failure, and is tried again in
      -- a new transaction, whose id is newer than every one before it.
      CREATE FUNCTION tandem.follows_stream_head(stream text, version integer) RETURNS boolean
      LANGUAGE plpgsql AS $fn$
      BEGIN
        IF EXISTS (SELECT 1 FROM tandem.event_log
                   WHERE stream_id = stream AND stream_version = version - 1
                     AND tx_id > pg_current_xact_id()) THEN
          RAISE EXCEPTION 'stream % has a newer transaction''s event before version %', stream, version
            USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN true;
      END
      $fn$`,
  },
  {
    id: 'core/012-demo-marker',
    // When the demo data was begun and finished: a first start stopped while writing it leaves a log
    // with events and no finish, which a later start names instead of calling its examples good.
    sql: `CREATE TABLE tandem.demo (started_at timestamptz NOT NULL, finished_at timestamptz)`,
  },
]

export async function logIdentity(sql: SqlClient): Promise<string> {
  const [row] = await sql.query<{ id: string }>('SELECT id::text FROM tandem.log_identity')
  if (!row) throw new Error('The event log has no identity: run the migrations')
  return row.id
}

/**
 * Gives a copy of a migrated database (a scratch database made from a template) an identity of its
 * own: with its source's, it would share read models in Redis with every other copy.
 */
export async function renewLogIdentity(sql: SqlClient): Promise<void> {
  await sql.query('UPDATE tandem.log_identity SET id = gen_random_uuid()')
  // Read models beside it were the old identity's: the next start claims them for the new one.
  await sql.query(
    `DO $$ BEGIN IF to_regclass('read.source_log') IS NOT NULL THEN DELETE FROM read.source_log; END IF; END $$`,
  )
}
