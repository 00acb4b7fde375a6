import type { CommandBus } from '../core/command-bus.js'
import type { AppError } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'
import type { TimerOutcome } from '../core/metrics.js'
import type { Sql } from '../core/sql.js'
import {
  claimDue,
  countTimers,
  nextFireAt,
  settleClaimed,
  type ClaimedTimer,
  type TimerCounts,
} from './timers.js'

/** What one pass fired, by outcome. */
export type FireSummary = Record<TimerOutcome, number>

export interface Scheduler {
  /** Starts the loop: fires what is due, then sleeps until the next due time, `pollMs` at most. */
  start(): void
  /** A timer due at `at` was committed in this process: wake up by then. */
  scheduled(at: Date): void
  /** Fires every timer due by the clock now (after any pass under way), and tells what it did. */
  runDue(): Promise<FireSummary>
  counts(): Promise<TimerCounts>
  /** Stops the loop once the batch being fired is settled. */
  stop(): Promise<void>
}

export interface SchedulerOptions {
  sql: Sql
  commands: Pick<CommandBus, 'execute'>
  /** What "due" is measured against: the command bus's clock. */
  clock?: () => Date
  log?: Logger
  /** The longest sleep: how soon timers that other processes scheduled are seen (default 1 s). */
  pollMs?: number
  /** Timers claimed at a time (default 100). */
  batch?: number
  /** How long a claim keeps other processes off a timer: then one whose claimer died is taken over. */
  leaseMs?: number
  /** The first retry's delay, doubled for each attempt up to `maxRetryMs` (defaults 1 s, 5 min). */
  retryMs?: number
  maxRetryMs?: number
  onFired?: (outcome: TimerOutcome) => void
}

interface Fired {
  outcome: TimerOutcome
  /** Why it is to be fired again (outcome `retried`). */
  error?: string
}

/**
 * The timer scheduler. A pass claims due timers (timers.ts: `SKIP LOCKED`, so processes claim
 * different ones, and a lease), fires each through the command bus with the idempotency key
 * `timer:<id>`, then deletes those done. A process that dies between firing and deleting leaves
 * the timer to be claimed again when the lease ends, and its second firing is answered from the
 * idempotency record (kept 24 hours): once in effect. A timer is one row, so one overdue by days
 * fires once. Refusals are the command's answer (done, logged); failures are retried with backoff.
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { sql, commands } = options
  const clock = options.clock ?? (() => new Date())
  const log = options.log ?? silentLogger
  const pollMs = options.pollMs ?? 1000
  const batch = options.batch ?? 100
  const leaseMs = options.leaseMs ?? 30_000
  const retryMs = options.retryMs ?? 1000
  const maxRetryMs = options.maxRetryMs ?? 5 * 60_000
  let running = false
  let closed = false
  let wake: NodeJS.Timeout | undefined
  let wakeAt = Infinity
  /** Passes run one after another; one asked for while another waits to start joins it. */
  let last: Promise<unknown> = Promise.resolve()
  let queued: Promise<FireSummary> | undefined

  async function fire(timer: ClaimedTimer): Promise<Fired> {
    try {
      const done = await commands.execute(timer.command, timer.input, {
        caller: timer.caller,
        idempotencyKey: `timer:${timer.id}`,
        correlationId: timer.scheduled_by.correlationId,
        log,
      })
      if (done.status === 'succeeded') return { outcome: done.replayed ? 'replayed' : 'fired' }
      const { error } = done
      if (retryable(error))
        return { outcome: 'retried', error: `${error.code}: ${error.detail ?? error.title}` }
      log.warn({ timer: timer.key, command: timer.command, code: error.code }, 'timer command refused')
      return { outcome: 'refused' }
    } catch (error) {
      return { outcome: 'retried', error: error instanceof Error ? error.message : String(error) }
    }
  }

  async function fireDue(): Promise<FireSummary> {
    const summary: FireSummary = { fired: 0, replayed: 0, refused: 0, retried: 0 }
    while (!closed) {
      const now = clock()
      const claimed = await claimDue(sql, { now, limit: batch, leaseUntil: new Date(+now + leaseMs) })
      const fired = await Promise.all(claimed.map(fire))
      const later = claimed.flatMap((timer, i) => {
        const error = fired[i]?.error
        if (error === undefined) return []
        const delay = Math.min(retryMs * 2 ** Math.max(0, timer.attempts - 1), maxRetryMs)
        log.warn(
          { timer: timer.key, command: timer.command, error, retryInMs: delay },
          'timer command failed',
        )
        return [{ timer, at: new Date(+now + delay), error }]
      })
      await settleClaimed(
        sql,
        claimed.filter((_, i) => fired[i]?.error === undefined),
        later,
      )
      for (const { outcome } of fired) {
        summary[outcome]++
        options.onFired?.(outcome)
      }
      if (claimed.length < batch) break
    }
    return summary
  }

  function pass(): Promise<FireSummary> {
    if (queued) return queued
    const next = last.then(() => {
      queued = undefined
      return fireDue()
    })
    queued = next
    last = next.catch(() => undefined)
    return next
  }

  /** Runs the loop again in `ms` (at most `pollMs`), unless it is to run sooner already. */
  function arm(ms: number) {
    if (!running || closed) return
    const delay = Math.max(0, Math.min(ms, pollMs))
    if (wake && Date.now() + delay >= wakeAt) return
    clearTimeout(wake)
    wakeAt = Date.now() + delay
    wake = setTimeout(() => {
      wake = undefined
      wakeAt = Infinity
      void loop()
    }, delay)
    wake.unref()
  }

  async function loop() {
    try {
      let next = await nextFireAt(sql)
      if (next !== null && next <= +clock()) {
        await pass()
        next = await nextFireAt(sql)
      }
      arm(next === null ? pollMs : next - +clock())
    } catch (error) {
      log.warn({ err: error }, 'timers: a pass failed; trying again')
      arm(pollMs)
    }
  }

  return {
    start() {
      running = true
      arm(0)
    },
    scheduled: (at) => arm(+at - +clock()),
    runDue: pass,
    counts: () => countTimers(sql, clock()),
    async stop() {
      closed = true
      clearTimeout(wake)
      await last
    },
  }
}

/**
 * Failures that did not decide the command: it is fired again later. Any other refusal (4xx) is
 * the command's answer, and the timer is done.
 */
function retryable(error: AppError): boolean {
  return (
    error.status >= 500 ||
    error.status === 408 ||
    error.status === 429 ||
    ['IDEMPOTENCY_IN_PROGRESS', 'CONCURRENCY_CONFLICT', 'COMMAND_NOT_FOUND'].includes(error.code)
  )
}
