import { randomUUID } from 'node:crypto'
import { pino } from 'pino'
import type { Sql } from '../../core/sql.js'
import { createMemoryKv } from '../../projections/kv-memory.js'
import { createRedisKv } from '../../projections/kv-redis.js'
import type { KvStore } from '../../projections/kv.js'
import { readMigrations } from '../../projections/targets.js'
import { migrate } from '../../storage/migrations.js'
import { createPglite } from '../../storage/pglite.js'
import { createPostgres } from '../../storage/postgres.js'
import { createScratchDatabase } from '../../storage/scratch-database.js'
import { testPgliteSettings } from '../harness.js'
import { postgresUrl, redisUrl, type Mode } from '../services.js'

/**
 * The read stores of one spec file, opened when first asked for and closed once: memory KV and an
 * in-memory PGlite (embedded), or Redis under a key prefix of its own and a scratch PostgreSQL
 * database (server). Nothing is opened that the spec does not use.
 */
export function specStores(mode: Mode) {
  let kv: Promise<KvStore> | undefined
  let sql: Promise<{ sql: Sql; drop(): Promise<void> }> | undefined
  const log = pino({ level: 'silent' })

  async function openSql() {
    const scratch =
      mode === 'server'
        ? await createScratchDatabase(postgresUrl, 'kit', { migrations: readMigrations })
        : undefined
    const opened = scratch
      ? createPostgres({ url: scratch.url, max: 4 })
      : await createPglite(undefined, { settings: testPgliteSettings })
    await migrate(opened, readMigrations)
    return { sql: opened, drop: async () => scratch?.drop() }
  }

  return {
    kv: () =>
      (kv ??=
        mode === 'server'
          ? createRedisKv({ url: redisUrl, keyPrefix: `tandem-kit:${randomUUID()}:`, log })
          : Promise.resolve(createMemoryKv())),
    sql: async () => (await (sql ??= openSql())).sql,
    async close() {
      const [openKv, openSql] = [kv, sql]
      kv = sql = undefined
      if (openKv) {
        const store = await openKv
        await store.deletePrefix('')
        await store.close()
      }
      if (openSql) {
        const { sql: store, drop } = await openSql
        await store.close()
        await drop()
      }
    },
  }
}
