import type { Logger } from '../core/logger.js'

/**
 * How long a server-mode process may take to stop once told to (SIGTERM, SIGINT): past it, it exits
 * anyway. Its stores may not answer (a Redis or PostgreSQL that stalls, connected), and a runner's
 * commit or a request's read waits on them; every write is idempotent by its checkpoint or its
 * command, as after kill -9. Embedded mode waits for PGlite, in this process, however long it takes.
 */
export const stopWithinMs = 10_000

/**
 * Stops once: `close`, then `exit(0)`; or `exit(1)` if `close` has not finished within `withinMs`,
 * or a second signal comes first. With no bound (`withinMs` undefined), a second signal is ignored.
 */
export function stopOnSignal(options: {
  close: () => Promise<void>
  exit: (code: number) => void
  log: Logger
  withinMs: number | undefined
}): (signal: string) => Promise<void> {
  const { close, exit, log, withinMs } = options
  let stopping = false
  return async (signal) => {
    if (stopping) {
      if (withinMs === undefined) return
      log.warn({ signal }, 'told again to stop: exiting now')
      return exit(1)
    }
    stopping = true
    log.info({ signal }, 'shutting down')
    const late =
      withinMs === undefined
        ? undefined
        : setTimeout(() => {
            log.error({ withinMs }, 'shutdown did not finish in time (a store not answering): exiting now')
            exit(1)
          }, withinMs)
    try {
      await close()
    } catch (error) {
      log.error({ err: error }, 'shutdown failed')
      clearTimeout(late)
      return exit(1)
    }
    clearTimeout(late)
    exit(0)
  }
}
