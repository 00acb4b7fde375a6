import type { Row, Sql, SqlTx, Statement } from '../core/sql.js'
import { openPgliteSession } from './pglite-session.js'

/**
 * The SQL port over PGlite, PostgreSQL compiled to WebAssembly, in this process (`dataDir`
 * undefined keeps the database in memory). Statements are pipelined (pglite-session.ts). PGlite has
 * one connection: a mutex makes every caller, and every transaction, take turns.
 *
 * PGlite stays on the main thread on purpose: a transaction holds the one connection across its
 * round trips, and a worker thread adds a message hop to each of them (tried: fewer commands per
 * second).
 */
export async function createPglite(dataDir?: string): Promise<Sql> {
  const session = await openPgliteSession(dataDir)
  const lock = mutex()
  const one = async (text: string, params?: readonly unknown[]) =>
    (await session.pipeline([{ text, params }]))[0] ?? []

  return {
    kind: 'pglite',
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      lock(() => one(text, params)) as Promise<R[]>,
    transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
      return lock(async () => {
        const steps = transactionSteps(session.pipeline)
        try {
          const value = await fn(steps.tx)
          if (steps.state() !== 'done') await steps.tx.commit([])
          return value
        } catch (error) {
          if (steps.state() === 'open') await session.exec('ROLLBACK').catch(() => undefined)
          throw error
        }
      })
    },
    exec: (script: string) => lock(() => session.exec(script)),
    close: () => lock(() => session.close()),
  }
}

interface Waiting {
  statement: Statement
  resolve(rows: Row[]): void
  reject(error: unknown): void
}

/**
 * One transaction's statements. Those issued in the same tick (`Promise.all`) go out together in one
 * pipeline, in the order they were issued; BEGIN goes with the first of them.
 */
function transactionSteps(pipeline: (statements: readonly Statement[]) => Promise<Row[][]>) {
  let state = 'new' as 'new' | 'open' | 'done'
  let waiting: Waiting[] = []
  let flushing: Promise<void> = Promise.resolve()

  async function flush() {
    const batch = waiting
    waiting = []
    if (batch.length === 0) return
    const statements = batch.map((w) => w.statement)
    const begin = state === 'new'
    state = 'open'
    try {
      const results = await pipeline(begin ? [{ text: 'BEGIN' }, ...statements] : statements)
      batch.forEach((w, i) => w.resolve(results[i + (begin ? 1 : 0)] ?? []))
    } catch (error) {
      for (const w of batch) w.reject(error)
    }
  }

  function send(statement: Statement): Promise<Row[]> {
    if (state === 'done') return Promise.reject(new Error('The transaction is over'))
    return new Promise<Row[]>((resolve, reject) => {
      if (waiting.length === 0) {
        queueMicrotask(() => {
          flushing = flushing.then(flush)
        })
      }
      waiting.push({ statement, resolve, reject })
    })
  }

  const tx: SqlTx = {
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      send({ text, params }) as Promise<R[]>,
    async commit(statements) {
      if (state === 'new' && statements.length === 0) {
        state = 'done'
        return []
      }
      const sent = [...statements, { text: 'COMMIT' }].map((s) => send(s))
      try {
        return (await Promise.all(sent)).slice(0, -1)
      } finally {
        // COMMIT ran, or an error left the transaction aborted: either way no more statements.
        if ((await Promise.allSettled(sent)).every((r) => r.status === 'fulfilled')) state = 'done'
      }
    },
  }
  return { tx, state: () => state }
}

/** Runs the functions given to it one at a time, in order. */
function mutex() {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn)
    tail = run.catch(() => undefined)
    return run
  }
}
