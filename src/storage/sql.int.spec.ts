import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sqlState, type Sql } from '../core/sql.js'
import { postgresUrl, servicesAvailable } from '../testing/services.js'
import { createPglite } from './pglite.js'
import { createPostgres } from './postgres.js'
import { createScratchDatabase } from './scratch-database.js'

/** One contract, two adapters: what the platform relies on must hold on PGlite and on PostgreSQL alike. */
const adapters: [string, () => Promise<{ sql: Sql; done(): Promise<void> }>][] = [
  [
    'pglite',
    async () => {
      const sql = await createPglite()
      return { sql, done: () => sql.close() }
    },
  ],
]
if (servicesAvailable) {
  adapters.push([
    'postgres',
    async () => {
      const scratch = await createScratchDatabase(postgresUrl, 'sql')
      const sql = createPostgres({ url: scratch.url, max: 4 })
      return { sql, done: async () => (await sql.close(), await scratch.drop()) }
    },
  ])
}

describe.each(adapters)('the SQL port (%s)', (_name, open) => {
  let sql: Sql
  let done: () => Promise<void>
  beforeAll(async () => {
    ;({ sql, done } = await open())
    await sql.exec('CREATE TABLE t (id int PRIMARY KEY, label text, at timestamptz, doc jsonb, big bigint)')
  })
  afterAll(async () => done())

  it('reads back the types the platform uses: 64-bit integers as exact strings, times as Dates, JSON as values', async () => {
    const [row] = await sql.query('INSERT INTO t VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING *', [
      1,
      'one',
      '2031-01-02T03:04:05.678Z',
      JSON.stringify({ nested: { list: [1, 'two'] } }),
      '9223372036854775807',
    ])
    expect(row).toEqual({
      id: 1,
      label: 'one',
      at: new Date('2031-01-02T03:04:05.678Z'),
      doc: { nested: { list: [1, 'two'] } },
      big: '9223372036854775807',
    })
  })

  it('passes array parameters whose elements hold quotes, backslashes, commas and braces', async () => {
    const values = ['plain', 'with "quotes"', 'back\\slash', 'a,b', '{braces}', '']
    const rows = await sql.query<{ v: string }>('SELECT unnest($1::text[]) AS v', [values])
    expect(rows.map((r) => r.v)).toEqual(values)
  })

  it('commits the writes sent with COMMIT, and answers the reads issued together in one transaction', async () => {
    const [a, b] = await sql.transaction(async (tx) => {
      const reads = await Promise.all([tx.query('SELECT 10 AS n'), tx.query('SELECT 20 AS n')])
      await tx.commit([{ text: 'INSERT INTO t (id, label) VALUES ($1, $2)', params: [2, 'two'] }])
      return reads
    })
    expect([a, b]).toEqual([[{ n: 10 }], [{ n: 20 }]])
    expect(await sql.query('SELECT label FROM t WHERE id = 2')).toEqual([{ label: 'two' }])
  })

  it('rolls back everything when a statement fails mid-pipeline, and stays usable', async () => {
    const failure = await sql
      .transaction(async (tx) => {
        await tx.query('INSERT INTO t (id, label) VALUES (3, $1)', ['three'])
        await tx.commit([
          { text: 'INSERT INTO t (id, label) VALUES ($1, $2)', params: [4, 'four'] },
          { text: 'INSERT INTO t (id, label) VALUES ($1, $2)', params: [1, 'duplicate'] },
          { text: 'INSERT INTO t (id, label) VALUES ($1, $2)', params: [5, 'five'] },
        ])
      })
      .catch((error: unknown) => error)
    expect(sqlState(failure)).toBe('23505')
    expect(await sql.query('SELECT id FROM t WHERE id IN (3, 4, 5)')).toEqual([])
    // The same statement texts work again afterwards.
    await sql.transaction(async (tx) => {
      await tx.commit([{ text: 'INSERT INTO t (id, label) VALUES ($1, $2)', params: [4, 'four'] }])
    })
    expect(await sql.query('SELECT label FROM t WHERE id = 4')).toEqual([{ label: 'four' }])
  })

  it('rolls back when the transaction function throws', async () => {
    await expect(
      sql.transaction(async (tx) => {
        await tx.query('INSERT INTO t (id, label) VALUES (6, $1)', ['six'])
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    expect(await sql.query('SELECT id FROM t WHERE id = 6')).toEqual([])
  })

  it('keeps concurrent transactions apart', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sql.transaction(async (tx) => {
          const [row] = await tx.query<{ n: number }>('SELECT $1::int AS n', [i])
          await tx.commit([
            { text: 'INSERT INTO t (id, label) VALUES ($1, $2)', params: [100 + (row?.n ?? 0), 'c'] },
          ])
        }),
      ),
    )
    const [row] = await sql.query<{ n: string }>("SELECT count(*)::text AS n FROM t WHERE label = 'c'")
    expect(row?.n).toBe('20')
  })
})
