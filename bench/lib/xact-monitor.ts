import pg from 'pg'

/** The longest-running transaction that held an xid, as seen by one sample. */
export interface OldTransaction {
  ageMs: number
  database: string
  application: string
  state: string
  query: string
}

export interface XactReport {
  samples: number
  /** Samples in which some transaction holding an xid had run longer than the threshold. */
  samplesOverThreshold: number
  thresholdMs: number
  /** The oldest transaction seen, per database (and application). */
  oldest: OldTransaction[]
}

/**
 * Samples pg_stat_activity while a measurement runs. Tandem's readers only see events of
 * transactions below the cluster-wide xmin (the oldest running xid, in any database), so one
 * long transaction anywhere on the server holds every projection back: this says who did.
 */
export function monitorTransactions(url: string, options: { everyMs?: number; thresholdMs?: number } = {}) {
  const everyMs = options.everyMs ?? 50
  const thresholdMs = options.thresholdMs ?? 50
  const client = new pg.Client({ connectionString: url, application_name: 'tandem-bench-monitor' })
  client.on('error', () => undefined)
  const oldest = new Map<string, OldTransaction>()
  let samples = 0
  let over = 0
  let running = true
  const loop = (async () => {
    await client.connect()
    while (running) {
      const { rows } = await client.query<OldTransaction>(
        `SELECT (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::float8 AS "ageMs",
                coalesce(datname, '') AS database, application_name AS application, coalesce(state, '') AS state,
                left(query, 120) AS query
         FROM pg_stat_activity
         WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
         ORDER BY xact_start LIMIT 1`,
      )
      samples++
      const top = rows[0]
      if (top) {
        if (top.ageMs > thresholdMs) over++
        const key = `${top.database}/${top.application}`
        if (top.ageMs > (oldest.get(key)?.ageMs ?? -1))
          oldest.set(key, { ...top, ageMs: Math.round(top.ageMs) })
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
  })()
  return {
    async stop(): Promise<XactReport> {
      running = false
      await loop.catch(() => undefined)
      await client.end().catch(() => undefined)
      return {
        samples,
        samplesOverThreshold: over,
        thresholdMs,
        oldest: [...oldest.values()].sort((a, b) => b.ageMs - a.ageMs).slice(0, 5),
      }
    },
  }
}
