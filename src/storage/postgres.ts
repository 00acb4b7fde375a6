import pg from 'pg'
import type { Row, Sql, SqlTx, Statement } from '../core/sql.js'

export interface PostgresOptions {
  url: string
  /** Connections in the pool. */
  max?: number
  applicationName?: string
}

/**
 * The SQL port over node-postgres. Connections run in pipeline mode, so a transaction's BEGIN goes
 * out with its first statement and its writes go out with its COMMIT: two round trips for a command
 * that reads, one for a command that does not.
 * Statements are prepared once per connection, named by their text.
 */
export function createPostgres(options: PostgresOptions): Sql {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 20,
    application_name: options.applicationName ?? 'tandem',
    pipeline: true,
  })
  // An idle client that loses its connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined)
  const named = statementNames()

  const run = (client: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]) =>
    client
      .query({ name: named(text), text, values: params as unknown[] | undefined })
      .then((r) => r.rows as Row[])
  // Inside a transaction, everything sent in one turn of the event loop leaves in one write.
  const send = (client: pg.PoolClient, text: string, params?: readonly unknown[]) => {
    coalesceWrites(client)
    return run(client, text, params)
  }

  return {
    kind: 'postgres',
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      run(pool, text, params) as Promise<R[]>,
    async transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
      const client = await pool.connect()
      let state = 'open' as 'open' | 'committed' | 'broken'
      // BEGIN leaves with the first statement: a command that reads nothing sends BEGIN, its
      // writes and COMMIT in one write.
      let begun: Promise<pg.QueryResult> | undefined
      const begin = () => {
        if (begun) return begun
        coalesceWrites(client)
        begun = client.query('BEGIN')
        begun.catch(() => undefined)
        return begun
      }
      const tx: SqlTx = {
        query: <R extends object>(text: string, params?: readonly unknown[]) => {
          if (state !== 'open') return Promise.reject(new Error('The transaction is over'))
          void begin()
          return send(client, text, params) as Promise<R[]>
        },
        async commit(statements: readonly Statement[]) {
          if (state !== 'open') throw new Error('The transaction is over')
          state = 'committed'
          if (!begun && statements.length === 0) return []
          const started = begin()
          const sent = statements.map((s) => send(client, s.text, s.params))
          const commit = client.query('COMMIT')
          const settled = await Promise.allSettled([started, ...sent, commit])
          const failed = settled.find((s) => s.status === 'rejected')
          if (failed) throw failed.reason
          const last = settled.at(-1) as PromiseFulfilledResult<pg.QueryResult>
          if (last.value.command !== 'COMMIT') throw new Error('The transaction was rolled back')
          return settled.slice(1, -1).map((s) => (s as PromiseFulfilledResult<Row[]>).value)
        },
      }
      try {
        const value = await fn(tx)
        if (state === 'open') await tx.commit([])
        return value
      } catch (error) {
        if (state === 'open') {
          state = 'broken'
          if (begun) await client.query('ROLLBACK').catch(() => undefined)
        }
        throw error
      } finally {
        client.release()
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
    close: () => pool.end(),
  }
}

type Corkable = NodeJS.WritableStream & { cork?(): void; uncork?(): void }
const corked = new WeakSet<object>()

/**
 * node-postgres corks its socket around each query only, so a pipeline of N statements costs N
 * writes, each waking the server on its own. This keeps the socket corked until the current turn of
 * the event loop is over: BEGIN and the first reads, or the writes and COMMIT, go out in one write.
 */
function coalesceWrites(client: pg.PoolClient): void {
  const stream = (client as unknown as { connection?: { stream?: Corkable } }).connection?.stream
  if (!stream?.cork || !stream.uncork || corked.has(stream)) return
  stream.cork()
  corked.add(stream)
  setImmediate(() => {
    corked.delete(stream)
    stream.uncork?.()
  })
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
