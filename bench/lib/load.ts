import autocannon from 'autocannon'
import { cpuSplit, sampleCpu, type CpuSample } from './cpu.js'
import { socketErrors, type Measurement } from './results.js'
import { profileWindow } from './server-process.js'
import { Latencies, round, tally } from './stats.js'

/** One HTTP request of a load: the path carries the query string. */
export interface RequestSpec {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: string
}

/**
 * How long a load lasts: seconds measured after seconds of warm-up on the same connections (a real
 * run), or a number of requests counted after a number of warm-up ones (a smoke run: the same work on
 * any machine, however slow, so nothing about it depends on speed).
 */
export type Span = { seconds: number; warmSeconds: number } | { requests: number; warmRequests: number }

/** The most requests a load over `span` sends at up to `perSecond` (how many to prepare). */
export function mostRequests(span: Span, perSecond: number): number {
  return 'seconds' in span
    ? Math.round(perSecond * (span.seconds + span.warmSeconds))
    : span.warmRequests + span.requests
}

export interface LoadOptions {
  label: string
  kind?: Measurement['kind']
  /** Base URL of the server, e.g. http://127.0.0.1:3000 */
  url: string
  connections: number
  span: Span
  /** The server's process, for the CPU split over the measured window. */
  serverPid?: number
  /** Called once per request sent, in order, shared by every connection. */
  next: () => RequestSpec
  unit?: string
  /** Sees every answer's status, warm-up included (for checks against what the server recorded). */
  onResponse?: (status: number) => void
  /**
   * Sees every answer's status and body, warm-up included (autocannon's per-request onResponse): for
   * loads that mix requests and must tell whose answer it is.
   */
  onBody?: (status: number, body: string) => void
  /** Seconds before a request counts as unanswered (default 10). */
  timeoutSeconds?: number
}

const json = { 'content-type': 'application/json' }

/**
 * Closed-loop load with autocannon: `connections` keep one request in flight each. The connections
 * open and warm up first; only requests sent after the warm-up count (latency, status, throughput),
 * so the figures are the steady state, not connection set-up. Every request is built by `next()`
 * (autocannon's setupRequest). Latencies of 2xx answers are kept whole; anything else is an error.
 */
export async function runLoad(options: LoadOptions): Promise<Measurement> {
  const { span } = options
  const latencies = new Latencies()
  const statusCodes: Record<string, number> = {}
  let ok = 0
  let completed = 0
  let unanswered = 0
  let answers = 0
  let lastAnswer = 0
  // Timed, the window opens after the warm-up seconds; counted, once the warm-up requests are answered.
  const timed = 'seconds' in span
  let windowStart = timed ? performance.now() + span.warmSeconds * 1000 : Infinity
  let cpuFrom: CpuSample | undefined
  let profiled: Promise<() => Promise<void>> | undefined
  const openWindow = () => {
    if (!timed) windowStart = performance.now()
    cpuFrom = sampleCpu(options.serverPid)
    profiled = profileWindow(options.serverPid, options.label)
  }
  const timer = timed ? setTimeout(openWindow, span.warmSeconds * 1000) : undefined
  await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        // autocannon looks whether it is done once per sample: counted loads look often.
        ...(timed
          ? { duration: span.warmSeconds + span.seconds }
          : { amount: span.warmRequests + span.requests, sampleInt: 20 }),
        timeout: options.timeoutSeconds ?? 10,
        requests: [
          {
            setupRequest: (request) => build(request, options.next()),
            ...(options.onBody ? { onResponse: options.onBody } : {}),
          },
        ],
      },
      (error: unknown, done) => (error ? reject(asError(error)) : resolve(done)),
    )
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      options.onResponse?.(statusCode)
      if (!timed && ++answers === span.warmRequests) return openWindow()
      const now = performance.now()
      if (now - ms < windowStart) return
      lastAnswer = now
      completed++
      tally(statusCodes, statusCode)
      if (statusCode >= 200 && statusCode < 300) {
        ok++
        latencies.add(ms)
      }
    })
    instance.on('reqError', () => {
      if (!timed && ++answers === span.warmRequests) return openWindow()
      if (performance.now() >= windowStart) unanswered++
    })
  })
  clearTimeout(timer)
  const cpu = cpuFrom ? cpuSplit(cpuFrom, sampleCpu(options.serverPid)) : undefined
  await (
    await profiled
  )?.()
  // Counted, the load ends with its last answer (autocannon notices it is done a little later).
  const seconds = Math.max(1e-3, ((timed ? performance.now() : lastAnswer) - windowStart) / 1000)
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
