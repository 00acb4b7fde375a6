import { fork, type ChildProcess } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Ready, Reply, Request, ServerKind } from '../server/protocol.js'
import { compiledSources } from '../../src/testing/compiled-sources.js'

/** A server running in a child process, reachable over HTTP and controlled over IPC. */
export interface ServerProcess {
  readonly kind: ServerKind
  readonly url: string
  readonly pid: number
  readonly redisPrefix: string | undefined
  call<T>(request: DistributiveOmit<Request, 'id'>): Promise<T>
  close(): Promise<void>
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** Each kind's program: the Tandem server, the bare Fastify one (which loads nothing of Tandem), the CRUD baseline. */
const programs: Record<ServerKind, string> = { tandem: 'child', bare: 'bare', crud: 'crud' }

/** How to run a kind's program: through tsx, or compiled once per run when on the sources. */
async function launch(kind: ServerKind): Promise<{ file: string; execArgv: string[] }> {
  // Read when a server starts: the smoke test sets it after its imports.
  if (process.env.BENCH_FROM_SRC !== '1') {
    const file = fileURLToPath(new URL(`../server/${programs[kind]}.ts`, import.meta.url))
    return { file, execArgv: ['--import', 'tsx'] }
  }
  const dir = await compiledSources()
  return { file: join(dir, 'bench', 'server', `${programs[kind]}.js`), execArgv: [] }
}

export interface ServerProcessOptions {
  /**
   * Compile WebAssembly (PGlite) with V8's baseline compiler only: it starts in half the CPU and
   * runs slower. For smoke runs, which start servers and measure nothing.
   */
  quickStart?: boolean
}

export async function startServerProcess(
  kind: ServerKind,
  env: Record<string, string>,
  options: ServerProcessOptions = {},
): Promise<ServerProcess> {
  const profile = process.env.BENCH_CPU_PROF
  const { file, execArgv } = await launch(kind)
  const child = fork(file, [], {
    execArgv: [
      ...execArgv,
      ...(options.quickStart ? ['--liftoff-only'] : []),
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    ],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const ready = await new Promise<Ready>((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`The ${kind} server exited (${code}) before it was ready`))
    child.once('exit', onExit)
    child.once('error', reject)
    child.once('message', (message: Ready) => {
      child.off('exit', onExit)
      resolve(message)
    })
  })
  return controller(kind, child, ready)
}

/** The servers running, by process id: a load knows its server by pid (`profileWindow`). */
const running = new Map<number, ServerProcess>()

/**
 * With `BENCH_PHASE_PROF=dir`, profiles the server `pid` from now until the returned function is
 * called, into `dir/<label>.<pid>.cpuprofile`; otherwise (or for a process not started here) nothing.
 */
export async function profileWindow(pid: number | undefined, label: string): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_PHASE_PROF
  const server = pid === undefined ? undefined : running.get(pid)
  if (!dir || !server) return async () => {}
  await mkdir(dir, { recursive: true })
  await server.call({ op: 'profile', action: 'start' })
  const file = join(dir, label.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-|-$/g, ''))
  return async () => {
    await server.call({ op: 'profile', action: 'stop', file })
  }
}

function controller(kind: ServerKind, child: ChildProcess, ready: Ready): ServerProcess {
  let nextId = 1
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  child.on('message', (reply: Reply) => {
    const waiter = pending.get(reply.id)
    if (!waiter) return
    pending.delete(reply.id)
    if (reply.ok) waiter.resolve(reply.value)
    else waiter.reject(new Error(`${kind} server: ${reply.error}`))
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  void exited.then(() => {
    running.delete(child.pid ?? 0)
    for (const waiter of pending.values()) waiter.reject(new Error(`The ${kind} server exited`))
    pending.clear()
  })

  const call = <T>(request: DistributiveOmit<Request, 'id'>) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      child.send({ ...request, id })
    })

  const server: ServerProcess = {
    kind,
    url: `http://127.0.0.1:${ready.port}`,
    pid: child.pid ?? 0,
    redisPrefix: ready.redisPrefix,
    call,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      try {
        await call({ op: 'close' }).catch(() => undefined)
        await exited
      } finally {
        clearTimeout(timer)
      }
    },
  }
  running.set(server.pid, server)
  return server
}
