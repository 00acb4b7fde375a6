import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { admin, expectProblem, startTestServer, type TestServer } from '../testing/http.js'
import { notesDomain } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'

/** A route that exists, called with a method it does not take: 405 and what it takes, not 404. */
describe.each(modes)('methods (%s)', (mode) => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [notesDomain] })
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  describe('a known route with another method', () => {
    it.each([
      ['GET', '/api/commands/notes/create-note', 'POST'],
      ['PUT', '/api/commands/notes/create-note', 'POST'],
      ['DELETE', '/api/commands/notes/add-comment', 'POST'],
      ['HEAD', '/api/commands/notes/create-note', 'POST'],
      ['POST', '/api/queries/notes/get-note', 'GET, HEAD'],
      ['POST', '/api/queries/notes/get-note/stream', 'GET, HEAD'],
      ['POST', '/health', 'GET, HEAD'],
      ['DELETE', '/api/cqrs/stats', 'GET, HEAD'],
      ['GET', '/api/cqrs/cache/clear', 'POST'],
      ['GET', '/api/cqrs/projections/note-list/rebuild', 'POST'],
      ['OPTIONS', '/openapi.json', 'GET, HEAD'],
      // Escapes as the router decodes them; a plugin's root with its trailing slash.
      ['POST', '/%68ealth', 'GET, HEAD'],
      ['POST', '/api/queries/notes/get%2Dnote', 'GET, HEAD'],
      ['PUT', '/docs/', 'GET, HEAD'],
      ['PUT', '/docs', 'GET, HEAD'],
    ] as const)('%s %s answers 405 METHOD_NOT_ALLOWED, Allow: %s', async (method, url, allow) => {
      const head = await s.head()
      const response = await s.app.inject({
        method,
        url,
        headers: { authorization: s.bearer(admin), 'content-type': 'application/json' },
        payload: method === 'GET' || method === 'HEAD' ? undefined : '{}',
      })
      expect(response.headers.allow).toBe(allow)
      if (method === 'HEAD') expect(response.statusCode).toBe(405)
      else expect(expectProblem(response, 405, 'METHOD_NOT_ALLOWED').detail).toContain(url)
      expect(await s.head()).toBe(head)
    })

    it('answers 404 to a slash escaped inside a segment: it names no route', async () => {
      const response = await s.app.inject({ method: 'POST', url: '/api/queries/notes%2Fget-note' })
      expectProblem(response, 404, 'ROUTE_NOT_FOUND')
    })

    it("answers 414 to a path parameter past the router's bound, quoting little of it", async () => {
      const url = `/api/cqrs/projections/${'a'.repeat(5000)}/rebuild`
      const response = await s.app.inject({ method: 'POST', url })
      expect(expectProblem(response, 414, 'URI_TOO_LONG').detail?.length).toBeLessThanOrEqual(200)
      expect(response.body.length).toBeLessThan(600)
    })

    it('still answers HEAD on a GET route', async () => {
      const response = await s.app.inject({ method: 'HEAD', url: '/health' })
      expect(response.statusCode).toBe(200)
    })
  })
})
