import pg from 'pg'
import { sqlState, type Row, type Sql, type SqlTx, type Statement } from '../core/sql.js'
import { groupCommits } from './group-commit.js'

export interface PostgresOptions {
  url: string
  /** Connections in the pool. */
  max?: number
  applicationName?: string
  /**
   * The most transactions that read nothing sent together as one (default 64; 1 sends each alone).
   * See `groupCommits`.
   */
  maxGroup?: number
  /** Told the size of each group of such transactions sent (metrics). */
  onCommitGroup?: (size: number) => void
  /**
   * Connections of the pool that statements outside a transaction share, pipelined (default 2, or 1
   * in a pool of 2 or 3; 0 sends each statement on a connection of its own). See `sharedConnections`.
   */
  shared?: number
}

/**
 * The SQL port over node-postgres. Connections run in pipeline mode, so a transaction's BEGIN goes
 * out with its first statement and its writes go out with its COMMIT: two round trips for a command
 * that reads, one for a command that does not. A transaction takes a pooled connection with its
 * first read; one that reads nothing takes none of its own (see `groupCommits`).
 * Statements are prepared once per connection, named by their text, and planned for their values
 * each time (`plan_cache_mode`): after five runs PostgreSQL may keep a generic plan, one made without
 * the values, and for a range whose width is in a value (a checkpoint's `(tx_id, position) > ($1, $2)`,
 * a keyset page, an amount filter) that plan is often a sequential scan. A processor's backlog count,
 * a few microseconds by the index, took 450 ms on 257,000 events that way, every second. Planning
 * again costs tens of microseconds; parsing stays cached.
 *
 * A transaction's writes, sent with its COMMIT, may keep a generic plan (`plan_cache_mode = auto`
 * for them alone): each is a keyed write, an upsert or an insert, whose plan no value changes.
 * Planned each time, an authorization's four writes took 56 µs to plan (the card's UPDATE 26 µs,
 * and 48 to run), and PostgreSQL used 466 µs of CPU per authorization; 345 µs with this
 * (`BENCH_CARDS_SCALE=0.01 npm run bench -- cards --mode server`, pg_stat_statements).
 *
 * JIT compilation is off (`jit`): PostgreSQL compiles a statement whose estimated cost passes a
 * threshold, and estimates grow with the table while the work of a keyed or limited statement does
 * not. On a log of 19 million events each read of 500 by a projection was estimated above the
 * inlining threshold and spent 150 ms compiling for 10 ms of work: every statement Tandem sends is
 * an indexed lookup, a range with a limit or a write, none long enough to repay a compilation.
 */
export function createPostgres(options: PostgresOptions): Sql {
  const max = options.max ?? 20
  const pool = new pg.Pool({
    connectionString: options.url,
    max,
    application_name: options.applicationName ?? 'tandem',
    options: '-c plan_cache_mode=force_custom_plan -c jit=off',
    pipeline: true,
  })
  // A client that loses its connection must not crash the process. Idle, the pool replaces it; in
  // use, it also emits 'error' beside failing its queries, which carry the failure, and the pool
  // drops it when it is released.
  pool.on('error', () => undefined)
  pool.on('connect', (client) => client.on('error', () => undefined))
  const named = statementNames()

  const run = (client: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]) =>
    client
      .query({ name: named(text), text, values: params as unknown[] | undefined })
      .then((r) => r.rows as Row[])
  const shared = sharedConnections(pool, options.shared ?? Math.min(2, Math.floor(max / 2)))

  /** BEGIN (unless `begun` was sent), the statements and COMMIT, in one write: each statement's rows. */
  async function commitOn(client: pg.PoolClient, statements: readonly Statement[], begun?: Promise<unknown>) {
    const [started, planned, sent, commit] = inOneWrite(
      client,
      () =>
        [
          begun ?? client.query('BEGIN'),
          statements.length > 0 ? client.query(keyedWrites) : undefined,
          statements.map((s) => run(client, s.text, s.params)),
          client.query('COMMIT'),
        ] as const,
    )
    const outcomes = await Promise.allSettled([started, planned, ...sent, commit])
    const committed = outcomes.at(-1) as PromiseSettledResult<pg.QueryResult>
    const failed = outcomes.find((s) => s.status === 'rejected')
    if (failed || committed.status === 'rejected' || !committed.value.command.startsWith('COMMIT')) {
      const error: unknown = failed ? failed.reason : new Error('The transaction was rolled back')
      if (typeof error === 'object' && error !== null && answeredRollback(committed)) rolledBack.add(error)
      throw error
    }
    return outcomes.slice(2, -1).map((s) => (s as PromiseFulfilledResult<Row[]>).value)
  }

  /** A transaction that read nothing, on a connection of its own. */
  async function commitAlone(statements: readonly Statement[]): Promise<Row[][]> {
    const client = await pool.connect()
    try {
      return await commitOn(client, statements)
    } finally {
      client.release()
    }
  }

  const commitReadless = groupCommits({
    commit: commitAlone,
    rolledBack: certainlyRolledBack,
    maxGroup: options.maxGroup ?? 64,
    onSent: options.onCommitGroup,
  })

  return {
    kind: 'postgres',
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      shared.use((client) => run(client ?? pool, text, params)) as Promise<R[]>,
    async transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
      // Taken with the first statement; BEGIN leaves with it.
      let client: Promise<pg.PoolClient> | undefined
      let begun: Promise<unknown> | undefined
      let state = 'open' as 'open' | 'committed' | 'broken'
      const connection = () => {
        client ??= pool.connect()
        return client
      }
      const tx: SqlTx = {
        async query<R extends object>(text: string, params?: readonly unknown[]) {
          const over = () => state !== 'open'
          if (over()) throw new Error('The transaction is over')
          const connected = await connection()
          // It may have ended while the connection was awaited (and the connection gone back).
          if (over()) throw new Error('The transaction is over')
          if (!begun) {
            coalesceWrites(connected)
            begun = connected.query('BEGIN')
            begun.catch(() => undefined)
          }
          // Everything sent in one turn of the event loop leaves in one write.
          coalesceWrites(connected)
          return run(connected, text, params) as Promise<R[]>
        },
        async commit(statements, options) {
          if (state !== 'open') throw new Error('The transaction is over')
          state = 'committed'
          if (client) return commitOn(await client, statements, begun)
          return statements.length === 0 ? [] : commitReadless(statements, options)
        },
      }
      try {
        const value = await fn(tx)
        if (state === 'open') await tx.commit([])
        return value
      } catch (error) {
        if (state === 'open') {
          state = 'broken'
          if (begun) await (await connection()).query('ROLLBACK').catch(() => undefined)
        }
        throw error
      } finally {
        if (client)
          await client.then(
            (c) => c.release(),
            () => undefined,
          )
      }
    },
    async exec(script: string) {
      const client = await pool.connect()
      try {
        await client.query(script)
      } catch (error) {
        // A script that opened a transaction and failed leaves it open on this connection.
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      } finally {
        client.release()
      }
    },
    async close() {
      await shared.close()
      await pool.end()
    },
  }
}

/**
 * Statements outside a transaction (the queries' reads, the log reads, checkpoints) share `size`
 * connections of the pool, pipelined: each goes to the shared connection with the fewest statements
 * in flight, and what a turn of the event loop sends on one leaves in one write. A statement on a
 * connection of its own costs a write and a wake-up of its server process each; shared, a turn's
 * statements cost one. Measured with 50 callers of a one-row SELECT by primary key: three times the
 * statements per second, a quarter of node's CPU and half of PostgreSQL's per statement
 * (`bench/sql-reads.ts`, docs/architecture.md). The
 * price: a statement waits behind those sent before it on its connection; a long one (a rebuild's
 * read) holds up the few behind it, which is why there are two. Not more: with four, the reads of
 * 100 readers kept four PostgreSQL processes busy on two cores and the transactions beside them got
 * less (procurement's creates with 100 readers: 63/s with four, 85 with two).
 */
function sharedConnections(pool: pg.Pool, size: number) {
  interface Shared {
    client: Promise<pg.PoolClient>
    inFlight: number
    gone: boolean
  }
  const held: Shared[] = []
  let closed = false

  const forget = (entry: Shared) => {
    if (entry.gone) return false
    entry.gone = true
    held.splice(held.indexOf(entry), 1)
    return true
  }
  const drop = (entry: Shared, client: pg.PoolClient, error?: Error) => {
    if (forget(entry)) client.release(error ?? true)
  }
  const open = (): Shared => {
    const entry: Shared = { client: pool.connect(), inFlight: 0, gone: false }
    held.push(entry)
    entry.client.then(
      (client) => {
        // A lost connection is dropped (and destroyed); the next statement opens another.
        client.once('error', (error: Error) => drop(entry, client, error))
        client.once('end', () => drop(entry, client))
      },
      () => forget(entry),
    )
    return entry
  }
  const pick = (): Shared => {
    let best: Shared | undefined
    for (const entry of held) if (!best || entry.inFlight < best.inFlight) best = entry
    return best && (best.inFlight === 0 || held.length >= size) ? best : open()
  }

  return {
    /** Runs `send` on a shared connection, or with none (`undefined`: the pool) when there are none. */
    async use<T>(send: (client: pg.PoolClient | undefined) => Promise<T>): Promise<T> {
      if (size === 0 || closed) return send(undefined)
      const entry = pick()
      entry.inFlight++
      try {
        const client = await entry.client
        coalesceWrites(client)
        return await send(client)
      } finally {
        entry.inFlight--
      }
    },
    async close() {
      closed = true
      const entries = [...held]
      for (const entry of entries) forget(entry)
      for (const entry of entries)
        await entry.client.then(
          (client) => client.release(),
          () => undefined,
        )
    },
  }
}

/** Sent before a transaction's writes: they may keep a generic plan (see `createPostgres`). */
const keyedWrites = 'SET LOCAL plan_cache_mode = auto'

/** Failures after which the server certainly wrote nothing (else the outcome may be unknown). */
const rolledBack = new WeakSet<object>()
const certainlyRolledBack = (error: unknown) =>
  typeof error === 'object' && error !== null && rolledBack.has(error)

/** Whether the server answered COMMIT and wrote nothing: not so if the connection was lost. */
function answeredRollback(commit: PromiseSettledResult<pg.QueryResult>): boolean {
  if (commit.status === 'fulfilled') return !commit.value.command.startsWith('COMMIT')
  // Connection exceptions (08), operator intervention (57) and internal errors (XX) may cut the
  // connection before the outcome of COMMIT is known.
  const state = sqlState(commit.reason)
  return state !== undefined && !/^(08|57|XX)/.test(state)
}

type Corkable = NodeJS.WritableStream & { cork?(): void; uncork?(): void }
const corked = new WeakSet<object>()

const socketOf = (client: pg.PoolClient) =>
  (client as unknown as { connection?: { stream?: Corkable } }).connection?.stream

/**
 * node-postgres corks its socket around each query only, so a pipeline of N statements costs N
 * writes, each waking the server on its own. This keeps the socket corked until the current turn of
 * the event loop is over: BEGIN and the first reads go out in one write.
 */
function coalesceWrites(client: pg.PoolClient): void {
  const stream = socketOf(client)
  if (!stream?.cork || !stream.uncork || corked.has(stream)) return
  stream.cork()
  corked.add(stream)
  setImmediate(() => {
    corked.delete(stream)
    stream.uncork?.()
  })
}

/** Runs `send` with the socket corked, so what it sends leaves in one write (or with the turn's). */
function inOneWrite<T>(client: pg.PoolClient, send: () => T): T {
  const stream = socketOf(client)
  stream?.cork?.()
  try {
    return send()
  } finally {
    stream?.uncork?.()
  }
}

/** Names statements by their text so each connection prepares them once; odd one-off texts stay unnamed. */
function statementNames(limit = 1000): (text: string) => string | undefined {
  const names = new Map<string, string>()
  return (text) => {
    let name = names.get(text)
    if (name === undefined && names.size < limit) names.set(text, (name = `t${names.size}`))
    return name
  }
}
