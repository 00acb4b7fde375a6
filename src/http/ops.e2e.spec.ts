import { beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  expectProblem,
  expectSucceeded,
  startTestServer,
  useTestServer,
  type TestServer,
} from '../testing/http.js'
import { readyWithinMs } from './ops.js'
import { createNoteVia, noteCommand, noteQuery } from '../testing/notes-domain/http.js'
import { notesDomain, reader, writer } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'

const commands = ['create-note', 'edit-note', 'add-comment', 'delete-note']
const queries = ['get-note', 'list-notes', 'recent-notes']
const projections = ['note-details', 'note-list']

interface ProjectionStatus {
  name: string
  generation: number
  position: string
  caughtUp: boolean
  rebuilding?: unknown
}

/** Health, metrics, statistics, the cache, rebuilds and the docs, on the notes domain. */
describe.each(modes)('operations over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [notesDomain] })
  /** The file's server, for the tests below (set once it has started). */
  let s: TestServer
  let noteId: string
  beforeAll(async () => {
    s = server()
    noteId = (await createNoteVia(s)).noteId
    // Two comments on the note: the second decides on the stream the first one kept.
    const comment = async (text: string) =>
      expectSucceeded(await s.post(noteCommand('add-comment'), { noteId, text }, { caller: reader }))
    await comment('First')
    const commented = await comment('Second')
    await s.settle(commented.position)
  })

  const stats = async () => {
    const response = await s.get('/api/cqrs/stats')
    expect(response.statusCode).toBe(200)
    return response.json<
      { projections: ProjectionStatus[]; cache: { entries: number; bytes: number } } & Record<string, unknown>
    >()
  }

  describe('health and readiness', () => {
    it('GET /health answers 200 { status: ok }', async () => {
      const response = await s.get('/health')
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ok' })
    })

    it('GET /ready answers 200 with every projection caught up', async () => {
      const response = await s.get('/ready')
      expect(response.statusCode).toBe(200)
      const body = response.json<{ status: string; projections: ProjectionStatus[] }>()
      expect(body.status).toBe('ready')
      expect(body.projections.map((p) => p.name).sort()).toEqual(projections)
      for (const p of body.projections) expect(p.caughtUp).toBe(true)
    })
  })

  describe('readiness with a store that stalls', () => {
    it(`GET /ready answers 503 once a store has not answered within ${readyWithinMs} ms, not when it does`, async () => {
      const { kv } = s.tandem
      const get = kv.get.bind(kv)
      // The connection open, nothing coming back (for the probe's read: the projections' own reads
      // of this store would hold the process's stop too).
      kv.get = (key) => (key === 'ready-probe' ? new Promise<string | null>(() => undefined) : get(key))
      try {
        const began = Date.now()
        const response = await s.get('/ready')
        expect(response.statusCode).toBe(503)
        expect(response.json()).toMatchObject({ code: 'UNAVAILABLE', detail: 'A store is not reachable' })
        expect(Date.now() - began).toBeGreaterThanOrEqual(readyWithinMs - 50)
      } finally {
        kv.get = get
      }
      expect((await s.get('/ready')).statusCode).toBe(200)
    }, 30_000)

    it.skipIf(mode === 'embedded')(
      'GET /ready of a process with the command role alone does not ask the read models’ store',
      async () => {
        const commandOnly = await startTestServer(mode, {
          domains: [notesDomain],
          config: { roles: ['command'] },
        })
        try {
          commandOnly.tandem.kv.get = () => Promise.reject(new Error('The client is closed'))
          expect((await commandOnly.get('/ready')).statusCode).toBe(200)
        } finally {
          await commandOnly.close()
        }
      },
    )
  })

  describe('metrics and statistics', () => {
    it('GET /metrics answers Prometheus text with the handlers it has run', async () => {
      const response = await s.get('/metrics')
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^text\/plain/)
      expect(response.body).toMatch(/^# HELP /m)
      expect(response.body).toContain('tandem_message_duration_seconds')
      expect(response.body).toContain('notes/create-note')
      // The set-up's second comment decided on the stream its first comment kept.
      expect(response.body).toMatch(/^tandem_stream_memory_total\{result="recalled"\} [1-9]/m)
      expect(response.body).toMatch(/^tandem_commit_group_size_count [1-9]/m)
    })

    it('GET /api/cqrs/stats answers the mode, handler counts, cache and projections', async () => {
      await s.get(noteQuery('get-note', { noteId }))
      const body = await stats()
      expect(body).toMatchObject({
        mode,
        uptimeSeconds: expect.any(Number) as unknown,
        cache: { entries: expect.any(Number) as unknown, bytes: expect.any(Number) as unknown },
        // The set-up commented twice on one note: the second comment recalled the stream.
        streamMemory: { streams: expect.any(Number) as unknown, recalled: 1, refused: 0 },
      })
      // That comment read nothing: it was committed through the group commit, alone or not.
      const { groups, transactions } = body.groupCommit as { groups: number; transactions: number }
      expect(groups).toBeGreaterThanOrEqual(1)
      expect(transactions).toBeGreaterThanOrEqual(groups)
      expect(body.commands).toMatchObject({
        'notes/create-note': { count: expect.any(Number) as unknown },
        'notes/add-comment': { count: 2 },
      })
      expect(body.queries).toHaveProperty(['notes/get-note'])
      expect(body.projections.map((p) => p.name).sort()).toEqual(projections)
    })

    it('refuses a parameter to stats or handlers with 400 naming it; the probes ignore theirs', async () => {
      for (const url of ['/api/cqrs/stats?x=1', '/api/cqrs/handlers?x=1']) {
        const response = await s.get(url)
        expectProblem(response, 400, 'VALIDATION_FAILED')
        expect(response.json<{ errors: { path: string }[] }>().errors[0]?.path).toBe('/query/x')
      }
      // A monitor may add one to defeat a cache.
      for (const url of ['/health?t=1', '/ready?t=1', '/metrics?t=1'])
        expect((await s.get(url)).statusCode).toBe(200)
    })

    it('GET /api/cqrs/handlers lists every command, query and projection', async () => {
      const response = await s.get('/api/cqrs/handlers')
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({
        commands: commands.map((c) => `notes/${c}`),
        queries: queries.map((q) => `notes/${q}`),
        projections,
      })
    })
  })

  describe('POST /api/cqrs/cache/clear', () => {
    it('lets an admin drop every cached answer', async () => {
      await s.get(noteQuery('get-note', { noteId }))
      expect((await s.get(noteQuery('get-note', { noteId }))).headers['x-cache']).toBe('hit')
      const { entries, bytes } = (await stats()).cache
      expect(entries).toBeGreaterThan(0)
      expect(bytes).toBeGreaterThan(0)
      const response = await s.app.inject({
        method: 'POST',
        url: '/api/cqrs/cache/clear',
        headers: { authorization: s.bearer(admin) },
      })
      expect(response.statusCode).toBe(200)
      expect(response.json<{ cleared: number }>().cleared).toBeGreaterThan(0)
      expect((await stats()).cache).toEqual({ entries: 0, bytes: 0 })
      expect((await s.get(noteQuery('get-note', { noteId }))).headers['x-cache']).toBe('miss')
    })

    it('refuses a non-admin with 403 FORBIDDEN and keeps the cache', async () => {
      await s.get(noteQuery('get-note', { noteId }))
      for (const caller of [reader, writer]) {
        const response = await s.app.inject({
          method: 'POST',
          url: '/api/cqrs/cache/clear',
          headers: { authorization: s.bearer(caller) },
        })
        expectProblem(response, 403, 'FORBIDDEN')
      }
      expect((await s.get(noteQuery('get-note', { noteId }))).headers['x-cache']).toBe('hit')
    })

    // API.md: 401 UNAUTHENTICATED is for "no token where one is needed".
    it('refuses a request without a token with 401 UNAUTHENTICATED', async () => {
      expectProblem(
        await s.app.inject({ method: 'POST', url: '/api/cqrs/cache/clear' }),
        401,
        'UNAUTHENTICATED',
      )
    })

    it('refuses a bad token with 401 UNAUTHENTICATED', async () => {
      const response = await s.app.inject({
        method: 'POST',
        url: '/api/cqrs/cache/clear',
        headers: { authorization: 'Bearer abc.def.ghi' },
      })
      expectProblem(response, 401, 'UNAUTHENTICATED')
    })

    it('refuses input it would not read, a 400 naming it, and clears nothing', async () => {
      await s.get(noteQuery('get-note', { noteId }))
      const post = (url: string, payload?: string) =>
        s.app.inject({
          method: 'POST',
          url,
          headers: {
            authorization: s.bearer(admin),
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(payload === undefined ? {} : { payload }),
        })
      const refusals = [
        [await post('/api/cqrs/cache/clear', '{"tags":["a"]}'), '/tags'],
        [await post('/api/cqrs/cache/clear?all=1'), '/query/all'],
        [await post('/api/cqrs/cache/clear', '[1]'), ''],
        [await post('/api/cqrs/cache/clear', 'null'), ''],
        [await post('/api/cqrs/projections/note-list/rebuild', '{"from":0}'), '/from'],
        [await post('/api/cqrs/processors/notes/none/retry?x=1'), '/query/x'],
      ] as const
      for (const [response, path] of refusals) {
        expectProblem(response, 400, 'VALIDATION_FAILED')
        expect(response.json<{ errors: { path: string }[] }>().errors[0]?.path).toBe(path)
      }
      expect((await s.get(noteQuery('get-note', { noteId }))).headers['x-cache']).toBe('hit')
      // An empty object is no input, as no body is.
      expect((await post('/api/cqrs/cache/clear', '{}')).statusCode).toBe(200)
    })

    it('checks the token before the body: without one, a broken or a large body is still a 401', async () => {
      for (const payload of ['{', 'x'.repeat(2 * 1024 * 1024)]) {
        const response = await s.app.inject({
          method: 'POST',
          url: '/api/cqrs/cache/clear',
          headers: { 'content-type': 'application/json' },
          payload,
        })
        expectProblem(response, 401, 'UNAUTHENTICATED')
      }
      const other = await s.app.inject({
        method: 'POST',
        url: '/api/cqrs/projections/note-list/rebuild',
        headers: { 'content-type': 'application/json', authorization: s.bearer(reader) },
        payload: '{',
      })
      expectProblem(other, 403, 'FORBIDDEN')
    })
  })

  describe('POST /api/cqrs/projections/:name/rebuild', () => {
    const rebuild = (name: string, headers: Record<string, string> = {}) =>
      s.app.inject({ method: 'POST', url: `/api/cqrs/projections/${name}/rebuild`, headers })

    it('lets an admin rebuild a projection: 202, then a new generation serving the same answers', async () => {
      const before = await s.get(noteQuery('get-note', { noteId }))
      const generation = (await stats()).projections.find((p) => p.name === 'note-details')?.generation
      expect(generation).toEqual(expect.any(Number))

      const response = await rebuild('note-details', { authorization: s.bearer(admin) })
      expect(response.statusCode).toBe(202)
      expect(response.json()).toEqual({
        projection: 'note-details',
        fromGeneration: generation,
        status: 'started',
      })
      // Shown as rebuilding at once, while its new store is still emptied and set up (the CLI, not
      // seeing it, would take the rebuild for gone), unless it has switched already.
      const first = (await stats()).projections.find((p) => p.name === 'note-details')
      if (first?.generation === generation)
        expect(first?.rebuilding).toMatchObject({ generation: (generation ?? 0) + 1 })

      let now: ProjectionStatus | undefined
      for (let tries = 0; tries < 100; tries++) {
        now = (await stats()).projections.find((p) => p.name === 'note-details')
        if (now && now.generation > (generation ?? 0) && !now.rebuilding) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(now).toMatchObject({ generation: (generation ?? 0) + 1, caughtUp: true })
      expect(now?.rebuilding).toBeUndefined()

      const clear = {
        method: 'POST',
        url: '/api/cqrs/cache/clear',
        headers: { authorization: s.bearer(admin) },
      } as const
      expect((await s.app.inject(clear)).statusCode).toBe(200)
      const after = await s.get(noteQuery('get-note', { noteId }))
      expect(after.statusCode).toBe(200)
      expect(after.headers['x-cache']).toBe('miss')
      expect(after.json()).toEqual(before.json())
    })

    it('begins one of rebuilds asked at once; the others are 409 REBUILD_IN_PROGRESS', async () => {
      const live = async () => (await stats()).projections.find((p) => p.name === 'note-details')
      const generation = (await live())?.generation ?? 0
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => rebuild('note-details', { authorization: s.bearer(admin) })),
      )
      expect(answers.filter((a) => a.statusCode === 202)).toHaveLength(1)
      for (const refused of answers.filter((a) => a.statusCode !== 202))
        expectProblem(refused, 409, 'REBUILD_IN_PROGRESS')
      await expect
        .poll(async () => {
          const now = await live()
          return now?.rebuilding === undefined ? now?.generation : undefined
        })
        .toBe(generation + 1)
      // Once it has switched, the next one begins.
      expect((await rebuild('note-details', { authorization: s.bearer(admin) })).statusCode).toBe(202)
      await expect.poll(async () => (await live())?.generation).toBe(generation + 2)
    })

    it('answers 404 PROJECTION_NOT_FOUND for an unknown projection', async () => {
      expectProblem(
        await rebuild('no-such-projection', { authorization: s.bearer(admin) }),
        404,
        'PROJECTION_NOT_FOUND',
      )
    })

    it('refuses a non-admin with 403 FORBIDDEN', async () => {
      expectProblem(await rebuild('note-list', { authorization: s.bearer(writer) }), 403, 'FORBIDDEN')
      const list = (await stats()).projections.find((p) => p.name === 'note-list')
      expect(list?.generation).toBe(1)
      expect(list?.rebuilding).toBeUndefined()
    })

    it('refuses a request without a token with 401 UNAUTHENTICATED', async () => {
      expectProblem(await rebuild('note-list'), 401, 'UNAUTHENTICATED')
    })
  })

  describe('the OpenAPI document and the docs', () => {
    it('GET /openapi.json is OpenAPI 3.1 with every command, query and live route', async () => {
      const response = await s.get('/openapi.json')
      expect(response.statusCode).toBe(200)
      const doc = response.json<{
        openapi: string
        paths: Record<string, Record<string, { requestBody?: unknown; responses?: Record<string, unknown> }>>
      }>()
      expect(doc.openapi).toBe('3.1.0')
      for (const name of commands) {
        const operation = doc.paths[`/api/commands/notes/${name}`]?.post
        expect(operation, name).toBeDefined()
        expect(operation?.requestBody, name).toBeDefined()
        expect(Object.keys(operation?.responses ?? {}), name).toEqual(
          expect.arrayContaining(['200', '400', '401', '413', '422']),
        )
      }
      for (const name of queries) {
        const operation = doc.paths[`/api/queries/notes/${name}`]?.get
        expect(operation, name).toBeDefined()
        expect(Object.keys(operation?.responses ?? {}), name).toEqual(
          expect.arrayContaining(['200', '400', '503']),
        )
      }
      expect(doc.paths['/api/queries/notes/get-note/stream']?.get).toBeDefined()
      for (const path of ['/health', '/ready', '/metrics', '/api/cqrs/stats']) {
        expect(doc.paths[path]?.get, path).toBeDefined()
      }
    })

    it('GET /docs answers the Swagger UI', async () => {
      const response = await s.get('/docs')
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^text\/html/)
      expect(response.body).toContain('swagger-ui')
    })
  })

  describe('unknown routes', () => {
    it.each([
      ['GET', '/nope'],
      ['GET', '/api/queries/notes/no-such-query'],
      ['POST', '/api/commands/notes/no-such-command'],
      ['POST', '/api/commands/feed/create-note'],
      ['GET', '/api/commands/notes/create-note/extra'],
      ['PUT', '/api/cqrs/projections/note-list'],
    ] as const)('%s %s answers 404 ROUTE_NOT_FOUND', async (method, url) => {
      const head = await s.head()
      const response = await s.app.inject({
        method,
        url,
        headers: { authorization: s.bearer(admin), 'content-type': 'application/json' },
        payload: method === 'GET' ? undefined : '{}',
      })
      const problem = expectProblem(response, 404, 'ROUTE_NOT_FOUND')
      expect(problem.detail).toContain(url)
      expect(await s.head()).toBe(head)
    })

    it('answers 404 to a body no route takes, whatever it holds: not JSON, a key twice, too deep', async () => {
      for (const payload of ['{"x":', '{"a":1,"a":2}', `${'['.repeat(100)}${']'.repeat(100)}`]) {
        const response = await s.app.inject({
          method: 'POST',
          url: '/api/commands/notes/no-such-command',
          headers: { authorization: s.bearer(admin), 'content-type': 'application/json' },
          payload,
        })
        expectProblem(response, 404, 'ROUTE_NOT_FOUND')
      }
    })
  })
})
