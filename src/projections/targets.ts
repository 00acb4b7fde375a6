import { domainTags } from '../core/cache.js'
import type { Migration } from '../storage/migrations.js'
import type { Sql, Statement } from '../core/sql.js'
import { compareCheckpoints, origin, type Checkpoint, type StoredEvent } from '../storage/event-log.js'
import { createKvBatch, type KvStore } from './kv.js'
import type { KvProjection, Projection, SqlProjection } from './projection.js'

/** One generation of one projection in its store: its checkpoint, and batches applied with it. */
export interface Target {
  checkpoint(): Promise<Checkpoint>
  /**
   * Applies the events and moves the checkpoint `from` → `to` atomically. Returns the cache tags the
   * events touched, or undefined (nothing applied) if `from` is no longer the stored checkpoint.
   */
  apply(events: readonly StoredEvent[], from: Checkpoint, to: Checkpoint): Promise<Set<string> | undefined>
  /** Creates the generation's storage (idempotent). */
  setup(): Promise<void>
  /** Deletes the generation's storage, its checkpoint last. */
  drop(): Promise<void>
  /** Whether anything of the generation is stored: its checkpoint's record, which `drop` takes last. */
  holds(): Promise<boolean>
}

export interface Generation {
  generation: number
  version: number
}

/** Which generation of each projection queries read, kept in the projection's own store. */
export interface Catalog {
  live(name: string): Promise<Generation | undefined>
  setLive(name: string, generation: Generation): Promise<void>
}

export const readMigrations: readonly Migration[] = [
  {
    id: 'read/001-projections',
    sql: `
      CREATE SCHEMA IF NOT EXISTS read;
      CREATE TABLE read.projections (
        name text NOT NULL,
        generation integer NOT NULL,
        version integer NOT NULL,
        live boolean NOT NULL DEFAULT false,
        checkpoint_tx xid8 NOT NULL DEFAULT '0',
        checkpoint_position bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (name, generation)
      )`,
  },
  {
    // The event log the read models are built from (its `tandem.log_identity`), claimed by the first
    // process to start on them: a READ_DATABASE_URL shared by two logs mixed their read models.
    id: 'read/002-source-log',
    sql: `CREATE TABLE read.source_log (id uuid NOT NULL, one boolean PRIMARY KEY DEFAULT true CHECK (one))`,
  },
]

/**
 * Claims the read database for the event log whose identity is `log`, if no log has it yet; gives the
 * identity of the log it belongs to (another log's: its read models are not this log's).
 */
export async function claimReadStore(readSql: Sql, log: string): Promise<string> {
  await readSql.query('INSERT INTO read.source_log (id) VALUES ($1) ON CONFLICT (one) DO NOTHING', [log])
  const [row] = await readSql.query<{ id: string }>('SELECT id::text FROM read.source_log')
  return row?.id ?? log
}

const encode = (c: Checkpoint) => `${c.txId}/${c.position}`
function decode(text: string | null): Checkpoint {
  if (!text) return origin
  const [txId = '0', position = '0'] = text.split('/')
  return { txId, position }
}

const generationPrefix = (name: string, generation: number) => `p:${name}:g${generation}:`

/** Where a generation's data keys live; its checkpoint sits beside them, under the same prefix. */
export function kvPrefix(name: string, generation: number): string {
  return `${generationPrefix(name, generation)}d:`
}

export function kvTarget(kv: KvStore, projection: KvProjection, generation: number): Target {
  const prefix = kvPrefix(projection.name, generation)
  const checkpointKey = `${generationPrefix(projection.name, generation)}checkpoint`
  return {
    checkpoint: async () => decode(await kv.get(checkpointKey)),
    async apply(events, from, to) {
      const tags = new Set<string>()
      const { batch, preload, ops } = createKvBatch(kv, prefix, tags)
      if (projection.prefetch && events.length > 0) await preload(projection.prefetch(events))
      for (const event of events) {
        for (const tag of projection.tags(event)) tags.add(tag)
        await projection.apply(event, batch)
      }
      const expect = compareCheckpoints(from, origin) === 0 ? null : encode(from)
      const committed = await kv.commit(ops(), { key: checkpointKey, expect, next: encode(to) })
      return committed ? new Set(domainTags(projection.domain, tags)) : undefined
    },
    setup: async () => undefined,
    async drop() {
      await kv.deletePrefix(prefix)
      await kv.deletePrefix(generationPrefix(projection.name, generation))
    },
    holds: async () => (await kv.get(checkpointKey)) !== null,
  }
}

export function kvCatalog(kv: KvStore): Catalog {
  const key = (name: string) => `tandem:projection:${name}`
  return {
    async live(name) {
      const text = await kv.get(key(name))
      return text ? (JSON.parse(text) as Generation) : undefined
    },
    async setLive(name, generation) {
      const current = await kv.get(key(name))
      const ok = await kv.commit([], { key: key(name), expect: current, next: JSON.stringify(generation) })
      if (!ok) throw new Error(`The catalog entry of ${name} changed while switching generations`)
    },
  }
}

export function sqlTableName(projection: string, generation: number, table: string): string {
  const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '_')
  return `read."${safe(projection)}_g${generation}_${safe(table)}"`
}

/**
 * A SQL read model's tables are analyzed as they grow, as autovacuum would do it where it runs (it is
 * off on some servers, these machines' among them): once `analyzeAfter` events are applied, then
 * each time those applied since the last analysis reach those before it (a build of N events is
 * analyzed about log2(N / analyzeAfter) times). Unanalyzed, a model of 1,000,000 requests built from the
 * log was planned as if empty: a list page read 3,795 rows by amount and sorted them (30.8 ms), and
 * the benchmark's filtered first pages ran 258-522 req/s against 2,905-3,402 analyzed.
 */
export function sqlTarget(
  sql: Sql,
  projection: SqlProjection,
  generation: number,
  analyzeAfter = 10_000,
): Target {
  const table = (name: string) => sqlTableName(projection.name, generation, name)
  let applied = 0
  let analyzed = 0
  async function analyze(events: number) {
    applied += events
    if (applied - analyzed < Math.max(analyzeAfter, analyzed)) return
    analyzed = applied
    // Statistics only guide plans: one not gathered (a generation dropped meanwhile) changes no answer.
    for (const name of projection.tables) await sql.exec(`ANALYZE ${table(name)}`).catch(() => undefined)
  }
  return {
    async checkpoint() {
      const [row] = await sql.query<{ tx: string; position: string }>(
        `SELECT checkpoint_tx::text AS tx, checkpoint_position::text AS position
         FROM read.projections WHERE name = $1 AND generation = $2`,
        [projection.name, generation],
      )
      return row ? { txId: row.tx, position: row.position } : origin
    },
    async apply(events, from, to) {
      const tags = await sql.transaction(async (tx) => {
        const moved = await tx.query(
          `UPDATE read.projections SET checkpoint_tx = $3::xid8, checkpoint_position = $4
           WHERE name = $1 AND generation = $2 AND checkpoint_tx = $5::xid8 AND checkpoint_position = $6
           RETURNING 1`,
          [projection.name, generation, to.txId, to.position, from.txId, from.position],
        )
        if (moved.length === 0) return undefined
        const writes: Statement[] = []
        const write = (...statements: Statement[]) => writes.push(...statements)
        const tags = new Set<string>()
        const touch = (...more: string[]) => more.forEach((tag) => tags.add(tag))
        for (const event of events) for (const tag of projection.tags(event)) tags.add(tag)
        // A shared read can give a batch with none of its events: the checkpoint moves alone.
        if (events.length > 0) await projection.apply(events, { query: tx.query, write, touch }, table)
        await tx.commit(writes)
        return new Set(domainTags(projection.domain, tags))
      })
      if (tags && events.length > 0) await analyze(events.length)
      return tags
    },
    async setup() {
      // One process at a time: CREATE ... IF NOT EXISTS run side by side can still collide in
      // PostgreSQL's catalog (23505 on pg_type, 42P07), and processes started at once all run it.
      const key = `'${`read-setup:${projection.name}:${generation}`.replaceAll("'", "''")}'`
      await sql.exec(
        `BEGIN; SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0)); ${projection.setup(table)}; COMMIT;`,
      )
      await sql.query(
        `INSERT INTO read.projections (name, generation, version) VALUES ($1, $2, $3)
         ON CONFLICT (name, generation) DO NOTHING`,
        [projection.name, generation, projection.version],
      )
    },
    async drop() {
      for (const name of projection.tables) await sql.exec(`DROP TABLE IF EXISTS ${table(name)} CASCADE`)
      await sql.query('DELETE FROM read.projections WHERE name = $1 AND generation = $2', [
        projection.name,
        generation,
      ])
    },
    async holds() {
      const rows = await sql.query('SELECT 1 FROM read.projections WHERE name = $1 AND generation = $2', [
        projection.name,
        generation,
      ])
      return rows.length > 0
    },
  }
}

export function sqlCatalog(sql: Sql): Catalog {
  return {
    async live(name) {
      const [row] = await sql.query<Generation>(
        'SELECT generation, version FROM read.projections WHERE name = $1 AND live',
        [name],
      )
      return row
    },
    async setLive(name, generation) {
      await sql.transaction(async (tx) => {
        await tx.commit([
          { text: 'UPDATE read.projections SET live = false WHERE name = $1 AND live', params: [name] },
          {
            text: 'UPDATE read.projections SET live = true WHERE name = $1 AND generation = $2',
            params: [name, generation.generation],
          },
        ])
      })
    },
  }
}

export function targetFor(
  projection: Projection,
  generation: number,
  stores: { kv: KvStore; sql: Sql },
): { target: Target; catalog: Catalog } {
  return projection.store === 'kv'
    ? { target: kvTarget(stores.kv, projection, generation), catalog: kvCatalog(stores.kv) }
    : { target: sqlTarget(stores.sql, projection, generation), catalog: sqlCatalog(stores.sql) }
}
