import { createHash } from 'node:crypto'
import type { TxMiddleware } from '../core/command-bus.js'
import { AppError, ConflictError, IdempotencyKeyReusedError, isAppError } from '../core/errors.js'
import type { CommandTx } from '../core/messages.js'
import { stableJson } from '../core/query-bus.js'

interface Record {
  request_hash: string
  command_id: string
  result: unknown
  refusal: Refusal | null
  position: string | null
}

type Refusal = Pick<AppError, 'status' | 'code' | 'title' | 'detail' | 'errors'>

/**
 * `Idempotency-Key`: the same key from the same user with the same body gets the first answer
 * again for 24 hours, whether it was a result or a refusal (EVENT_FULL stays the answer even once a
 * seat is free); another body is refused (422); a second copy while the first runs gets 409, and
 * copies sent at once after it committed all get its answer.
 * The record is written in the command's own transaction, so an answer exists iff the command
 * committed (a refusal commits the record alone): a retry never runs a committed command twice,
 * and a rolled-back one leaves no record. Not kept, as they decided nothing: a malformed input
 * (400, refused before the transaction), a refused token or role, and failures of the platform.
 */
export function idempotency(): TxMiddleware {
  return async (call, tx, next) => {
    const key = call.idempotencyKey
    if (key === undefined) return next(call, tx)
    const userId = call.caller?.id ?? ''
    const hash = createHash('sha256')
      .update(`${call.address}\u0000${stableJson(call.input)}`)
      .digest('base64url')
    // Sent together: the lock, then the lookup, whose snapshot is taken after the lock is held.
    const [[lock], [prior]] = await Promise.all([
      tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7)) AS locked', [
        JSON.stringify([userId, key]),
      ]),
      // The position of the first answer's last event; one that wrote none (it changed nothing) had
      // answered its stream's head: the log's head now is at or past it, so it still reads the effect.
      tx.query<Record>(
        `SELECT request_hash, command_id::text, result, refusal,
                CASE WHEN refusal IS NULL THEN coalesce(
                  (SELECT max(e.position)::text FROM tandem.event_log e WHERE e.tx_id = i.tx_id),
                  (SELECT max(e.position)::text FROM tandem.event_log e)) END AS position
         FROM tandem.idempotency i
         WHERE user_id = $1 AND key = $2 AND created_at > now() - interval '24 hours'`,
        [userId, key],
      ),
    ])
    // A copy that holds the lock may be a replay too: with an answer committed there is nothing to wait for.
    if (!lock?.locked && !prior) {
      throw new ConflictError(
        'IDEMPOTENCY_IN_PROGRESS',
        'Request in progress',
        'A request with this key is running',
      )
    }
    if (prior) {
      if (prior.request_hash !== hash) throw new IdempotencyKeyReusedError()
      const replayed = { commandId: prior.command_id, position: prior.position, replayed: true }
      if (prior.refusal) return { ...replayed, result: undefined, refusal: refusalError(prior.refusal) }
      return { ...replayed, result: prior.result }
    }
    const record = (result: unknown, refusal: Refusal | null) =>
      tx.write({
        text: `INSERT INTO tandem.idempotency AS i (user_id, key, request_hash, command_id, result, refusal)
               VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)
               ON CONFLICT (user_id, key) DO UPDATE
                 SET request_hash = excluded.request_hash, command_id = excluded.command_id,
                     result = excluded.result, refusal = excluded.refusal,
                     tx_id = pg_current_xact_id(), created_at = now()
                 WHERE i.created_at <= now() - interval '24 hours'`,
        params: [
          userId,
          key,
          hash,
          call.meta.commandId,
          JSON.stringify(result ?? null),
          refusal && JSON.stringify(refusal),
        ],
      })
    const held = holding(tx)
    try {
      const executed = await next(call, held.tx)
      held.release()
      record(executed.result, null)
      return executed
    } catch (error) {
      if (!kept(error)) throw error
      // What the command queued before it refused is dropped: the record commits alone.
      record(undefined, refusalOf(error))
      return {
        commandId: call.meta.commandId,
        result: undefined,
        position: null,
        replayed: false,
        refusal: error,
      }
    }
  }
}

/** A refusal the command decided: kept as the key's answer. */
function kept(error: unknown): error is AppError {
  return isAppError(error) && error.status >= 403 && error.status < 500 && error.status !== 408
}

function refusalOf(error: AppError): Refusal {
  const { status, code, title, detail, errors } = error
  return { status, code, title, ...(detail === undefined ? {} : { detail }), ...(errors ? { errors } : {}) }
}

function refusalError(r: Refusal): AppError {
  return new AppError(r.status, r.code, r.title, r.detail ?? undefined, r.errors ?? undefined)
}

/**
 * The command's transaction with its writes, appends, keeps and timers held back until `release`: a
 * command that refuses after queueing some leaves none of them in the commit.
 */
function holding(tx: CommandTx): { tx: CommandTx; release(): void } {
  const queued: (() => void)[] = []
  return {
    tx: {
      ...tx,
      write: (...statements) => void queued.push(() => tx.write(...statements)),
      append: (stream, events, options) => void queued.push(() => tx.append(stream, events, options)),
      observe: (streamId) => void queued.push(() => tx.observe(streamId)),
      keep: (streamId, state) => void queued.push(() => tx.keep(streamId, state)),
      schedule: (timer) => void queued.push(() => tx.schedule(timer)),
      cancelSchedule: (key) => void queued.push(() => tx.cancelSchedule(key)),
    },
    release: () => {
      for (const send of queued) send()
    },
  }
}

/** Forgets records older than 24 hours. */
export const purgeIdempotencyRecords = `DELETE FROM tandem.idempotency WHERE created_at <= now() - interval '24 hours'`
