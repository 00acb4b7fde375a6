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

  it('sends nothing for a read still waiting for the connection when the transaction fails', async () => {
    await expect(
      sql.transaction(async (tx) => {
        void tx.query("INSERT INTO t (id, label) VALUES (900, 'stray')").catch(() => undefined)
        throw new Error('failed first')
      }),
    ).rejects.toThrow('failed first')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await sql.query('SELECT id FROM t WHERE id = 900')).toEqual([])
    if (sql.kind === 'postgres') {
      const open = await sql.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
      )
      expect(open).toEqual([])
    }
  })

  it('sends the transactions that read nothing and meet in one turn as one transaction', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sql.transaction((tx) =>
          tx.commit([
            {
              text: 'INSERT INTO t (id, label) VALUES ($1, $2) RETURNING pg_current_xact_id()::text AS tx',
              params: [200 + i, 'grouped'],
            },
          ]),
        ),
      ),
    )
    expect(new Set(results.map((rows) => rows[0]?.[0]?.tx)).size).toBe(1)
    const [row] = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM t WHERE label = 'grouped'")
    expect(row?.n).toBe(20)
  })

  it('commits transactions that read nothing, sent at once, each on its own: a failing one writes nothing and fails alone', async () => {
    const insert = (id: number, label: string) => ({
      text: 'INSERT INTO t (id, label) VALUES ($1, $2) RETURNING pg_current_xact_id()::text AS tx',
      params: [id, label],
    })
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        sql.transaction((tx) =>
          tx.commit(i % 10 === 7 ? [insert(300 + i, 'g'), insert(1, 'duplicate')] : [insert(300 + i, 'g')], {
            order: String(i),
          }),
        ),
      ),
    )
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []))
    expect(failed).toEqual([7, 17, 27])
    for (const i of failed) expect(sqlState((outcomes[i] as PromiseRejectedResult).reason)).toBe('23505')
    const rows = await sql.query<{ id: number }>("SELECT id FROM t WHERE label = 'g' ORDER BY id")
    expect(rows.map((r) => r.id)).toEqual(
      Array.from({ length: 30 }, (_, i) => 300 + i).filter((id) => id % 10 !== 7),
    )
  })
})

describe.runIf(servicesAvailable)('group commit on PostgreSQL', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
  let first: Sql
  let second: Sql
  beforeAll(async () => {
    scratch = await createScratchDatabase(postgresUrl, 'group')
    first = createPostgres({ url: scratch.url, max: 4 })
    second = createPostgres({ url: scratch.url, max: 4 })
    await first.exec(
      'CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counter SELECT i, 0 FROM generate_series(1, 20) i',
    )
  })
  afterAll(async () => {
    await Promise.all([first.close(), second.close()])
    await scratch.drop()
  })

  it('plans each run of a prepared statement for its values (a generic plan of a range is often a full scan)', async () => {
    for (let run = 0; run < 7; run++) {
      const [setting] = await first.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode')
      expect(setting?.plan_cache_mode).toBe('force_custom_plan')
    }
  })

  it("lets a transaction's writes keep a generic plan, and plans its reads for their values", async () => {
    const one = createPostgres({ url: scratch.url, max: 1 }) // one connection: its session's plans
    try {
      const write = { text: 'UPDATE counter SET n = n + 1 WHERE id = $1', params: [1] }
      for (let run = 0; run < 8; run++) await one.transaction((tx) => tx.commit([write]))
      const seen = await one.transaction(async (tx) => {
        const [read] = await tx.query<{ mode: string }>("SELECT current_setting('plan_cache_mode') AS mode")
        const [rows] = await tx.commit([{ text: "SELECT current_setting('plan_cache_mode') AS mode" }])
        return { read: read?.mode, written: (rows?.[0] as { mode?: string } | undefined)?.mode }
      })
      expect(seen).toEqual({ read: 'force_custom_plan', written: 'auto' })
      const [plans] = await one.query<{ generic: number }>(
        "SELECT generic_plans::int AS generic FROM pg_prepared_statements WHERE statement LIKE 'UPDATE counter%'",
      )
      expect(plans?.generic).toBeGreaterThan(0)
      const [after] = await one.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode')
      expect(after?.plan_cache_mode).toBe('force_custom_plan')
    } finally {
      await one.close()
    }
  })

  // Each transaction holds its row a little while, so that two groups sent at once overlap.
  const bump = (sql: Sql, id: number) =>
    sql.transaction((tx) =>
      tx.commit(
        [
          {
            text: 'UPDATE counter SET n = n + 1 WHERE id = $1 RETURNING pg_current_xact_id()::text AS tx',
            params: [id],
          },
          { text: 'SELECT pg_sleep(0.002)' },
        ],
        { order: String(id).padStart(2, '0') },
      ),
    )
  const transactionOf = (rows: { tx?: unknown }[][]) => rows[0]?.[0]?.tx

  it('locks rows in the order of the keys: two processes grouping the same rows in opposite orders do not deadlock', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => i + 1)
    const sum = async () => (await first.query<{ s: number }>('SELECT sum(n)::int AS s FROM counter'))[0]?.s
    const before = await sum()
    await Promise.all([first.query('SELECT 1'), second.query('SELECT 1')]) // both connected
    const [up, down] = await Promise.all([
      Promise.all(ids.map((id) => bump(first, id))),
      Promise.all([...ids].reverse().map((id) => bump(second, id))),
    ])
    // On a deadlock, the group PostgreSQL picks to fail commits its transactions one by one:
    // several transaction ids.
    expect(new Set(up.map(transactionOf)).size).toBe(1)
    expect(new Set(down.map(transactionOf)).size).toBe(1)
    expect(await sum()).toBe((before ?? 0) + 40)
  })

  it('writes no transaction twice, and loses none it acknowledged, when connections are cut under groups', async () => {
    const victim = createPostgres({ url: scratch.url, max: 4, applicationName: 'victim' })
    try {
      await victim.exec('CREATE TABLE writes (tag text NOT NULL)') // no key: a double would show
      const cut = () =>
        first.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'victim'`,
        )
      const acknowledged: string[] = []
      let failed = 0
      for (let round = 0; round < 200 && (failed === 0 || round < 20); round++) {
        const tags = Array.from({ length: 20 }, (_, i) => `${round}-${i}`)
        const sent = tags.map((tag) =>
          victim.transaction((tx) =>
            tx.commit([{ text: 'INSERT INTO writes (tag) VALUES ($1)', params: [tag] }], { order: tag }),
          ),
        )
        // Settled from the start: a transaction the cut fails before the cut's own query returns
        // would otherwise be a rejection nobody was listening to yet.
        const settled = Promise.allSettled(sent)
        if (round % 2 === 1) await new Promise((resolve) => setImmediate(resolve)).then(cut)
        const outcomes = await settled
        outcomes.forEach((o, i) => (o.status === 'fulfilled' ? acknowledged.push(tags[i] ?? '') : failed++))
      }
      expect(failed).toBeGreaterThan(0) // the cuts did land
      const rows = await first.query<{ tag: string; n: number }>(
        'SELECT tag, count(*)::int AS n FROM writes GROUP BY tag',
      )
      expect(rows.filter((r) => r.n > 1)).toEqual([])
      const written = new Set(rows.map((r) => r.tag))
      expect(acknowledged.filter((tag) => !written.has(tag))).toEqual([])
    } finally {
      await victim.close()
    }
  })
})

describe.runIf(servicesAvailable)('statements outside a transaction on PostgreSQL', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
  let sql: Sql
  beforeAll(async () => {
    scratch = await createScratchDatabase(postgresUrl, 'shared')
    sql = createPostgres({ url: scratch.url, max: 8, applicationName: 'shared' })
  })
  afterAll(async () => {
    await sql.close()
    await scratch.drop()
  })

  const echo = (n: number) =>
    sql.query<{ n: number; pid: number }>('SELECT $1::int AS n, pg_backend_pid() AS pid', [n])

  it('share a few connections, pipelined: each gets its own answer, a failing one fails alone, transactions keep theirs', async () => {
    const reads = Array.from({ length: 300 }, (_, i) =>
      i % 50 === 7 ? sql.query('SELECT 1 / $1::int AS n', [0]) : echo(i),
    )
    const writes = Array.from({ length: 20 }, (_, i) =>
      sql.transaction(async (tx) => {
        const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        await tx.commit([])
        return { i, pid: row?.pid }
      }),
    )
    const outcomes = await Promise.allSettled(reads)
    outcomes.forEach((o, i) => {
      if (i % 50 === 7) expect(o.status === 'rejected' && sqlState(o.reason)).toBe('22012')
      else expect(o.status === 'fulfilled' && o.value[0]?.n).toBe(i)
    })
    const pids = new Set(outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value[0]?.pid] : [])))
    expect(pids.size).toBeLessThanOrEqual(2)
    expect((await Promise.all(writes)).map((w) => w.i)).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('replace a shared connection that was cut: statements sent after it are answered', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => echo(i)))
    const watcher = createPostgres({ url: scratch.url, max: 1 })
    try {
      const cut = await watcher.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'shared'`,
      )
      expect(cut.length).toBeGreaterThan(0)
    } finally {
      await watcher.close()
    }
    // Those sent while the cut is noticed may fail with it; then every statement is answered.
    const deadline = Date.now() + 10_000
    let answered = 0
    while (answered < 50 && Date.now() < deadline) {
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => echo(i)))
      answered = outcomes.every((o) => o.status === 'fulfilled') ? answered + 10 : 0
    }
    expect(answered).toBe(50)
  })
})
