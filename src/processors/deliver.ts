import { setTimeout as delay } from 'node:timers/promises'
import type { CommandBus } from '../core/command-bus.js'
import { isAppError, type AppError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { StoredEvent } from '../core/envelope.js'
import { isUnavailable, type SqlClient } from '../core/sql.js'
import { failureBackoffMs } from '../projections/loop.js'
import { processorId, type Processor, type ProcessorContext } from './processor.js'

export interface Delivery {
  commands: CommandBus
  /** The write database, which handlers may read (ProcessorContext.read). */
  sql: SqlClient
  log: Logger
}

/** A command that failed for a reason other than a business refusal: the event is tried again. */
export class CommandFailedError extends Error {
  constructor(
    readonly address: string,
    readonly error: AppError,
  ) {
    super(`${address} failed: ${error.code}${error.detail ? ` (${error.detail})` : ''}`)
    this.name = 'CommandFailedError'
  }
}

/**
 * Refusals that are not the business's answer: the platform could not run the command now (another
 * copy under the same key, a conflict that outlasted the unit of work's retries), or the processor
 * sent what no command accepts: a bug to fix, then retry. Below 404 (bad input, no or a wrong role)
 * is the processor's bug too.
 */
const notDecided = new Set([
  'COMMAND_NOT_FOUND',
  'IDEMPOTENCY_IN_PROGRESS',
  'IDEMPOTENCY_KEY_REUSED',
  'CONCURRENCY_CONFLICT',
])

function decided(error: AppError): boolean {
  const { status } = error
  if (status < 404 || status >= 500 || status === 408 || status === 429) return false
  return !notDecided.has(error.code)
}

/**
 * Runs the processor's handler on one event, once. Each send carries the key of its place in the
 * handling (processor.ts), so a handling run again acts once in effect. Throws what failed.
 */
export async function handleOnce(
  processor: Processor,
  event: StoredEvent,
  options: Delivery & { attempt: number; signal: AbortSignal },
): Promise<void> {
  const base = `processor:${processorId(processor)}:${event.position}`
  const log = options.log.child({ position: event.position, eventType: event.type })
  let unnamed = 0
  const ctx: ProcessorContext = {
    read: options.sql,
    attempt: options.attempt,
    signal: options.signal,
    key: (suffix) => (suffix === undefined ? base : `${base}:${suffix}`),
    async send(command, input, send = {}) {
      const place = send.key ?? (unnamed === 0 ? undefined : String(unnamed))
      if (send.key === undefined) unnamed++
      const result = await options.commands.execute(command, input, {
        caller: send.caller ?? processor.caller,
        idempotencyKey: ctx.key(place),
        correlationId: event.metadata.correlationId,
        log,
      })
      if (result.status === 'succeeded') return result
      const address = `${command.domain}/${command.name}`
      if (!decided(result.error)) throw new CommandFailedError(address, result.error)
      log.info({ command: address, code: result.error.code }, 'command refused; the processor moves on')
      return result
    },
  }
  await processor.handle(event, ctx)
}

/**
 * Hands a batch to the processor's `prefetch`, if it has one, before its events are delivered. A
 * failure is logged, not thrown: the handlers then read for themselves.
 */
export async function prefetchBatch(
  processor: Processor,
  events: readonly StoredEvent[],
  options: Pick<Delivery, 'sql' | 'log'>,
): Promise<void> {
  if (!processor.prefetch || events.length === 0) return
  try {
    await processor.prefetch(events, options.sql)
  } catch (error) {
    options.log.warn({ err: error }, 'prefetch failed; the events are handled without it')
  }
}

/** What became of an event: handled (perhaps after failures), or failed every attempt (to be parked). */
export type Outcome =
  { handled: true; attempts: number } | { handled: false; attempts: number; error: string }

/**
 * Handles an event, trying again after a failure with exponential backoff, up to the processor's
 * attempts. Throws only when `signal` is aborted (the process stops): the event is not done.
 */
export async function deliver(
  processor: Processor,
  event: StoredEvent,
  options: Delivery & { signal: AbortSignal },
): Promise<Outcome> {
  const { attempts, backoffMs } = processor.retry
  /** Failures while a store could not be reached: not the handler's, not counted against its attempts. */
  let outages = 0
  for (let attempt = 1; ; attempt++) {
    try {
      await handleOnce(processor, event, { ...options, attempt })
      return { handled: true, attempts: attempt }
    } catch (error) {
      options.signal.throwIfAborted()
      if (storeUnreachable(error)) {
        // A database restarting refuses for seconds: the event waits for it, however long, rather
        // than be parked as if its handler had failed (seen: parked within 1.5 s of a restart).
        outages++
        if (outages === 1 || outages % 30 === 0)
          options.log.warn(
            { err: error, position: event.position, eventType: event.type, outages },
            'processor cannot reach a store; trying the event again',
          )
        await delay(failureBackoffMs(outages), undefined, { signal: options.signal })
        continue
      }
      const counted = attempt - outages
      if (counted >= attempts) return { handled: false, attempts: counted, error: failureText(error) }
      const waitMs = Math.min(30_000, backoffMs * 2 ** (counted - 1))
      options.log.warn(
        { err: error, position: event.position, eventType: event.type, attempt, waitMs },
        'processor failed on an event; trying again',
      )
      await delay(waitMs, undefined, { signal: options.signal })
    }
  }
}

/** A failure because a store could not be reached or used now (a database restarting, a connection cut). */
function storeUnreachable(error: unknown): boolean {
  const cause = error instanceof CommandFailedError ? error.error : error
  if (isAppError(cause)) return cause.status === 503 && cause.code === 'UNAVAILABLE'
  return isUnavailable(cause)
}

/** What a dead letter says of its failure: the code and detail of a platform error, else the message. */
export function failureText(error: unknown): string {
  const text =
    error instanceof CommandFailedError || !isAppError(error)
      ? error instanceof Error
        ? error.message
        : String(error)
      : `${error.code}: ${error.detail ?? error.title}`
  return text.slice(0, 2000)
}
