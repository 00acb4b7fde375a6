import { loadConfig } from '../app/config.js'
import { existingDataDirSecret } from '../app/data-dir.js'
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

/**
 * An admin token signed with the server's secret: AUTH_SECRET, or the one a server made in DATA_DIR
 * (read, never made here: a new one would be no server's).
 */
function adminToken(): string {
  const config = loadConfig()
  const secret = config.authSecret ?? existingDataDirSecret(config.dataDir)
  if (secret === undefined) {
    throw new RemoteError(
      `No secret to sign an admin token with: set AUTH_SECRET to the server's, or run where its DATA_DIR (${config.dataDir}) is`,
    )
  }
  return createAuth(secret).sign({ sub: 'tandem-cli', roles: ['admin'] }, { expiresInSeconds: 300 })
}

/** A GET of a public route (stats) or a POST of an admin one, signed as an admin. */
export async function call(url: string, path: string, method: 'GET' | 'POST' = 'GET'): Promise<unknown> {
  // Made before the request: a bad secret is the caller's to hear, not "no server answers".
  const headers: Record<string, string> = method === 'POST' ? { authorization: `Bearer ${adminToken()}` } : {}
  let response: Response
  try {
    response = await fetch(`${url}${path}`, { method, headers })
  } catch (error) {
    const code = causeCode(error)
    // Connected, then cut (the server died or closed it): it did answer, and what it did is not known.
    if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE')
      throw new RemoteError(`The connection to ${url} was lost during ${method} ${path} (${code})`)
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

/** The code of what made fetch fail (its `cause`: ECONNREFUSED, UND_ERR_SOCKET…). */
function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown } }).cause
  return typeof cause?.code === 'string' ? cause.code : undefined
}

interface Stats {
  projections: { name: string; generation: number; rebuilding?: unknown }[]
}

export async function rebuild(url: string, name: string): Promise<void> {
  const started = (await call(url, `/api/cqrs/projections/${encodeURIComponent(name)}/rebuild`, 'POST')) as {
    fromGeneration: number
  }
  console.log(`Rebuilding ${name} beside generation ${started.fromGeneration}; queries keep answering.`)
  const unknown =
    'whether it switched is not known: see /api/cqrs/stats once the server is back, or run it again'
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const stats = (await call(url, '/api/cqrs/stats').catch((error: unknown) => {
      throw error instanceof RemoteError
        ? new RemoteError(`Waiting for the rebuild of ${name}: ${error.message}; ${unknown}`)
        : error
    })) as Stats
    const p = stats.projections.find((x) => x.name === name)
    if (p && p.generation > started.fromGeneration && !p.rebuilding) {
      console.log(`Switched ${name} to generation ${p.generation}.`)
      return
    }
    // Neither rebuilding nor switched: the server was started again meanwhile, and the rebuild is gone
    // with the process it ran in (polling on waited for ever).
    if (p && !p.rebuilding)
      throw new RemoteError(
        `The rebuild of ${name} is no longer running (the server was started again?): generation ${p.generation} still serves; run it again`,
      )
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
