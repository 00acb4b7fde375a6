import { createClient } from 'redis'
import { Latencies, type LatencySummary } from './stats.js'

/**
 * Times a PING to Redis every `everyMs` while a measurement runs. Redis is one thread shared by
 * every tenant of this machine: a slow command anywhere delays each projection's round trips.
 */
export function probeRedis(url: string, everyMs = 20) {
  const client = createClient({ url, socket: { reconnectStrategy: false } })
  client.on('error', () => undefined)
  const latencies = new Latencies()
  let running = true
  const loop = (async () => {
    await client.connect()
    while (running) {
      const start = performance.now()
      await client.ping()
      latencies.add(performance.now() - start)
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
  })()
  return {
    async stop(): Promise<LatencySummary & { samples: number }> {
      running = false
      await loop.catch(() => undefined)
      client.destroy()
      return { ...latencies.summary(), samples: latencies.count }
    },
  }
}
