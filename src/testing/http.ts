import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import type { Config } from '../app/config.js'
import type { Domain } from '../app/domain.js'
import type { Caller } from '../core/messages.js'
import { buildServer } from '../http/server.js'
import { startTestTandem, type TestTandem } from './harness.js'
import type { Mode } from './services.js'

/** Tandem's HTTP server over a test Tandem, for end-to-end tests through `app.inject`. */
export interface TestServer {
  readonly tandem: TestTandem
  readonly app: FastifyInstance
  /** Every answer with a 5xx status other than 503 (retry later): each one is a bug. */
  readonly serverErrors: string[]
  /** A bearer token for `caller`. */
  bearer(caller: Caller, expiresInSeconds?: number): string
  /** The position of the last event in the log, '0' when it is empty. */
  head(): Promise<string>
  /**
   * Waits until every projection of the served domains has applied `position`, so no later
   * invalidation is pending.
   */
  settle(position: string): Promise<void>
  post(url: string, body: unknown, options?: RequestOptions): Promise<LightMyRequestResponse>
  /**
   * A GET that reads its own writes: unless the request names `X-Min-Position`, it waits for the
   * last position a command of the test committed (the test Tandem's buses do, see harness.ts).
   */
  get(url: string, options?: RequestOptions): Promise<LightMyRequestResponse>
  close(): Promise<void>
}

export interface RequestOptions {
  caller?: Caller
  headers?: Record<string, string>
}

export interface TestServerOptions {
  /** The domains to serve (default: every domain of this build). */
  domains?: readonly Domain[]
  /** Overrides of the test configuration (e.g. `roles`). */
  config?: Partial<Config>
}

/** Callers any domain's tests may use; a domain's own callers (with its roles) live beside its tests. */
export const admin: Caller = { id: 'admin-1', roles: ['admin'] }
export const alice: Caller = { id: 'alice', roles: [] }
export const bob: Caller = { id: 'bob', roles: [] }

/** How long `settle` waits for the projections before it fails the test. */
const settleTimeoutMs = 10_000

/**
 * Until every projection this process applies has read the log once (what `/ready` waits for): a
 * server is handed to a test as a readiness probe would let traffic in, not while its runners start.
 */
async function untilReady(tandem: TestTandem): Promise<void> {
  const deadline = Date.now() + settleTimeoutMs
  while (!(await tandem.projections.status()).every((p) => !p.appliedHere || p.caughtUp)) {
    if (Date.now() > deadline)
      throw new Error('The projections did not read the log within 10 s of the start')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export async function startTestServer(mode: Mode, options: TestServerOptions = {}): Promise<TestServer> {
  const tandem = await startTestTandem(mode, options)
  const serverErrors: string[] = []
  let app: FastifyInstance
  try {
    app = await buildServer(tandem)
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode >= 500 && reply.statusCode !== 503) {
        serverErrors.push(`${request.method} ${request.url} -> ${reply.statusCode}`)
      }
    })
    await app.ready()
    await untilReady(tandem)
  } catch (error) {
    await tandem.dispose()
    throw error
  }
  const bearer = (caller: Caller, expiresInSeconds?: number) =>
    `Bearer ${tandem.token(caller, expiresInSeconds)}`
  const headersOf = (options: RequestOptions = {}) => ({
    ...(options.caller ? { authorization: bearer(options.caller) } : {}),
    ...options.headers,
  })
  const inject = async (options: InjectOptions) => app.inject(options)
  return {
    tandem,
    app,
    serverErrors,
    bearer,
    async head() {
      const [row] = await tandem.sql.query<{ head: string | null }>(
        'SELECT max(position)::text AS head FROM tandem.event_log',
      )
      return row?.head ?? '0'
    },
    async settle(position) {
      // The wait X-Min-Position makes, over every projection this process applies or follows.
      const names = tandem.projections.names()
      const settled = await tandem.projections.waitFor(names, BigInt(position), settleTimeoutMs)
      expect(settled, `projections ${names.join(', ')} reached position ${position}`).toBe(true)
    },
    post: (url, body, options) =>
      inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', ...headersOf(options) },
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    get: (url, options) => inject({ method: 'GET', url, headers: headersOf(options) }),
    async close() {
      await app.close()
      await tandem.dispose()
    },
  }
}

/**
 * One test server per file (and mode): started before the file's tests, closed after them, and
 * every test fails if it drew a 5xx other than 503. Returns the server (valid inside tests/hooks).
 */
export function useTestServer(mode: Mode, options: TestServerOptions = {}): () => TestServer {
  let server: TestServer | undefined
  beforeAll(async () => {
    server = await startTestServer(mode, options)
  })
  afterAll(() => server?.close())
  afterEach(() => {
    if (server) expect(server.serverErrors.splice(0)).toEqual([])
  })
  return () => {
    if (!server) throw new Error('The test server is not started: use it inside tests and hooks')
    return server
  }
}

type Params = Record<string, string | number | boolean>

/** `POST /api/commands/<domain>/<name>`. */
export function commandUrl(domain: string, name: string): string {
  return `/api/commands/${domain}/${name}`
}

/** `GET /api/queries/<domain>/<name>?<params>`. */
export function queryUrl(domain: string, name: string, params: Params = {}): string {
  const query = new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString()
  return `/api/queries/${domain}/${name}${query ? `?${query}` : ''}`
}

/** A problem+json answer with this status and code; returns the body. */
export function expectProblem(response: LightMyRequestResponse, status: number, code: string): ProblemJson {
  expect({ status: response.statusCode, body: response.json<unknown>() }).toMatchObject({
    status,
    body: { status, code, type: 'about:blank' },
  })
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = response.json<ProblemJson>()
  expect(typeof body.title).toBe('string')
  return body
}

export interface ProblemJson {
  type: string
  title: string
  status: number
  code: string
  detail?: string
  errors?: { path: string; message: string }[]
}

/** A 400 VALIDATION_FAILED naming each of `paths` in `errors`. */
export function expectInvalid(response: LightMyRequestResponse, ...paths: string[]): ProblemJson {
  const body = expectProblem(response, 400, 'VALIDATION_FAILED')
  expect(Array.isArray(body.errors) && body.errors.length > 0).toBe(true)
  const named = (body.errors ?? []).map((e) => e.path)
  for (const path of paths) expect(named).toContain(path)
  return body
}

export interface CommandAnswer<R = Record<string, unknown>> {
  commandId: string
  status: string
  position: string
  executionTimeMs: number
  result: R
}

/** A succeeded command answer; returns it. */
export function expectSucceeded<R = Record<string, unknown>>(
  response: LightMyRequestResponse,
): CommandAnswer<R> {
  expect({ status: response.statusCode, body: response.json<unknown>() }).toMatchObject({
    status: 200,
    body: { status: 'succeeded' },
  })
  return response.json<CommandAnswer<R>>()
}
