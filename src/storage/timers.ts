import { uuidv7 } from '../core/ids.js'
import type { Caller, Timer } from '../core/messages.js'
import type { SqlClient, Sql, Statement } from '../core/sql.js'

/**
 * The timers table (`tandem.timers`, migration core/005-timers): what `CommandTx.schedule` writes
 * with a command's commit, and what the scheduler (scheduler.ts) claims, fires and settles.
 */

/** Who a timer's command runs as when the timer names nobody: guard such commands with `signedIn('system')`. */
export const timerCaller: Caller = { id: 'system:timers', roles: ['system'] }

/** The command that scheduled a timer: kept with it; the fired command carries its correlation id. */
export interface ScheduledBy {
  commandId: string
  correlationId: string
  command: string
  userId?: string
}

/**
 * The statement `CommandTx.schedule` queues. A timer of the same key is replaced: a new id (so a new
 * firing, with its own idempotency key), its attempts reset.
 */
export function scheduleStatement(timer: Timer, by: ScheduledBy): Statement {
  if (timer.key === '' || Number.isNaN(timer.at.getTime())) {
    throw new Error(`A timer needs a key and a valid moment (key "${timer.key}")`)
  }
  return {
    text: `INSERT INTO tandem.timers AS t (key, id, command, input, caller, due_at, fire_at, scheduled_by)
           VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::timestamptz, $6::timestamptz, $7::jsonb)
           ON CONFLICT (key) DO UPDATE
             SET id = excluded.id, command = excluded.command, input = excluded.input,
                 caller = excluded.caller, due_at = excluded.due_at, fire_at = excluded.fire_at,
                 attempts = 0, last_error = NULL, scheduled_by = excluded.scheduled_by, scheduled_at = now()`,
    params: [
      timer.key,
      uuidv7(),
      timer.command,
      JSON.stringify(timer.input ?? null),
      JSON.stringify(timer.caller ?? timerCaller),
      timer.at.toISOString(),
      JSON.stringify(by),
    ],
  }
}

export function cancelStatement(key: string): Statement {
  return { text: 'DELETE FROM tandem.timers WHERE key = $1', params: [key] }
}

/** A timer a scheduler has claimed: no other process claims it until `leaseUntil`. */
export interface ClaimedTimer {
  key: string
  /** This scheduling of the key: the idempotency key of its firing is `timer:<id>`. */
  id: string
  command: string
  input: unknown
  caller: Caller
  /** Claims so far, this one included. */
  attempts: number
  scheduled_by: ScheduledBy
}

/**
 * Claims up to `limit` timers due at `now`, oldest first, by moving them to `leaseUntil`. Rows
 * another process is claiming are skipped (`SKIP LOCKED`); one it has claimed is no longer due.
 */
export function claimDue(
  sql: SqlClient,
  options: { now: Date; limit: number; leaseUntil: Date },
): Promise<ClaimedTimer[]> {
  return sql.query<ClaimedTimer>(
    `UPDATE tandem.timers t SET fire_at = $3::timestamptz, attempts = t.attempts + 1
     FROM (SELECT key FROM tandem.timers WHERE fire_at <= $1::timestamptz
           ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
     WHERE t.key = due.key
     RETURNING t.key, t.id::text AS id, t.command, t.input, t.caller, t.attempts, t.scheduled_by`,
    [options.now.toISOString(), options.limit, options.leaseUntil.toISOString()],
  )
}

/**
 * In one transaction, deletes the timers `done` and puts the others off to their `at`. A timer
 * replaced since its claim (another id) is left alone: the new one is still to fire.
 */
export async function settleClaimed(
  sql: Sql,
  done: readonly ClaimedTimer[],
  later: readonly { timer: ClaimedTimer; at: Date; error: string }[],
): Promise<void> {
  const statements: Statement[] = []
  if (done.length > 0) {
    statements.push({
      text: `DELETE FROM tandem.timers t USING unnest($1::text[], $2::uuid[]) AS f(key, id)
             WHERE t.key = f.key AND t.id = f.id`,
      params: [done.map((t) => t.key), done.map((t) => t.id)],
    })
  }
  if (later.length > 0) {
    statements.push({
      text: `UPDATE tandem.timers t SET fire_at = f.at, last_error = f.error
             FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::text[]) AS f(key, id, at, error)
             WHERE t.key = f.key AND t.id = f.id`,
      params: [
        later.map((l) => l.timer.key),
        later.map((l) => l.timer.id),
        later.map((l) => l.at.toISOString()),
        later.map((l) => l.error),
      ],
    })
  }
  if (statements.length > 0) await sql.transaction((tx) => tx.commit(statements))
}

/** When the next timer may be claimed (Unix milliseconds), or null when there is none. */
export async function nextFireAt(sql: SqlClient): Promise<number | null> {
  const [row] = await sql.query<{ next: number | null }>(
    'SELECT (extract(epoch FROM min(fire_at)) * 1000)::float8 AS next FROM tandem.timers',
  )
  return row?.next ?? null
}

/** Timers waiting, and those of them already due at `now` (0 but for a moment: alert on more). */
export interface TimerCounts {
  pending: number
  overdue: number
}

export async function countTimers(sql: SqlClient, now: Date): Promise<TimerCounts> {
  const [row] = await sql.query<TimerCounts>(
    `SELECT count(*)::int AS pending, (count(*) FILTER (WHERE due_at <= $1::timestamptz))::int AS overdue
     FROM tandem.timers`,
    [now.toISOString()],
  )
  return row ?? { pending: 0, overdue: 0 }
}
