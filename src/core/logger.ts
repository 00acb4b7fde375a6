/** The logging port: the subset of pino the core uses, so any structured logger fits. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
  /** Optional: lets callers skip building a line nobody will write (pino has it). */
  isLevelEnabled?(level: string): boolean
}

const noop = () => undefined

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
  isLevelEnabled: () => false,
}
