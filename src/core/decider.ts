import { isAppError } from './errors.js'
import type {
  CommandContext,
  CommandHandler,
  CommandMeta,
  CommandTx,
  NewEvent,
  StreamRef,
  Timer,
} from './messages.js'
import type { SqlClient, Statement } from './sql.js'

/** A handler that names its stream from the input alone, before it runs (CommandDefinition.stream). */
function namesItsStream<I, R>(
  handle: (input: I, ctx: CommandContext) => Promise<R>,
  stream: ((input: I, meta: CommandMeta) => string) | undefined,
): CommandHandler<I, R> {
  return stream ? Object.assign(handle, { stream }) : handle
}

/**
 * A decision taken on a recalled state, if it appends: only the append checks the version the state
 * was kept at, so a refusal or nothing to do is decided again on a read.
 */
function appendingDecision<E>(decide: () => readonly E[]): readonly E[] | undefined {
  try {
    const events = decide()
    return events.length > 0 ? events : undefined
  } catch (error) {
    if (isAppError(error)) return undefined
    throw error
  }
}

/**
 * What a decision asks of the scheduler, as data so the decider stays pure: set a timer (one of the
 * same key is replaced) or cancel the timer of a key. The shell queues them with the events, so a
 * refused command sets nothing. A handler without a decider calls `tx.schedule` itself.
 */
export type TimerIntent = { schedule: Timer } | { cancel: string }

/**
 * The timers a decision that appends sets or cancels, pure like `decide` (optional on both deciders):
 * `timers: (events, input, state, meta) => [{ schedule: { key, command, input, at } }]`.
 */
type TimerIntents<I, S, E> = (
  events: readonly E[],
  input: I,
  state: S,
  meta: CommandMeta,
) => readonly TimerIntent[]

function queueTimers(tx: CommandTx, intents: readonly TimerIntent[] | undefined) {
  for (const intent of intents ?? []) {
    if ('schedule' in intent) tx.schedule(intent.schedule)
    else tx.cancelSchedule(intent.cancel)
  }
}

/**
 * The command's moment at its stream's turn: after the stream's last change (`changedAt`, an ISO
 * time), a millisecond after it if the clock is not past it. Commands on a stream take turns, but each
 * read the clock as it arrived: one that waited for another would stamp its events before those of
 * the one it waited for, and the stream's history as of a moment between the two would show the later
 * change without the earlier. So the times of a stream's decisions strictly follow their order.
 */
export function atTurn(meta: CommandMeta, changedAt: string | undefined): CommandMeta {
  if (changedAt === undefined) return meta
  const last = Date.parse(changedAt)
  return meta.now.getTime() > last ? meta : { ...meta, now: new Date(last + 1) }
}

/**
 * A command over a state-stored aggregate: the normalized write model is the state, the events
 * are its history. Only `load` and the commit do I/O; `decide` and `persist` are pure.
 */
export interface StateStoredDecider<I, S, E extends NewEvent, R, M = unknown> {
  /**
   * What the command takes its turn on, from its input alone (else `memory.streamId`): the id of the
   * stream it goes to, or a key that every command appending to that stream takes. The turn is held
   * before `load` locks a row (`CommandTx.lock`: without it, events of commands that waited for one
   * row can reach the read models out of stream order), and this process's commands take it in turn.
   */
  turn?(input: I, meta: CommandMeta): string
  /** Reads (and locks) the rows the decision depends on. */
  load(tx: SqlClient, input: I, meta: CommandMeta): Promise<S>
  /** The business rules: the events the command causes, or a thrown refusal. */
  decide(input: I, state: S, meta: CommandMeta): readonly E[]
  /** The stream the events go to, with the version the state was loaded at. */
  stream(input: I, state: S, meta: CommandMeta): StreamRef
  /** The write-model rows the events change. */
  persist(events: readonly E[], state: S, meta: CommandMeta): readonly Statement[]
  result(events: readonly E[], input: I, state: S, meta: CommandMeta): R
  /** Optional: what commands on the stream keep between them (core/stream-memory.ts). */
  memory?: Memory<NoInfer<I>, NoInfer<S>, NoInfer<E>, M>
  /** Optional: the timers the decision sets or cancels (`TimerIntent`), asked when it appends. */
  timers?: TimerIntents<NoInfer<I>, NoInfer<S>, NoInfer<E>>
}

export interface Memory<I, S, E, M> {
  /** The stream the command goes to, from its input alone (it must be the one `stream` names). */
  streamId(input: I, meta: CommandMeta): string
  /** What to keep of the state the events leave: the same shape for every command on the stream. */
  keep(state: S, events: readonly E[]): M
  /**
   * The state to decide on from what was kept, or undefined to load it. Whatever the returned
   * state cannot know (rows outside the stream) must be guarded by a constraint that refuses the
   * commit, so that the command runs again with a read.
   */
  recall?(kept: M, input: I, meta: CommandMeta): S | undefined
}

/**
 * The I/O shell around a decider: load (or recall), decide, then queue the rows and the events for
 * one commit. Only a decision that appends is taken on a recalled state, since the append checks
 * the version it was kept at; a refusal, or nothing to do, is decided again on a loaded state.
 */
export function stateStored<I, S, E extends NewEvent, R, M = unknown>(
  decider: StateStoredDecider<I, S, E, R, M>,
) {
  const { memory } = decider
  const turn = decider.turn ?? memory?.streamId
  type Decided = { state: S; events: readonly E[] }
  const recalled = async (input: I, tx: CommandTx, meta: CommandMeta): Promise<Decided | undefined> => {
    if (!memory) return undefined
    const kept = await tx.recall(memory.streamId(input, meta))
    const state = kept === undefined ? undefined : memory.recall?.(kept as M, input, meta)
    if (state === undefined) return undefined
    const events = appendingDecision(() => decider.decide(input, state, meta))
    return events && { state, events }
  }
  return namesItsStream(async (input: I, { meta, tx }: CommandContext): Promise<R> => {
    let decided = await recalled(input, tx, meta)
    if (!decided) {
      // Sent together, as `readStream` does: the load's first statement runs once the turn is held.
      const [, state] = await Promise.all([turn && tx.lock(turn(input, meta)), decider.load(tx, input, meta)])
      decided = { state, events: decider.decide(input, state, meta) }
    }
    const { state, events } = decided
    const stream = decider.stream(input, state, meta)
    if (events.length > 0) {
      tx.write(...decider.persist(events, state, meta))
      tx.append(stream, events)
      queueTimers(tx, decider.timers?.(events, input, state, meta))
      if (memory) {
        if (memory.streamId(input, meta) !== stream.id)
          throw new Error(`Memory of the wrong stream: ${stream.id}`)
        tx.keep(stream.id, memory.keep(state, events))
      }
    } else tx.observe(stream.id)
    return decider.result(events, input, state, meta)
  }, turn)
}

/**
 * A command over an event-sourced aggregate: its state is the fold of its stream's events, and the
 * events are all it writes. `evolve` and `decide` are pure.
 */
export interface EventSourcedDecider<I, S, E extends NewEvent, R> {
  /** The stream, from the input alone. */
  streamId(input: I, meta: CommandMeta): string
  /** The state of a stream with no events. */
  initial: S
  /** The state after one more event. */
  evolve(state: S, event: E): S
  /**
   * Optional: when the state last changed (the time its last event carries). The command is then
   * decided `atTurn`: its moment, for every part of the decider, is after that.
   */
  changedAt?(state: S): string | undefined
  /** The business rules: the events the command causes, or a thrown refusal. */
  decide(input: I, state: S, meta: CommandMeta): readonly E[]
  result(events: readonly E[], input: I, state: S, meta: CommandMeta): R
  /** Optional: the timers the decision sets or cancels (`TimerIntent`), asked when it appends. */
  timers?: TimerIntents<NoInfer<I>, NoInfer<S>, NoInfer<E>>
}

/** An aggregate's state and the version of the last event folded into it. */
export interface Folded<S> {
  state: S
  version: number
}

/** Folds a stream's events into the aggregate's state (also for a stream read as of a past moment). */
export function fold<S, E extends NewEvent>(
  decider: Pick<EventSourcedDecider<never, S, E, unknown>, 'initial' | 'evolve'>,
  events: readonly NewEvent[],
): S {
  return (events as readonly E[]).reduce(decider.evolve, decider.initial)
}

/**
 * An event-sourced decider whose decisions also depend on rows outside its stream (a budget, a
 * limit) and change them in the same commit. `load` reads (and locks) the rows after the stream is
 * read and locked, so every command takes its locks in one order, the stream and then the rows; it
 * never decides on a recalled state (a decision needs the rows, read under their lock, anyway).
 * Lock rows that several streams share in a consistent order (by key) to avoid deadlocks; the shell
 * retries a command that loses one, or that a concurrent append or unique index refuses.
 */
export interface EventSourcedWithRows<I, S, E extends NewEvent, R, X> {
  streamId(input: I, meta: CommandMeta): string
  initial: S
  evolve(state: S, event: E): S
  /** Optional: when the state last changed, as on `EventSourcedDecider`. */
  changedAt?(state: S): string | undefined
  /** Reads (and locks) the rows the decision depends on, given the stream's folded state. */
  load(tx: SqlClient, input: I, state: S, meta: CommandMeta): Promise<X>
  /** The business rules, on the stream's state and the rows `load` read (`extra`). */
  decide(input: I, state: S, meta: CommandMeta, extra: X): readonly E[]
  /** The statements the events cause outside the stream: committed with them, or not at all. */
  persist(events: readonly E[], state: S, extra: X, meta: CommandMeta): readonly Statement[]
  result(events: readonly E[], input: I, state: S, meta: CommandMeta, extra: X): R
  /** Optional: the timers the decision sets or cancels (`TimerIntent`), asked when it appends. */
  timers?: TimerIntents<NoInfer<I>, NoInfer<S>, NoInfer<E>>
}

/**
 * The I/O shell around an event-sourced decider. The state the last command on the stream left in
 * this process is recalled whole, so a decision that appends needs no read at all: the append at
 * its version is the whole check. Otherwise (nothing kept, a retry, a refusal or nothing to do) the
 * stream is read, locked, and folded. Appends take the same lock, so a command that read the stream
 * cannot lose to one that did not: a retry, which reads, always gets through.
 *
 * With `load` and `persist` (`EventSourcedWithRows`), the stream is always read and locked, then the
 * rows are loaded, and the statements `persist` gives are committed with the events.
 */
export function eventSourced<I, S, E extends NewEvent, R, X>(
  decider: EventSourcedWithRows<I, S, E, R, X>,
): CommandHandler<I, R>
export function eventSourced<I, S, E extends NewEvent, R>(
  decider: EventSourcedDecider<I, S, E, R>,
): CommandHandler<I, R>
export function eventSourced<I, S, E extends NewEvent, R, X>(
  decider: EventSourcedDecider<I, S, E, R> | EventSourcedWithRows<I, S, E, R, X>,
): CommandHandler<I, R> {
  if ('load' in decider) return withRows(decider)
  const inTurn = (meta: CommandMeta, state: S) => atTurn(meta, decider.changedAt?.(state))
  return namesItsStream(async (input: I, { meta: arrived, tx }: CommandContext): Promise<R> => {
    const id = decider.streamId(input, arrived)
    const kept = (await tx.recall(id)) as Folded<S> | undefined
    let folded = kept
    let meta = kept ? inTurn(arrived, kept.state) : arrived
    let events = kept && appendingDecision(() => decider.decide(input, kept.state, meta))
    if (!folded || !events) {
      const history = await tx.readStream(id)
      folded = { state: fold(decider, history.events), version: history.version }
      meta = inTurn(arrived, folded.state)
      events = decider.decide(input, folded.state, meta)
    }
    if (events.length > 0) {
      tx.append({ id, expectedVersion: folded.version }, events, { locked: true })
      queueTimers(tx, decider.timers?.(events, input, folded.state, meta))
      const after: Folded<S> = {
        state: events.reduce(decider.evolve, folded.state),
        version: folded.version + events.length,
      }
      tx.keep(id, after)
    } else tx.observe(id)
    return decider.result(events, input, folded.state, meta)
  }, decider.streamId)
}

/** The shell of an event-sourced decider with rows: read and lock the stream, load, decide, commit. */
function withRows<I, S, E extends NewEvent, R, X>(decider: EventSourcedWithRows<I, S, E, R, X>) {
  return namesItsStream(async (input: I, { meta: arrived, tx }: CommandContext): Promise<R> => {
    const id = decider.streamId(input, arrived)
    const history = await tx.readStream(id)
    const state = fold(decider, history.events)
    const meta = atTurn(arrived, decider.changedAt?.(state))
    const extra = await decider.load(tx, input, state, meta)
    const events = decider.decide(input, state, meta, extra)
    if (events.length > 0) {
      tx.write(...decider.persist(events, state, extra, meta))
      // The stream's lock is held since the read: the append needs no other.
      tx.append({ id, expectedVersion: history.version }, events)
      queueTimers(tx, decider.timers?.(events, input, state, meta))
    } else tx.observe(id)
    return decider.result(events, input, state, meta, extra)
  }, decider.streamId)
}

/** Ends a `switch` over a union: a new member the switch forgot becomes a type error here. */
export function unreachable(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`)
}
