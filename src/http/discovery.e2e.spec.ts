import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestServer, type TestServer } from '../testing/http.js'
import { noteCommand, noteQuery } from '../testing/notes-domain/http.js'
import { notesDomain, writer } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'

type Security = Record<string, string[]>[] | undefined
interface Operation {
  security?: Security
  responses?: Record<string, unknown>
  requestBody?: {
    content: Record<string, { example?: unknown; examples?: Record<string, { value: unknown }> }>
  }
  parameters?: { name: string; in?: string; required?: boolean; example?: unknown }[]
}
interface OpenApi {
  info: { description: string }
  paths: Record<string, Record<string, Operation>>
}

/**
 * Swagger UI's lock on an operation: none without a security requirement; closed as soon as one
 * requirement is met, and before the user authorizes only an empty one (`{}`) is.
 */
function lockBeforeAuthorizing(security: Security): 'none' | 'open' | 'closed' {
  if (!security || security.length === 0) return 'none'
  return security.some((requirement) => Object.keys(requirement).length === 0) ? 'closed' : 'open'
}

/** What a newcomer meets first: the root and the docs. */
describe.each(modes)('finding one’s way (%s)', (mode) => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [notesDomain] })
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  describe('GET /', () => {
    it('answers JSON linking the docs, the spec, health, stats and every route', async () => {
      const response = await s.get('/')
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^application\/json/)
      const home = response.json<{ links: Record<string, string>; domains: Record<string, string[]> }>()
      expect(Object.values(home.links)).toEqual(
        expect.arrayContaining(['/docs', '/openapi.json', '/health', '/api/cqrs/stats']),
      )
      expect(home.domains.notes).toEqual(
        expect.arrayContaining([
          'POST /api/commands/notes/create-note',
          'GET /api/queries/notes/list-notes',
          'GET /api/queries/notes/get-note/stream',
        ]),
      )
      expect(home.domains['operations (admin)']).toContain('POST /api/cqrs/projections/:name/rebuild')
      for (const link of Object.values(home.links)) {
        const target = await s.get(link, { caller: admin })
        expect(target.statusCode, link).toBeLessThan(400)
      }
    })

    it('answers HTML with links to a browser', async () => {
      const response = await s.get('/', {
        headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
      })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^text\/html/)
      expect(response.headers.vary).toMatch(/accept/i)
      expect(response.body).toContain('<a href="/docs">')
      expect(response.body).toContain('/api/commands/notes/create-note')
    })

    it('answers JSON to curl and fetch (*/*)', async () => {
      const response = await s.get('/', { headers: { accept: '*/*' } })
      expect(response.headers['content-type']).toMatch(/^application\/json/)
    })
  })

  describe('the OpenAPI document as Swagger UI shows it', () => {
    let doc: OpenApi
    beforeAll(async () => {
      doc = (await s.get('/openapi.json')).json<OpenApi>()
    })

    it('has a description without text Swagger UI would take for HTML', () => {
      expect(doc.info.description).not.toMatch(/<[A-Za-z]/)
      expect(doc.info.description).toContain('`POST /api/commands/{domain}/{command}`')
    })

    it('shows no lock on public operations and an open one (until authorized) on the others', () => {
      const seen = { public: 0, protected: 0 }
      const definitions = [
        ...[...s.tandem.registry.commands.values()].map((d) => ({ d, method: 'post', kind: 'commands' })),
        ...[...s.tandem.registry.queries.values()].map((d) => ({ d, method: 'get', kind: 'queries' })),
      ]
      for (const { d, method, kind } of definitions) {
        const operation = doc.paths[`/api/${kind}/${d.domain}/${d.name}`]?.[method]
        expect(operation, d.name).toBeDefined()
        const isPublic = d.access.kind === 'public'
        seen[isPublic ? 'public' : 'protected']++
        expect(lockBeforeAuthorizing(operation?.security), d.name).toBe(isPublic ? 'none' : 'open')
        if (!isPublic) expect(operation?.security, d.name).toEqual([{ bearer: [] }])
        // A public operation refuses no caller (403); a bad token is still refused (401).
        const responses = Object.keys((operation as { responses?: object } | undefined)?.responses ?? {})
        expect(responses.includes('403'), d.name).toBe(!isPublic)
        expect(responses, d.name).toContain('401')
      }
      expect(seen.public).toBeGreaterThan(0)
      expect(seen.protected).toBeGreaterThan(0)
      const live = doc.paths['/api/queries/notes/get-note/stream']?.get
      expect(lockBeforeAuthorizing(live?.security)).toBe(
        lockBeforeAuthorizing(doc.paths['/api/queries/notes/get-note']?.get?.security),
      )
    })

    it('documents what the operations answer, and what a live stream refuses before it starts', () => {
      const statuses = (path: string, method: 'get' | 'post') =>
        Object.keys(doc.paths[path]?.[method]?.responses ?? {}).sort()
      const body = ['400', '401', '403', '413', '415']
      const rebuild = doc.paths['/api/cqrs/projections/{name}/rebuild']?.post
      expect(statuses('/api/cqrs/projections/{name}/rebuild', 'post')).toEqual(
        ['202', '404', '409', ...body].sort(),
      )
      expect(statuses('/api/cqrs/cache/clear', 'post')).toEqual(['200', ...body].sort())
      expect(statuses('/api/cqrs/processors/{domain}/{name}/retry', 'post')).toEqual(
        ['200', '404', ...body].sort(),
      )
      expect(lockBeforeAuthorizing(rebuild?.security)).toBe('open')
      // 503: X-Min-Position not reached in time, before the stream opens. get-note is public: no 403.
      expect(statuses('/api/queries/notes/get-note/stream', 'get')).toEqual(
        ['200', '400', '401', '404', '429', '503'].sort(),
      )
    })

    it('declares the headers the answers carry, and the answers carry them as declared', async () => {
      type Headers = Record<string, { schema: { enum?: string[]; pattern?: string } }>
      const declared = (path: string, method: 'get' | 'post', status: string) =>
        (doc.paths[path]?.[method]?.responses?.[status] as { headers?: Headers } | undefined)?.headers ?? {}
      const query = declared('/api/queries/notes/get-note', 'get', '200')
      expect(Object.keys(query).sort()).toEqual([
        'server-timing',
        'x-cache',
        'x-read-position',
        'x-request-id',
      ])
      expect(Object.keys(declared('/api/queries/notes/get-note', 'get', '503'))).toEqual(['retry-after'])
      const command = declared('/api/commands/notes/create-note', 'post', '200')
      expect(Object.keys(command).sort()).toEqual(['idempotent-replayed', 'x-request-id'])
      for (const status of ['409', '503'])
        expect(Object.keys(declared('/api/commands/notes/create-note', 'post', status))).toEqual([
          'retry-after',
        ])

      const headers = { 'idempotency-key': `declared-${Date.now()}` }
      const first = await s.post(
        noteCommand('create-note'),
        { title: 'Declared' },
        { caller: writer, headers },
      )
      const again = await s.post(
        noteCommand('create-note'),
        { title: 'Declared' },
        { caller: writer, headers },
      )
      expect(first.headers['idempotent-replayed']).toBeUndefined()
      expect(command['idempotent-replayed']?.schema.enum).toContain(again.headers['idempotent-replayed'])
      const noteId = first.json<{ result: { noteId: string } }>().result.noteId
      const read = await s.get(noteQuery('get-note', { noteId }))
      expect(query['x-cache']?.schema.enum).toContain(read.headers['x-cache'])
      expect(String(read.headers['x-read-position'])).toMatch(
        new RegExp(query['x-read-position']?.schema.pattern ?? '-'),
      )
      expect(read.headers['server-timing']).toMatch(/^query;dur=/)
      expect(read.headers['x-request-id']).toEqual(expect.any(String))
    })

    it("names each command's refusals under their statuses: a 404 only where it has one, CONCURRENCY_CONFLICT in every 409", () => {
      let withNotFound = 0
      for (const command of s.tandem.registry.commands.values()) {
        const responses = (doc.paths[`/api/commands/${command.domain}/${command.name}`]?.post?.responses ??
          {}) as Record<string, { description: string } | undefined>
        const declared = Object.entries(command.refusals) as [string, string[]][]
        for (const [status, codes] of declared)
          for (const code of codes)
            expect(responses[status]?.description, `${command.name} ${code}`).toContain(code)
        expect('404' in responses, command.name).toBe((command.refusals[404]?.length ?? 0) > 0)
        if ('404' in responses) withNotFound++
        expect(responses['409']?.description, command.name).toContain('CONCURRENCY_CONFLICT')
      }
      expect(withNotFound).toBeGreaterThan(0)
    })

    it("shows every command's examples as request examples, and a query's as its parameters'", () => {
      for (const command of s.tandem.registry.commands.values()) {
        const body = doc.paths[`/api/commands/${command.domain}/${command.name}`]?.post?.requestBody
        const media = body?.content['application/json']
        // One example is shown as `example`, several as named `examples`.
        const shown = media?.example
          ? [media.example]
          : Object.values(media?.examples ?? {}).map((e) => e.value)
        expect(shown, command.name).toEqual(command.examples)
      }
      const list = doc.paths['/api/queries/notes/list-notes']?.get?.parameters ?? []
      expect(list.find((p) => p.name === 'limit')?.example).toBe(10)
      // A live stream's parameters carry the query's examples too: Swagger UI's "Try it out" sends them.
      const stream = doc.paths['/api/queries/notes/get-note/stream']?.get?.parameters ?? []
      const query = doc.paths['/api/queries/notes/get-note']?.get?.parameters ?? []
      const example = (ps: typeof query) => ps.find((p) => p.name === 'noteId')?.example
      expect(example(stream)).toBeDefined()
      expect(example(stream)).toEqual(example(query))
      // Required as the query's are: an optional one with examples was listed as required.
      const streams = Object.keys(doc.paths).filter((path) => path.endsWith('/stream'))
      expect(streams.length).toBeGreaterThan(1)
      for (const path of streams) {
        const required = (ps: typeof query) =>
          Object.fromEntries(ps.filter((p) => p.in === 'query').map((p) => [p.name, p.required === true]))
        const { cursor: _cursor, ...asked } = required(
          doc.paths[path.slice(0, -'/stream'.length)]?.get?.parameters ?? [],
        )
        const { lastEventId: _id, ...streamed } = required(doc.paths[path]?.get?.parameters ?? [])
        expect(streamed, path).toEqual(asked)
      }
    })
  })
})
