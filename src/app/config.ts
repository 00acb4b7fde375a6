import type { Domain } from './domain.js'
/** What a process does: take commands, answer queries, apply projections. One process may do all. */
export type Role = 'command' | 'query' | 'projector'
export const allRoles: readonly Role[] = ['command', 'query', 'projector']

/** Configuration, from the environment. Unset database, Redis and secret mean embedded mode. */
export interface Config {
  port: number
  host: string
  dataDir: string
  databaseUrl: string | undefined
  readDatabaseUrl: string | undefined
  redisUrl: string | undefined
  authSecret: string | undefined
  logLevel: string
  /** Connections per PostgreSQL pool. */
  databasePoolSize: number
  /** Streams whose last state a process keeps, so their next command decides without reading. */
  streamMemoryStreams: number
  /** Memory the query cache may hold, in MiB (default 256; 0: nothing is cached). */
  queryCacheMb?: number
  /** Live streams open at once without a token, in a process (default 1,000; 0: none). */
  anonymousStreams?: number
  /** Default: every role. Only server mode can split them over processes. */
  roles?: readonly Role[]
}

/** Live streams open at once without a token, in a process, unless LIVE_STREAMS_ANONYMOUS says. */
export const defaultAnonymousStreams = 1000

export const environment = [
  ['PORT', 'HTTP port', '3000'],
  ['HOST', 'Interface to listen on', '127.0.0.1'],
  ['DATA_DIR', 'Embedded database, generated secret and lock file', './data'],
  ['DATABASE_URL', 'PostgreSQL for the write model and event log (unset: embedded PGlite)', ''],
  ['READ_DATABASE_URL', 'PostgreSQL for SQL read models (unset: the write database, schema read)', ''],
  ['REDIS_URL', 'Redis for KV read models (unset: in memory, rebuilt from the log at start)', ''],
  ['AUTH_SECRET', 'HS256 secret for bearer tokens (unset: generated and kept in DATA_DIR)', ''],
  ['LOG_LEVEL', 'fatal, error, warn, info, debug, trace or silent', 'info'],
  ['DATABASE_POOL_SIZE', 'Connections per PostgreSQL pool', '10'],
  [
    'STREAM_MEMORY_STREAMS',
    'Streams whose state a process keeps, so their next command needs no read (oldest dropped first)',
    '10000',
  ],
  [
    'QUERY_CACHE_MB',
    'Memory the query cache may hold, in MiB (least recently used dropped first; 0: off)',
    '256',
  ],
  [
    'LIVE_STREAMS_ANONYMOUS',
    'Live streams (SSE) open at once without a token, in a process; past it 429 (0: none)',
    '1000',
  ],
  ['ROLES', 'What this process does, comma-separated: command, query, projector (server mode)', 'all three'],
  ['HTTP_HEADERS_TIMEOUT_MS', "Longest wait for a request's headers, then 408", '10000'],
  [
    'HTTP_BODY_TIMEOUT_MS',
    'Longest silence while a body arrives (then 408) or an answer goes unread (then closed)',
    '10000',
  ],
  ['HTTP_REQUEST_TIMEOUT_MS', 'Longest time to receive a whole request, then 408', '60000'],
  [
    'HTTP_MAX_CONNECTIONS',
    'Connections open at once in a process; the next are closed as they come',
    '10000',
  ],
] as const

/** Refuses, at start, a domain setting (Domain.settings) set to a value it does not take. */
export function checkSettings(domains: readonly Domain[], env: NodeJS.ProcessEnv = process.env): void {
  const settings = domains.flatMap((d) => d.settings ?? [])
  for (const setting of settings) {
    const value = env[setting.name]?.trim()
    if (value && setting.values && !setting.values.includes(value))
      throw new ConfigError(`${setting.name} must be one of ${setting.values.join(', ')}, not "${value}"`)
    const { integer, pattern } = setting
    if (value && pattern && !pattern.regex.test(value))
      throw new ConfigError(`${setting.name} must be ${pattern.takes}, not "${value}"`)
    if (value && integer && !isWholeWithin(value, integer.min, integer.max))
      throw new ConfigError(
        `${setting.name} must be a whole number from ${integer.min} to ${integer.max}, not "${value}"`,
      )
  }
  const valueOf = (name: string) => {
    const setting = settings.find((s) => s.name === name)
    return Number(env[name]?.trim() || setting?.default)
  }
  for (const setting of settings) {
    if (setting.below === undefined) continue
    const [value, bound] = [valueOf(setting.name), valueOf(setting.below)]
    if (!(value < bound))
      throw new ConfigError(`${setting.name} (${value}) must be below ${setting.below} (${bound})`)
  }
}

const isWholeWithin = (text: string, min: number, max: number) =>
  /^-?\d+$/.test(text) && Number(text) >= min && Number(text) <= max

const levels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

export class ConfigError extends Error {}

/** A database that does not answer, named by the setting that named it (its host and database, no password). */
export function notAnswering(setting: string, url: string, error: unknown): ConfigError {
  const { host, pathname } = new URL(url)
  const reason = error instanceof Error ? error.message : String(error)
  // An error message from the server (a database or role that does not exist, a password refused:
  // it has a severity) is its refusal, not its silence.
  const answered = typeof (error as { severity?: unknown }).severity === 'string'
  return new ConfigError(
    `${setting} (${host}${pathname}) ${answered ? 'refused' : 'does not answer'}: ${reason}`,
  )
}

const postgresSchemes = ['postgres', 'postgresql']

/** Whether `value` is a URL of one of `schemes` (a malformed one failed later as a host named by its pieces). */
export function isUrlOf(value: string, schemes: readonly string[] = postgresSchemes): boolean {
  return URL.canParse(value) && schemes.includes(new URL(value).protocol.slice(0, -1))
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const text = (name: string) => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const integer = (name: string, fallback: number, min: number, max: number) => {
    const value = text(name)
    if (value === undefined) return fallback
    // Digits only: Number() also reads `0x1196` and `1e3`.
    const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : Number.NaN
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, not "${value}"`)
    }
    return n
  }
  const url = (name: string, schemes: readonly string[]) => {
    const value = text(name)
    if (value === undefined) return undefined
    if (!isUrlOf(value, schemes))
      throw new ConfigError(`${name} must be a URL (${schemes.map((s) => `${s}://…`).join(' or ')})`)
    return value
  }
  /** Redis's URL names a database by number or none (`/abc` made node-redis throw a TypeError). */
  const redisDatabase = (value: string | undefined) => {
    if (value !== undefined && !/^\/?(\d{1,5})?$/.test(new URL(value).pathname))
      throw new ConfigError('REDIS_URL names its database by number: redis://host:6379/0')
    return value
  }
  const logLevel = text('LOG_LEVEL') ?? 'info'
  if (!levels.has(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${[...levels].join(', ')}`)
  const secret = text('AUTH_SECRET')
  if (secret !== undefined && secret.length < 16)
    throw new ConfigError('AUTH_SECRET must be at least 16 characters')
  return {
    port: integer('PORT', 3000, 0, 65535),
    host: text('HOST') ?? '127.0.0.1',
    dataDir: text('DATA_DIR') ?? './data',
    databaseUrl: url('DATABASE_URL', postgresSchemes),
    readDatabaseUrl: url('READ_DATABASE_URL', postgresSchemes),
    redisUrl: redisDatabase(url('REDIS_URL', ['redis', 'rediss'])),
    authSecret: secret,
    logLevel,
    databasePoolSize: integer('DATABASE_POOL_SIZE', 10, 1, 1000),
    streamMemoryStreams: integer('STREAM_MEMORY_STREAMS', 10_000, 0, 10_000_000),
    queryCacheMb: integer('QUERY_CACHE_MB', 256, 0, 1_048_576),
    anonymousStreams: integer('LIVE_STREAMS_ANONYMOUS', defaultAnonymousStreams, 0, 1_000_000),
    roles: parseRoles(text('ROLES') ?? allRoles.join(','), 'ROLES'),
  }
}

/** `command,query`: the roles named, each once; an unknown or empty list is a ConfigError. */
export function parseRoles(list: string, source: string): Role[] {
  const names = list.split(',').map((name) => name.trim())
  const roles = [...new Set(names)]
  const unknown = roles.filter((name) => !(allRoles as readonly string[]).includes(name))
  if (roles.length === 0 || unknown.length > 0) {
    throw new ConfigError(`${source} must list roles from ${allRoles.join(', ')}, not "${list}"`)
  }
  return roles as Role[]
}
