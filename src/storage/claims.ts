import pg from 'pg'
import type { Logger } from '../core/logger.js'

/**
 * What one process of a deployment does at a time, and another takes over when it dies: running a
 * processor (a lost claim can overlap the new holder for the event in hand; the idempotency keys
 * keep that once in effect), rebuilding a read model.
 */
export interface Claims {
  /** Takes `name` if no other process holds it; true while this process holds it. */
  claim(name: string): Promise<boolean>
  /** Whether this process still holds `name` (false once its connection was lost). */
  holds(name: string): boolean
  /** Gives `name` up, for another process to take. */
  release(name: string): Promise<void>
  close(): Promise<void>
}

/** One process (embedded mode: PGlite has no other): every claim is granted. */
export function localClaims(): Claims {
  return {
    claim: async () => true,
    holds: () => true,
    release: async () => undefined,
    close: async () => undefined,
  }
}

/**
 * Session advisory locks on a connection of their own: PostgreSQL releases them when the process
 * dies or its connection drops, and the other processes' next attempt takes them over. The
 * connection is opened with the first claim.
 */
export function postgresClaims(options: { url: string; log: Logger }): Claims {
  const held = new Set<string>()
  let client: Promise<pg.Client> | undefined
  let closed = false

  function connection(): Promise<pg.Client> {
    if (client) return client
    const opening: Promise<pg.Client> = (async () => {
      const next = new pg.Client({ connectionString: options.url, application_name: 'tandem-claims' })
      // The locks went with the connection (an older connection's end changes nothing).
      const lost = (error?: Error) => {
        if (client !== opening) return
        if (held.size > 0 && !closed)
          options.log.warn({ err: error }, 'claims connection lost; claiming again')
        held.clear()
        client = undefined
      }
      next.on('error', (error) => {
        lost(error)
        void next.end().catch(() => undefined)
      })
      next.on('end', () => lost())
      try {
        await next.connect()
      } catch (error) {
        lost()
        throw error
      }
      return next
    })()
    client = opening
    return opening
  }

  return {
    async claim(name) {
      if (held.has(name)) return true
      if (closed) return false
      try {
        const db = await connection()
        const { rows } = await db.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_lock(hashtextextended($1, 9176)) AS ok',
          [name],
        )
        if (rows[0]?.ok) held.add(name)
      } catch (error) {
        options.log.warn({ err: error, claim: name }, 'claiming failed')
      }
      return held.has(name)
    },
    holds: (name) => held.has(name),
    async release(name) {
      if (!held.delete(name)) return
      const db = await client?.catch(() => undefined)
      // A lost connection took the lock with it.
      await db
        ?.query('SELECT pg_advisory_unlock(hashtextextended($1, 9176))', [name])
        .catch((error: unknown) => options.log.warn({ err: error, claim: name }, 'releasing a claim failed'))
    },
    async close() {
      closed = true
      held.clear()
      const open = client
      client = undefined
      await open?.then((c) => c.end()).catch(() => undefined)
    },
  }
}
