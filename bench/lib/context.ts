import { describeMeasurement } from '../scenarios/scenario.js'
import { runLoad, type Span } from './load.js'
import type { Measurement, Mode } from './results.js'
import type { ServerProcess } from './server-process.js'
import { removeCompiledSources } from '../../src/testing/compiled-sources.js'
import { startBareServer, startTandemServer, type TandemServer } from './tandem-server.js'

/** What every scenario is given: how long and how hard to load, where the services are, how to report. */
export interface BenchContext {
  /** Seconds per measurement (0 in a smoke run, whose loads are counted in requests: `span`). */
  readonly seconds: number
  /** How long each load lasts, warm-up first: a time, or in a smoke run a fixed number of requests. */
  readonly span: Span
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
  /**
   * This run's ceiling: a bare Fastify GET, measured once per run (when first asked) and shared by
   * every scenario, whose targets are scaled by it (bench/lib/targets.ts).
   */
  ceiling(): Promise<Measurement>
  /**
   * A Tandem server on a fresh store, closed by the caller. A smoke run shares one per mode between
   * scenarios (each seeds events of its own and audits only those) and closes it with the context:
   * starting a server is most of a smoke run's time, and it has no figures to keep apart.
   */
  tandem(mode: Mode): Promise<TandemServer>
  /** Server mode's deployment in roles, fresh or (smoke) shared like `tandem`. */
  splitRoles(): Promise<SplitRoles>
  close(): Promise<void>
}

/** A command + projector process, and a query process on the same PostgreSQL and Redis. */
export interface SplitRoles {
  writer: TandemServer
  reader: TandemServer
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

/** A smoke load: the same few requests on any machine, so a slow one takes longer but checks the same. */
const smokeSpan: Span = { warmRequests: 4, requests: 24 }

export function createContext(options: ContextOptions): BenchContext {
  const smoke = options.smoke
  const seconds = smoke ? 0 : options.seconds
  const span: Span = smoke ? smokeSpan : { seconds, warmSeconds: Math.min(3, Math.max(1, seconds / 5)) }
  const scale = (full: number, small: number) => (smoke ? Math.min(full, small) : full)
  let bare: Promise<ServerProcess> | undefined
  let ceiling: Promise<Measurement> | undefined
  const shared = new Map<string, Promise<{ close(): Promise<void> }>>()
  /** Fresh in a real run; in a smoke run started once, kept, and closed with the context. */
  const once = async <T extends { close(): Promise<void> }>(key: string, start: () => Promise<T>) => {
    if (!smoke) return start()
    let started = shared.get(key) as Promise<T> | undefined
    if (!started) shared.set(key, (started = start()))
    return { ...(await started), close: async () => undefined }
  }
  const ctx: BenchContext = {
    seconds,
    span,
    smoke,
    logLevel: options.logLevel ?? 'warn',
    postgresUrl: options.postgresUrl,
    redisUrl: options.redisUrl,
    command(scenario) {
      // The settings that change what a run measures, as they were set (a scale, the pool).
      const knobs = [
        'BENCH_CARDS_SCALE',
        'BENCH_FEED_SCALE',
        'BENCH_FEED_MODES',
        'BENCH_FEED_POST_RATE',
        'BENCH_PROCUREMENT_SCALE',
        'BENCH_POOL_SIZE',
        'BENCH_NODE_ARGS',
      ]
        .filter((name) => process.env[name] !== undefined && process.env[name] !== '')
        .map((name) => `${name}=${process.env[name] ?? ''} `)
        .join('')
      const env = (seconds === 10 || smoke ? '' : `BENCH_SECONDS=${seconds} `) + knobs
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
    scale,
    bare: () => (bare ??= startBareServer()),
    ceiling: () => (ceiling ??= measureCeiling(ctx, scale(100, 4))),
    tandem: (mode) => once(mode, () => startTandemServer(ctx, mode)),
    splitRoles: () => once('split roles', () => startSplitRoles(ctx)),
    async close() {
      // A server that failed to start failed its scenario already.
      const started = [...shared.values(), ...(bare ? [bare] : [])].map((s) => s.catch(() => undefined))
      await Promise.all(started.map(async (s) => (await s)?.close()))
      await removeCompiledSources()
    },
  }
  return ctx
}

async function startSplitRoles(ctx: BenchContext): Promise<SplitRoles> {
  const writer = await startTandemServer(ctx, 'server', { roles: ['command', 'projector'] })
  try {
    const reader = await startTandemServer(ctx, 'server', { roles: ['query'], joins: writer })
    // The process that made the store drops it: the one that joined it goes first.
    return { writer, reader, close: () => reader.close().finally(() => writer.close()) }
  } catch (error) {
    await writer.close()
    throw error
  }
}

async function measureCeiling(ctx: BenchContext, connections: number): Promise<Measurement> {
  const bare = await ctx.bare()
  const m = await runLoad({
    label: 'bare Fastify GET (ceiling of this run)',
    kind: 'baseline',
    url: bare.url,
    serverPid: bare.pid,
    connections,
    span: ctx.span,
    next: () => ({ method: 'GET', path: '/bare' }),
  })
  ctx.log(describeMeasurement(m))
  if (m.ok === 0) throw new Error('The bare Fastify server answered nothing: no ceiling for this run')
  return m
}
