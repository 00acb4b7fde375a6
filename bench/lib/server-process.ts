import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Ready, Reply, Request, ServerKind } from '../server/protocol.js'

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

const childPath = fileURLToPath(new URL('../server/child.ts', import.meta.url))

export async function startServerProcess(
  kind: ServerKind,
  env: Record<string, string>,
): Promise<ServerProcess> {
  const profile = process.env.BENCH_CPU_PROF
  const child = fork(childPath, [kind], {
    execArgv: ['--import', 'tsx', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [])],
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
    for (const waiter of pending.values()) waiter.reject(new Error(`The ${kind} server exited`))
    pending.clear()
  })

  const call = <T>(request: DistributiveOmit<Request, 'id'>) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      child.send({ ...request, id })
    })

  return {
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
}
