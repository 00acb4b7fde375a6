import type { CpuSplit } from './cpu.js'

export type Mode = 'embedded' | 'server'

/** The `statusCodes` entry counting requests that got no HTTP answer (connection errors, timeouts). */
export const socketErrors = 'socket errors/timeouts'
export type ScenarioName = 'bus' | 'details' | 'register' | 'append' | 'lag' | 'mixed'

/** One measured load: what was sent, what came back, how fast. */
export interface Measurement {
  label: string
  /** `tandem` is the product; `baseline` the machine's ceiling or a bare equivalent; `cross-check` another tool. */
  kind: 'tandem' | 'baseline' | 'cross-check'
  tool: 'autocannon' | 'paced-http' | 'in-process' | 'wrk'
  /** Concurrent connections (HTTP) or concurrent callers (in process). */
  concurrency: number
  seconds: number
  /** Responses (or operations) completed, whatever their status. */
  completed: number
  ok: number
  /** Non-2xx answers, connection errors, timeouts, refused commands. */
  errors: number
  statusCodes?: Record<string, number>
  throughput: number
  unit: string
  p50Ms: number
  p95Ms: number
  p99Ms: number
  /** Not every tool reports it. */
  maxMs?: number
  cpu?: CpuSplit
}

/** A target the product must reach. `pass: null` means recorded only (the target is set for another mode). */
export interface TargetCheck {
  name: string
  target: string
  actual: string
  pass: boolean | null
}

/** A correctness check of the run itself (not a timing): it must hold in smoke runs too. */
export interface Check {
  name: string
  pass: boolean
  detail: string
  /**
   * `errors`: the load saw errors (a figure of the product, recorded; smoke runs require none).
   * Otherwise an integrity check of the run (lost or doubled writes, a read model that disagrees).
   */
  about?: 'errors'
}

export interface Entry {
  scenario: ScenarioName
  title: string
  mode: Mode
  /** What stores the mode ran on, in words. */
  stores: string
  date: string
  node: string
  cpus: number
  /** 1, 5 and 15 minute load averages when the entry started: the machine is shared. */
  loadAverage: number[]
  /** The Tandem commit when the entry started, and whether src/ had uncommitted changes. */
  commit?: string
  srcChanged?: boolean
  command: string
  secondsPerMeasurement: number
  smoke: boolean
  measurements: Measurement[]
  targets: TargetCheck[]
  checks: Check[]
  figures: Record<string, number | string>
  notes: string[]
}

export interface MachineFacts {
  node: string
  platform: string
  cpus: number
  cpuModel: string
  memoryGiB: number
  postgres?: string
  postgresSettings?: Record<string, string>
  redis?: string
  commit?: string
  /** Whether src/ had uncommitted changes when the results were written. */
  srcChanged?: boolean
}

export interface ResultsFile {
  generatedAt: string
  machine: MachineFacts
  entries: Entry[]
}
