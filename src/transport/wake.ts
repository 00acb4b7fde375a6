import pg from 'pg'
import type { Logger } from '../core/logger.js'
import type { Sql } from '../core/sql.js'

/** Tells readers of the event log that something was committed, so they need not wait for a poll. */
export interface Wake {
  /**
   * Called after a commit in this process, with the types of the events it wrote (undefined: not
   * known, which wakes every listener).
   */
  committed(position: string, types?: Iterable<string>): void
  /**
   * `types`: the listener reads only these, so a commit known to hold none of them does not wake it
   * (its poll, a commit of unknown types, or one from another process still do).
   */
  subscribe(listener: () => void, types?: readonly string[]): () => void
  close(): Promise<void>
}

const channel = 'tandem_events'

/** In-process wake-ups only (embedded mode: one process holds the database). */
export function localWake(): Wake {
  /** Each listener, and the types it reads (undefined: every type). */
  const listeners = new Map<() => void, ReadonlySet<string> | undefined>()
  return {
    committed: (_position, types) => {
      const written = types === undefined ? undefined : [...types]
      for (const [listener, reads] of listeners) {
        if (!reads || !written || written.some((type) => reads.has(type))) listener()
      }
    },
    subscribe: (listener, types) => {
      listeners.set(listener, types && new Set(types))
      return () => listeners.delete(listener)
    },
    close: async () => undefined,
  }
}

/**
 * One LISTEN connection shared by every channel a process follows. When the connection drops it is
 * opened again; `onReconnect` handlers learn that notifications may have been missed meanwhile.
 */
export interface Listener {
  /** Registers a channel's handler; call before `start`. */
  on(channel: string, handler: (payload: string) => void): void
  onReconnect(handler: () => void): void
  start(): Promise<void>
  close(): Promise<void>
}

export function postgresListener(options: { url: string; log: Logger }): Listener {
  const handlers = new Map<string, (payload: string) => void>()
  const reconnected: (() => void)[] = []
  let closed = false
  let client: pg.Client | undefined
  let retrying = false

  // Until the connection is back, every second; the database may be away for a while.
  function retryLater() {
    if (closed || retrying) return
    retrying = true
    setTimeout(() => {
      retrying = false
      listen().catch((error: unknown) => {
        options.log.warn({ err: error }, 'listener could not reconnect; trying again')
        retryLater()
      })
    }, 1000)
  }

  async function listen(): Promise<void> {
    const next = new pg.Client({ connectionString: options.url, application_name: 'tandem-listen' })
    next.on('notification', (n) => handlers.get(n.channel)?.(n.payload ?? ''))
    next.on('error', (error) => {
      void next.end().catch(() => undefined)
      // A client that never finished connecting is retried by the caller of `listen`.
      if (next !== client) return
      options.log.warn({ err: error }, 'listener connection lost; polling until it is back')
      retryLater()
    })
    try {
      await next.connect()
      for (const name of handlers.keys()) await next.query(`LISTEN ${name}`)
    } catch (error) {
      void next.end().catch(() => undefined)
      throw error
    }
    if (closed) {
      await next.end()
      return
    }
    const first = client === undefined
    client = next
    if (!first) for (const handler of reconnected) handler()
  }

  return {
    on: (name, handler) => void handlers.set(name, handler),
    onReconnect: (handler) => void reconnected.push(handler),
    start: listen,
    async close() {
      closed = true
      await client?.end().catch(() => undefined)
    },
  }
}

/** Sends a process's notifications on its pool, prefixed with its id, so it can skip its own. */
export function notifier(sql: Sql, sender: string, log: Logger) {
  return (name: string, payloads: readonly string[]): Promise<boolean> =>
    sql
      // unnest yields the array in order, and one transaction's notifications arrive in the order sent.
      .query('SELECT pg_notify($1, $2 || p) FROM unnest($3::text[]) AS p', [name, `${sender}:`, payloads])
      .then(
        () => true,
        (error: unknown) => {
          log.warn({ err: error, channel: name }, 'NOTIFY failed')
          return false
        },
      )
}

/**
 * In-process wake-ups plus LISTEN/NOTIFY for other processes. NOTIFY is sent outside the command's
 * transaction and coalesced (one per few milliseconds): a NOTIFY inside each command transaction
 * would serialize every commit on PostgreSQL's notification queue lock.
 */
export function postgresWake(options: {
  listener: Listener
  sql: Sql
  sender: string
  log: Logger
  coalesceMs?: number
}): Wake {
  const local = localWake()
  const coalesceMs = options.coalesceMs ?? 2
  const own = `${options.sender}:`
  const notify = notifier(options.sql, options.sender, options.log)
  let pending: NodeJS.Timeout | undefined
  let latest = '0'
  // Our own commits woke our runners already, in process. Another process's wake every listener:
  // the notification does not say what was written.
  options.listener.on(channel, (payload) => {
    if (!payload.startsWith(own)) local.committed('0')
  })
  // Anything committed while the listener was away is found by the first read after this.
  options.listener.onReconnect(() => local.committed('0'))

  return {
    committed(position, types) {
      local.committed(position, types)
      latest = position
      pending ??= setTimeout(() => {
        pending = undefined
        void notify(channel, [latest])
      }, coalesceMs)
    },
    subscribe: local.subscribe,
    async close() {
      if (pending) clearTimeout(pending)
    },
  }
}
