import { PGlite } from '@electric-sql/pglite'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import Type from 'typebox'
import type { CommandCall, Executed } from '../../src/core/command-bus.js'
import { silentLogger } from '../../src/core/logger.js'
import { defineCommand, signedIn, type Caller, type CommandTx } from '../../src/core/messages.js'
import type { Sql } from '../../src/core/sql.js'
import { createPglite } from '../../src/storage/pglite.js'
import { createPostgres } from '../../src/storage/postgres.js'
import { writeMigrations } from '../../src/storage/schema.js'
import { createScratchDatabase } from '../../src/storage/scratch-database.js'
import type { Mode } from './results.js'

/** The two sides of the append scenario: a bare table written with the driver, and Tandem's unit of work. */

/** The event log's own DDL (src/storage/schema.ts), applied verbatim to the bare database. */
const eventLogDdl = (() => {
  const migration = writeMigrations.find((m) => m.id === 'core/001-event-log')
  if (!migration) throw new Error('No event-log migration in src/storage/schema.ts')
  return `CREATE SCHEMA tandem; ${migration.sql}`
})()

const insert = `INSERT INTO tandem.event_log (stream_id, stream_version, type, data, metadata)
  VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) RETURNING position`

/** What every append writes: a registration-sized event and Tandem's metadata shape. */
export function eventData(writer: number) {
  return {
    registrationId: randomUUID(),
    eventId: '01970000-0000-7000-8000-000000000000',
    participantId: `bench-writer-${writer}`,
    name: null,
    email: null,
    seq: writer,
    registeredAt: new Date().toISOString(),
  }
}

/** A bare table and the simplest way to insert into it: one statement, autocommit, no framework. */
export interface Bare {
  insert(params: unknown[]): Promise<void>
  count(): Promise<number>
  close(): Promise<void>
}

export async function openBare(postgresUrl: string, mode: Mode, writers: number): Promise<Bare> {
  if (mode === 'embedded') {
    const db = await PGlite.create('memory://')
    await db.exec(eventLogDdl)
    return {
      insert: async (params) => {
        await db.query(insert, params)
      },
      count: async () =>
        Number(
          (await db.query<{ n: string }>('SELECT count(*)::text AS n FROM tandem.event_log')).rows[0]?.n,
        ),
      close: () => db.close(),
    }
  }
  const scratch = await createScratchDatabase(postgresUrl, 'bench_bare')
  const pool = new pg.Pool({ connectionString: scratch.url, max: writers })
  // Dropping the database ends its sessions, possibly while pool.end() is still closing them.
  pool.on('error', () => undefined)
  try {
    await pool.query(eventLogDdl)
  } catch (error) {
    await pool.end()
    await scratch.drop()
    throw error
  }
  return {
    insert: async (params) => {
      await pool.query(insert, params)
    },
    count: async () =>
      Number(
        (await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM tandem.event_log')).rows[0]?.n,
      ),
    async close() {
      await pool.end()
      await scratch.drop()
    },
  }
}

export async function openTandemSql(postgresUrl: string, mode: Mode, writers: number) {
  if (mode === 'embedded') return { sql: await createPglite(), drop: async () => undefined }
  const scratch = await createScratchDatabase(postgresUrl, 'bench_append')
  const sql = createPostgres({ url: scratch.url, max: writers })
  return { sql, drop: () => scratch.drop() }
}

export const appendCommand = defineCommand({
  domain: 'bench',
  name: 'append',
  summary: "Appends one event to the caller's stream (benchmark only)",
  input: Type.Object(
    { stream: Type.String(), version: Type.Integer({ minimum: 1 }) },
    { additionalProperties: false },
  ),
  output: Type.Object({}),
  access: signedIn(),
  async handle(input, { tx }) {
    tx.append({ id: input.stream, expectedVersion: input.version - 1 }, [
      { type: 'BenchAppended', data: eventData(input.version) },
    ])
    return {}
  },
})

/** A command call for the unit of work, as the command bus would make it. */
export function callOf(writer: number): CommandCall {
  const commandId = randomUUID()
  const caller: Caller = { id: `writer-${writer}`, roles: [] }
  return {
    kind: 'command',
    address: 'bench/append',
    definition: appendCommand,
    input: {},
    caller,
    log: silentLogger,
    meta: { commandId, correlationId: commandId, caller, now: new Date(), newId: randomUUID() },
    idempotencyKey: undefined,
  }
}

/** The work of one append: queue the event; the unit of work commits it. */
export async function appendOne(
  tx: CommandTx,
  stream: string,
  version: number,
  writer: number,
): Promise<Executed> {
  tx.append({ id: stream, expectedVersion: version - 1 }, [
    { type: 'BenchAppended', data: eventData(writer) },
  ])
  return { commandId: '', result: null, position: null, replayed: false }
}

/** Events appended through the unit of work and through the bus (by stream prefix). */
export async function countByKind(sql: Sql): Promise<{ uow: number; bus: number }> {
  const rows = await sql.query<{ kind: string; n: string }>(
    `SELECT split_part(stream_id, '-', 1) AS kind, count(*)::text AS n FROM tandem.event_log GROUP BY 1`,
  )
  const of = (kind: string) => Number(rows.find((r) => r.kind === kind)?.n ?? 0)
  return { uow: of('uow'), bus: of('bus') }
}
