import type { TSchema } from 'typebox'
import { expect } from 'vitest'
import { isAppError, ValidationError, type AppError, type FieldError } from '../../core/errors.js'
import type { Caller, CommandMeta, NewEvent, Refusals } from '../../core/messages.js'
import { validInput } from '../../core/validation.js'

/** A decision: the events a command causes on a state, or a thrown refusal. */
type Decide<I, S, E> = (input: I, state: S, meta: CommandMeta) => readonly E[]

/** An event-sourced decider (what `eventSourced` takes): its state is the fold of its events. */
export interface EventSourcedRules<I, S, E> {
  initial: S
  evolve(state: S, event: E): S
  decide: Decide<I, S, E>
}

/**
 * An event-sourced decider with rows (what `eventSourced` takes with `load`): its state is the fold
 * of its events, and it decides on the rows `load` would read besides.
 */
export interface EventSourcedRulesWithRows<I, S, E, X> {
  initial: S
  evolve(state: S, event: E): S
  load(...args: never[]): Promise<X>
  decide(input: I, state: S, meta: CommandMeta, rows: X): readonly E[]
}

/** A state-stored decider (what `stateStored` takes), or its bare decide function. */
export type StateStoredRules<I, S, E> = Decide<I, S, E> | { decide: Decide<I, S, E> }

/** What a command is sent with: who, when, and the id it may create. */
export interface CommandSetting {
  caller?: Caller | undefined
  /** The bus's clock when the command is decided. */
  now?: Date | string
  /** The fresh id `meta.newId` hands the decider. */
  newId?: string
  commandId?: string
  correlationId?: string
}

export interface DeciderSpecOptions extends CommandSetting {
  /**
   * The command the decider serves: each input is checked against its schema and put in canonical
   * form (ids lower-cased), as the bus does before deciding. An input that does not fit is a mistake
   * in the test, not a refusal: it fails the test with the schema's complaint.
   */
  command?: {
    readonly domain: string
    readonly name: string
    readonly input: TSchema
    /** Its declared refusals: a `thenRefused` of a code not declared under its status fails. */
    readonly refusals?: Refusals
  }
}

/** The refusal a `thenRefused` expects besides its code: any of its fields (`errors` matched in part). */
export interface ExpectedRefusal {
  status?: number
  title?: string
  detail?: string
  errors?: readonly Partial<FieldError>[]
}

export interface Given<I, E> {
  /** Decides `input` on the given state, as sent by `setting` (over the spec's defaults). */
  when(input: I, setting?: CommandSetting): Then<E>
}

export interface Then<E> {
  /** The decision records exactly these events, in order (`[]`: nothing to do). */
  then(expected: E | readonly E[]): void
  /** The decision is refused with this code (the kernel's `AppError`), and these details if given. */
  thenRefused(code: string, expected?: ExpectedRefusal): void
}

/** Defaults: a fixed clock and id, no caller. Every spec may set its own. */
export const specDefaults = {
  now: new Date('2030-01-01T00:00:00.000Z'),
  newId: '01900000-0000-7000-8000-000000000000',
}

/** The metadata the shell would hand a decider, from a test's setting. */
export function commandMeta(setting: CommandSetting = {}): CommandMeta {
  const now = setting.now ?? specDefaults.now
  return {
    commandId: setting.commandId ?? 'command-1',
    correlationId: setting.correlationId ?? 'correlation-1',
    caller: setting.caller,
    now: typeof now === 'string' ? new Date(now) : now,
    newId: setting.newId ?? specDefaults.newId,
  }
}

type Outcome<E> = { events: readonly E[] } | { refusal: AppError }

function decided<E>(decide: () => readonly E[]): Outcome<E> {
  try {
    return { events: decide() }
  } catch (error) {
    if (isAppError(error)) return { refusal: error }
    throw error
  }
}

const describeRefusal = (e: AppError) => `${e.code} (${e.status}): ${e.message}`

/** What any command may be refused with, declared by none (`Refusals`). */
const platformCodes = new Set(['VALIDATION_FAILED', 'FORBIDDEN'])

function thens<E>(decide: () => Outcome<E>, command: DeciderSpecOptions['command']): Then<E> {
  return {
    then(expected) {
      if (typeof expected === 'function') {
        throw new Error('A decider spec is not a promise: end it with .then(events), do not await it')
      }
      const outcome = decide()
      if ('refusal' in outcome) {
        expect.fail(`Expected events, but the command was refused with ${describeRefusal(outcome.refusal)}`)
      }
      const list: readonly E[] = Array.isArray(expected) ? expected : [expected as E]
      expect(outcome.events).toEqual(list)
    },
    thenRefused(code, expected = {}) {
      const outcome = decide()
      if (!('refusal' in outcome)) {
        expect.fail(
          `Expected the refusal ${code}, but the command recorded ${JSON.stringify(outcome.events)}`,
        )
      }
      const { refusal } = outcome
      expect(refusal.code, describeRefusal(refusal)).toBe(code)
      if (Object.keys(expected).length > 0) expect(refusal).toMatchObject(expected)
      // The OpenAPI document names a command's refusals under their statuses from its declaration.
      const declared = command?.refusals
      if (declared && !platformCodes.has(code)) {
        const status = refusal.status as keyof Refusals
        expect(
          declared[status] ?? [],
          `${command.domain}/${command.name} refuses ${code} with ${status}: declare it in its refusals`,
        ).toContain(code)
      }
    },
  }
}

function canonical<I>(options: DeciderSpecOptions, input: I): I {
  const { command } = options
  if (!command) return input
  try {
    return validInput(command.input, input) as I
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error
    const problems = (error.errors ?? []).map((e) => `${e.path || '/'} ${e.message}`).join('; ')
    throw new Error(`The test's input does not fit ${command.domain}/${command.name}: ${problems}`)
  }
}

/**
 * A given / when / then spec of a decider's rules: pure, no database.
 *
 * Event-sourced (`{ initial, evolve, decide }`): `given(events)` folds them into the state.
 * Event-sourced with rows (`{ initial, evolve, load, decide }`): `given(events, rows)` folds the
 * events and hands `rows` to `decide` as what `load` would read.
 * State-stored (a decide function, or `{ decide }`): `given(state)` is the state `load` would give.
 *
 * ```ts
 * const given = deciderSpec(decideRegister, { command: registerParticipant, now, caller: ann })
 * given({ event: full, active: undefined }).when({ eventId }).thenRefused('EVENT_FULL')
 * given(state).when({ eventId, waitlist: true }).then(ParticipantWaitlisted.create({ … }))
 * ```
 */
export function deciderSpec<I, S, E extends NewEvent, X>(
  decider: EventSourcedRulesWithRows<I, S, E, X>,
  options?: DeciderSpecOptions,
): (events: readonly E[], rows: X) => Given<I, E>
export function deciderSpec<I, S, E extends NewEvent>(
  decider: EventSourcedRules<I, S, E>,
  options?: DeciderSpecOptions,
): (events: readonly E[]) => Given<I, E>
export function deciderSpec<I, S, E extends NewEvent>(
  decider: StateStoredRules<I, S, E>,
  options?: DeciderSpecOptions,
): (state: S) => Given<I, E>
export function deciderSpec<I, S, E extends NewEvent, X>(
  decider: EventSourcedRulesWithRows<I, S, E, X> | EventSourcedRules<I, S, E> | StateStoredRules<I, S, E>,
  options: DeciderSpecOptions = {},
): (given: S | readonly E[], rows?: X) => Given<I, E> {
  const decide = (typeof decider === 'function' ? decider : decider.decide) as (
    input: I,
    state: S,
    meta: CommandMeta,
    rows: X | undefined,
  ) => readonly E[]
  const stateOf = (given: S | readonly E[]): S =>
    typeof decider !== 'function' && 'evolve' in decider
      ? (given as readonly E[]).reduce(decider.evolve, decider.initial)
      : (given as S)
  return (given, rows) => ({
    when(input, setting = {}) {
      const { command: _, ...defaults } = options
      const meta = commandMeta({ ...defaults, ...setting })
      return thens(
        () => decided(() => decide(canonical(options, input), stateOf(given), meta, rows)),
        options.command,
      )
    },
  })
}
