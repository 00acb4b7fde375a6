import type { CommandCall, Executed, UnitOfWork } from '../core/command-bus.js'
import { ConflictError, isAppError } from '../core/errors.js'
import type { CommandTx } from '../core/messages.js'
import type { Recall } from '../core/metrics.js'
import { createStreamMemory, type StreamMemory, type Turn } from '../core/stream-memory.js'
import { sqlState, type Row, type Sql, type Statement } from '../core/sql.js'
import { appendStatement, compareDecimal, lockStream, readStream } from './event-log.js'
import { cancelStatement, scheduleStatement } from './timers.js'

/** Failures that mean "someone else changed the rows first": re-load, re-decide, try again. */
const retryable = new Set([
  '40001', // serialization failure
  '40P01', // deadlock
  '23505', // unique violation: a concurrent append to the stream, or a concurrent create
])

export interface UnitOfWorkOptions {
  sql: Sql
  /**
   * Called after each commit that wrote events, with the last position and the events' types
   * (wakes the projections that read them).
   */
  onCommitted?: (position: string, types: ReadonlySet<string>) => void
  maxAttempts?: number
  /** What commands keep of their streams between them (default: a memory of 10,000 streams). */
  memory?: StreamMemory
  /** Told what each command that asked found in the memory (metrics). */
  onRecall?: (result: Recall) => void
  /** Called after each commit that scheduled timers, with the earliest moment (wakes the scheduler). */
  onScheduled?: (at: Date) => void
  /** The domain that declares each event type; given, a command may append only its own domain's. */
  eventOwners?: ReadonlyMap<string, string>
}

/**
 * One transaction per command. The command's reads go out as it makes them; its writes and
 * events are queued and sent with the COMMIT. A command that read nothing may be committed in one
 * transaction with others decided beside it (storage/group-commit.ts), as if each had committed in
 * turn. On a concurrency failure the whole command runs again, reading everything: what the stream
 * memory held may be what failed it.
 */
export function createUnitOfWork(options: UnitOfWorkOptions): UnitOfWork {
  const { sql, onCommitted } = options
  const maxAttempts = options.maxAttempts ?? 5
  const memory = options.memory ?? createStreamMemory()
  const onRecall = options.onRecall ?? (() => undefined)
  const owners = options.eventOwners
  /** Commands past their stream's turn: those that may commit in the same group. */
  let deciding = 0

  async function attempt(
    call: CommandCall,
    work: (tx: CommandTx) => Promise<Executed>,
    retry: boolean,
    held: Turn | undefined,
    types: Set<string>,
  ): Promise<Executed> {
    /** The stream turn this attempt works under, and whether it took it itself (and ends it). */
    let turn: Turn | undefined
    let own = false as boolean // set in `recall`, as below
    let asked = false
    let recalled = false as boolean // set in `recall`, which TypeScript cannot see from here
    const kept = new Map<string, unknown>()
    const appended: string[] = []
    let earliest = undefined as Date | undefined // set in `schedule`
    try {
      const executed = await sql.transaction(async (tx) => {
        const locks: Statement[] = []
        const writes: Statement[] = []
        const appends: Statement[] = []
        const observed = new Set<string>()
        const metadata = {
          commandId: call.meta.commandId,
          correlationId: call.meta.correlationId,
          command: call.address,
          ...(call.caller ? { userId: call.caller.id } : {}),
        }
        const takeTurn = async (streamId: string) => {
          const lock = lockStream(streamId)
          await tx.query(lock.text, lock.params)
        }
        const commandTx: CommandTx = {
          query: (text, params) => tx.query(text, params),
          write: (...statements) => writes.push(...statements),
          append: (stream, events, options) => {
            if (events.length === 0) return
            if (owners) checkOwned(call.definition.domain, events, owners)
            if (options?.locked) locks.push(lockStream(stream.id))
            appends.push(appendStatement(stream, events, metadata))
            appended.push(stream.id)
            for (const event of events) types.add(event.type)
          },
          observe: (streamId) => observed.add(streamId),
          async recall(streamId) {
            if (asked) throw new Error('A command recalls one stream at most')
            asked = true
            if (held?.streamId === streamId) turn = held
            else {
              // A command that did not name its stream up front holds a connection already: it
              // takes a free turn, and never waits for one (that could wait on a connection it holds).
              turn = memory.tryTake(streamId)
              own = turn !== undefined
            }
            // A retry reads: what another process changed may be behind what is kept again, and a
            // stream that two processes keep changing would otherwise fail the command every time.
            recalled = !retry && turn?.kept !== undefined
            onRecall(recalled ? 'recalled' : 'absent')
            return recalled ? turn?.kept : undefined
          },
          keep: (streamId, state) => kept.set(streamId, state),
          schedule(timer) {
            writes.push(scheduleStatement(timer, metadata))
            if (!earliest || timer.at < earliest) earliest = timer.at
          },
          cancelSchedule: (key) => void writes.push(cancelStatement(key)),
          lock: (streamId) => takeTurn(streamId),
          async readStream(streamId) {
            // Sent together: the read starts once the lock is held, and sees every commit before it.
            const [, events] = await Promise.all([takeTurn(streamId), readStream(tx, streamId)])
            return { events, version: events.at(-1)?.version ?? 0 }
          },
        }
        const executed = await work(commandTx)
        if (appends.length === 0 && observed.size > 0) appends.push(streamHeads([...observed]))
        const results = await tx.commit([...locks, ...writes, ...appends], {
          order: appended[0],
          company: deciding > 1,
        })
        const position = lastPosition(results.slice(locks.length + writes.length))
        return position ? { ...executed, position } : executed
      })
      for (const id of appended) if (!kept.has(id)) memory.forget(id)
      for (const [id, state] of kept) memory.keep(id, state)
      if (earliest) options.onScheduled?.(earliest)
      return executed
    } catch (error) {
      // A refusal leaves the streams as they were; anything else may mean the memory was behind.
      if (!isAppError(error)) {
        for (const id of [...appended, ...(turn ? [turn.streamId] : [])]) memory.forget(id)
        if (recalled) onRecall('refused')
      }
      throw error
    } finally {
      if (own) turn?.release()
    }
  }

  return {
    async run(call, work) {
      // Commands on one stream take turns before they take a connection: those waiting hold none.
      const streamId = call.definition.stream?.(call.input, call.meta)
      const held = streamId === undefined ? undefined : await memory.take(streamId)
      deciding++
      try {
        for (let n = 1; ; n++) {
          const types = new Set<string>()
          try {
            const executed = await attempt(call, work, n > 1, held, types)
            if (executed.position && !executed.replayed) onCommitted?.(executed.position, types)
            return executed
          } catch (error) {
            const state = sqlState(error)
            if (!state || !retryable.has(state)) throw error
            if (n >= maxAttempts) {
              throw new ConflictError('CONCURRENCY_CONFLICT', 'Concurrent change', 'Please retry the command')
            }
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** n))
          }
        }
      } finally {
        deciding--
        held?.release()
      }
    },
  }
}

/** Where the streams a command read without appending stand: its position, for read-your-writes. */
function streamHeads(streamIds: string[]): Statement {
  return {
    text: 'SELECT max(position)::text AS position FROM tandem.event_log WHERE stream_id = ANY($1::text[])',
    params: [streamIds],
  }
}

function lastPosition(results: readonly Row[][]): string | null {
  let last: string | null = null
  for (const rows of results) {
    for (const row of rows) {
      if (row.position === null || row.position === undefined) continue
      const position = typeof row.position === 'string' ? row.position : JSON.stringify(row.position)
      if (last === null || compareDecimal(position, last) > 0) last = position
    }
  }
  return last
}

/** A command appends only events its own domain declares (Domain.events). */
function checkOwned(
  domain: string,
  events: readonly { type: string }[],
  owners: ReadonlyMap<string, string>,
) {
  for (const { type } of events) {
    const owner = owners.get(type)
    if (owner !== domain)
      throw new Error(
        `A command of ${domain} appended ${type}, which ${owner ? `${owner} declares` : 'no domain declares'}`,
      )
  }
}
