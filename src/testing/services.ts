import { connect } from 'node:net'

/**
 * Which test modes can run here. Server mode needs PostgreSQL and Redis; with REQUIRE_SERVICES=1
 * (CI) a missing server is an error, not a reason to skip.
 */
export const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || defaultPort) })
    socket.setTimeout(1000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

const required = process.env.REQUIRE_SERVICES === '1'
const [postgres, redis] = await Promise.all([reachable(postgresUrl, 5432), reachable(redisUrl, 6379)])
if (required && !(postgres && redis)) {
  throw new Error(
    `REQUIRE_SERVICES=1 but ${postgres ? '' : 'PostgreSQL '}${redis ? '' : 'Redis '}is not reachable`,
  )
}
if (!(postgres && redis)) {
  console.warn(
    'PostgreSQL or Redis is not reachable: server-mode tests do not run (set REQUIRE_SERVICES=1 to fail)',
  )
}

export const servicesAvailable = postgres && redis
export type Mode = 'embedded' | 'server'
/** Every mode integration tests run in: embedded always, server when its services answer. */
export const modes: readonly Mode[] = servicesAvailable ? ['embedded', 'server'] : ['embedded']
