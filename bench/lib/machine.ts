import { execFileSync } from 'node:child_process'
import { availableParallelism, cpus, platform, release, totalmem } from 'node:os'
import pg from 'pg'
import { createClient } from 'redis'
import type { MachineFacts } from './results.js'

/** The commit checked out, and whether src/ differs from it (read-only git commands). */
export function gitState(): { commit?: string; srcChanged?: boolean } {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: 'pipe' }).trim()
    return {
      commit: git('rev-parse', '--short', 'HEAD'),
      srcChanged: git('status', '--porcelain', '--', 'src') !== '',
    }
  } catch {
    return {}
  }
}

/** What the figures were measured on. Services that do not answer are left out. */
export async function machineFacts(services?: {
  postgresUrl: string
  redisUrl: string
}): Promise<MachineFacts> {
  const facts: MachineFacts = {
    node: process.version,
    platform: `${platform()} ${release()}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  }
  Object.assign(facts, gitState())
  if (!services) return facts
  const client = new pg.Client({ connectionString: services.postgresUrl })
  try {
    await client.connect()
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
       WHERE name IN ('server_version', 'max_connections', 'shared_buffers', 'synchronous_commit', 'fsync', 'wal_level')`,
    )
    const settings = Object.fromEntries(rows.map((r) => [r.name, r.setting]))
    facts.postgres = settings.server_version
    delete settings.server_version
    facts.postgresSettings = settings
  } catch {
    // PostgreSQL is not reachable: server mode does not run.
  } finally {
    await client.end().catch(() => undefined)
  }
  const redis = createClient({ url: services.redisUrl, socket: { reconnectStrategy: false } })
  redis.on('error', () => undefined)
  try {
    await redis.connect()
    facts.redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1]
  } catch {
    // Redis is not reachable.
  } finally {
    redis.destroy()
  }
  return facts
}
