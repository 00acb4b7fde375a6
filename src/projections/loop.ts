import type { Logger } from '../core/logger.js'
import type { Wake } from '../transport/wake.js'

/** A reader of the event log that steps, then sleeps until a commit wakes it or the poll ends. */
export interface Loop {
  start(): void
  /** Aborts the step's signal, wakes the sleeper and resolves once the step in progress has ended. */
  stop(): Promise<void>
  /** Reads again now, as a commit of its types would make it (a reader waiting for a position asks). */
  nudge(): void
}

export interface LoopOptions {
  /**
   * Reads and handles one batch. True: it reached the end of the log, so the loop sleeps until woken.
   * `held`: it reached the end of what it may read, but committed events wait behind a transaction
   * still running (`Batch.held`), so the loop looks again soon (25 ms, doubling up to the poll).
   * `signal` is aborted by `stop`.
   */
  step(signal: AbortSignal): Promise<boolean | 'held'>
  wake: Wake
  /** The event types it reads, so that commits of other types do not wake it (undefined: all). */
  types?: readonly string[]
  log: Logger
  /** What the log lines are about: `projection`, `processor`. */
  kind: string
  name: string
  pollMs: number
  /** The shortest time between two reads of the log (a bound on the lag it adds). */
  lingerMs: number
}

/** The wait after the `failures`th failure in a row: 200 ms doubling, at most 5 s. */
export const failureBackoffMs = (failures: number) => Math.min(5000, 100 * 2 ** Math.min(failures, 6))

/**
 * The loop shared by projection runners and processors: step; at the log's end sleep until a commit
 * wakes it (or `pollMs`); after a failure, log it and back off (100 ms doubling to 5 s).
 */
export function createLoop(options: LoopOptions): Loop {
  const { log, kind, name, pollMs, lingerMs } = options
  let running = false
  let woken = false
  let sleeper: (() => void) | undefined
  let loop: Promise<void> | undefined
  let controller = new AbortController()
  const wake = () => {
    woken = true
    sleeper?.()
  }

  async function sleep(ms: number) {
    if (woken || !running) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        sleeper = undefined
        resolve()
      }
      sleeper = done
    })
  }

  async function run(signal: AbortSignal) {
    const unsubscribe = options.wake.subscribe(wake, options.types)
    let failures = 0
    let held = 0
    try {
      while (running) {
        try {
          const started = Date.now()
          woken = false
          const complete = await options.step(signal)
          failures = 0
          held = complete === 'held' ? held + 1 : 0
          if (held > 0) {
            await sleep(Math.min(pollMs, 25 * 2 ** Math.min(held - 1, 6)))
          } else if (complete) {
            await sleep(pollMs)
            // Under a stream of commits, read at most every `lingerMs`: batches grow, reads per command fall.
            const since = Date.now() - started
            if (since < lingerMs) await new Promise((resolve) => setTimeout(resolve, lingerMs - since))
          }
        } catch (error) {
          if (signal.aborted) break
          failures++
          if (failures === 1 || failures % 30 === 0) {
            log.error({ err: error, [kind]: name, failures }, `${kind} failed; retrying`)
          }
          await sleep(failureBackoffMs(failures))
        }
      }
    } finally {
      unsubscribe()
    }
  }

  return {
    start() {
      if (running) return
      running = true
      controller = new AbortController()
      loop = run(controller.signal).catch((error: unknown) => {
        log.error({ err: error, [kind]: name }, `${kind} stopped`)
      })
    },
    async stop() {
      running = false
      controller.abort()
      sleeper?.()
      await loop
    },
    nudge: wake,
  }
}
