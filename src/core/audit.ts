import Type from 'typebox'
import type { CommandCall, Executed, TxMiddleware } from './command-bus.js'
import { isAppError } from './errors.js'
import { callerKey, type Caller } from './messages.js'
import type { Middleware } from './pipeline.js'
import type { Answered, QueryCall } from './query-bus.js'
import type { Statement } from './sql.js'

/**
 * The audit log: who did what, when, with what outcome. Two kinds of entry:
 *
 * - `command`: every command of a domain that opts in (`Domain.audit`), refusals included. A command
 *   that commits writes its entry in its own transaction (a statement queued with the commit), so
 *   an entry says "succeeded" iff the command committed; a refusal the idempotency record keeps
 *   commits its entry with that record. A refusal that rolls back is on record when the caller
 *   hears it: its entry goes into the reads' batches below, ahead of any backlog of them, and the
 *   answer waits for the insert that holds it, which starts at once when none is under way.
 *   Refusals that arrive together share one insert, so a flood of them (anonymous, say) costs a
 *   statement per batch, not a round trip each.
 * - `read`: a query declaring `audit` names the people whose data its answer shows; every answer,
 *   cached or not, that shows anyone but the caller is recorded, one entry per answer listing them
 *   (`subjectIds`), buffered and written in batches (storage/audit-log.ts).
 *
 * The entries live in one table of the write database (tandem.audit_log), not in the event log: a
 * read is no domain fact for projections to replay, reads outnumber commands by far, and a command's
 * entry must commit with it. Queries read it through `QueryContext.auditLog`, as `history` reads the log.
 */
export interface AuditEntry {
  /** A time-ordered UUID: with `at`, the key the log is paged by. */
  id: string
  at: Date
  kind: 'command' | 'read'
  domain: string
  /** The message's address: `procurement/approve-request`. */
  action: string
  /** Who: null for a caller with no token. */
  actorId: string | null
  actorRoles: readonly string[]
  outcome: 'succeeded' | 'refused' | 'failed' | 'read'
  /** A refusal's or failure's HTTP status and code. */
  status: number | null
  code: string | null
  /** Whose data a read showed: the one person, or null when it showed several (see `subjectIds`). */
  subjectId: string | null
  /** Everyone whose data a read showed (one entry per read, however many people it showed); empty for a command. */
  subjectIds: readonly string[]
  commandId: string | null
  correlationId: string | null
  /** The answer was the one kept for an idempotency key, given again. */
  replayed: boolean
  /** What: a command's input in short (core/audit.ts `summarize`), or what a read showed. */
  details: Record<string, unknown>
}

/** An entry as the log answers it (JSON): its time in ISO 8601. */
export type AuditRecord = Omit<AuditEntry, 'at' | 'actorRoles' | 'subjectIds'> & {
  at: string
  actorRoles: string[]
  subjectIds: string[]
}

/** The schema of an `AuditRecord`, for the output of a query that answers audit entries. */
export const AuditRecordSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  at: Type.String({ format: 'date-time' }),
  kind: Type.Enum(['command', 'read']),
  domain: Type.String(),
  action: Type.String({ description: 'The message: `<domain>/<name>`' }),
  actorId: Type.Union([Type.String(), Type.Null()]),
  actorRoles: Type.Array(Type.String()),
  outcome: Type.Enum(['succeeded', 'refused', 'failed', 'read']),
  status: Type.Union([Type.Integer(), Type.Null()]),
  code: Type.Union([Type.String(), Type.Null()]),
  subjectId: Type.Union([Type.String(), Type.Null()], {
    description: 'Whose data a read showed, when it showed one person (else null: see subjectIds)',
  }),
  subjectIds: Type.Array(Type.String(), { description: 'Everyone whose data a read showed' }),
  commandId: Type.Union([Type.String(), Type.Null()]),
  correlationId: Type.Union([Type.String(), Type.Null()]),
  replayed: Type.Boolean(),
  details: Type.Record(Type.String(), Type.Unknown()),
})

/** What a query reports of one person's data its answer shows (`QueryDefinition.audit`). */
export interface AuditedRead {
  subjectId: string
  details?: Record<string, unknown>
}

/** Where entries go: storage/audit-log.ts implements it over the write database. */
export interface AuditSink {
  /** The insert of these entries, to queue in a transaction. */
  statement(entries: readonly AuditEntry[]): Statement
  /**
   * Buffers one and resolves once an insert has written it: at once when no insert is under way,
   * else with the next, beside what arrived meanwhile. It never rejects: an insert that fails is
   * logged, and its entries wait in the buffer for the next attempt.
   */
  written(entry: AuditEntry): Promise<void>
  /** Buffers one, written in a batch soon after; never awaited by the caller. */
  record(entry: AuditEntry): void
  /**
   * Resolves when the buffer has room; while it is full (reads audited faster than the database
   * takes their entries) waits up to `timeoutMs` for it to drain, then fails with a 503.
   */
  admit(timeoutMs: number): Promise<void>
}

export interface AuditFilter {
  domain: string
  kind?: AuditEntry['kind']
  actorId?: string
  subjectId?: string
  /** From this moment (inclusive) to that one (exclusive). */
  from?: string
  to?: string
  /** Keyset: entries before this one (newest first). */
  before?: { time: string; id: string }
  limit: number
}

/** The audit log, read (newest first): the port `QueryContext.auditLog` gives queries. */
export interface AuditLog {
  read(filter: AuditFilter): Promise<AuditRecord[]>
}

export interface CommandAuditOptions {
  sink: AuditSink
  /** Whether a domain's commands are recorded (`Domain.audit`). */
  audited(domain: string): boolean
  newId(): string
}

/**
 * The two halves of command auditing: `transactional` (inside the transaction, outside idempotency)
 * queues the entry of a command that commits; `middleware` (outside, before auth and validation, so
 * their refusals count too) writes the entry of one that did not.
 */
export function auditCommands(options: CommandAuditOptions): {
  middleware: Middleware<CommandCall, Executed>
  transactional: TxMiddleware
  /**
   * Writes the entry of a command refused before it reached the bus (its body unreadable, too
   * large, of another type): resolves once written, as the middleware's refusals do.
   */
  refusedBefore(refusal: RefusedBefore): Promise<void>
} {
  const { sink, audited, newId } = options
  /** Refusals whose entry committed in their transaction (with an idempotency record). */
  const committed = new WeakSet<object>()
  /** A command's entry: the fields every one has, and what this one was. */
  const commandEntry = (
    of: Pick<AuditEntry, 'at' | 'domain' | 'action' | 'commandId' | 'correlationId' | 'replayed' | 'details'>,
    caller: Caller | undefined,
    outcome: Outcome,
  ): AuditEntry => ({
    id: newId(),
    kind: 'command',
    actorId: caller?.id ?? null,
    actorRoles: caller?.roles ?? [],
    subjectId: null,
    subjectIds: [],
    ...of,
    ...outcome,
  })
  const entry = (call: CommandCall, outcome: Outcome, replayed: boolean): AuditEntry =>
    commandEntry(
      {
        at: call.meta.now,
        domain: call.definition.domain,
        action: call.address,
        commandId: call.meta.commandId,
        correlationId: call.meta.correlationId,
        replayed,
        details: summarize(call.input),
      },
      call.caller,
      outcome,
    )
  return {
    async refusedBefore({ definition, caller, status, code, correlationId }) {
      if (!audited(definition.domain)) return
      const { domain, name } = definition
      const at = new Date()
      const outcome = { outcome: status < 500 ? 'refused' : 'failed', status, code } as const
      const of = { at, domain, action: `${domain}/${name}`, commandId: null, correlationId, replayed: false }
      await sink.written(commandEntry({ ...of, details: {} }, caller, outcome))
    },
    async transactional(call, tx, next) {
      if (!audited(call.definition.domain)) return next(call, tx)
      const executed = await next(call, tx)
      const { refusal } = executed
      if (refusal) committed.add(refusal)
      tx.write(sink.statement([entry(call, outcomeOf(refusal), executed.replayed)]))
      return executed
    },
    async middleware(call, next) {
      if (!audited(call.definition.domain)) return next(call)
      try {
        return await next(call)
      } catch (error) {
        if (typeof error === 'object' && error !== null && committed.has(error)) throw error
        const failed = entry(call, outcomeOf(error), false)
        if (failed.outcome === 'refused') await sink.written(failed)
        else sink.record(failed)
        throw error
      }
    },
  }
}

type Outcome = Pick<AuditEntry, 'outcome' | 'status' | 'code'>

/** A command refused before the bus: by the HTTP layer, reading its request. */
export interface RefusedBefore {
  definition: { domain: string; name: string }
  caller: Caller | undefined
  status: number
  code: string
  correlationId: string
}

function outcomeOf(error: unknown): Outcome {
  if (error === undefined) return { outcome: 'succeeded', status: null, code: null }
  if (!isAppError(error)) return { outcome: 'failed', status: 500, code: 'INTERNAL' }
  return { outcome: error.status < 500 ? 'refused' : 'failed', status: error.status, code: error.code }
}

/** How long an audited read waits for room in a full audit buffer before it is answered 503. */
const admitWaitMs = 5_000

/**
 * Records each answer of a query declaring `audit` (a cache hit too: the read happened) that shows
 * anyone but the caller: one entry naming them all, with each one's details (under `subjects` when
 * there are several). After validation, so the ids are in their canonical form.
 */
export function auditReads(options: {
  sink: AuditSink
  clock: () => Date
  newId(): string
}): Middleware<QueryCall, Answered> {
  const { sink, clock, newId } = options
  /**
   * What an answer showed, worked out once per answer and caller: a cached answer is one object,
   * given again on each hit (with the same input: the cache keys answers by it).
   */
  const shownBy = new WeakMap<object, { by: string; shown: Shown }>()
  return async (call, next) => {
    const report = call.definition.audit
    if (!report) return next(call)
    // No answer that cannot be recorded: a read waits while the audit log is behind.
    await sink.admit(admitWaitMs)
    const answer = await next(call)
    const caller = call.caller
    if (!caller) return answer
    const value = answer.value
    const by = callerKey(caller)
    const kept = typeof value === 'object' && value !== null ? shownBy.get(value) : undefined
    let shown = kept?.by === by ? kept.shown : undefined
    if (!shown) {
      shown = whatWasShown(report(call.input, value, caller), caller.id)
      if (typeof value === 'object' && value !== null) shownBy.set(value, { by, shown })
    }
    if (shown.subjectIds.length === 0) return answer
    sink.record({
      id: newId(),
      at: clock(),
      kind: 'read',
      domain: call.definition.domain,
      action: call.address,
      actorId: caller.id,
      actorRoles: caller.roles,
      outcome: 'read',
      status: null,
      code: null,
      subjectId: shown.subjectId,
      subjectIds: shown.subjectIds,
      commandId: null,
      correlationId: null,
      replayed: false,
      details: shown.details,
    })
    return answer
  }
}

interface Shown {
  subjectIds: readonly string[]
  subjectId: string | null
  details: Record<string, unknown>
}

/**
 * One entry per answer, however many people it shows (a list page of twenty requesters was twenty
 * inserts, more than PostgreSQL took at the rate the pages were read): everyone but the caller, and
 * each one's details, under `subjects` when there are several.
 */
function whatWasShown(reads: readonly AuditedRead[], callerId: string): Shown {
  const shown = new Map<string, Record<string, unknown>>()
  for (const read of reads) {
    // Storable here, not only where the entry is written: with several people, the ids key the details.
    const id = storable(read.subjectId)
    if (read.subjectId !== callerId && !shown.has(id))
      shown.set(id, summarize(read.details ?? {}, maxShownItems))
  }
  const [only, ...others] = shown.keys()
  if (only === undefined) return { subjectIds: [], subjectId: null, details: {} }
  return others.length === 0
    ? { subjectIds: [only], subjectId: only, details: shown.get(only) ?? {} }
    : { subjectIds: [...shown.keys()], subjectId: null, details: { subjects: byId(shown) } }
}

/**
 * An object keyed by ids, made without a prototype: V8 gives an object built from fresh keys a new
 * hidden class per key (`Object.fromEntries` of a page's twenty requesters was the largest part of
 * a procurement list page's audit in a profile, and left that garbage behind), while one with no
 * prototype is a plain hash table from the start. JSON.stringify writes it as any object.
 */
function byId<T>(entries: ReadonlyMap<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>
  for (const [id, value] of entries) out[id] = value
  return out
}

const maxText = 200
const maxKeys = 30
/** A command's input is the caller's: lists longer than this are recorded as their length. */
const maxInputItems = 10
/**
 * What a read showed is the query's own report (ids of what its answer held), so its lists are kept
 * whole up to this: a page holds at most 100 items (core/paging.ts), and `[12 items]` in place of the
 * ids of twelve requests one person made would not say which the reader saw.
 */
const maxShownItems = 1_000
// U+0000 and lone surrogates: what PostgreSQL's jsonb cannot store.
// eslint-disable-next-line no-control-regex -- U+0000 is one of the characters it finds
const unstorable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * A message's input in short, safe to store whatever it holds (it may have failed validation): the
 * first 30 fields, text cut at 200 characters, a list of up to `maxItems` scalars as it is and any
 * other as its length, a nested object as `{…}` one level down; U+0000 and lone surrogates replaced.
 * The command's id leads to its events for the rest.
 */
export function summarize(input: unknown, maxItems = maxInputItems): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return { value: short(input, 1, maxItems) }
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input).slice(0, maxKeys))
    out[text(key)] = short(value, 1, maxItems)
  return out
}

function short(value: unknown, depth: number, maxItems: number): unknown {
  if (typeof value === 'string') return text(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value
  if (Array.isArray(value)) {
    const scalars = value.length <= maxItems && value.every((v) => typeof v !== 'object' || v === null)
    return scalars ? value.map((v) => short(v, depth + 1, maxItems)) : `[${value.length} items]`
  }
  if (typeof value === 'object' && depth < 2) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value).slice(0, maxKeys)) out[text(k)] = short(v, depth + 1, maxItems)
    return out
  }
  if (typeof value === 'bigint') return value.toString()
  return typeof value === 'object' ? '{…}' : null
}

function text(value: string): string {
  return storable(value.length > maxText ? `${value.slice(0, maxText)}…` : value)
}

/** Text PostgreSQL can store: U+0000 and lone surrogates replaced by U+FFFD. */
export function storable(value: string): string {
  return value.replace(unstorable, '\uFFFD')
}
