import { PGlite, types } from '@electric-sql/pglite'
import type { Row, Sql, SqlTx, Statement } from '../core/sql.js'

/**
 * The SQL port over PGlite, PostgreSQL compiled to WebAssembly, in this process. `dataDir`
 * undefined keeps the database in memory. PGlite has one connection: transactions take turns.
 */
export async function createPglite(dataDir?: string): Promise<Sql> {
  const db = await PGlite.create(dataDir ?? 'memory://', {
    // As node-postgres does: 64-bit integers and numerics stay exact, as strings.
    parsers: { [types.INT8]: (x: string) => x, [types.NUMERIC]: (x: string) => x },
  })
  const rows = async (q: Promise<{ rows: unknown[] }>) => (await q).rows as Row[]

  return {
    kind: 'pglite',
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      rows(db.query(text, params as unknown[] | undefined)) as Promise<R[]>,
    transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
      return db.transaction(async (t) => {
        let open = true
        const tx: SqlTx = {
          query: <R extends object>(text: string, params?: readonly unknown[]) => {
            if (!open) return Promise.reject(new Error('The transaction is over'))
            return rows(t.query(text, params as unknown[] | undefined)) as Promise<R[]>
          },
          async commit(statements: readonly Statement[]) {
            const results: Row[][] = []
            for (const s of statements)
              results.push(await rows(t.query(s.text, s.params as unknown[] | undefined)))
            open = false
            return results
          },
        }
        return fn(tx)
      })
    },
    async exec(script: string) {
      try {
        await db.exec(script)
      } catch (error) {
        // A script that opened a transaction and failed leaves it open on the one connection.
        await db.exec('ROLLBACK').catch(() => undefined)
        throw error
      }
    },
    close: () => db.close(),
  }
}
