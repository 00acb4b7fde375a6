import { createHash } from 'node:crypto'
import type { TxMiddleware } from '../core/command-bus.js'
import { ConflictError, IdempotencyKeyReusedError } from '../core/errors.js'
import { stableJson } from '../core/query-bus.js'

interface Record {
  request_hash: string
  command_id: string
  result: unknown
  position: string | null
}

/**
 * `Idempotency-Key`: the same key from the same user with the same body gets the first answer
 * again for 24 hours; another body is refused (422); a second copy while the first runs gets 409.
 * The record is written in the command's own transaction, so an answer exists iff the command
 * committed: a retry never runs a committed command twice, and a rolled-back one leaves no record.
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
      tx.query<Record>(
        `SELECT request_hash, command_id::text, result,
                (SELECT max(e.position)::text FROM tandem.event_log e WHERE e.tx_id = i.tx_id) AS position
         FROM tandem.idempotency i
         WHERE user_id = $1 AND key = $2 AND created_at > now() - interval '24 hours'`,
        [userId, key],
      ),
    ])
    if (!lock?.locked) {
      throw new ConflictError(
        'IDEMPOTENCY_IN_PROGRESS',
        'Request in progress',
        'A request with this key is running',
      )
    }
    if (prior) {
      if (prior.request_hash !== hash) throw new IdempotencyKeyReusedError()
      return { commandId: prior.command_id, result: prior.result, position: prior.position, replayed: true }
    }
    const executed = await next(call, tx)
    tx.write({
      text: `INSERT INTO tandem.idempotency AS i (user_id, key, request_hash, command_id, result)
             VALUES ($1, $2, $3, $4, $5::jsonb)
             ON CONFLICT (user_id, key) DO UPDATE
               SET request_hash = excluded.request_hash, command_id = excluded.command_id,
                   result = excluded.result, tx_id = pg_current_xact_id(), created_at = now()
               WHERE i.created_at <= now() - interval '24 hours'`,
      params: [userId, key, hash, executed.commandId, JSON.stringify(executed.result ?? null)],
    })
    return executed
  }
}

/** Forgets records older than 24 hours. */
export const purgeIdempotencyRecords = `DELETE FROM tandem.idempotency WHERE created_at <= now() - interval '24 hours'`
