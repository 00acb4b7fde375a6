import type { CommandContext, CommandMeta, NewEvent, StreamRef } from './messages.js'
import type { SqlClient, Statement } from './sql.js'

/**
 * A command over a state-stored aggregate: the normalized write model is the state, the events
 * are its history. Only `load` and the commit do I/O; `decide` and `persist` are pure.
 */
export interface StateStoredDecider<I, S, E extends NewEvent, R> {
  /** Reads (and locks) the rows the decision depends on. */
  load(tx: SqlClient, input: I, meta: CommandMeta): Promise<S>
  /** The business rules: the events the command causes, or a thrown refusal. */
  decide(input: I, state: S, meta: CommandMeta): readonly E[]
  /** The stream the events go to, with the version the state was loaded at. */
  stream(input: I, state: S, meta: CommandMeta): StreamRef
  /** The write-model rows the events change. */
  persist(events: readonly E[], state: S, meta: CommandMeta): readonly Statement[]
  result(events: readonly E[], input: I, state: S, meta: CommandMeta): R
}

/** The I/O shell around a decider: load, decide, then queue the rows and the events for one commit. */
export function stateStored<I, S, E extends NewEvent, R>(decider: StateStoredDecider<I, S, E, R>) {
  return async (input: I, { meta, tx }: CommandContext): Promise<R> => {
    const state = await decider.load(tx, input, meta)
    const events = decider.decide(input, state, meta)
    const stream = decider.stream(input, state, meta)
    if (events.length > 0) {
      tx.write(...decider.persist(events, state, meta))
      tx.append(stream, events)
    } else tx.observe(stream.id)
    return decider.result(events, input, state, meta)
  }
}

/** Ends a `switch` over a union: a new member the switch forgot becomes a type error here. */
export function unreachable(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`)
}
