import type { CommandTx } from '../core/messages.js'
import type { StoredEvent } from '../storage/event-log.js'
import type { KvBatch } from './kv.js'

interface ProjectionBase {
  readonly name: string
  /** Bump when the read model's shape or logic changes: a new generation is built beside the live one. */
  readonly version: number
  /** The event types it reads; the runner does not fetch others. */
  readonly events: readonly string[]
  /** The query-cache tags an event touches: their cached answers are dropped once it is applied. */
  tags(event: StoredEvent): readonly string[]
}

/** A read model in the KV store (Redis or memory). Writes are applied with the checkpoint, atomically. */
export interface KvProjection extends ProjectionBase {
  readonly store: 'kv'
  /** Keys the batch will read, fetched in one round trip before it is applied (Redis: one MGET). */
  prefetch?(events: readonly StoredEvent[]): readonly string[]
  apply(event: StoredEvent, kv: KvBatch): Promise<void>
}

/** What a SQL projection's apply sees: reads, and writes sent together with the checkpoint's commit. */
export type SqlProjectionTx = Pick<CommandTx, 'query' | 'write'> & Touch

/** Cache tags an event touches beyond `tags(event)`, found in the read model's own state. */
export interface Touch {
  touch(...tags: string[]): void
}

/** A read model in SQL tables (schema `read`, or READ_DATABASE_URL), one set of tables per generation. */
export interface SqlProjection extends ProjectionBase {
  readonly store: 'sql'
  /** Table names, unqualified. */
  readonly tables: readonly string[]
  /** DDL that creates the tables (and indexes) of one generation; `table(name)` qualifies a name. */
  setup(table: (name: string) => string): string
  apply(event: StoredEvent, tx: SqlProjectionTx, table: (name: string) => string): Promise<void>
}

export type Projection = KvProjection | SqlProjection

export function defineKvProjection(spec: Omit<KvProjection, 'store'>): KvProjection {
  return { store: 'kv', ...spec }
}

export function defineSqlProjection(spec: Omit<SqlProjection, 'store'>): SqlProjection {
  return { store: 'sql', ...spec }
}
