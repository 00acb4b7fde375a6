import pg from 'pg'

/**
 * A throw-away PostgreSQL database beside the one `url` names, for tests and benchmarks:
 * they get a clean event log and never touch the user's data.
 */
export async function createScratchDatabase(
  url: string,
  label = 'scratch',
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tandem_${label}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const scratch = new URL(url)
  scratch.pathname = `/${name}`
  return {
    url: scratch.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        // Connections just closed by their pools may still be saying goodbye: a FORCE that cuts one
        // then reaches its client as an error nobody listens to any more. Give them a moment first.
        for (let waited = 0; waited < 2000; waited += 20) {
          const [row] = (
            await client.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
              [name],
            )
          ).rows
          if ((row?.n ?? 0) === 0) break
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}
