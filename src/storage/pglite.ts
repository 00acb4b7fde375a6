import { sqlState, type Row, type Sql, type SqlTx, type Statement } from '../core/sql.js'
import { groupCommits } from './group-commit.js'
import { openPgliteSession, type PgliteSettings } from './pglite-session.js'

/** The SQL port over PGlite, and a copy of its database taken between transactions. */
export interface PgliteSql extends Sql {
  copy(): Promise<Uint8Array>
}

/**
 * The SQL port over PGlite, PostgreSQL compiled to WebAssembly, in this process (`dataDir`
 * undefined keeps the database in memory). Statements are pipelined (pglite-session.ts). PGlite has
 * one connection: a mutex makes every caller, and every transaction, take turns.
 *
 * PGlite stays on the main thread on purpose: a transaction holds the one connection across its
 * round trips, and a worker thread adds a message hop to each of them (tried: fewer commands per
 * second).
 */
export async function createPglite(
  dataDir?: string,
  options: {
    /** Told the size of each group of transactions that read nothing sent (metrics). */
    onCommitGroup?: (size: number) => void
    /** PostgreSQL settings to start with (pglite-session.ts). */
    settings?: PgliteSettings
    /** In memory only: start from this copy of a database (`copy()`). */
    copy?: Uint8Array
  } = {},
): Promise<PgliteSql> {
  const session = await openPgliteSession(dataDir, options.settings, options.copy)
  const lock = mutex()
  const one = async (text: string, params?: readonly unknown[]) =>
    (await session.pipeline([{ text, params }]))[0] ?? []

  type Steps = ReturnType<typeof transactionSteps>
  /** After a failure: a transaction left open (aborted) on the one connection is rolled back. */
  const abandon = async (steps: Steps) => {
    await steps.settled() // statements issued but not yet sent go first: BEGIN may be among them
    if (steps.state() === 'open') await session.exec('ROLLBACK').catch(() => undefined)
  }

  const commitReadless = groupCommits({
    commit: (statements) =>
      lock.run(async () => {
        const steps = transactionSteps(session.pipeline)
        return steps.tx.commit(statements).catch(async (error: unknown) => {
          await abandon(steps)
          throw error
        })
      }),
    // In this process every failure is answered: a failed transaction wrote nothing.
    rolledBack: (error) => sqlState(error) !== undefined,
    maxGroup: 64,
    onSent: options.onCommitGroup,
  })

  return {
    kind: 'pglite',
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      lock.run(() => one(text, params)) as Promise<R[]>,
    async transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
      // A transaction that reads nothing never takes the connection: it is committed with those of
      // its turn (group-commit.ts). One that reads takes it with its first read, until it ends.
      let held: Promise<{ steps: Steps; release: () => void }> | undefined
      let readless = false
      let ended = false
      const take = () =>
        (held ??= lock.acquire().then((release) => ({ steps: transactionSteps(session.pipeline), release })))
      const tx: SqlTx = {
        async query<R extends object>(text: string, params?: readonly unknown[]) {
          const over = () => readless || ended
          if (over()) throw new Error('The transaction is over')
          const { steps } = await take()
          // It may have ended while the connection was awaited (and the connection gone to another).
          if (over()) throw new Error('The transaction is over')
          return steps.tx.query<R>(text, params)
        },
        async commit(statements, options) {
          if (held) return (await held).steps.tx.commit(statements)
          if (readless) throw new Error('The transaction is over')
          readless = true
          return statements.length === 0 ? [] : commitReadless(statements, options)
        },
      }
      try {
        const value = await fn(tx)
        const steps = held && (await held).steps
        if (steps && steps.state() !== 'done') await steps.tx.commit([])
        return value
      } catch (error) {
        ended = true
        if (held) await abandon((await held).steps)
        throw error
      } finally {
        ended = true
        if (held) (await held).release()
      }
    },
    exec: (script: string) => lock.run(() => session.exec(script)),
    copy: () => lock.run(() => session.copy()),
    close: () => lock.run(() => session.close()),
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
  const issued: Promise<unknown>[] = []

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
    const sent = new Promise<Row[]>((resolve, reject) => {
      if (waiting.length === 0) {
        queueMicrotask(() => {
          flushing = flushing.then(flush)
        })
      }
      waiting.push({ statement, resolve, reject })
    })
    issued.push(sent)
    return sent
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
  return { tx, state: () => state, settled: () => Promise.allSettled(issued) }
}

/** One holder at a time, in the order they asked. */
function mutex() {
  let tail: Promise<unknown> = Promise.resolve()
  /** Waits for the turn; the function returned ends it. */
  const acquire = (): Promise<() => void> => {
    let release!: () => void
    const turn = new Promise<void>((resolve) => (release = resolve))
    const ready = tail.then(() => release)
    tail = tail.then(() => turn)
    return ready
  }
  return {
    acquire,
    async run<T>(fn: () => Promise<T>): Promise<T> {
      const release = await acquire()
      try {
        return await fn()
      } finally {
        release()
      }
    },
  }
}
