import { ConfigError } from '../app/config.js'

/** How long a client may take to send a request, and how much unread body the server swallows. */
export interface HttpLimits {
  /** From the connection (or a request's first byte) to the end of its headers. */
  headersTimeoutMs: number
  /** The longest silence while a body is due. */
  bodyIdleTimeoutMs: number
  /** A whole request, headers and body: the bound on a body dripped slowly. */
  requestTimeoutMs: number
  /** How often Node checks the headers and request bounds; they fire up to this much late. */
  checkIntervalMs: number
  /** Body bytes still read and dropped after an early answer (413, 415, 404...), so the client reads it. */
  drainBytes: number
  /** Connections open at once; the next are closed as they come (Node's `maxConnections`). */
  maxConnections: number
  /**
   * Answer bytes the connections of a process may hold unread, together: past it, a connection
   * holding more than 1 MiB of answers unread is closed as its next answer goes out.
   */
  heldAnswerBytes: number
}

export const defaultLimits: HttpLimits = {
  headersTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  checkIntervalMs: 1_000,
  drainBytes: 8 * 1024 * 1024,
  maxConnections: 10_000,
  heldAnswerBytes: 64 * 1024 * 1024,
}

/** The timeouts an operator may change, by environment variable. */
export const limitVariables = {
  HTTP_HEADERS_TIMEOUT_MS: 'headersTimeoutMs',
  HTTP_BODY_TIMEOUT_MS: 'bodyIdleTimeoutMs',
  HTTP_REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
} as const

export function limitsFromEnv(env: NodeJS.ProcessEnv = process.env): HttpLimits {
  const limits = { ...defaultLimits }
  for (const [name, key] of Object.entries(limitVariables)) {
    const text = env[name]?.trim()
    if (text === undefined || text === '') continue
    // Digits only: Number() also reads `0x2710` and `1e4`.
    const value = /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN
    if (!Number.isInteger(value) || value < 100 || value > 3_600_000)
      throw new ConfigError(`${name} must be an integer from 100 to 3600000 (ms), not "${text}"`)
    limits[key] = value
  }
  const connections = env.HTTP_MAX_CONNECTIONS?.trim()
  if (connections !== undefined && connections !== '') {
    if (!/^[0-9]{1,7}$/.test(connections) || Number(connections) < 1 || Number(connections) > 1_000_000)
      throw new ConfigError(`HTTP_MAX_CONNECTIONS must be an integer from 1 to 1000000, not "${connections}"`)
    limits.maxConnections = Number(connections)
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS')
  return limits
}

/** The Fastify options that make Node enforce the headers and whole-request bounds. */
export function serverTimeouts(limits: HttpLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
  }
}
