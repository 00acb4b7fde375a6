import { pino } from 'pino'
import type { Config } from '../app/config.js'
import type { Domain } from '../app/domain.js'
import { startTandem, type Tandem } from '../app/tandem.js'
import type { Caller } from '../core/messages.js'
import { createScratchDatabase } from '../storage/scratch-database.js'
import { postgresUrl, redisUrl, type Mode } from './services.js'

export const testSecret = 'test-secret-0123456789abcdef'

export interface TestTandem extends Tandem {
  /** Closes the Tandem and drops its scratch database. */
  dispose(): Promise<void>
  token(caller: Caller, expiresInSeconds?: number): string
}

/**
 * A Tandem for one test file. Embedded: in-memory PGlite and memory KV. Server: a scratch
 * PostgreSQL database (dropped after) and Redis (keys namespaced by the new log's identity).
 */
export async function startTestTandem(
  mode: Mode,
  options: { domains?: readonly Domain[]; config?: Partial<Config>; pollMs?: number } = {},
): Promise<TestTandem> {
  const scratch = mode === 'server' ? await createScratchDatabase(postgresUrl, 'test') : undefined
  const config: Config = {
    port: 0,
    host: '127.0.0.1',
    dataDir: './data-test-unused',
    databaseUrl: scratch?.url,
    readDatabaseUrl: undefined,
    redisUrl: mode === 'server' ? redisUrl : undefined,
    authSecret: testSecret,
    logLevel: 'silent',
    databasePoolSize: 20,
    ...options.config,
  }
  try {
    const tandem = await startTandem({
      config,
      domains: options.domains,
      inMemory: mode === 'embedded',
      log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      pollMs: options.pollMs,
    })
    return {
      ...tandem,
      async dispose() {
        await tandem.close()
        await scratch?.drop()
      },
      token: (caller, expiresInSeconds) =>
        tandem.auth.sign(
          { sub: caller.id, roles: caller.roles, ...(caller.dept ? { dept: caller.dept } : {}) },
          { expiresInSeconds },
        ),
    }
  } catch (error) {
    await scratch?.drop()
    throw error
  }
}
