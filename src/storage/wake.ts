import { randomUUID } from 'node:crypto'
import pg from 'pg'
import type { Logger } from '../core/logger.js'
import type { Sql } from '../core/sql.js'

/** Tells readers of the event log that something was committed, so they need not wait for a poll. */
export interface Wake {
  /** Called after a commit in this process. */
  committed(position: string): void
  subscribe(listener: () => void): () => void
  close(): Promise<void>
}

const channel = 'tandem_events'

/** In-process wake-ups only (embedded mode: one process holds the database). */
export function localWake(): Wake {
  const listeners = new Set<() => void>()
  return {
    committed: () => {
      for (const listener of listeners) listener()
    },
    subscribe: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close: async () => undefined,
  }
}

/**
 * In-process wake-ups plus LISTEN/NOTIFY for other processes. NOTIFY is sent outside the command's
 * transaction and coalesced (one per few milliseconds): a NOTIFY inside each command transaction
 * would serialize every commit on PostgreSQL's notification queue lock.
 */
export async function postgresWake(options: {
  url: string
  sql: Sql
  log: Logger
  coalesceMs?: number
}): Promise<Wake> {
  const local = localWake()
  const coalesceMs = options.coalesceMs ?? 2
  const self = `${randomUUID()}:`
  let pending: NodeJS.Timeout | undefined
  let latest = '0'
  let closed = false
  let listener: pg.Client | undefined

  async function listen(): Promise<void> {
    const client = new pg.Client({ connectionString: options.url, application_name: 'tandem-listen' })
    // Our own commits woke our runners already, in process.
    client.on('notification', (n) => {
      if (!n.payload?.startsWith(self)) local.committed('0')
    })
    client.on('error', (error) => {
      options.log.warn({ err: error }, 'event listener connection lost; polling until it is back')
      void client.end().catch(() => undefined)
      if (!closed) setTimeout(() => void listen().catch(() => undefined), 1000)
    })
    await client.connect()
    await client.query(`LISTEN ${channel}`)
    listener = client
    // Anything committed while the listener was away is found by the first read after this.
    local.committed('0')
  }
  await listen()

  return {
    committed(position) {
      local.committed(position)
      latest = position
      pending ??= setTimeout(() => {
        pending = undefined
        options.sql.query('SELECT pg_notify($1, $2)', [channel, self + latest]).catch((error: unknown) => {
          options.log.warn({ err: error }, 'NOTIFY failed; other processes will poll')
        })
      }, coalesceMs)
    },
    subscribe: local.subscribe,
    async close() {
      closed = true
      if (pending) clearTimeout(pending)
      await listener?.end().catch(() => undefined)
    },
  }
}
