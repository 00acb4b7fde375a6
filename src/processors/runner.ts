import type { Metrics } from '../core/metrics.js'
import type { SqlClient } from '../core/sql.js'
import {
  compareDecimal,
  defaultPersistAfter,
  farBelow,
  readAfter,
  readFrom,
  type Checkpoint,
} from '../storage/event-log.js'
import type { Wake } from '../transport/wake.js'
import { createLoop } from '../projections/loop.js'
import type { Claims } from '../storage/claims.js'
import { deliver, prefetchBatch, type Delivery } from './deliver.js'
import { processorId, type Processor } from './processor.js'
import type { ProcessorStore } from './store.js'

export interface ProcessorRunner {
  readonly processor: Processor
  /** Whether this process holds the processor's claim (and so runs it). */
  readonly claimed: boolean
  /** The checkpoint this process last stored, if it runs the processor. */
  readonly checkpoint: Checkpoint | undefined
  /**
   * Where its next read starts, if it runs the processor: past its checkpoint, every event below the
   * horizon of its last complete read has been seen (none of its types was there).
   */
  readonly readPosition: Checkpoint | undefined
  start(): void
  stop(): Promise<void>
}

export interface ProcessorRunnerOptions extends Delivery {
  processor: Processor
  /** Where the event log and the processor's checkpoint are (and what handlers read). */
  sql: SqlClient
  store: ProcessorStore
  claims: Claims
  wake: Wake
  metrics: Metrics
  /** Called after an event was parked. */
  onParked?: () => void
  batchSize?: number
  /** How far past its checkpoint the log goes before one that found nothing moves it (`farBelow`). */
  persistAfter?: number
  pollMs?: number
  lingerMs?: number
}

/**
 * Runs a processor while this process holds its claim: reads the log gap-safe after its checkpoint,
 * handles each event in order (retrying, then parking what keeps failing), and stores the checkpoint
 * after the batch. A crash re-delivers the events since the stored checkpoint; their sends are
 * idempotent, so they act once in effect.
 */
export function createProcessorRunner(options: ProcessorRunnerOptions): ProcessorRunner {
  const { processor, sql, store, claims, metrics, log } = options
  const id = processorId(processor)
  const batchSize = options.batchSize ?? 100
  const persistAfter = options.persistAfter ?? defaultPersistAfter
  const pollMs = options.pollMs ?? 1000
  let stored: Checkpoint | undefined
  /** The horizon of the last complete read since `stored` was opened: where reading goes on from. */
  let seen = '0'
  let nextClaim = 0

  /** Holds the claim, trying for it at most once per poll (a commit wakes every process). */
  async function claimed(): Promise<boolean> {
    if (claims.holds(id)) return true
    if (stored) log.warn({}, 'processor claim lost')
    stored = undefined
    if (Date.now() < nextClaim) return false
    nextClaim = Date.now() + pollMs
    const won = await claims.claim(id)
    if (won) log.info({}, 'processor claimed: running it here')
    return won
  }

  /** The checkpoint was not where this process left it: reload it (another process ran the events). */
  function moved(): boolean {
    log.warn({}, 'checkpoint moved by someone else; reloading it')
    stored = undefined
    return false
  }

  async function step(signal: AbortSignal): Promise<boolean | 'held'> {
    if (!(await claimed())) return true
    if (stored === undefined) {
      stored = (await store.open(id, processor.version, processor.startFrom)).checkpoint
      seen = '0'
    }
    const from = stored
    const batch = await readAfter(sql, readFrom(from, seen), { limit: batchSize, types: processor.events })
    let done = from
    let saved = from
    let whole = true
    await prefetchBatch(processor, batch.events, { sql, log })
    // `concurrency` events handled at once; their outcomes are taken in log order.
    let handling: Promise<Awaited<ReturnType<typeof deliver>>>[] = []
    for (const [i, event] of batch.events.entries()) {
      if (i % processor.concurrency === 0) {
        if (signal.aborted || !claims.holds(id)) {
          whole = false
          break
        }
        handling = batch.events
          .slice(i, i + processor.concurrency)
          .map((e) => deliver(processor, e, { ...options, signal }))
        // Stopping aborts them all; the step ends at the first, and the rest are not left unheard.
        for (const pending of handling) pending.catch(() => undefined)
      }
      const outcome = await (handling[i % processor.concurrency] as (typeof handling)[number])
      const at = { txId: event.txId, position: event.position }
      if (!outcome.handled) {
        log.error({ position: event.position, eventType: event.type, error: outcome.error }, 'event parked')
        const letter = { eventType: event.type, error: outcome.error, attempts: outcome.attempts }
        if (!(await store.park(id, { from: saved, to: at }, letter))) return moved()
        saved = stored = at
        options.onParked?.()
      }
      done = at
      metrics.processorHandled(id, Math.max(0, Date.now() - event.recordedAt.getTime()) / 1000)
    }
    // Nothing of its types in a read that stopped short, far past the checkpoint: kept, so a start
    // does not walk that stretch of the log again.
    const far = whole ? farBelow(batch, from, persistAfter) : undefined
    if (far) done = far
    if (done !== saved) {
      if (!(await store.save(id, saved, done))) return moved()
      stored = done
    }
    const complete = !batch.full
    if (complete && whole && compareDecimal(batch.horizon, seen) > 0) seen = batch.horizon
    return complete && batch.held ? 'held' : complete
  }

  const loop = createLoop({
    step,
    wake: options.wake,
    types: processor.events,
    log,
    kind: 'processor',
    name: id,
    pollMs,
    lingerMs: options.lingerMs ?? 5,
  })

  return {
    processor,
    get claimed() {
      return stored !== undefined && claims.holds(id)
    },
    get checkpoint() {
      return stored
    },
    get readPosition() {
      return stored && readFrom(stored, seen)
    },
    start: loop.start,
    stop: loop.stop,
  }
}
