import type { CommandBus, CommandResult } from '../../core/command-bus.js'
import {
  ForbiddenError,
  IdempotencyKeyReusedError,
  isAppError,
  UnauthenticatedError,
  type AppError,
} from '../../core/errors.js'
import { silentLogger } from '../../core/logger.js'
import type { Caller, CommandDefinition, NewEvent } from '../../core/messages.js'
import { createRegistry } from '../../core/registry.js'
import { validInput } from '../../core/validation.js'
import { deliver } from '../../processors/deliver.js'
import type { Processor } from '../../processors/processor.js'
import { eventRecorder, type Recording } from './stored.js'

/** A command a processor sent: its address, its input (canonical), its idempotency key and who sent it. */
export interface SentCommand {
  command: string
  input: unknown
  key: string
  /** The caller's id. */
  caller: string
}

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
}

/** Whether `caller` may send the command, as the bus's auth decides it. */
function authorize(command: CommandDefinition, caller: Caller | undefined): void {
  if (command.access.kind === 'public') return
  if (!caller) throw new UnauthenticatedError()
  const { roles } = command.access
  if (roles && !roles.some((role) => caller.roles.includes(role))) throw new ForbiddenError()
}

/**
 * A command bus with no database: it checks access and the input's schema as the real one does,
 * keeps the first answer of each idempotency key (the same key with another input is refused), and
 * records every send.
 */
function recordingBus(
  options: ProcessorSpecOptions,
  log: { sends: SentCommand[]; sent: SentCommand[] },
): CommandBus {
  const kept = new Map<string, { input: string; result: CommandResult }>()
  let commands = 0
  async function execute(
    command: CommandDefinition,
    input: unknown,
    send: { caller?: Caller; idempotencyKey?: string } = {},
  ) {
    const commandId = `command-${++commands}`
    const key = send.idempotencyKey ?? commandId
    const failed = (error: AppError, replayed = false): CommandResult => ({
      status: 'failed',
      commandId,
      error,
      executionTimeMs: 0,
      replayed,
    })
    let record: SentCommand = {
      command: `${command.domain}/${command.name}`,
      input,
      key,
      caller: send.caller?.id ?? '',
    }
    try {
      authorize(command, send.caller)
      record = { ...record, input: validInput(command.input, input) }
    } catch (error) {
      log.sends.push(record)
      if (isAppError(error)) return failed(error)
      throw error
    }
    log.sends.push(record)
    const body = JSON.stringify(record.input)
    const earlier = kept.get(key)
    if (earlier)
      return earlier.input === body
        ? { ...earlier.result, replayed: true }
        : failed(new IdempotencyKeyReusedError())
    let result: CommandResult
    try {
      const answer = (options.answer ?? (() => ({})))(record)
      result = {
        status: 'succeeded',
        commandId,
        result: answer,
        position: null,
        executionTimeMs: 0,
        replayed: false,
      }
    } catch (error) {
      if (!isAppError(error)) throw error
      result = failed(error)
    }
    kept.set(key, { input: body, result })
    log.sent.push(record)
    return result
  }
  return {
    registry: createRegistry({ commands: [], queries: [] }),
    execute: execute as CommandBus['execute'],
  }
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
    const log = { sends: [] as SentCommand[], sent: [] as SentCommand[] }
    const commands = recordingBus(options, log)
    const run = async (): Promise<ProcessorRun> => {
      const from = { sends: log.sends.length, sent: log.sent.length }
      const handled: ProcessorRun['handled'] = []
      const deadLetters: ParkedEvent[] = []
      for (const event of events) {
        const signal = new AbortController().signal
        const outcome = await deliver(patient, event, { commands, log: silentLogger, signal })
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
