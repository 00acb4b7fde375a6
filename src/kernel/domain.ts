import type { TSchema } from 'typebox'
import type { CommandBus, CommandResult } from '../core/command-bus.js'
import type { QueryBus, QueryResult } from '../core/query-bus.js'
import type { AnyCommand, AnyQuery, Caller } from '../core/messages.js'
import type { ReplicaDefinition } from '../core/replicas.js'
import type { AnyEventDefinition } from '../projections/projection.js'
import type { Processor } from '../processors/processor.js'
import type { Projection } from '../projections/projection.js'
import type { Migration } from '../storage/migrations.js'

/**
 * What a domain registers: its messages, its events, its write-model migrations, its read models,
 * its reactions, and what it offers besides (demo data, benchmark mix). Everything in it belongs
 * to the domain: `checkDomains` (kernel/check.ts) refuses, at start, a name two domains share.
 */
export interface Domain {
  /** Kebab case; the first part of its messages' addresses and of its migrations' ids. */
  name: string
  /**
   * Every event its commands write: their types are the domain's alone. A command appending a type
   * its domain does not declare fails (a programming error, not a refusal).
   */
  events: readonly AnyEventDefinition[]
  commands: readonly AnyCommand[]
  queries: readonly AnyQuery[]
  projections: readonly Projection[]
  /**
   * Read models it keeps itself beside the kernel's stores (an embedded analytical engine), opened
   * in each process with the query role (core/replicas.ts); its queries reach them by name.
   */
  replicas?: readonly ReplicaDefinition[]
  migrations: readonly Migration[]
  /**
   * Every command of the domain is recorded in the audit log (core/audit.ts): who, what, when, the
   * outcome, refusals included. Reads are recorded by the queries that declare `audit`.
   */
  audit?: boolean
  /** Reactions to events that send commands (processors/processor.ts), run by projector processes. */
  processors?: readonly Processor[]
  /** Callers the demo prints tokens for. */
  demoCallers?: readonly (Caller & { label: string })[]
  seedDemo?(commands: CommandBus): Promise<void>
  /**
   * Requests the start banner prints, ready to run as printed: found in the read models as they
   * are now, so that they still work after the demo data has been used.
   */
  demoExamples?(queries: QueryBus): Promise<readonly DemoExample[]>
  /** Its part in `tandem bench`. */
  benchMix?: BenchMix
  /**
   * Resource-style routes of its own (a guide's `GET /api/cqrs/subjects/{id}/`), each a thin
   * adapter over one of its commands or queries: served through the same buses and middleware.
   */
  routes?: readonly ResourceRoute[]
  /** The environment variables it reads: listed by `tandem --help`, checked when Tandem starts. */
  settings?: readonly DomainSetting[]
}

/** One environment variable a domain reads. */
export interface DomainSetting {
  name: string
  /** What it chooses, one line. */
  text: string
  default: string
  /** The values it takes; any other is refused at start. */
  values?: readonly string[]
  /** Or: a whole number within these bounds. */
  integer?: { min: number; max: number }
  /** A whole number that must be below this other setting's (both as set, or their defaults). */
  below?: string
  /** Or: a value this matches; `takes` says what in the message that refuses another. */
  pattern?: { regex: RegExp; takes: string }
}

/**
 * One resource-style route: a method and a path (`:name` for a parameter) mapped to a command or a
 * query of the domain. The HTTP layer (http/resource-routes.ts) sends what `input` builds through the
 * bus (auth, validation, idempotency, cache, metrics as for any message), answers with what `answer`
 * makes of the outcome, and refusals as problem+json.
 */
export interface ResourceRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** With its parameters as `:name`: `/api/cqrs/subjects/:id/`. */
  path: string
  summary: string
  /** The command or query it sends. */
  message: AnyCommand | AnyQuery
  /**
   * The message's input, from the request (default: query string, body and path merged). A route
   * that builds it and declares no `schema.querystring` reads no query string: a parameter is a 400.
   */
  input?(request: ResourceRequest): unknown
  /** The answer's body (default: the command's result or the query's data). */
  answer?(outcome: ResourceOutcome): unknown
  /** Status of a success (default 200). */
  status?: number
  /**
   * A 400's field path in the route's own names (`/difficultyLevel` → `/difficulty_level`), so a
   * client is told of the fields it sent (default: the message's names).
   */
  errorPath?(path: string): string
  /** For the OpenAPI document: the shapes of the path's parameters, the body, the query string and the answer. */
  schema?: { params?: TSchema; body?: TSchema; querystring?: TSchema; answer?: TSchema }
}

export interface ResourceRequest {
  params: Readonly<Record<string, string>>
  query: Readonly<Record<string, unknown>>
  body: unknown
}

/** What the bus answered: a command's result, or a query's data. */
export interface ResourceOutcome {
  data: unknown
  cacheHit: boolean
  executionTimeMs: number
  /** The command's last event's position, or the position the query's read models had applied. */
  position: string | null
  /** The command's id; null for a query. */
  commandId: string | null
}

/**
 * What a domain adds to the guide's in-process benchmark (`tandem bench`): it writes what its
 * operations need, then gives one command and one query at a time. `i` numbers the operation; `r`,
 * in [0, 1), is drawn for it, so a mix picks what to send without a random source of its own.
 */
export interface BenchMix {
  prepare(
    buses: { commands: CommandBus; queries: QueryBus },
    now: Date,
  ): Promise<{
    command(i: number, r: number): Promise<CommandResult>
    query(i: number, r: number): Promise<QueryResult>
  }>
}

/** One request a person can copy from the banner and run. */
export interface DemoExample {
  /** What it does, one line. */
  title: string
  method: 'GET' | 'POST'
  /** Path and query string, e.g. `/api/queries/events/list-upcoming-events`. */
  path: string
  body?: unknown
  /** The label of the demo caller whose token it is sent with (none: public). */
  as?: string
}
