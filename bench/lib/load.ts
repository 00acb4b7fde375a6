import autocannon from 'autocannon'
import { cpuSplit, sampleCpu, type CpuSample } from './cpu.js'
import { socketErrors, type Measurement } from './results.js'
import { Latencies, round, tally } from './stats.js'

/** One HTTP request of a load: the path carries the query string. */
export interface RequestSpec {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: string
}

export interface LoadOptions {
  label: string
  kind?: Measurement['kind']
  /** Base URL of the server, e.g. http://127.0.0.1:3000 */
  url: string
  connections: number
  /** Seconds measured, after the warm-up. */
  seconds: number
  /** Seconds of load before the measured window, on the same connections (not recorded). */
  warmSeconds: number
  /** The server's process, for the CPU split over the measured window. */
  serverPid?: number
  /** Called once per request sent, in order, shared by every connection. */
  next: () => RequestSpec
  unit?: string
  /** Sees every answer's status, warm-up included (for checks against what the server recorded). */
  onResponse?: (status: number) => void
}

const json = { 'content-type': 'application/json' }

/**
 * Closed-loop load with autocannon: `connections` keep one request in flight each. The connections
 * open and warm up first; only requests sent after the warm-up count (latency, status, throughput),
 * so the figures are the steady state, not connection set-up. Every request is built by `next()`
 * (autocannon's setupRequest). Latencies of 2xx answers are kept whole; anything else is an error.
 */
export async function runLoad(options: LoadOptions): Promise<Measurement> {
  const latencies = new Latencies()
  const statusCodes: Record<string, number> = {}
  let ok = 0
  let completed = 0
  let unanswered = 0
  const started = performance.now()
  const windowStart = started + options.warmSeconds * 1000
  let cpuFrom: CpuSample | undefined
  const timer = setTimeout(() => (cpuFrom = sampleCpu(options.serverPid)), options.warmSeconds * 1000)
  await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.warmSeconds + options.seconds,
        timeout: 10,
        requests: [{ setupRequest: (request) => build(request, options.next()) }],
      },
      (error: unknown, done) => (error ? reject(asError(error)) : resolve(done)),
    )
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      options.onResponse?.(statusCode)
      if (performance.now() - ms < windowStart) return
      completed++
      tally(statusCodes, statusCode)
      if (statusCode >= 200 && statusCode < 300) {
        ok++
        latencies.add(ms)
      }
    })
    instance.on('reqError', () => {
      if (performance.now() >= windowStart) unanswered++
    })
  })
  clearTimeout(timer)
  const cpu = cpuFrom ? cpuSplit(cpuFrom, sampleCpu(options.serverPid)) : undefined
  const seconds = (performance.now() - windowStart) / 1000
  return {
    label: options.label,
    kind: options.kind ?? 'tandem',
    tool: 'autocannon',
    concurrency: options.connections,
    seconds: round(seconds),
    completed,
    ok,
    errors: completed - ok + unanswered,
    statusCodes: unanswered > 0 ? { ...statusCodes, [socketErrors]: unanswered } : statusCodes,
    throughput: Math.round(ok / seconds),
    unit: options.unit ?? 'req/s',
    ...latencies.summary(),
    ...(cpu ? { cpu } : {}),
  }
}

function build(request: autocannon.Request, spec: RequestSpec): autocannon.Request {
  return {
    ...request,
    method: spec.method,
    path: spec.path,
    headers: { ...request.headers, ...(spec.body === undefined ? {} : json), ...spec.headers },
    ...(spec.body === undefined ? {} : { body: spec.body }),
  }
}

const asError = (error: unknown) => (error instanceof Error ? error : new Error(JSON.stringify(error)))
