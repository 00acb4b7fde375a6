import Type, { type Static, type TSchema } from 'typebox'
import type { Statement, SqlClient } from './sql.js'
import type { ReadStores } from './read-stores.js'
import type { StoredEvent } from './envelope.js'
import type { AuditedRead, AuditLog } from './audit.js'
import type { Replica } from './replicas.js'

/** The signed-in user a message is sent by. */
export interface Caller {
  id: string
  roles: readonly string[]
  dept?: string
}

/**
 * One text per caller that no other caller has: what a cache keys a caller's answers by. JSON, not
 * the fields joined by a separator: a role or a department may hold any separator (`sub: "x|b"` and
 * `sub: "x", roles: ["b|"]` joined by `|` were one key, and one read the other's cached feed).
 */
export function callerKey(caller: Caller): string {
  return JSON.stringify([caller.id, caller.roles, caller.dept ?? null])
}

/**
 * Who may send a message: anyone, or a signed-in user (holding any of `roles`, when given; and being
 * one of `callers`, when given: a message only a processor sends).
 */
export type Access =
  { kind: 'public' } | { kind: 'user'; roles?: readonly string[]; callers?: readonly string[] }

export const anyone: Access = { kind: 'public' }
export function signedIn(...roles: string[]): Access {
  return roles.length > 0 ? { kind: 'user', roles } : { kind: 'user' }
}

/** Only these callers, each holding one of `roles`: a processor's own command. */
export function onlyCallers(callers: readonly Caller[]): Access {
  return {
    kind: 'user',
    roles: [...new Set(callers.flatMap((c) => c.roles))],
    callers: callers.map((c) => c.id),
  }
}

/** What the shell hands a decider besides the command: time and ids never come from inside. */
export interface CommandMeta {
  commandId: string
  correlationId: string
  caller: Caller | undefined
  now: Date
  /** A fresh time-ordered id for whatever the command creates. */
  newId: string
}

export interface NewEvent<T extends string = string, D = unknown> {
  type: T
  data: D
}

/** A stream and the version of its last event (0 for a new stream): the optimistic-concurrency check. */
export interface StreamRef {
  id: string
  expectedVersion: number
}

/** A command's view of its transaction: read with `query`, queue writes and events for the commit. */
export interface CommandTx extends SqlClient {
  write(...statements: Statement[]): void
  /**
   * Queues events for the stream after `stream.expectedVersion`. `locked`: take the stream's lock
   * first, as `readStream` does, so that a command which read the stream under it always wins over
   * one that decided on what it kept (and that one runs again, reading).
   */
  append(stream: StreamRef, events: readonly NewEvent[], options?: { locked?: boolean }): void
  /** The command read this stream: if it appends nothing, its position is where the stream stands. */
  observe(streamId: string): void
  /**
   * Waits for this process's other commands on the stream to finish (one stream per command), then
   * gives what the last of them kept (core/stream-memory.ts): undefined when nothing is kept, and
   * on a retry, which reads.
   */
  recall(streamId: string): Promise<unknown>
  /** What this command leaves on the stream, for the next command to recall once it has committed. */
  keep(streamId: string, state: unknown): void
  /**
   * The stream's events in order and its version, the stream locked until the commit: other commands
   * that read it wait (the append still checks the version, against those that did not read).
   */
  readStream(streamId: string): Promise<StreamHistory>
  /**
   * Takes the stream's turn (its lock, as `readStream` does) until the commit, before anything that
   * locks or writes a row. Why it matters: PostgreSQL numbers a transaction when it first locks or
   * writes a row, before it waits for that row, and the log is read in that number's order. Commands
   * that wait for one row could get their numbers in one order and the row in the other, and their
   * events would reach the read models out of stream order; waiting for the turn first numbers them
   * in the order they take it.
   */
  lock(streamId: string): Promise<void>
  /**
   * Queues a timer with the commit: `timer.command` runs once at or after `timer.at`, even if the
   * process was down then (storage/timers.ts). A timer of the same key is replaced; a refused or
   * failed command schedules nothing.
   */
  schedule(timer: Timer): void
  /** Queues the removal of the timer of this key, if there is one, with the commit. */
  cancelSchedule(key: string): void
}

/** A command to run later: what `CommandTx.schedule` stores. */
export interface Timer {
  /** One timer per key (`quiz-session:<id>:deadline`): how a domain replaces or cancels it. */
  key: string
  /** The command's address, `domain/name`. */
  command: string
  /** Its input, as JSON; validated when it fires. */
  input: unknown
  /** The moment, by the command bus's clock (decide it from `meta.now`). */
  at: Date
  /** Who it runs as; default `system:timers` with the role `system` (`signedIn('system')`). */
  caller?: Caller
}

export interface StreamHistory {
  events: readonly NewEvent[]
  /** The version of the last event: 0 for a stream with none. */
  version: number
}

export interface CommandContext {
  meta: CommandMeta
  tx: CommandTx
}

export interface QueryContext {
  caller: Caller | undefined
  stores: ReadStores
  history: History
  /** The audit log (core/audit.ts), read from the write database like `history`. */
  auditLog: AuditLog
  /**
   * The query's domain's replica of that name (core/replicas.ts); undefined where this process did
   * not open it (its type is the domain's to state: it opened it). `X-Min-Position` waits for the
   * replicas the query's `replicas` names.
   */
  replica(name: string): Replica | undefined
}

/**
 * The event log, for queries over event-sourced aggregates (their state now, or at a past moment).
 * The audit trail, not a read model: it is read from the write database, and a query reading it
 * declares no read models to wait for.
 */
export interface History {
  /** A stream's events in version order; with `asOf`, those recorded by then. */
  stream(streamId: string, options?: { asOf?: Date }): Promise<readonly StoredEvent[]>
  /**
   * The events at these positions (the log's key), in position order; a position the log does not
   * hold is left out. For a read model that keeps where its events are and leaves their data in the log.
   */
  at(positions: readonly string[]): Promise<readonly StoredEvent[]>
}

interface MessageBase<I extends TSchema, O extends TSchema> {
  readonly domain: string
  readonly name: string
  readonly summary: string
  readonly description?: string
  readonly input: I
  readonly output: O
  readonly access: Access
  /**
   * Inputs that fit `input`: shown in the OpenAPI document, run by `tandem test-commands` and
   * `test-queries`. A domain's examples run in the order its messages are listed, commands first,
   * so a later one may name what an earlier one created (a fixed id). Every message of a registered
   * domain has at least one.
   */
  readonly examples?: readonly Static<I>[]
  /**
   * The caller each example runs as, by position, where it is not the examples' own caller (who holds
   * every role): a follow needs someone else to follow. `null` keeps the examples' caller.
   */
  readonly exampleCallers?: readonly (string | null)[]
}

/** Refusal codes by HTTP status: `{ 404: ['EVENT_NOT_FOUND'], 409: ['EVENT_FULL'] }`. */
export type Refusals = { readonly [S in 400 | 403 | 404 | 409]?: readonly string[] }

export interface CommandDefinition<
  I extends TSchema = TSchema,
  O extends TSchema = TSchema,
> extends MessageBase<I, O> {
  readonly kind: 'command'
  /**
   * The codes of the refusals the command's own rules answer, by HTTP status (the OpenAPI document
   * names each under its status). Not the platform's, which every command may answer: 400
   * VALIDATION_FAILED, 403 FORBIDDEN, 409 CONCURRENCY_CONFLICT and IDEMPOTENCY_IN_PROGRESS.
   */
  readonly refusals: Refusals
  handle(input: Static<I>, ctx: CommandContext): Promise<Static<O>>
  /**
   * The stream the command works on, named from its input alone before it runs (the deciders'
   * shells name it): the unit of work then waits for the stream's turn before it takes a connection.
   */
  readonly stream?: (input: Static<I>, meta: CommandMeta) => string
}

/** A command's handler: the deciders' shells (core/decider.ts) give one that names its stream. */
export type CommandHandler<I, O> = ((input: I, ctx: CommandContext) => Promise<O>) & {
  readonly stream?: (input: I, meta: CommandMeta) => string
}

export interface QueryCachePolicy<I, O> {
  ttlMs: number
  /**
   * When the answer stops being true by time alone, with no event to say so (epoch ms; an upcoming
   * event that starts): it is kept no later, however long `ttlMs`.
   */
  until?(input: I, answer: O): number | undefined
  /** Tags the answer depends on; an applied event that touches one of them drops the entry. */
  tags(input: I, answer: O, caller: Caller | undefined): readonly string[]
}

export interface QueryDefinition<
  I extends TSchema = TSchema,
  O extends TSchema = TSchema,
> extends MessageBase<I, O> {
  readonly kind: 'query'
  /** Projections the query reads: what `X-Min-Position` waits for. */
  readonly readModels: readonly string[]
  /**
   * The least version of a read model whose data the query reads, for a query added with a version
   * of it (what only that version writes): while a generation of an older version is live (an
   * upgrade, until the rebuild to the new version switches), it answers 503 READ_MODEL_LAGGING, not
   * an empty answer read from where that data is not yet.
   */
  readonly readModelVersions?: Readonly<Record<string, number>>
  /**
   * The domain's replicas (core/replicas.ts) the answer to this input reads: `X-Min-Position` waits
   * for them too, before the cache is asked (those this process has not opened are not waited for).
   */
  readonly replicas?: (input: Static<I>) => readonly string[]
  readonly cache?: QueryCachePolicy<Static<I>, Static<O>>
  /** A paged list: the output is `{ items, nextCursor }`. */
  readonly paged: boolean
  /**
   * Offer `/stream`: Server-Sent Events, re-run when a tag of the query is touched. `true` sends the
   * whole answer each time; `{ itemKey }` (paged queries) sends each item once (http/live-items.ts).
   */
  readonly live: LiveOption<Static<O>>
  /** The 404 the query can answer with: its code and when (documentation). */
  readonly notFound?: string
  /** The 409 the query can answer with: its code and when (documentation). */
  readonly conflict?: string
  /**
   * The people whose data an answer shows: each one who is not the caller is recorded in the audit
   * log as read by the caller (core/audit.ts), for every answer, a cached one too, without waiting.
   */
  readonly audit?: (input: Static<I>, answer: Static<O>, caller: Caller) => readonly AuditedRead[]
  handle(input: Static<I>, ctx: QueryContext): Promise<Static<O>>
}

/**
 * A live query that streams items: each item of its pages is sent once, as an SSE event whose id
 * names the greatest key sent, and a client that reconnects with `Last-Event-ID` gets only the items
 * it has not had.
 */
export interface LiveItems<T> {
  /**
   * The item's key: one line, and a newer item has a greater key (compared as plain JS strings),
   * as the query's pages run newest first.
   */
  readonly itemKey: (item: T) => string
  /**
   * The form every key has (`timeIdKey` for `<ISO time>|<UUID>`): a `Last-Event-ID` of another form
   * counts as none, so a made-up one is not compared as a key (`garbage` sorts after every time, and
   * the stream skipped everything but what came after it).
   */
  readonly keyPattern?: RegExp
  /**
   * The log position (a decimal) of the event that made the item, where the item has one. With it, a
   * resume also finds the items that committed late, below the key the client had (events decided in
   * one order and committed in another): each event's id then carries the position the reads had
   * reached and the stream's settled floor beside the key, and a reconnect sends every item above
   * that floor made past that position, besides those above the key.
   */
  readonly itemPosition?: (item: T) => string
}

/** The form of an item key `<ISO time>|<UUID>` (`LiveItems.keyPattern`), the UUID in lower case. */
export const timeIdKey =
  /^[+-]?\d{4,6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The item type of a page (`{ items, nextCursor }`); never for any other answer. */
export type ItemOf<O> = O extends { items: readonly (infer T)[]; nextCursor: string | null } ? T : never

/**
 * What a query may declare as `live`: items only when its answer is a page. A query of unknown
 * answer (`AnyQuery`) may hold either.
 */
export type LiveOption<O> = unknown extends O
  ? boolean | LiveItems<never>
  : [ItemOf<O>] extends [never]
    ? boolean
    : boolean | LiveItems<ItemOf<O>>

export type AnyCommand = CommandDefinition
export type AnyQuery = QueryDefinition

type CommandSpec<I extends TSchema, O extends TSchema> = Omit<
  CommandDefinition<I, O>,
  'kind' | 'refusals' | 'handle' | 'stream'
> & {
  refusals?: Refusals
  handle: CommandHandler<Static<I>, Static<O>>
}
type QuerySpec<I extends TSchema, O extends TSchema> = Omit<
  QueryDefinition<I, O>,
  'kind' | 'paged' | 'live'
> & { paged?: boolean; live?: LiveOption<Static<O>> }

export function defineCommand<I extends TSchema, O extends TSchema>(
  spec: CommandSpec<I, O>,
): CommandDefinition<I, O> {
  const { stream } = spec.handle
  return { kind: 'command', refusals: {}, ...spec, ...(stream ? { stream } : {}) }
}

export function defineQuery<I extends TSchema, O extends TSchema>(
  spec: QuerySpec<I, O>,
): QueryDefinition<I, O> {
  return { kind: 'query', paged: false, live: false, ...spec }
}

export interface EventDefinition<T extends string, S extends TSchema> {
  readonly type: T
  readonly schema: S
  create(data: Static<S>): NewEvent<T, Static<S>>
}

export function defineEvent<T extends string, S extends TSchema>(type: T, schema: S): EventDefinition<T, S> {
  return { type, schema, create: (data) => ({ type, data }) }
}

/** The schema of a page of items, as paged queries return it. */
export function Page<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) })
}

/** Where a message is addressed: `events/register-participant`. */
export function addressOf(message: { domain: string; name: string }): string {
  return `${message.domain}/${message.name}`
}
