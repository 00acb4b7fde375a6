import { execFile, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { socketErrors, type Measurement } from './results.js'
import { round } from './stats.js'

const script = fileURLToPath(new URL('./wrk-report.lua', import.meta.url))

/** Whether `wrk` (Debian's package) is installed: an optional cross-check of autocannon's figures. */
export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined
}

interface WrkReport {
  requests: number
  durationUs: number
  status: number
  connect: number
  read: number
  write: number
  timeout: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** One wrk thread, `connections` connections, one URL (wrk sends the same request every time). */
export async function runWrk(options: {
  label: string
  kind: Measurement['kind']
  url: string
  connections: number
  seconds: number
}): Promise<Measurement> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${Math.max(1, Math.round(options.seconds))}s`,
    '-s',
    script,
  ]
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile('wrk', [...args, options.url], (error, out) =>
      error ? reject(new Error(`wrk failed: ${error.message}`)) : resolve(out),
    ),
  )
  const line = stdout.split('\n').find((l) => l.startsWith('{"requests"'))
  if (!line) throw new Error(`wrk printed no report:\n${stdout}`)
  const r = JSON.parse(line) as WrkReport
  const seconds = r.durationUs / 1e6
  const unanswered = r.connect + r.read + r.write + r.timeout
  const ok = r.requests - r.status
  return {
    label: options.label,
    kind: options.kind,
    tool: 'wrk',
    concurrency: options.connections,
    seconds: round(seconds),
    completed: r.requests,
    ok,
    errors: r.status + unanswered,
    statusCodes: { 'non-2xx/3xx': r.status, [socketErrors]: unanswered },
    throughput: Math.round(ok / seconds),
    unit: 'req/s',
    p50Ms: round(r.p50 / 1000),
    p95Ms: round(r.p95 / 1000),
    p99Ms: round(r.p99 / 1000),
    maxMs: round(r.max / 1000),
  }
}
