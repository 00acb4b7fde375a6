import type { Logger } from '../core/logger.js'
import { sqlState, type Sql } from '../core/sql.js'

/** A migration PostgreSQL refused: its message names the migration and says why, in one line. */
export class MigrationError extends Error {}

/** A versioned schema change. `id` orders migrations within their module and never changes once shipped. */
export interface Migration {
  id: string
  sql: string
}

const bootstrap = `
  CREATE SCHEMA IF NOT EXISTS tandem;
  CREATE TABLE IF NOT EXISTS tandem.migrations (
    id text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  );`

/**
 * Applies the migrations not applied yet, in order, each in its own transaction. Concurrent
 * migrators queue on an advisory lock; the loser's insert of the id fails and it skips the step.
 */
export async function migrate(sql: Sql, migrations: readonly Migration[], log?: Logger): Promise<string[]> {
  await sql.exec(bootstrap).catch(async (error: unknown) => {
    // Two processes creating the schema at once: the second one's CREATE loses the race, harmlessly.
    if (sqlState(error) !== '23505') throw error
    await sql.exec(bootstrap)
  })
  const done = new Set((await sql.query<{ id: string }>('SELECT id FROM tandem.migrations')).map((r) => r.id))
  const applied: string[] = []
  for (const m of migrations) {
    if (done.has(m.id)) continue
    const script = `BEGIN;
      SELECT pg_advisory_xact_lock(7283910);
      INSERT INTO tandem.migrations (id) VALUES (${literal(m.id)});
      ${m.sql};
      COMMIT;`
    try {
      await sql.exec(script)
      applied.push(m.id)
      log?.info({ migration: m.id }, 'migration applied')
    } catch (error) {
      if (sqlState(error) === '23505') continue
      const state = sqlState(error)
      throw new MigrationError(
        `Migration ${m.id} failed: ${(error as Error).message}${state ? ` (SQLSTATE ${state})` : ''}`,
        { cause: error },
      )
    }
  }
  return applied
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}
