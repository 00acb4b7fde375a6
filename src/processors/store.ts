import type { SqlClient } from '../core/sql.js'
import type { Checkpoint } from '../storage/event-log.js'
import type { StartFrom } from './processor.js'

/** An event a processor gave up on after its attempts: kept until a retry handles it. */
export interface DeadLetter {
  position: string
  txId: string
  eventType: string
  error: string
  attempts: number
  parkedAt: Date
}

export interface StoredProcessor {
  processor: string
  version: number
  checkpoint: Checkpoint
  deadLetters: number
}

/**
 * Processors' checkpoints and dead letters, in the write database (tables `tandem.processor_*`,
 * storage/schema.ts). A checkpoint moves by compare-and-set, so a process that lost its claim
 * cannot move it back.
 */
export function processorStore(sql: SqlClient) {
  return {
    /**
     * The processor's checkpoint, made on its first run: the log's start, or `now`, just before the
     * transactions still running (what they commit is handled). Records the version it runs at.
     */
    async open(id: string, version: number, startFrom: StartFrom): Promise<StoredProcessor> {
      await sql.query(
        `INSERT INTO tandem.processor_checkpoints (processor, version, tx_id, position)
         SELECT $1, $2,
                CASE WHEN $3 THEN (pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text::xid8
                     ELSE '0'::xid8 END,
                CASE WHEN $3 THEN coalesce(max(position), 0) ELSE 0 END
         FROM tandem.event_log
         ON CONFLICT (processor) DO NOTHING`,
        [id, version, startFrom === 'now'],
      )
      const [found] = await this.list(id)
      if (!found) throw new Error(`The checkpoint of ${id} is missing`)
      if (found.version !== version) {
        await sql.query('UPDATE tandem.processor_checkpoints SET version = $2 WHERE processor = $1', [
          id,
          version,
        ])
      }
      return found
    },

    /** Moves the checkpoint from `from` to `to`; false if it was not at `from` (someone else moved it). */
    async save(id: string, from: Checkpoint, to: Checkpoint): Promise<boolean> {
      const rows = await sql.query(
        `UPDATE tandem.processor_checkpoints SET tx_id = $4::xid8, position = $5, updated_at = now()
         WHERE processor = $1 AND tx_id = $2::xid8 AND position = $3 RETURNING 1`,
        [id, from.txId, from.position, to.txId, to.position],
      )
      return rows.length > 0
    },

    /** Parks the event at `to` and moves the checkpoint there, in one statement; false as `save`. */
    async park(
      id: string,
      move: { from: Checkpoint; to: Checkpoint },
      letter: { eventType: string; error: string; attempts: number },
    ): Promise<boolean> {
      const [row] = await sql.query<{ moved: number }>(
        `WITH moved AS (
           UPDATE tandem.processor_checkpoints SET tx_id = $4::xid8, position = $5, updated_at = now()
           WHERE processor = $1 AND tx_id = $2::xid8 AND position = $3 RETURNING processor
         ), parked AS (
           INSERT INTO tandem.processor_dead_letters AS d (processor, position, tx_id, event_type, error, attempts)
           SELECT processor, $5, $4::xid8, $6, $7, $8 FROM moved
           ON CONFLICT (processor, position) DO UPDATE
             SET error = excluded.error, attempts = d.attempts + excluded.attempts, parked_at = now()
         )
         SELECT count(*)::int AS moved FROM moved`,
        [
          id,
          move.from.txId,
          move.from.position,
          move.to.txId,
          move.to.position,
          letter.eventType,
          letter.error,
          letter.attempts,
        ],
      )
      return (row?.moved ?? 0) > 0
    },

    /** A processor's dead letters, in log order. */
    async letters(id: string): Promise<DeadLetter[]> {
      const rows = await sql.query<{
        position: string
        tx_id: string
        event_type: string
        error: string
        attempts: number
        parked_at: Date
      }>(
        // Qualified: a bare name in ORDER BY is the text output column (1002 before 998).
        `SELECT d.position::text, d.tx_id::text, event_type, error, attempts, parked_at
         FROM tandem.processor_dead_letters d WHERE processor = $1 ORDER BY d.tx_id, d.position`,
        [id],
      )
      return rows.map((r) => ({
        position: r.position,
        txId: r.tx_id,
        eventType: r.event_type,
        error: r.error,
        attempts: r.attempts,
        parkedAt: r.parked_at,
      }))
    },

    /** A retried dead letter: handled (removed), or failed again (kept, with its new error). */
    async retried(id: string, position: string, failure?: string): Promise<void> {
      await (failure === undefined
        ? sql.query('DELETE FROM tandem.processor_dead_letters WHERE processor = $1 AND position = $2', [
            id,
            position,
          ])
        : sql.query(
            `UPDATE tandem.processor_dead_letters SET error = $3, attempts = attempts + 1
             WHERE processor = $1 AND position = $2`,
            [id, position, failure],
          ))
    },

    /**
     * The events of `types` after `from`: what a processor has still to handle, counted among the
     * next `window` events of the log (a bound on the scan: a processor of rare types far behind on
     * a long log would otherwise have the count walk all of it, once a second).
     */
    async pending(from: Checkpoint, types: readonly string[], window = 100_000): Promise<number> {
      const [row] = await sql.query<{ n: number }>(
        `SELECT count(*) FILTER (WHERE type = ANY($3::text[]))::int AS n FROM (
           SELECT type FROM tandem.event_log
           WHERE (tx_id, position) > ($1::xid8, $2::bigint) ORDER BY tx_id, position LIMIT $4
         ) e`,
        [from.txId, from.position, types, window],
      )
      return row?.n ?? 0
    },

    /** Every processor that has run (or only `id`), with its checkpoint and how many letters it parked. */
    async list(id?: string): Promise<StoredProcessor[]> {
      const rows = await sql.query<{
        processor: string
        version: number
        tx_id: string
        position: string
        dead_letters: number
      }>(
        `SELECT c.processor, c.version, c.tx_id::text, c.position::text,
                (SELECT count(*) FROM tandem.processor_dead_letters d WHERE d.processor = c.processor)::int
                  AS dead_letters
         FROM tandem.processor_checkpoints c WHERE $1::text IS NULL OR c.processor = $1`,
        [id ?? null],
      )
      return rows.map((r) => ({
        processor: r.processor,
        version: r.version,
        checkpoint: { txId: r.tx_id, position: r.position },
        deadLetters: r.dead_letters,
      }))
    },
  }
}

export type ProcessorStore = ReturnType<typeof processorStore>
