import type { CommandBus, CommandResult } from '../../core/command-bus.js'
import {
  ForbiddenError,
  IdempotencyKeyReusedError,
  isAppError,
  UnauthenticatedError,
  type AppError,
} from '../../core/errors.js'
import { addressOf, type Caller, type CommandDefinition } from '../../core/messages.js'
import { createRegistry } from '../../core/registry.js'
import { validInput } from '../../core/validation.js'

/** A command a processor sent: its address, its input (canonical), its idempotency key and who sent it. */
export interface SentCommand {
  command: string
  input: unknown
  key: string
  /** The caller's id. */
  caller: string
}

/** What the recording bus keeps: every send, and those in effect (the first of each key it took). */
export interface SendLog {
  sends: SentCommand[]
  sent: SentCommand[]
}

type Outcome = { result: unknown } | { error: AppError }

/** Runs `fn`: its value, or the kernel error it threw (any other error is a bug, and goes on). */
function outcomeOf(fn: () => unknown): Outcome {
  try {
    return { result: fn() }
  } catch (error) {
    if (isAppError(error)) return { error }
    throw error
  }
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
 * keeps the first answer of each idempotency key (answered again; the same key with another input
 * is refused), asks `answer` for the rest, and records every send in `log`.
 */
export function recordingBus(answer: (sent: SentCommand) => unknown, log: SendLog): CommandBus {
  const kept = new Map<string, { body: string; outcome: Outcome }>()
  let count = 0
  async function execute(
    command: CommandDefinition,
    input: unknown,
    options: { caller?: Caller; idempotencyKey?: string } = {},
  ): Promise<CommandResult> {
    const commandId = `command-${++count}`
    const key = options.idempotencyKey ?? commandId
    const sent: SentCommand = { command: addressOf(command), input, key, caller: options.caller?.id ?? '' }
    log.sends.push(sent)
    let outcome = outcomeOf(() => {
      authorize(command, options.caller)
      return validInput(command.input, input)
    })
    let replayed = false
    if ('result' in outcome) {
      sent.input = outcome.result
      const body = JSON.stringify(sent.input)
      const earlier = kept.get(key)
      if (earlier) {
        replayed = earlier.body === body
        outcome = replayed ? earlier.outcome : { error: new IdempotencyKeyReusedError() }
      } else {
        outcome = outcomeOf(() => answer(sent))
        kept.set(key, { body, outcome })
        log.sent.push(sent)
      }
    }
    const common = { commandId, executionTimeMs: 0, replayed }
    return 'error' in outcome
      ? { status: 'failed', error: outcome.error, ...common }
      : { status: 'succeeded', result: outcome.result, position: null, ...common }
  }
  return {
    registry: createRegistry({ commands: [], queries: [] }),
    execute: execute as CommandBus['execute'],
  }
}
