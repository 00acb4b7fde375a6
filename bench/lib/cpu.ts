import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/**
 * Where the CPU went during a measurement, in cores (1.0 = one core busy the whole time), from
 * /proc: the bench process (load generator, or the whole system for in-process scenarios), the
 * server process, PostgreSQL and Redis, and the rest (kernel, other tenants of the machine).
 */
export interface CpuSplit {
  cores: number
  busy: number
  benchProcess: number
  serverProcess: number
  postgres: number
  redis: number
  other: number
}

export interface CpuSample {
  at: number
  busyTicks: number
  allTicks: number
  selfMicros: number
  server: number
  named: Map<number, { name: string; ticks: number }>
}

const ticksPerSecond = 100
const watched = new Set(['postgres', 'redis-server'])

/**
 * A process's CPU ticks; with `children`, also those of its children that ended (PostgreSQL's
 * postmaster reaps each backend, so live backends plus the postmaster's reaped time count every
 * backend's CPU, even of connections opened and closed inside the measurement).
 */
function processTicks(pid: number, children = false): { name: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const close = stat.lastIndexOf(')')
    const name = stat.slice(stat.indexOf('(') + 1, close)
    const [utime, stime, cutime, cstime] = stat
      .slice(close + 2)
      .split(' ')
      .slice(11, 15)
      .map(Number)
    const own = (utime ?? 0) + (stime ?? 0)
    return { name, ticks: children ? own + (cutime ?? 0) + (cstime ?? 0) : own }
  } catch {
    return undefined
  }
}

function machineTicks(): { busy: number; all: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number)
    const busy = user + nice + system + irq + softirq + steal
    return { busy, all: busy + idle + iowait }
  } catch {
    return { busy: 0, all: 0 }
  }
}

function namedProcesses(): Map<number, { name: string; ticks: number }> {
  const found = new Map<number, { name: string; ticks: number }>()
  let pids: string[] = []
  try {
    pids = readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p))
  } catch {
    return found
  }
  for (const p of pids) {
    const t = processTicks(Number(p), true)
    if (t && watched.has(t.name)) found.set(Number(p), t)
  }
  return found
}

export function sampleCpu(serverPid?: number): CpuSample {
  const machine = machineTicks()
  const usage = process.cpuUsage()
  return {
    at: performance.now(),
    busyTicks: machine.busy,
    allTicks: machine.all,
    selfMicros: usage.user + usage.system,
    server: serverPid === undefined ? 0 : (processTicks(serverPid)?.ticks ?? 0),
    named: namedProcesses(),
  }
}

export function cpuSplit(from: CpuSample, to: CpuSample): CpuSplit {
  const cores = availableParallelism()
  const seconds = Math.max(1e-3, (to.at - from.at) / 1000)
  const perCore = (ticks: number) => ticks / ticksPerSecond / seconds
  const all = to.allTicks - from.allTicks
  const busy = all > 0 ? ((to.busyTicks - from.busyTicks) / all) * cores : 0
  // Live processes plus reaped children is a running total: its difference is the CPU in between.
  const total = (sample: CpuSample, name: string) =>
    [...sample.named.values()].reduce((sum, p) => (p.name === name ? sum + p.ticks : sum), 0)
  const byName = (name: string) => perCore(Math.max(0, total(to, name) - total(from, name)))
  const benchProcess = (to.selfMicros - from.selfMicros) / 1e6 / seconds
  const serverProcess = perCore(to.server - from.server)
  const postgres = byName('postgres')
  const redis = byName('redis-server')
  const r = (n: number) => Math.round(n * 100) / 100
  return {
    cores,
    busy: r(busy),
    benchProcess: r(benchProcess),
    serverProcess: r(serverProcess),
    postgres: r(postgres),
    redis: r(redis),
    other: r(Math.max(0, busy - benchProcess - serverProcess - postgres - redis)),
  }
}

/** Runs `work` and reports the CPU split over it. */
export async function withCpu<T>(
  serverPid: number | undefined,
  work: () => Promise<T>,
): Promise<[T, CpuSplit]> {
  const from = sampleCpu(serverPid)
  const value = await work()
  return [value, cpuSplit(from, sampleCpu(serverPid))]
}
