import { Agent, request } from 'node:http'
import { cpuSplit, sampleCpu, type CpuSample } from './cpu.js'
import type { RequestSpec, Span } from './load.js'
import { socketErrors, type Measurement } from './results.js'
import { Latencies, round, tally } from './stats.js'

export interface PacedOptions {
  label: string
  url: string
  /** Requests per second, sent evenly spaced (open loop: the schedule never waits for answers). */
  rate: number
  /** The warm-up at the same rate, on the same connections (not recorded), then the measured window. */
  span: Span
  /** The server's process, for the CPU split over the measured window. */
  serverPid?: number
  /** Called when the measured window opens (e.g. to read the server's metrics). */
  onWindowStart?: () => void
  /** Sockets the requests share; a request due while all are busy waits for one (and that wait counts). */
  connections: number
  next: () => RequestSpec
  unit?: string
  onResponse?: (status: number) => void
}

/**
 * Open-loop load at a fixed rate over keep-alive HTTP. autocannon's overallRate sends each second's
 * quota in a burst at the start of the second; this spreads requests evenly, which is what a lag
 * measurement at "N per second" needs. Latency runs from when a request was due, not when it went out.
 * Only requests due after the warm-up count.
 */
export async function runPaced(options: PacedOptions): Promise<Measurement> {
  const { hostname, port } = new URL(options.url)
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections })
  const latencies = new Latencies()
  const statusCodes: Record<string, number> = {}
  const { rate, span } = options
  const interval = 1000 / rate
  const [warm, measured] =
    'seconds' in span
      ? [Math.round(rate * span.warmSeconds), Math.max(1, Math.round(rate * span.seconds))]
      : [span.warmRequests, span.requests]
  const total = warm + measured
  let cpuFrom: CpuSample | undefined
  let ok = 0
  let completed = 0
  let failed = 0
  let lastDone = 0
  const inFlight = new Set<Promise<void>>()

  const send = (spec: RequestSpec, due: number, counted: boolean) => {
    const body = spec.body ?? ''
    const sent = new Promise<void>((resolve) => {
      const req = request(
        {
          agent,
          host: hostname,
          port,
          method: spec.method,
          path: spec.path,
          headers: {
            ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }),
            'content-length': Buffer.byteLength(body),
            ...spec.headers,
          },
        },
        (res) => {
          res.resume()
          res.on('end', () => {
            const status = res.statusCode ?? 0
            options.onResponse?.(status)
            if (!counted) return resolve()
            completed++
            tally(statusCodes, status)
            lastDone = performance.now()
            if (status >= 200 && status < 300) {
              ok++
              latencies.add(lastDone - due)
            }
            resolve()
          })
        },
      )
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
      req.on('error', () => {
        if (counted) failed++
        resolve()
      })
      req.end(body)
    })
    inFlight.add(sent)
    void sent.then(() => inFlight.delete(sent))
  }

  const start = performance.now()
  const windowStart = start + warm * interval
  let scheduled = 0
  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1)
      while (scheduled < due) {
        if (scheduled === warm) {
          cpuFrom = sampleCpu(options.serverPid)
          options.onWindowStart?.()
        }
        send(options.next(), start + interval * scheduled, scheduled >= warm)
        scheduled++
      }
      if (scheduled >= total) done()
      else setTimeout(tick, 1)
    }
    tick()
  })
  await Promise.all(inFlight)
  agent.destroy()
  const cpu = cpuFrom ? cpuSplit(cpuFrom, sampleCpu(options.serverPid)) : undefined
  const seconds = Math.max(measured / rate, (lastDone - windowStart) / 1000)
  return {
    label: options.label,
    kind: 'tandem',
    tool: 'paced-http',
    concurrency: options.connections,
    seconds: round(seconds),
    completed: completed + failed,
    ok,
    errors: completed - ok + failed,
    statusCodes: failed > 0 ? { ...statusCodes, [socketErrors]: failed } : statusCodes,
    throughput: Math.round(ok / seconds),
    unit: options.unit ?? 'req/s',
    ...latencies.summary(),
    ...(cpu ? { cpu } : {}),
  }
}
