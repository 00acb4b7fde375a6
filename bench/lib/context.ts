import type { ServerProcess } from './server-process.js'
import { startBareServer } from './tandem-server.js'

/** What every scenario is given: how long and how hard to load, where the services are, how to report. */
export interface BenchContext {
  /** Seconds per measurement. */
  readonly seconds: number
  /** Seconds of warm-up (JIT, pools, caches) before each measurement; not recorded. */
  readonly warmSeconds: number
  /** Tiny loads: checks that every scenario completes and is correct, measures nothing worth keeping. */
  readonly smoke: boolean
  readonly logLevel: string
  readonly postgresUrl: string
  readonly redisUrl: string
  /** The command line that produces a scenario's figures, for the report. */
  command(scenario: string): string
  log(line: string): void
  /** The connection (or writer) count to use for `full`: smaller in smoke runs. */
  scale(full: number, smoke: number): number
  /** The bare Fastify server, started once per run and shared by the HTTP scenarios. */
  bare(): Promise<ServerProcess>
  close(): Promise<void>
}

export interface ContextOptions {
  seconds: number
  smoke: boolean
  postgresUrl: string
  redisUrl: string
  logLevel?: string
  /** The scenarios named on the command line (for the report's command). */
  selected?: readonly string[]
  /** The one mode asked for on the command line, if any (for the report's command). */
  mode?: string
  quiet?: boolean
}

export function createContext(options: ContextOptions): BenchContext {
  let bare: Promise<ServerProcess> | undefined
  const smoke = options.smoke
  return {
    seconds: options.seconds,
    warmSeconds: smoke ? 0.25 : Math.min(3, Math.max(1, options.seconds / 5)),
    smoke,
    logLevel: options.logLevel ?? 'warn',
    postgresUrl: options.postgresUrl,
    redisUrl: options.redisUrl,
    command(scenario) {
      const env = options.seconds === 10 || smoke ? '' : `BENCH_SECONDS=${options.seconds} `
      const args = [
        ...(options.selected?.length ? [scenario] : []),
        ...(options.mode ? ['--mode', options.mode] : []),
        ...(smoke ? ['--smoke'] : []),
      ]
      return `${env}npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`
    },
    log: (line) => {
      if (!options.quiet) console.log(line)
    },
    scale: (full, small) => (smoke ? Math.min(full, small) : full),
    bare: () => (bare ??= startBareServer()),
    async close() {
      if (bare) await (await bare).close()
    },
  }
}
