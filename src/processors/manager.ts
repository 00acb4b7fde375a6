import type { CommandBus } from '../core/command-bus.js'
import { NotFoundError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Metrics } from '../core/metrics.js'
import type { SqlClient } from '../core/sql.js'
import type { StoredEvent } from '../core/envelope.js'
import { readAfter } from '../storage/event-log.js'
import type { Wake } from '../transport/wake.js'
import type { Claims } from '../storage/claims.js'
import { failureText, handleOnce } from './deliver.js'
import { processorId, type Processor } from './processor.js'
import { createProcessorRunner, type ProcessorRunner } from './runner.js'
import { processorStore, type DeadLetter } from './store.js'

export interface ProcessorStatus {
  /** `<domain>/<name>`. */
  name: string
  version: number
  startFrom: Processor['startFrom']
  /** The stored checkpoint's position; null until the processor first runs. */
  position: string | null
  /** Events of its types among the next 100,000 of the log after its checkpoint; null until it first runs. */
  behind: number | null
  /** This process holds the processor's claim and runs it. */
  runningHere: boolean
  /** Events parked after failing every attempt: `tandem processors retry <name>` handles them again. */
  deadLetters: number
}

export interface RetryReport {
  processor: string
  retried: number
  handled: number
  /** Failed again: still parked. */
  parked: number
}

export interface ProcessorManager {
  start(): Promise<void>
  stop(): Promise<void>
  names(): string[]
  status(): Promise<ProcessorStatus[]>
  /** Handles the processor's dead letters again, in log order; each one handled is removed. */
  retry(name: string): Promise<RetryReport>
}

export interface ProcessorManagerOptions {
  processors: readonly Processor[]
  /** The write database: the event log, checkpoints and dead letters. */
  sql: SqlClient
  commands: CommandBus
  wake: Wake
  claims: Claims
  metrics: Metrics
  log: Logger
  /** Whether this process runs processors (the `projector` role); any process can report and retry. */
  run: boolean
  batchSize?: number
  /** How far past a checkpoint the log goes before a runner that found nothing moves it (`farBelow`). */
  persistAfter?: number
  pollMs?: number
}

export function createProcessorManager(options: ProcessorManagerOptions): ProcessorManager {
  const { sql, metrics } = options
  const store = processorStore(sql)
  const byId = new Map(options.processors.map((p) => [processorId(p), p]))
  if (byId.size !== options.processors.length) throw new Error('Two processors share a name')
  const runners = new Map<string, ProcessorRunner>()
  const logOf = (id: string) => options.log.child({ processor: id })
  let timer: NodeJS.Timeout | undefined
  let stopping = new AbortController()

  /**
   * Each processor's checkpoint, backlog and dead letters. The backlog of one running here is counted
   * from where its runner reads on (cheap: past the horizon of its last complete read); of another,
   * from its stored checkpoint, which for a processor of rare event types scans the log up to the
   * head: `here` leaves those out (null).
   */
  async function status(scope: 'all' | 'here' = 'all'): Promise<ProcessorStatus[]> {
    // No processors, nothing to ask the database (PGlite has one connection to share).
    if (byId.size === 0) return []
    const stored = await store.list()
    return Promise.all(
      [...byId].map(async ([name, processor]) => {
        const found = stored.find((s) => s.processor === name)
        const runner = runners.get(name)
        const runningHere = runner?.claimed ?? false
        const from =
          (runningHere && runner?.readPosition) || (scope === 'all' ? found?.checkpoint : undefined)
        return {
          name,
          version: processor.version,
          startFrom: processor.startFrom,
          position: found?.checkpoint.position ?? null,
          behind: found && from ? await store.pending(from, processor.events) : null,
          runningHere,
          deadLetters: found?.deadLetters ?? 0,
        }
      }),
    )
  }

  /**
   * Lag and dead letters as gauges, once a second: the lag by the process that runs the processor
   * (once, every projector counted each backlog from its checkpoint: with a long log and rare event
   * types, a scan of the whole log per processor per second), dead letters by every projector.
   */
  let measuring: Promise<void> | undefined
  function measure(): Promise<void> {
    // One at a time: a count slower than the interval must not pile up behind itself.
    measuring ??= (async () => {
      try {
        for (const s of await status('here')) {
          if (s.behind !== null) metrics.processorBehind(s.name, s.behind)
          metrics.processorDeadLetters(s.name, s.deadLetters)
        }
      } catch {
        // The database is away; the runners report it.
      } finally {
        measuring = undefined
      }
    })()
    return measuring
  }

  /** The event a dead letter names: the one right after (its transaction, position - 1) in log order. */
  async function eventOf(letter: DeadLetter): Promise<StoredEvent | undefined> {
    const before = { txId: letter.txId, position: (BigInt(letter.position) - 1n).toString() }
    const [event] = (await readAfter(sql, before, { limit: 1 })).events
    return event?.position === letter.position ? event : undefined
  }

  async function retry(name: string): Promise<RetryReport> {
    const processor = byId.get(name)
    if (!processor) {
      throw new NotFoundError(
        'PROCESSOR_NOT_FOUND',
        'No such processor',
        `Known: ${[...byId.keys()].join(', ')}`,
      )
    }
    const log = logOf(name)
    const report: RetryReport = { processor: name, retried: 0, handled: 0, parked: 0 }
    for (const letter of await store.letters(name)) {
      report.retried++
      const event = await eventOf(letter)
      let failure: string | undefined = 'the event is no longer in the log'
      if (event) {
        try {
          const attempt = letter.attempts + 1
          await handleOnce(processor, event, { ...options, log, attempt, signal: stopping.signal })
          failure = undefined
        } catch (error) {
          failure = failureText(error)
        }
      }
      await store.retried(name, letter.position, failure)
      if (failure === undefined) report.handled++
      else report.parked++
      log.info(
        { position: letter.position, handled: failure === undefined, error: failure },
        'dead letter retried',
      )
    }
    if (options.run) await measure()
    return report
  }

  return {
    names: () => [...byId.keys()],
    status,
    retry,
    async start() {
      if (!options.run || byId.size === 0) return
      // `now` is when the processor was first started: once start resolves, what commits is handled
      // (a runner's first step may come later, after events its caller has already written).
      await Promise.all(
        [...byId]
          .filter(([, p]) => p.startFrom === 'now')
          .map(([id, p]) => store.open(id, p.version, p.startFrom)),
      )
      stopping = new AbortController()
      for (const [id, processor] of byId) {
        const runner = createProcessorRunner({
          ...options,
          processor,
          store,
          log: logOf(id),
          onParked: () => void measure(),
        })
        runners.set(id, runner)
        runner.start()
      }
      timer = setInterval(() => void measure(), 1000)
      timer.unref()
    },
    async stop() {
      clearInterval(timer)
      stopping.abort()
      await Promise.all([...runners.values()].map((r) => r.stop()))
      runners.clear()
    },
  }
}
