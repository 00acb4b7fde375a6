import type { Static, TSchema } from 'typebox'
import { afterAll } from 'vitest'
import type { AuditLog } from '../../core/audit.js'
import type { StoredEvent } from '../../core/envelope.js'
import type { Caller, History, NewEvent, QueryDefinition } from '../../core/messages.js'
import type { KvReader, ReadStores } from '../../core/read-stores.js'
import type { Row } from '../../core/sql.js'
import { validatorFor, validInput } from '../../core/validation.js'
import { scopedReader } from '../../projections/kv.js'
import type { Projection } from '../../projections/projection.js'
import { kvPrefix, kvTarget, sqlTableName, sqlTarget, type Target } from '../../projections/targets.js'
import { origin, type Checkpoint } from '../../storage/event-log.js'
import type { Mode } from '../services.js'
import { eventRecorder, type Recording } from './stored.js'
import { specStores } from './stores.js'

/** A KV read model as its queries see it, plus a JSON read. */
export interface KvView extends KvReader {
  json<T>(key: string): Promise<T | undefined>
}

/** Read models built from the given events, fresh for each `given` (a generation of their own). */
export interface ReadModel {
  /**
   * Applies the events as one batch, through the real targets, and checks that every projection
   * took it. Answers the cache tags the batch touched, as the domain writes them (the cache puts
   * the domain in front).
   */
  apply(...events: NewEvent[]): Promise<Set<string>>
  /** Asks a query of the read models, as the bus would: its input checked (a 400 thrown), its answer checked against its output schema. */
  ask<I extends TSchema, O extends TSchema>(
    query: QueryDefinition<I, O>,
    input: Static<I>,
    caller?: Caller,
  ): Promise<Static<O>>
  /** A KV projection's keys, as its queries see them. */
  kv(projection: string): KvView
  /** A SQL projection's table, every row, in the order given (default: by the first column). */
  rows<R extends Row = Row>(projection: string, table: string, orderBy?: string): Promise<R[]>
  /** A SQL projection's table, qualified, for a query of your own through `query`. */
  table(projection: string, table: string): string
  query<R extends Row = Row>(text: string, params?: readonly unknown[]): Promise<R[]>
  /**
   * The plan PostgreSQL chooses for a statement (`EXPLAIN (FORMAT JSON)`'s top node), with planner
   * settings of the spec's own for that one statement (e.g. `{ enable_sort: 'off' }`: a spec's way to
   * check that an index serves an order at any table size, where the small test tables would
   * otherwise be sorted as the cheapest plan).
   */
  plan(text: string, params?: readonly unknown[], settings?: Record<string, string>): Promise<PlanNode>
  /** Low level: records an event (the next position) without applying it. */
  record<E extends NewEvent>(event: E): StoredEvent<E['type'], E['data']>
  /** Low level: applies recorded events from `from` (default: where the last batch left off); whether each projection took them. */
  applyBatch(events: readonly StoredEvent[], from?: Checkpoint): Promise<boolean[]>
  /** A projection's stored checkpoint. */
  checkpoint(projection: string): Promise<Checkpoint>
}

/** A node of a plan, as `EXPLAIN (FORMAT JSON)` gives it. */
export interface PlanNode {
  'Node Type': string
  Plans?: PlanNode[]
  [field: string]: unknown
}

function fail(message: string): never {
  throw new Error(message)
}

const noAuditLog: AuditLog = {
  read: () => Promise.reject(new Error('A projection spec has no audit log: this query reads it')),
}

/**
 * A projection spec: given events, then the read model (KV keys, SQL rows) or a query's answer.
 * Call it inside a `describe` (it closes its stores after the file's tests); every `given` builds
 * fresh read models beside the others, in stores opened once per file (`mode`: embedded is memory KV
 * and PGlite, server is Redis and a scratch PostgreSQL database).
 *
 * ```ts
 * describe.each(modes)('event details (%s)', (mode) => {
 *   const given = projectionSpec(mode, [eventDetailsProjection])
 *   it('counts seats', async () => {
 *     const m = await given(created(e1), registered(r1, e1, 'ann', 1))
 *     expect(await m.ask(getEventDetails, { eventId: e1 })).toMatchObject({ remainingSeats: 1 })
 *   })
 * })
 * ```
 */
export function projectionSpec(
  mode: Mode,
  projections: readonly Projection[],
  recording: Recording = {},
): (...events: NewEvent[]) => Promise<ReadModel> {
  const stores = specStores(mode)
  afterAll(() => stores.close())
  let generations = 0
  return async (...events) => {
    const model = await readModel(stores, projections, ++generations, recording)
    if (events.length > 0) await model.apply(...events)
    return model
  }
}

async function readModel(
  stores: ReturnType<typeof specStores>,
  projections: readonly Projection[],
  generation: number,
  recording: Recording,
): Promise<ReadModel> {
  const openKv = projections.some((p) => p.store === 'kv') ? await stores.kv() : undefined
  const openSql = projections.some((p) => p.store === 'sql') ? await stores.sql() : undefined
  const kv = () => openKv ?? fail('This spec has no KV projection')
  const sql = () => openSql ?? fail('This spec has no SQL projection')
  const targets = new Map<string, Target>()
  for (const p of projections) {
    const target = p.store === 'kv' ? kvTarget(kv(), p, generation) : sqlTarget(sql(), p, generation)
    await target.setup()
    targets.set(p.name, target)
  }
  const named = <T>(map: Map<string, T>, name: string): T => {
    const found = map.get(name)
    if (found === undefined) throw new Error(`${name} is not one of this spec's projections`)
    return found
  }
  const storeOf = (name: string, store: 'kv' | 'sql') => {
    const projection = projections.find((p) => p.name === name)
    if (projection?.store !== store) throw new Error(`${name} is not one of this spec's ${store} projections`)
  }
  const readStores: ReadStores = {
    kv(name) {
      storeOf(name, 'kv')
      return scopedReader(kv(), kvPrefix(name, generation))
    },
    sql(name) {
      storeOf(name, 'sql')
      return { sql: sql(), table: (table) => sqlTableName(name, generation, table) }
    },
  }
  const record = eventRecorder(recording)
  let checkpoint: Checkpoint = origin
  // The log as the model's queries read it: every event it was given, by position.
  const logged = new Map<string, StoredEvent>()
  const byPosition = (a: StoredEvent, b: StoredEvent) => Number(BigInt(a.position) - BigInt(b.position))
  const history: History = {
    stream: (streamId, options = {}) =>
      Promise.resolve(
        [...logged.values()]
          .filter((e) => e.streamId === streamId && (!options.asOf || e.recordedAt <= options.asOf))
          .sort(byPosition),
      ),
    at: (positions) =>
      Promise.resolve([...new Set(positions)].flatMap((p) => logged.get(p) ?? []).sort(byPosition)),
  }

  async function applyBatch(events: readonly StoredEvent[], from: Checkpoint = checkpoint) {
    for (const e of events) logged.set(e.position, e)
    const last = events.at(-1)
    const to = last ? { txId: last.txId, position: last.position } : from
    const applied = await Promise.all(
      projections.map((p) =>
        named(targets, p.name).apply(
          events.filter((e) => p.events.includes(e.type)),
          from,
          to,
        ),
      ),
    )
    if (applied.every((tags) => tags !== undefined)) checkpoint = to
    return applied
  }

  return {
    record,
    async apply(...events) {
      const applied = await applyBatch(events.map(record))
      const refused = projections.filter((_, i) => applied[i] === undefined).map((p) => p.name)
      if (refused.length > 0) throw new Error(`The batch was not applied by ${refused.join(', ')}`)
      // The targets answer the tags as the cache knows them, `<domain>/<tag>`: the domain's own are shown.
      const own = (tag: string) => tag.slice(tag.indexOf('/') + 1)
      return new Set(applied.flatMap((tags) => [...(tags ?? [])].map(own)))
    },
    applyBatch: async (events, from) => (await applyBatch(events, from)).map((tags) => tags !== undefined),
    checkpoint: (name) => named(targets, name).checkpoint(),
    async ask(query, input, caller) {
      const valid = validInput(query.input, input) as Static<typeof query.input>
      const answer = await query.handle(valid, {
        caller,
        stores: readStores,
        history,
        auditLog: noAuditLog,
        // The kit applies the kernel's projections only: no replica is open.
        replica: () => undefined,
      })
      const problems = validatorFor(query.output)(answer)
      if (problems) {
        const list = problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')
        throw new Error(`The answer of ${query.domain}/${query.name} does not fit its output schema: ${list}`)
      }
      return answer
    },
    kv(name) {
      const reader = readStores.kv(name)
      return {
        ...reader,
        async json<T>(key: string) {
          const text = await reader.get(key)
          return text === null ? undefined : (JSON.parse(text) as T)
        },
      }
    },
    table: (name, table) => readStores.sql(name).table(table),
    query: (text, params) => sql().query(text, params),
    plan: (text, params, settings = {}) =>
      sql().transaction(async (tx) => {
        for (const [name, value] of Object.entries(settings))
          await tx.query('SELECT set_config($1, $2, true)', [name, value])
        const [row] = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${text}`, params)
        // The json column: parsed by node-postgres, text from PGlite's session.
        const json = row?.['QUERY PLAN']
        const explained = (typeof json === 'string' ? JSON.parse(json) : json) as { Plan: PlanNode }[]
        return explained[0]?.Plan ?? fail(`No plan for ${text}`)
      }),
    rows: (name, table, orderBy = '1') =>
      sql().query(`SELECT * FROM ${readStores.sql(name).table(table)} ORDER BY ${orderBy}`),
  }
}
