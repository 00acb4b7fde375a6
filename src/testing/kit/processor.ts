import { silentLogger } from '../../core/logger.js'
import type { SqlClient } from '../../core/sql.js'
import type { NewEvent } from '../../core/messages.js'
import { deliver, prefetchBatch } from '../../processors/deliver.js'
import type { Processor } from '../../processors/processor.js'
import { recordingBus, type SendLog, type SentCommand } from './bus.js'
import { eventRecorder, type Recording } from './stored.js'

export type { SentCommand }

/** An event the processor gave up on: what the runner parks. */
export interface ParkedEvent {
  position: string
  eventType: string
  error: string
  attempts: number
}

export interface ProcessorRun {
  /**
   * The commands sent in effect: the first of each idempotency key that the bus took (a retry's
   * send is replayed, not sent again; one refused for its input or caller never ran).
   */
  sent: SentCommand[]
  /** Every send, a retry's again included. */
  sends: SentCommand[]
  /** Events handled, each with the attempts it took. */
  handled: { position: string; eventType: string; attempts: number }[]
  /** Events that failed every attempt. */
  deadLetters: ParkedEvent[]
  /** Hands the same events over again (a crash before the checkpoint moved): sends should replay. */
  redeliver(): Promise<ProcessorRun>
}

export interface ProcessorSpecOptions extends Recording {
  /**
   * What the bus answers a command: its result, or a thrown `AppError` (a 409 is the business's
   * answer and the processor moves on; a 503 or a 400 fails the attempt). Default: `{}`.
   */
  answer?: (sent: SentCommand) => unknown
  /** What the handler's `ctx.read` reads (default: none; a read fails the attempt). */
  read?: SqlClient
}

const noDatabase: SqlClient = {
  query: () =>
    Promise.reject(new Error('processorSpec: this spec gives the processor no database (options.read)')),
}

/**
 * A processor spec: given events, then the commands the processor sends (with their idempotency
 * keys), and the events it parks as dead letters. No database: its sends go to a recording bus that
 * answers as `options.answer` says; failures are retried as the processor's policy says, without
 * waiting. An adapter the processor calls is the test's to pass in (and to record).
 *
 * ```ts
 * const given = processorSpec(notifier)
 * const run = await given(OrderPlaced.create({ orderId: 'o1' }))
 * expect(run.sent).toEqual([{ command: 'orders/send-notice', input: {…}, key: 'processor:orders/notifier:1', caller: … }])
 * ```
 */
export function processorSpec(
  processor: Processor,
  options: ProcessorSpecOptions = {},
): (...events: NewEvent[]) => Promise<ProcessorRun> {
  const patient: Processor = { ...processor, retry: { ...processor.retry, backoffMs: 0 } }
  return async (...given) => {
    const record = eventRecorder(options)
    const events = given.map(record).filter((e) => processor.events.includes(e.type))
    const log: SendLog = { sends: [], sent: [] }
    const commands = recordingBus(options.answer ?? (() => ({})), log)
    const run = async (): Promise<ProcessorRun> => {
      const from = { sends: log.sends.length, sent: log.sent.length }
      const handled: ProcessorRun['handled'] = []
      const deadLetters: ParkedEvent[] = []
      const sql = options.read ?? noDatabase
      // The given events are one batch, as the runner reads them: `prefetch` first, if any.
      await prefetchBatch(processor, events, { sql, log: silentLogger })
      for (const event of events) {
        const signal = new AbortController().signal
        const outcome = await deliver(patient, event, { commands, sql, log: silentLogger, signal })
        const { position, type: eventType } = event
        if (outcome.handled) handled.push({ position, eventType, attempts: outcome.attempts })
        else deadLetters.push({ position, eventType, error: outcome.error, attempts: outcome.attempts })
      }
      const sent = log.sent.slice(from.sent)
      return { sent, sends: log.sends.slice(from.sends), handled, deadLetters, redeliver: run }
    }
    return run()
  }
}
