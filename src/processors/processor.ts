import type { SqlClient } from '../core/sql.js'
import type { Static, TSchema } from 'typebox'
import type { CommandResult } from '../core/command-bus.js'
import type { CommandDefinition, Caller } from '../core/messages.js'
import type { StoredEvent } from '../core/envelope.js'
import type { AnyEventDefinition, EventOf } from '../projections/projection.js'

/** What a processor's handler can do about an event. */
export interface ProcessorContext {
  /**
   * Sends a command through the command bus (its middleware included) with an idempotency key made
   * from the processor and the event's position, so that a re-delivered event acts once in effect.
   * The n-th send of a handling is keyed `processor:<domain>/<name>:<position>` (first), then
   * `…:<position>:<n>` (n from 1); `key` names it instead (`…:<position>:<key>`), for handlers whose
   * sends vary. Send what the event says, not the clock: the same key with another input is refused.
   * Answers the command's result, or its business refusal (decided: not retried); any other failure
   * (unavailable, a bug, a validation error) throws, and the event is retried, then parked.
   */
  send<O extends TSchema>(
    command: CommandDefinition<TSchema, O>,
    input: unknown,
    options?: { caller?: Caller; key?: string },
  ): Promise<CommandResult<Static<O>>>
  /**
   * Reads of the write database, outside any transaction and with no lock: for a handler to see
   * whether it has anything to send (cards' anomaly detector runs its rules on a read and sends a
   * command only when one fires). What it decides is decided again by the command, in its own
   * transaction.
   */
  read: SqlClient
  /** An idempotency key for this event (and `suffix`), for an adapter that takes one (mail, payments). */
  key(suffix?: string): string
  /** Aborted when the process stops: a handler waiting on something slow should give up. */
  signal: AbortSignal
  /** The attempt at this event: 1, then 2… after failures. */
  attempt: number
}

/**
 * Where a processor starts on its first run: the log's first event, or what is committed after it
 * starts. `now` errs on the side of handling: the boundary is the oldest transaction still running
 * in the database server, so an event committed while an older transaction ran may be handled too;
 * none committed after the start is missed.
 */
export type StartFrom = 'beginning' | 'now'

/** How often a failing event is tried, and how long between tries, before it is parked. */
export interface RetryPolicy {
  /** Tries in all, the first included (default 5). */
  attempts: number
  /** The wait after the first failure, doubled after each (default 200 ms, at most 30 s). */
  backoffMs: number
}

/**
 * A named, versioned, checkpointed consumer of the event log that reacts to events by sending
 * commands (or calling adapters). At-least-once delivery plus idempotent sends: exactly once in effect.
 */
export interface Processor {
  readonly domain: string
  readonly name: string
  /** Bump when its behaviour changes; recorded with its checkpoint (a new version does not replay the log). */
  readonly version: number
  /** The event types it reacts to; the runner does not fetch others. */
  readonly events: readonly string[]
  readonly startFrom: StartFrom
  readonly retry: RetryPolicy
  /** The caller its commands are sent as, unless a send names another. */
  readonly caller: Caller
  /**
   * How many events of a batch it handles at once (1: one after another, in log order). More only
   * for a processor whose handlings do not depend on each other's effects; the checkpoint still moves
   * in log order, once every event before it is handled (or parked).
   */
  readonly concurrency: number
  handle(event: StoredEvent, ctx: ProcessorContext): Promise<void>
  /**
   * Called with each batch the runner read, before its events are handled one by one: a processor
   * that reads something for each event can read it for the whole batch at once here, and keep it
   * for `handle`. A failure is logged; `handle` then reads for itself.
   */
  prefetch?(events: readonly StoredEvent[], read: SqlClient): Promise<void>
}

/** An event definition (`defineEvent`: the handler sees its data typed) or an event type. */
type EventRef = string | AnyEventDefinition
type EventOfRef<R> = R extends string ? StoredEvent<R> : EventOf<R>

export interface ProcessorSpec<E extends readonly EventRef[]> {
  domain: string
  name: string
  version: number
  /** Event definitions (the handler then sees their data typed) or event types. */
  events: E
  startFrom: StartFrom
  retry?: Partial<RetryPolicy>
  /** Default: `{ id: 'processor:<domain>/<name>', roles: ['system'] }` (for `signedIn('system')`). */
  caller?: Caller
  /** See `Processor.concurrency` (default 1). */
  concurrency?: number
  handle(event: EventOfRef<E[number]>, ctx: ProcessorContext): Promise<void>
  /** See `Processor.prefetch`. */
  prefetch?(events: readonly EventOfRef<E[number]>[], read: SqlClient): Promise<void>
}

export function defineProcessor<const E extends readonly EventRef[]>(spec: ProcessorSpec<E>): Processor {
  const id = processorId(spec)
  return {
    domain: spec.domain,
    name: spec.name,
    version: spec.version,
    events: spec.events.map((e) => (typeof e === 'string' ? e : e.type)),
    startFrom: spec.startFrom,
    retry: { attempts: Math.max(1, spec.retry?.attempts ?? 5), backoffMs: spec.retry?.backoffMs ?? 200 },
    caller: spec.caller ?? { id: `processor:${id}`, roles: ['system'] },
    concurrency: Math.max(1, Math.floor(spec.concurrency ?? 1)),
    // The runner fetches only the declared types, so the event is one of them.
    handle: spec.handle,
    ...(spec.prefetch ? { prefetch: spec.prefetch } : {}),
  }
}

/** `<domain>/<name>`: how stats, routes, checkpoints and dead letters name a processor. */
export function processorId(processor: { domain: string; name: string }): string {
  return `${processor.domain}/${processor.name}`
}
