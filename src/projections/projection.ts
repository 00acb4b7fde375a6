import type { Static, TSchema } from 'typebox'
import type { StoredEvent } from '../core/envelope.js'
import type { CommandTx, EventDefinition } from '../core/messages.js'
import type { KvBatch } from './kv.js'

/** Any event definition, whatever its type and schema. */
export type AnyEventDefinition = EventDefinition<string, TSchema>

/** The stored events of a union of definitions, each with its own type and data. */
export type EventOf<D> = D extends EventDefinition<infer T, infer S> ? StoredEvent<T, Static<S>> : never

interface ProjectionBase {
  /** The domain it belongs to: its cache tags are the domain's (core/cache-tags.ts). */
  readonly domain: string
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
  /** Applies a batch of events, in log order, in the transaction that moves the checkpoint past them. */
  apply(events: readonly StoredEvent[], tx: SqlProjectionTx, table: (name: string) => string): Promise<void>
}

export type Projection = KvProjection | SqlProjection

/**
 * A projection as its domain writes it: it names the event definitions it reads, and its `apply`,
 * `tags` and `prefetch` are typed over exactly those events (no casts of `event.data`). It never
 * changes an event: the projections of a domain are given the same objects (shared-reads.ts).
 */
type Spec<P extends Projection, D extends readonly AnyEventDefinition[]> = Omit<
  P,
  'store' | 'events' | 'tags' | 'apply' | 'prefetch'
> & {
  readonly events: D
  tags(event: EventOf<D[number]>): readonly string[]
}

export type KvProjectionSpec<D extends readonly AnyEventDefinition[]> = Spec<KvProjection, D> & {
  prefetch?(events: readonly EventOf<D[number]>[]): readonly string[]
  apply(event: EventOf<D[number]>, kv: KvBatch): Promise<void>
}

/**
 * A SQL projection applies each event (`apply`), or each batch the runner read (`applyBatch`: e.g. to
 * add up a batch's moves of one row and write it once, a statement per table instead of per event).
 */
export type SqlProjectionSpec<D extends readonly AnyEventDefinition[]> = Spec<SqlProjection, D> &
  (
    | {
        apply(event: EventOf<D[number]>, tx: SqlProjectionTx, table: (name: string) => string): Promise<void>
        applyBatch?: never
      }
    | {
        applyBatch(
          events: readonly EventOf<D[number]>[],
          tx: SqlProjectionTx,
          table: (name: string) => string,
        ): Promise<void>
        apply?: never
      }
  )

/*
 * The runner reads only the event types a projection names, so every event it hands over is one
 * of them: the one place that narrows a stored event to the definitions' union.
 */
function narrow<D extends readonly AnyEventDefinition[]>(event: StoredEvent, _events: D): EventOf<D[number]> {
  return event as EventOf<D[number]>
}

export function defineKvProjection<const D extends readonly AnyEventDefinition[]>(
  spec: KvProjectionSpec<D>,
): KvProjection {
  const { prefetch } = spec
  return {
    ...spec,
    store: 'kv',
    events: spec.events.map((e) => e.type),
    tags: (event) => spec.tags(narrow(event, spec.events)),
    apply: (event, kv) => spec.apply(narrow(event, spec.events), kv),
    ...(prefetch ? { prefetch: (events) => prefetch(events.map((e) => narrow(e, spec.events))) } : {}),
  }
}

export function defineSqlProjection<const D extends readonly AnyEventDefinition[]>(
  spec: SqlProjectionSpec<D>,
): SqlProjection {
  const { applyBatch, apply, ...rest } = spec
  const typed = (events: readonly StoredEvent[]) => events.map((e) => narrow(e, spec.events))
  return {
    ...rest,
    store: 'sql',
    events: spec.events.map((e) => e.type),
    tags: (event) => spec.tags(narrow(event, spec.events)),
    apply: applyBatch
      ? (events, tx, table) => applyBatch(typed(events), tx, table)
      : async (events, tx, table) => {
          for (const event of typed(events)) await apply(event, tx, table)
        },
  }
}
