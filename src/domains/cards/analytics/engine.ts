import { DuckDBInstance, type DuckDBConnection, type DuckDBPreparedStatement } from '@duckdb/node-api'
import { compareDecimal, transactionLookup, type Replica, type SqlClient } from '../../../kernel/index.js'
import { appendBatch, factsSchema, readCheckpoint } from './facts.js'
import {
  compareCheckpoints,
  readFrom,
  readTransactionEvents,
  type Checkpoint,
  type LogBatch,
  type LoggedTransactionEvent,
} from './log-reader.js'
import * as q from './queries.js'

/**
 * Where it lives. A DuckDB file has one writer process, so the engine is a replica per process that
 * answers analytics queries, fed from the log like any projection, never shared: one
 * in each process with the `query` role (replica.ts, CARDS_DUCKDB), in memory (`path` unset),
 * rebuilt from the log at start like the memory KV store, or a file of the process's own that
 * resumes at its checkpoint. Query processes scale out, each replica kept by its own follower; the
 * log in PostgreSQL stays the one source of truth, and a lost file is rebuilt from it.
 * Freshness: a follower reads the log when nudged (a commit of its types) or every `pollMs`, so a
 * payment shows after one batch's append; `waitFor(position, deadline)` serves X-Min-Position
 * (read-your-writes) as the kernel's read models do.
 */
export interface CardAnalyticsOptions {
  /** The database holding the event log (the process's own: PostgreSQL or PGlite). */
  sql: SqlClient
  /** The DuckDB file; default `:memory:` (rebuilt from the log at each start). One process writes a file. */
  path?: string
  /** Events per batch: one read of the log, one DuckDB transaction (default 20,000). */
  batchSize?: number
  /** Connections answering queries side by side (default 4); the appends have their own. */
  readers?: number
  /** DuckDB's worker threads (default: DuckDB's, one per core). */
  threads?: number
  /** Where batches come from (default: the gap-safe read of the log over `sql`). */
  source?: (after: Checkpoint, limit: number) => Promise<LogBatch>
  /** Called between a batch's append and its commit: specs fail batches there (a crash mid-batch). */
  beforeCommit?: () => void
  /** Called after each batch is committed, with its events (what changed: the cache's tags). */
  onApplied?: (events: readonly LoggedTransactionEvent[]) => void
  /** Which transaction committed a position (default: the kernel's remembered lookup over `sql`). */
  transactionOf?: (position: string) => Promise<string | undefined>
}

/** The cards analytics on an embedded columnar engine, fed from the event log. */
export interface CardAnalytics extends Replica {
  /** Applies every batch the log has now; resolves to the number of events applied. */
  catchUp(): Promise<number>
  /**
   * Applies batches in the background, `pollMs` apart when the log has nothing new, until `close`.
   * A batch that fails (the database away) is read again at the next poll, after `onError`.
   */
  follow(pollMs?: number, onError?: (error: unknown) => void): void
  /** Has the follower read the log now rather than at its next poll (a commit it reads happened). */
  nudge(): void
  /** Whether the event at `position` (and everything before it in log order) is in the facts. */
  hasApplied(position: string): Promise<boolean>
  checkpoint(): Promise<Checkpoint>
  /** A customer's months `from` to `to` (`YYYY-MM`, included), by card, category and currency. */
  monthRows(customerId: string, from: string, to: string): Promise<q.MonthRow[]>
  /** Days `from` to `to` (`YYYY-MM-DD`, included) of a merchant, a customer or (null) everyone. */
  dayRows(
    of: { merchantId: string } | { customerId: string } | null,
    from: string,
    to: string,
  ): Promise<q.DayRow[]>
  merchantName(merchantId: string, from: string, to: string): Promise<string | null>
  /** Product months `from` to `to` (`YYYY-MM`, included), of a customer or (null) everyone. */
  productMonthRows(customerId: string | null, from: string, to: string): Promise<q.ProductMonthRow[]>
  /** Rows, and bytes on disk (after a DuckDB checkpoint) or in memory. */
  storage(): Promise<{ rows: number; bytes: number; memoryBytes: number }>
  close(): Promise<void>
}

/** How often a checkpoint moved by the horizon alone is written (ms). */
const horizonSaveMs = 60_000

export async function openCardAnalytics(options: CardAnalyticsOptions): Promise<CardAnalytics> {
  const batchSize = options.batchSize ?? 20_000
  const instance = await DuckDBInstance.create(
    options.path ?? ':memory:',
    options.threads ? { threads: String(options.threads) } : {},
  )
  const writer = await instance.connect()
  await writer.run(factsSchema)
  const readers = await Promise.all(Array.from({ length: options.readers ?? 4 }, () => instance.connect()))
  const source = options.source ?? ((after, limit) => readTransactionEvents(options.sql, after, limit))
  const transactionOf = options.transactionOf ?? transactionLookup(options.sql)
  const pool = connectionPool(readers)

  let checkpoint = await readCheckpoint(writer)
  let closed = false
  /** The checkpoint as the file holds it: ahead of it in memory are only stretches of other events. */
  let saved = checkpoint
  let savedAt = Date.now()
  // One batch at a time, whoever asks (catchUp, the follower): a batch's checkpoint is the next's start.
  let turn: Promise<unknown> = Promise.resolve()
  /** Applies the next batch: the number of its events, and whether the log may hold more now. */
  const step = async (): Promise<{ applied: number; more: boolean }> => {
    const batch = await source(checkpoint, batchSize)
    const full = batch.events.length === batchSize
    const last = batch.events.at(-1)
    let to = last ? { txId: last.txId, position: last.position } : checkpoint
    // A complete read has seen every event below the horizon: the next read starts past them.
    if (!full) to = readFrom(to, batch.horizon)
    if (compareCheckpoints(to, checkpoint) === 0) return { applied: 0, more: false }
    // The horizon moves with every transaction the database runs (other domains' commits, the audit's
    // inserts): a move past other events alone is kept in memory and written now and then. On a
    // restart the reader walks those events again and finds none of its own.
    if (batch.events.length > 0 || Date.now() - savedAt >= horizonSaveMs) {
      await appendBatch(writer, batch.events, to, options.beforeCommit)
      saved = to
      savedAt = Date.now()
    }
    checkpoint = to
    if (batch.events.length > 0) options.onApplied?.(batch.events)
    for (const listener of [...progressed]) listener()
    return { applied: batch.events.length, more: full }
  }
  const stepInTurn = () => {
    const next = turn.then(step)
    turn = next.catch(() => undefined)
    return next
  }
  // Until a read comes back short: one that did has seen all the log held when it began. (Looping
  // until the checkpoint stopped moving never ended while the database ran other transactions.)
  const catchUp = async () => {
    let applied = 0
    for (;;) {
      const { applied: n, more } = await stepInTurn()
      applied += n
      if (!more) return applied
    }
  }
  let following: Promise<void> | undefined
  // A nudge while a read is under way is kept for after it: that read may have begun before the commit.
  let nudged = false
  let wake: (() => void) | undefined
  const nudge = () => {
    nudged = true
    wake?.()
  }
  const takeNudge = () => {
    const was = nudged
    nudged = false
    return was
  }
  /** Called after each batch applied (read-your-writes waits on it). */
  const progressed = new Set<() => void>()
  const applied = (txId: string | undefined, position: string) =>
    txId === undefined
      ? // No committed event has this position: once the facts are past it, there is nothing to wait for.
        compareDecimal(position, checkpoint.position) <= 0
      : compareCheckpoints({ txId, position }, checkpoint) <= 0

  const read: q.Read = (text, params) => {
    if (closed) return Promise.reject(new Error('The DuckDB analytics are closed'))
    return pool.use((c) => rows(c, text, params))
  }
  return {
    catchUp,
    follow(pollMs = 100, onError) {
      following ??= (async () => {
        const open = () => !closed
        while (open()) {
          takeNudge()
          // A failed batch changed nothing: the next poll reads it again.
          const count = await catchUp().catch((error: unknown) => (onError?.(error), 0))
          if (count === 0 && !takeNudge() && open())
            await new Promise<void>((resolve) => {
              const timer = setTimeout(done, pollMs)
              wake = done
              function done() {
                clearTimeout(timer)
                wake = undefined
                resolve()
              }
            })
        }
      })()
    },
    nudge,
    async hasApplied(position) {
      const txId = await transactionOf(position)
      return txId !== undefined && applied(txId, position)
    },
    async waitFor(position, deadline) {
      const txId = await transactionOf(position)
      while (!applied(txId, position)) {
        const left = deadline - Date.now()
        if (left <= 0) return false
        nudge()
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(50, left))
          progressed.add(done)
          function done() {
            clearTimeout(timer)
            progressed.delete(done)
            resolve()
          }
        })
      }
      return true
    },
    checkpoint: async () => checkpoint,
    monthRows: (customerId, from, to) => q.monthRows(read, customerId, from, to),
    dayRows: (of, from, to) => q.dayRows(read, of, from, to),
    merchantName: (merchantId, from, to) => q.merchantName(read, merchantId, from, to),
    productMonthRows: (customerId, from, to) => q.productMonthRows(read, customerId, from, to),
    async storage() {
      await turn
      if (options.path && options.path !== ':memory:') await writer.run('CHECKPOINT')
      const [size] = await rows<{ bytes: number; memory: string }>(
        writer,
        'SELECT (used_blocks * block_size)::DOUBLE AS bytes, memory_usage AS memory FROM pragma_database_size()',
        [],
      )
      const [count] = await rows<{ n: number }>(
        writer,
        'SELECT count(*)::DOUBLE AS n FROM card_transaction_fact',
        [],
      )
      return { rows: count?.n ?? 0, bytes: size?.bytes ?? 0, memoryBytes: parseBytes(size?.memory ?? '0') }
    },
    async close() {
      closed = true
      wake?.()
      await following
      await turn
      if (compareCheckpoints(checkpoint, saved) !== 0)
        await appendBatch(writer, [], checkpoint).catch(() => undefined)
      // Reads asked for before the close are answered: a connection closed under one fails natively.
      await pool.drained()
      for (const c of [writer, ...readers]) c.closeSync()
      instance.closeSync()
    },
  }
}

/** Each connection's prepared statements, by text: a question's SQL is planned once per connection. */
const prepared = new WeakMap<DuckDBConnection, Map<string, DuckDBPreparedStatement>>()

async function rows<R>(
  c: DuckDBConnection,
  text: string,
  params: readonly (string | number)[],
): Promise<R[]> {
  let statements = prepared.get(c)
  if (!statements) prepared.set(c, (statements = new Map<string, DuckDBPreparedStatement>()))
  let statement = statements.get(text)
  if (!statement) statements.set(text, (statement = await c.prepare(text)))
  statement.bind([...params])
  const reader = await statement.runAndReadAll()
  return reader.getRowObjectsJS() as unknown as R[]
}

/** DuckDB reports memory as text ("1.2 MiB"). */
function parseBytes(text: string): number {
  const match = /^([\d.]+)\s*(\w*)$/.exec(text.trim())
  if (!match) return 0
  const units: Record<string, number> = {
    bytes: 1,
    B: 1,
    KiB: 2 ** 10,
    MiB: 2 ** 20,
    GiB: 2 ** 30,
    TiB: 2 ** 40,
  }
  return Math.round(Number(match[1]) * (units[match[2] ?? 'B'] ?? 1))
}

/** Hands out idle connections; callers beyond them wait their turn. */
function connectionPool(connections: readonly DuckDBConnection[]) {
  const idle = [...connections]
  const waiting: ((c: DuckDBConnection) => void)[] = []
  const whenIdle: (() => void)[] = []
  const release = (c: DuckDBConnection) => {
    const next = waiting.shift()
    if (next) return next(c)
    idle.push(c)
    if (idle.length === connections.length) for (const done of whenIdle.splice(0)) done()
  }
  return {
    /** Resolves once no read is running or waiting. */
    drained: () =>
      idle.length === connections.length
        ? Promise.resolve()
        : new Promise<void>((resolve) => whenIdle.push(resolve)),
    async use<T>(work: (c: DuckDBConnection) => Promise<T>): Promise<T> {
      const c = idle.pop() ?? (await new Promise<DuckDBConnection>((resolve) => waiting.push(resolve)))
      try {
        return await work(c)
      } finally {
        release(c)
      }
    },
  }
}
