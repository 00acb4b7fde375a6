import pg from 'pg'
import { buildCrudApp, migrateCrud } from '../baselines/procurement-crud/app.js'
import { profile } from './profiling.js'
import type { Ready, Reply, Request } from './protocol.js'

/**
 * The procurement CRUD baseline, forked like the Tandem server (bench/server/child.ts) on the same
 * scratch database: the monolith the CQRS domain is compared with, on the same data in the same run.
 */

const send = (message: Ready | Reply) => process.send?.(message)
const url = process.env.BENCH_DATABASE_URL
const secret = process.env.BENCH_AUTH_SECRET
if (!url || !secret) throw new Error('The CRUD server needs BENCH_DATABASE_URL and BENCH_AUTH_SECRET')
const pool = new pg.Pool({ connectionString: url, max: Number(process.env.BENCH_POOL_SIZE ?? 20) })
await migrateCrud(pool)
const app = buildCrudApp({ pool, authSecret: secret })
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()

async function handle(message: Request): Promise<unknown> {
  switch (message.op) {
    case 'sqlCommit': {
      const db = await pool.connect()
      try {
        await db.query('BEGIN')
        for (const s of message.statements) await db.query(s.text, s.params)
        await db.query('COMMIT')
      } catch (error) {
        await db.query('ROLLBACK')
        throw error
      } finally {
        db.release()
      }
      return null
    }
    case 'sqlQuery':
      return (await pool.query(message.text, message.params)).rows
    case 'close':
      await app.close()
      await pool.end()
      return null
    case 'profile':
      return profile(message.action, message.file)
    case 'seed':
    case 'audit':
    case 'studyAudit':
    case 'caughtUp':
    case 'ask':
    case 'kvNewest':
    case 'projectionStatus':
    case 'kvPrefix':
      throw new Error(`The CRUD server does not ${message.op}`)
  }
}

process.on('message', (message: Request) => {
  handle(message).then(
    (value) => {
      send({ id: message.id, ok: true, value: value ?? null })
      if (message.op === 'close') process.disconnect()
    },
    (error: unknown) => send({ id: message.id, ok: false, error: String(error) }),
  )
})
// The bench process went away: do not outlive it.
process.on('disconnect', () => void app.close().finally(() => process.exit(0)))
send({ op: 'ready', port: typeof address === 'object' && address ? address.port : 0 })
