/**
 * What the append's check of stream order costs (migration core/011, `appendStatement`): one-event
 * appends to streams of ten events each, with the check and as the statement was before it, eight
 * rounds alternated. PostgreSQL: 3,000 appends a round inside one transaction (the WAL flush of a
 * commit per append hides much of the difference), then 1,000 with a commit each; PGlite: 2,000,
 * a commit each.
 * Prints µs per append, each round and the median. Not part of `npm run bench`:
 * `npx tsx bench/append-check.ts` (PostgreSQL at TEST_DATABASE_URL or 127.0.0.1:5432).
 */
import { appendStatement } from '../src/storage/event-log.js'
import { migrate } from '../src/storage/migrations.js'
import { createPglite } from '../src/storage/pglite.js'
import { createPostgres } from '../src/storage/postgres.js'
import { writeMigrations } from '../src/storage/schema.js'
import { createScratchDatabase } from '../src/storage/scratch-database.js'
import type { Sql } from '../src/core/sql.js'
import { postgresUrl } from '../src/testing/services.js'

const metadata = { commandId: 'c', correlationId: 'c', command: 'bench/append' }
const data = { amount: 12_000, merchantId: 'shop-1', at: new Date().toISOString() }
/** The append as it was before the check. */
const unchecked = `INSERT INTO tandem.event_log (stream_id, stream_version, type, data, metadata)
  VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) RETURNING position`

/**
 * One round: appends sent as a command's are, with its COMMIT (`SqlTx.commit`, which lets writes keep
 * a generic plan, as the check's own query does then), or all in one transaction under that setting.
 */
async function round(sql: Sql, checked: boolean, n: number, tag: string, inOne: boolean): Promise<number> {
  const append = (i: number) => {
    const s = appendStatement(
      { id: `${tag}-${Math.floor(i / 10)}`, expectedVersion: i % 10 },
      [{ type: 'Appended', data }],
      metadata,
    )
    return checked ? s : { text: unchecked, params: s.params }
  }
  const began = performance.now()
  if (inOne) {
    await sql.transaction(async (tx) => {
      if (sql.kind === 'postgres') await tx.query('SET LOCAL plan_cache_mode = auto')
      for (let i = 0; i < n; i++) {
        const s = append(i)
        await tx.query(s.text, s.params)
      }
    })
  } else {
    for (let i = 0; i < n; i++) await sql.transaction((tx) => tx.commit([append(i)]))
  }
  return ((performance.now() - began) * 1000) / n
}

async function compare(label: string, sql: Sql, n: number, inOne: boolean) {
  const times: Record<'checked' | 'unchecked', number[]> = { checked: [], unchecked: [] }
  for (let r = 0; r < 8; r++)
    for (const checked of r % 2 === 0 ? [false, true] : [true, false])
      times[checked ? 'checked' : 'unchecked'].push(
        await round(sql, checked, n, `${label}-${r}-${checked}`, inOne),
      )
  for (const [name, list] of Object.entries(times)) {
    const median = [...list].sort((a, b) => a - b)[list.length / 2] ?? 0
    console.log(
      `${label.padEnd(36)} ${name.padEnd(9)} median ${median.toFixed(0)} µs  (${list.map((t) => t.toFixed(0)).join(' ')})`,
    )
  }
}

const scratch = await createScratchDatabase(postgresUrl, 'appendcheck', { migrations: writeMigrations })
try {
  const sql = createPostgres({ url: scratch.url, max: 1 })
  await compare('PostgreSQL, one transaction', sql, 3000, true)
  await compare('PostgreSQL, a commit per append', sql, 1000, false)
  await sql.close()
} finally {
  await scratch.drop()
}
const pglite = await createPglite()
await migrate(pglite, writeMigrations)
await compare('PGlite, a commit per append', pglite, 2000, false)
await pglite.close()
