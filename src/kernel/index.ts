/**
 * The one door into the kernel: everything a domain uses to declare its messages, decide its
 * commands, keep its write model, project its read models and describe itself. Domains import this
 * file and their own folder, nothing else (the `tandem/layers` lint rule holds them to it).
 */

// Messages: commands, queries, events, who may send them.
export {
  anyone,
  defineCommand,
  defineEvent,
  defineQuery,
  onlyCallers,
  Page,
  signedIn,
  timeIdKey,
  type Access,
  type AnyCommand,
  type AnyQuery,
  type Caller,
  type CommandContext,
  type CommandDefinition,
  type CommandHandler,
  type CommandMeta,
  type CommandTx,
  type EventDefinition,
  type LiveItems,
  type NewEvent,
  type QueryContext,
  type QueryDefinition,
  type StreamRef,
} from '../core/messages.js'
export type { EventMetadata, StoredEvent } from '../core/envelope.js'
export { CurrencyCode, cutText, Id, Label, Name, searchForm, Text, UserId } from '../core/schemas.js'
export { cursorAfter, decodeCursor, encodeCursor, Limit } from '../core/paging.js'
export {
  cursorOf,
  cursorParts,
  indexName,
  isLogPosition,
  isStoredTime,
  keyAfter,
  laterTime,
  memberKey,
  pageOf,
  storedTime,
  timeFrom,
  type TimeKey,
} from '../core/keyset.js'

// Deciding: pure rules in an I/O shell.
export {
  atTurn,
  eventSourced,
  fold,
  stateStored,
  unreachable,
  type EventSourcedDecider,
  type EventSourcedWithRows,
  type Folded,
  type Memory,
  type StateStoredDecider,
} from '../core/decider.js'
export {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
  type FieldError,
} from '../core/errors.js'
export type { SqlClient, Statement } from '../core/sql.js'
export type { Replica, ReplicaContext, ReplicaDefinition } from '../core/replicas.js'

// The audit log: commands of domains with `audit: true`, reads that queries report (`audit`).
export {
  AuditRecordSchema,
  type AuditedRead,
  type AuditFilter,
  type AuditLog,
  type AuditRecord,
} from '../core/audit.js'
/** Compares log positions and transaction ids (decimal strings) without converting them. */
export { compareDecimal, crashSafeHorizon, streamVersion } from '../storage/event-log.js'
export type { Migration } from '../storage/migrations.js'

// Read models.
export {
  defineKvProjection,
  defineSqlProjection,
  type AnyEventDefinition,
  type EventOf,
  type KvProjection,
  type Projection,
  type SqlProjection,
  type SqlProjectionTx,
} from '../projections/projection.js'
export type { KvBatch } from '../projections/kv.js'
export { transactionLookup } from '../projections/read-your-writes.js'

// Reactions to events: commands sent once in effect, failures parked as dead letters.
export {
  defineProcessor,
  type Processor,
  type ProcessorContext,
  type RetryPolicy,
  type StartFrom,
} from '../processors/processor.js'
/** What `ctx.send` throws for a refusal that is not the business's answer (bad input, a conflict). */
export { CommandFailedError } from '../processors/deliver.js'
export type { KvReader, LexBound, LexRange, ReadStores } from '../core/read-stores.js'

// The buses, as demo data, examples and benchmark mixes use them.
export type { CommandBus, CommandResult } from '../core/command-bus.js'
export type { QueryBus, QueryResult } from '../core/query-bus.js'

// A domain's manifest.
export type {
  BenchMix,
  DemoExample,
  DomainSetting,
  Domain,
  ResourceOutcome,
  ResourceRequest,
  ResourceRoute,
} from './domain.js'
export { checkDomains } from './check.js'
