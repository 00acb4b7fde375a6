import type { CpuSplit } from './cpu.js'

export type Mode = 'embedded' | 'server'

/** The `statusCodes` entry counting requests that got no HTTP answer (connection errors, timeouts). */
export const socketErrors = 'socket errors/timeouts'
export type ScenarioName =
  'bus' | 'details' | 'register' | 'append' | 'lag' | 'mixed' | 'study' | 'feed' | 'procurement' | 'cards'

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

/**
 * A target judged (bench/lib/targets.ts). `pass: null` means recorded only (the target is set for
 * another mode). Entries written before targets were scaled have only the first four fields: their
 * `target` is the reference figure, judged as it stood.
 */
export interface TargetCheck {
  name: string
  /** What the figure had to reach in this run, in words: `>= 3,090 commands/s`. */
  target: string
  /** The figure, in words, with what it sits beside. */
  actual: string
  pass: boolean | null
  /** The figure, in `unit`. */
  value?: number
  unit?: string
  better?: 'higher' | 'lower'
  /** The target on the reference machine (bare-Fastify ceiling 50,000 req/s). */
  reference?: number
  /** The bare-Fastify ceiling measured in the same run, req/s. */
  ceiling?: number
  /** The reference scaled by that ceiling: what `target` says. */
  required?: number
  /** A ratio of two figures of the same run, not scaled. */
  relative?: boolean
  /** A bound stated as is (a wall-clock limit, a share of lookups), not scaled. */
  absolute?: boolean
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
  /**
   * The run's ceiling: a bare Fastify GET measured once per run; every target of the entry is scaled
   * by its throughput. Absent from entries written before (their HTTP scenarios measured it among
   * their `measurements`).
   */
  ceiling?: Measurement
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
