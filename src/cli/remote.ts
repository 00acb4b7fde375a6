import { loadConfig } from '../app/config.js'
import { dataDirSecret } from '../app/data-dir.js'
import { createAuth } from '../app/auth.js'

/** Management commands that act on a running server (its cache and projections live in its memory). */

/** A server that did not answer or refused: the CLI prints its message alone. */
export class RemoteError extends Error {}

export function serverUrl(given: string | undefined): string {
  if (given) return given.replace(/\/$/, '')
  const config = loadConfig()
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  return `http://${host}:${config.port}`
}

function adminToken(): string {
  const config = loadConfig()
  return createAuth(config.authSecret ?? dataDirSecret(config.dataDir)).sign(
    { sub: 'tandem-cli', roles: ['admin'] },
    { expiresInSeconds: 300 },
  )
}

export async function call(url: string, path: string, method: 'GET' | 'POST' = 'GET'): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken()}` },
    })
  } catch {
    throw new RemoteError(`No Tandem server answers at ${url}. Start one with "npm start", or pass --url.`)
  }
  const body = (await response.json().catch(() => undefined)) as
    { code?: string; title?: string; detail?: string } | undefined
  if (!response.ok) {
    const reason = [body?.code, body?.detail ?? body?.title].filter(Boolean).join(': ')
    throw new RemoteError(
      `${method} ${url}${path} answered ${response.status}${reason ? ` (${reason})` : ''}`,
    )
  }
  return body
}

interface Stats {
  projections: { name: string; generation: number; rebuilding?: unknown }[]
}

export async function rebuild(url: string, name: string): Promise<void> {
  const started = (await call(url, `/api/cqrs/projections/${encodeURIComponent(name)}/rebuild`, 'POST')) as {
    fromGeneration: number
  }
  console.log(`Rebuilding ${name} beside generation ${started.fromGeneration}; queries keep answering.`)
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const stats = (await call(url, '/api/cqrs/stats')) as Stats
    const p = stats.projections.find((x) => x.name === name)
    if (p && p.generation > started.fromGeneration && !p.rebuilding) {
      console.log(`Switched ${name} to generation ${p.generation}.`)
      return
    }
  }
}

/** `tandem processors retry <domain/name>`: the server handles the processor's dead letters again. */
export async function retryProcessor(url: string, name: string): Promise<void> {
  const path = name.split('/').map(encodeURIComponent).join('/')
  const report = (await call(url, `/api/cqrs/processors/${path}/retry`, 'POST')) as {
    retried: number
    handled: number
    parked: number
  }
  console.log(
    `${name}: ${report.retried} dead letters retried, ${report.handled} handled, ${report.parked} still parked.`,
  )
}
