import {
  storable,
  type AuditEntry,
  type AuditFilter,
  type AuditLog,
  type AuditRecord,
  type AuditSink,
} from '../core/audit.js'
import { UnavailableError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Sql, SqlClient, Statement } from '../core/sql.js'

/**
 * tandem.audit_log (core/audit.ts), written and read. Reads of another person's data are buffered
 * and inserted in batches, one statement each, off the query's path; refused commands join the same
 * batches and wait for theirs (`written`). A batch that fails goes back to the buffer and is tried
 * again (the buffer is bounded: past it the oldest are dropped, logged).
 * A full buffer holds new audited reads back (`admit`), so reads cannot outrun the database's
 * inserts and grow the process's memory without end.
 */
export interface AuditWriter extends AuditSink {
  /** Writes what is buffered now (tests; shutdown). */
  flush(): Promise<void>
  close(): Promise<void>
  /** Entries waiting to be written. */
  readonly pending: number
}

export interface AuditWriterOptions {
  /**
   * Each insert runs in a transaction of its own, so on a pooled connection of its own: a batch of
   * 500 list pages' entries takes 11-28 ms to insert (up to 95 when PostgreSQL merges the subjects'
   * GIN index), and sent as a plain query it went on a connection the queries' reads share,
   * pipelined (storage/postgres.ts), holding up the reads behind it.
   */
  sql: Pick<Sql, 'transaction'>
  log: Logger
  /** How long an entry may wait for its batch (default 50 ms). */
  delayMs?: number
  /** Entries per insert (default 500). */
  batchSize?: number
  /** Entries kept while the database is away or behind (default 100,000). */
  maxPending?: number
}

const columns = `id, at, kind, domain, action, actor_id, actor_roles, outcome, status, code, subject_id,
  subject_ids, command_id, correlation_id, replayed, details`

/** One INSERT of any number of entries: a JSON array unpacked by PostgreSQL. */
export function auditInsert(entries: readonly AuditEntry[]): Statement {
  let rows = '['
  for (const entry of entries) rows += (rows.length > 1 ? ',' : '') + row(entry)
  return {
    text: `INSERT INTO tandem.audit_log (${columns})
           SELECT ${columns} FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, at timestamptz, kind text,
             domain text, action text, actor_id text, actor_roles jsonb, outcome text, status integer,
             code text, subject_id text, subject_ids text[], command_id uuid, correlation_id text,
             replayed boolean, details jsonb)`,
    params: [`${rows}]`],
  }
}

/**
 * What reads share, serialized once: a cached answer given again is one object, and every entry
 * recording it names the same people and details. Made by JSON.stringify each time, a batch of 500
 * list pages' entries (1.9 KB each, half of them cache hits) took 4.1 ms; written from these, 1.1 ms.
 */
const shared = new WeakMap<object, string>()

function once<T extends object>(value: T, json: (value: T) => string): string {
  let text = shared.get(value)
  if (text === undefined) {
    text = json(value)
    shared.set(value, text)
  }
  return text
}

const quoted = (value: string) => JSON.stringify(storable(value))
const orNull = (value: string | null) => (value === null ? 'null' : quoted(value))
const texts = (values: readonly string[]) => `[${values.map(quoted).join(',')}]`

/**
 * An entry as its row's JSON. The ids and names come from tokens and read models, not from checked
 * input: one that PostgreSQL cannot store would fail its whole batch on every retry, and a full
 * buffer then holds every audited read back. They are made storable here; the details already are
 * (core/audit.ts `summarize`).
 */
function row(e: AuditEntry): string {
  const read = e.kind === 'read'
  const subjects = read ? once(e.subjectIds, texts) : texts(e.subjectIds)
  const details = read ? once(e.details, JSON.stringify) : JSON.stringify(e.details)
  return (
    `{"id":${JSON.stringify(e.id)},"at":"${e.at.toISOString()}","kind":${JSON.stringify(e.kind)},` +
    `"domain":${quoted(e.domain)},"action":${quoted(e.action)},"actor_id":${orNull(e.actorId)},` +
    `"actor_roles":${texts(e.actorRoles)},"outcome":${JSON.stringify(e.outcome)},` +
    `"status":${e.status === null ? 'null' : String(e.status)},"code":${orNull(e.code)},` +
    `"subject_id":${orNull(e.subjectId)},"subject_ids":${subjects},"command_id":${orNull(e.commandId)},` +
    `"correlation_id":${orNull(e.correlationId)},"replayed":${String(e.replayed)},"details":${details}}`
  )
}

export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  const { sql, log } = options
  const delayMs = options.delayMs ?? 50
  const batchSize = options.batchSize ?? 500
  const maxPending = options.maxPending ?? 100_000
  const retryMs = 1000
  let buffer: AuditEntry[] = []
  /** When an insert last failed: until `retryMs` after it, no new attempt is made for a refusal. */
  let failedAt = -Infinity
  /** Entries whose callers wait for their insert (`written`), and how each is told. */
  let urgent: AuditEntry[] = []
  const awaited = new Map<AuditEntry, () => void>()
  const release = (entries: readonly AuditEntry[]) => {
    if (awaited.size === 0) return
    for (const entry of entries) {
      awaited.get(entry)?.()
      awaited.delete(entry)
    }
  }
  /** Entries taken from the buffer by the drain and not inserted yet. */
  let draining = 0
  /** Reads waiting for room (`admit`). */
  const waiting = new Set<() => void>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let closed = false

  function schedule(ms: number) {
    if (timer || closed) return
    timer = setTimeout(() => {
      timer = undefined
      void flush()
    }, ms)
    timer.unref()
  }

  /**
   * Takes the whole buffer and inserts it batch by batch. Taking one batch off the front at a time
   * copied the rest each time: with a backlog (reads audited faster than the database inserts them)
   * draining was quadratic, a quarter of the server's CPU in a procurement benchmark. Entries whose
   * callers wait (`written`) lead each batch, ahead of such a backlog.
   */
  async function drain() {
    while (buffer.length > 0 || urgent.length > 0) {
      const taken = buffer
      buffer = []
      let at = 0
      while (at < taken.length || urgent.length > 0) {
        const first = urgent.splice(0, batchSize)
        const batch = first.concat(taken.slice(at, at + batchSize - first.length))
        at += batch.length - first.length
        draining = batch.length + taken.length - at
        const statement = auditInsert(batch)
        try {
          await sql.transaction((tx) => tx.query(statement.text, statement.params))
          release(batch)
        } catch (error) {
          draining = 0
          // Not written: kept for the next attempt, and the callers waiting on any answered now.
          buffer = batch.concat(taken.slice(at), urgent, buffer)
          urgent = []
          release(buffer)
          const dropped = buffer.length - maxPending
          if (dropped > 0) buffer = buffer.slice(dropped)
          log.error(
            { err: error, pending: buffer.length, dropped: Math.max(dropped, 0) },
            'audit log not written',
          )
          failedAt = Date.now()
          if (!closed) schedule(retryMs)
          return
        }
        draining = taken.length - at
        if (pending() < maxPending) for (const admit of waiting) admit()
      }
    }
  }

  const pending = () => buffer.length + urgent.length + draining

  function flush(): Promise<void> {
    running = running.then(drain)
    return running
  }

  return {
    statement: auditInsert,
    written(entry) {
      if (Date.now() - failedAt < retryMs) {
        // An insert failed just now: kept for the retry, and answered without another attempt (a
        // flood of refusals while the database is away would otherwise send one each).
        urgent.push(entry)
        return Promise.resolve()
      }
      return new Promise<void>((resolve) => {
        awaited.set(entry, resolve)
        urgent.push(entry)
        // A drain under way takes it in its next round; else one starts now, unless the one before
        // it just failed (then the retry takes it).
        running = running.then(() => (Date.now() - failedAt < retryMs ? undefined : drain()))
      })
    },
    record(entry) {
      buffer.push(entry)
      if (buffer.length >= batchSize) void flush()
      else schedule(delayMs)
    },
    admit(timeoutMs) {
      if (pending() < maxPending) return Promise.resolve()
      void flush()
      return new Promise<void>((resolve, reject) => {
        const admit = () => {
          clearTimeout(expiry)
          waiting.delete(admit)
          resolve()
        }
        const expiry = setTimeout(() => {
          waiting.delete(admit)
          reject(
            new UnavailableError(
              'UNAVAILABLE',
              'Audit log behind',
              `Reads of other people's data wait while ${pending()} audit entries are not written yet`,
            ),
          )
        }, timeoutMs)
        waiting.add(admit)
      })
    },
    flush,
    async close() {
      clearTimeout(timer)
      timer = undefined
      await flush()
      closed = true
    },
    get pending() {
      return pending()
    },
  }
}

/** The audit log, newest first, through the filter's indexes (only the conditions given are sent). */
export function auditLogReader(sql: SqlClient): AuditLog {
  return {
    async read(filter: AuditFilter) {
      const params: unknown[] = [filter.domain]
      const where = ['domain = $1']
      const add = (condition: (n: string) => string, ...values: unknown[]) => {
        const first = params.length + 1
        params.push(...values)
        where.push(condition(`$${first}`))
      }
      if (filter.kind) add((p) => `kind = ${p}`, filter.kind)
      if (filter.actorId !== undefined) add((p) => `actor_id = ${p}`, filter.actorId)
      if (filter.subjectId !== undefined) add((p) => `subject_ids @> ARRAY[${p}::text]`, filter.subjectId)
      if (filter.from) add((p) => `at >= ${p}::timestamptz`, filter.from)
      if (filter.to) add((p) => `at < ${p}::timestamptz`, filter.to)
      if (filter.before) {
        const n = params.length + 1
        params.push(filter.before.time, filter.before.id)
        where.push(`(at, id) < ($${n}::timestamptz, $${n + 1}::uuid)`)
      }
      params.push(filter.limit)
      return sql.query<AuditRecord>(
        `SELECT id::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, kind, domain,
           action, actor_id AS "actorId", actor_roles AS "actorRoles", outcome, status, code,
           subject_id AS "subjectId", subject_ids AS "subjectIds", command_id::text AS "commandId", correlation_id AS "correlationId",
           replayed, details
         FROM tandem.audit_log WHERE ${where.join(' AND ')}
         ORDER BY at DESC, id DESC LIMIT $${params.length}`,
        params,
      )
    },
  }
}
