import { createHash } from 'node:crypto'
import pg from 'pg'
import { sqlState } from '../core/sql.js'
import { migrate, type Migration } from './migrations.js'
import { createPostgres } from './postgres.js'
import { logIdentityMigration, renewLogIdentity } from './schema.js'

export interface ScratchOptions {
  /**
   * Start with these migrations applied. The database is then a copy (CREATE DATABASE … TEMPLATE)
   * of one that applied them, made once per set of migrations and kept on the server, named by their
   * hash: copying a few megabytes of files is a fraction of running every domain's DDL (a test
   * Tandem with every domain started in 150 ms instead of 570). The copy gets a log identity of its own.
   */
  migrations?: readonly Migration[]
}

/**
 * A throw-away PostgreSQL database beside the one `url` names, for tests and benchmarks:
 * they get a clean event log and never touch the user's data.
 */
export async function createScratchDatabase(
  url: string,
  label = 'scratch',
  options: ScratchOptions = {},
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tandem_${label}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const { migrations } = options
  await withClient(url, async (admin) => {
    if (migrations) await copyOfTemplate(admin, url, name, migrations)
    else await admin.query(`CREATE DATABASE ${name}`)
  })
  const scratch = new URL(url)
  scratch.pathname = `/${name}`
  if (migrations?.some((m) => m.id === logIdentityMigration)) {
    const copy = createPostgres({ url: scratch.toString(), max: 1 })
    try {
      await renewLogIdentity(copy)
    } finally {
      await copy.close()
    }
  }
  return {
    url: scratch.toString(),
    async drop() {
      await withClient(url, async (client) => {
        // Connections just closed by their pools may still be saying goodbye: a FORCE that cuts one
        // then reaches its client as an error nobody listens to any more. Give them a moment first.
        for (let waited = 0; waited < 2000; waited += 20) {
          const [row] = (
            await client.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
              [name],
            )
          ).rows
          if ((row?.n ?? 0) === 0) break
          await pause(20)
        }
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      })
    },
  }
}

const templatePrefix = 'tandem_template_'
/** Templates older than this are dropped when another is made. */
const staleAfterMs = 24 * 3600_000

/** The name of the template holding `migrations`: their hash. */
export function templateName(migrations: readonly Migration[]): string {
  const hash = createHash('sha256')
  for (const m of migrations) hash.update(`${m.id}\0${m.sql}\0`)
  return `${templatePrefix}${hash.digest('hex').slice(0, 16)}`
}

/** Creates `name` as a copy of the template of `migrations`, which is made first if missing. */
async function copyOfTemplate(admin: pg.Client, url: string, name: string, migrations: readonly Migration[]) {
  const template = templateName(migrations)
  for (let attempt = 1; ; attempt++) {
    await ensureTemplate(admin, url, template, migrations)
    try {
      // Copies of one template at the same moment queue, but one can find it still busy (55006).
      await whileInUse(() => admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`))
      return
    } catch (error) {
      // Dropped by another process between the two steps (see below): make it again.
      if (sqlState(error) !== '3D000' || attempt === 3) throw error
    }
  }
}

/**
 * Makes the template if it is missing. Processes making one queue on an advisory lock; it is built
 * under another name and renamed when done, so no copy is ever taken of half of it, and it accepts
 * no connections (one would make every copy fail). Its comment says when it was made: making one
 * drops the others made more than a day before (older code's migrations; one still in use is made
 * again by its next copy).
 */
async function ensureTemplate(
  admin: pg.Client,
  url: string,
  template: string,
  migrations: readonly Migration[],
): Promise<void> {
  const exists = async () =>
    (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template])).rowCount === 1
  if (await exists()) return
  await admin.query('SELECT pg_advisory_lock(hashtext($1))', [templatePrefix])
  try {
    if (await exists()) return
    const building = `${template}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
    await admin.query(`DROP DATABASE IF EXISTS ${building}`)
    await admin.query(`CREATE DATABASE ${building}`)
    const at = new URL(url)
    at.pathname = `/${building}`
    const sql = createPostgres({ url: at.toString(), max: 1 })
    try {
      await migrate(sql, migrations)
    } finally {
      await sql.close()
    }
    await whileInUse(() => admin.query(`ALTER DATABASE ${building} RENAME TO ${template}`))
    await admin.query(`ALTER DATABASE ${template} ALLOW_CONNECTIONS false`)
    await admin.query(`COMMENT ON DATABASE ${template} IS '${new Date().toISOString()}'`)
    const others = await admin.query<{ datname: string; used: string | null }>(
      `SELECT datname, shobj_description(oid, 'pg_database') AS used FROM pg_database
        WHERE datname LIKE '${templatePrefix}%' AND datname <> $1`,
      [template],
    )
    for (const { datname, used } of others.rows) {
      if (Date.now() - Date.parse(used ?? '') < staleAfterMs) continue
      await admin.query(`DROP DATABASE ${datname}`).catch(() => undefined)
    }
  } finally {
    await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [templatePrefix])
  }
}

/** Runs `step` again while PostgreSQL says an object it needs is in use (55006), for up to 5 s. */
async function whileInUse(step: () => Promise<unknown>): Promise<void> {
  for (let waited = 0; ; waited += 50) {
    try {
      await step()
      return
    } catch (error) {
      if (sqlState(error) !== '55006' || waited >= 5000) throw error
      await pause(50)
    }
  }
}

/** Runs `use` on a connection of its own to `url`, closed after. */
export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
