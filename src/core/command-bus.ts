import type { Static, TSchema } from 'typebox'
import { uuidv7 } from './ids.js'
import { NotFoundError, isAppError, type AppError } from './errors.js'
import { silentLogger, type Logger } from './logger.js'
import type { AnyCommand, Caller, CommandDefinition, CommandMeta, CommandTx } from './messages.js'
import { compose, type Call, type Middleware, type Step } from './pipeline.js'
import type { Registry } from './registry.js'

export interface CommandCall extends Call {
  readonly kind: 'command'
  readonly definition: AnyCommand
  readonly meta: CommandMeta
  readonly idempotencyKey: string | undefined
}

/** What running a command produced; `position` is the log position of its last event. */
export interface Executed {
  commandId: string
  result: unknown
  position: string | null
  replayed: boolean
  /**
   * The command was refused, and the transaction still commits: what is written beside a refusal
   * (the answer kept for an idempotency key) is kept. The bus answers it as the refusal it is.
   */
  refusal?: AppError
}

/**
 * Runs a command in one transaction: the work reads and queues writes and events, and the unit of
 * work commits them together, filling in the position of the last event.
 */
export interface UnitOfWork {
  run(call: CommandCall, work: (tx: CommandTx) => Promise<Executed>): Promise<Executed>
}

/** Middleware that runs inside the command's transaction (idempotency, for one). */
export type TxMiddleware = (
  call: CommandCall,
  tx: CommandTx,
  next: (call: CommandCall, tx: CommandTx) => Promise<Executed>,
) => Promise<Executed>

/** The guide's CommandResult. Refusals are results; only bugs throw. */
export type CommandResult<R = unknown> =
  | {
      status: 'succeeded'
      commandId: string
      result: R
      position: string | null
      executionTimeMs: number
      replayed: boolean
    }
  | {
      status: 'failed'
      commandId: string
      error: AppError
      executionTimeMs: number
      /** The refusal is the one kept for the call's idempotency key, answered again. */
      replayed: boolean
    }

export interface SendOptions {
  caller?: Caller
  /** The request's token, refused: the command is answered with it (see `Call.refusedToken`). */
  refusedToken?: AppError
  correlationId?: string
  idempotencyKey?: string
  log?: Logger
}

export interface CommandBus {
  readonly registry: Registry
  execute<O extends TSchema>(
    command: CommandDefinition<TSchema, O>,
    input: unknown,
    options?: SendOptions,
  ): Promise<CommandResult<Static<O>>>
  execute(address: string, input: unknown, options?: SendOptions): Promise<CommandResult>
}

export interface CommandBusOptions {
  registry: Registry
  unitOfWork: UnitOfWork
  /** Outside the transaction, outermost first: logging, metrics, auth, validation. */
  middleware: readonly Middleware<CommandCall, Executed>[]
  /** Inside the transaction, outermost first. */
  transactional?: readonly TxMiddleware[]
  clock?: () => Date
}

export function createCommandBus(options: CommandBusOptions): CommandBus {
  const clock = options.clock ?? (() => new Date())
  const inTx = (options.transactional ?? []).reduceRight<
    (call: CommandCall, tx: CommandTx) => Promise<Executed>
  >(
    (next, mw) => (call, tx) => mw(call, tx, next),
    async (call, tx) => ({
      commandId: call.meta.commandId,
      result: await call.definition.handle(call.input, { meta: call.meta, tx }),
      position: null,
      replayed: false,
    }),
  )
  /** Refusals that were answered again for their idempotency key. */
  const replayedRefusals = new WeakSet<AppError>()
  const handle: Step<CommandCall, Executed> = async (call) => {
    const executed = await options.unitOfWork.run(call, (tx) => inTx(call, tx))
    if (!executed.refusal) return executed
    if (executed.replayed) replayedRefusals.add(executed.refusal)
    throw executed.refusal
  }
  const pipeline = compose(options.middleware, handle)

  async function execute(target: string | AnyCommand, input: unknown, send: SendOptions = {}) {
    const start = performance.now()
    const commandId = uuidv7()
    const definition = typeof target === 'string' ? options.registry.commands.get(target) : target
    const took = () => Math.round((performance.now() - start) * 1000) / 1000
    if (!definition) {
      const error = new NotFoundError(
        'COMMAND_NOT_FOUND',
        'No such command',
        `No command is named ${typeof target === 'string' ? target : target.name}`,
      )
      return { status: 'failed' as const, commandId, error, executionTimeMs: took(), replayed: false }
    }
    const address = `${definition.domain}/${definition.name}`
    const meta: CommandMeta = {
      commandId,
      correlationId: send.correlationId ?? commandId,
      caller: send.caller,
      now: clock(),
      newId: uuidv7(),
    }
    const log = send.log ?? silentLogger
    try {
      const done = await pipeline({
        kind: 'command',
        address,
        definition,
        input,
        caller: send.caller,
        refusedToken: send.refusedToken,
        log,
        meta,
        idempotencyKey: send.idempotencyKey,
      })
      return { status: 'succeeded' as const, ...done, executionTimeMs: took() }
    } catch (error) {
      if (!isAppError(error)) throw error
      const replayed = replayedRefusals.has(error)
      return { status: 'failed' as const, commandId, error, executionTimeMs: took(), replayed }
    }
  }

  return { registry: options.registry, execute }
}
