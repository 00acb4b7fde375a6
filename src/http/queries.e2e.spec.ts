import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import {
  expectInvalid,
  expectProblem,
  expectSucceeded,
  useTestServer,
  type TestServer,
} from '../testing/http.js'
import { createNoteVia, noteCommand, noteQuery } from '../testing/notes-domain/http.js'
import { notesDomain, reader, writer } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'

interface Note {
  noteId: string
  title: string
  comments: number
}
interface Page<T> {
  data: T[]
  nextCursor: string | null
}

/** A writer of its own for each call, so a listing by owner holds that test's notes only. */
let authors = 0
const newAuthor = (): Caller => ({ id: `author-${++authors}`, roles: ['writer'] })

/**
 * What any query answers over HTTP: the answer's shape and headers, the cache, read-your-writes and
 * paging, on the notes domain (the events domain's queries: src/domains/events/http/).
 */
describe.each(modes)('queries over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [notesDomain] })
  /** The file's server, for the tests below (set once it has started). */
  let s: TestServer
  beforeAll(() => {
    s = server()
  })

  const comment = async (noteId: string, caller: Caller = reader) =>
    expectSucceeded(await s.post(noteCommand('add-comment'), { noteId, text: 'Hi' }, { caller }))

  describe('a query with a cache (get-note)', () => {
    it('answers { data } with the answer, X-Cache miss then hit, X-Read-Position and Server-Timing', async () => {
      const { noteId, position } = await createNoteVia(s, { title: 'Details', body: 'Text' })
      await s.settle(position)
      const url = noteQuery('get-note', { noteId })
      const first = await s.get(url)
      expect(first.statusCode).toBe(200)
      expect(first.headers['content-type']).toMatch(/^application\/json/)
      const body = first.json<{ data: Record<string, unknown> }>()
      expect(Object.keys(body)).toEqual(['data'])
      expect(Object.keys(body.data).sort()).toEqual(
        ['noteId', 'ownerId', 'title', 'body', 'comments', 'updatedAt'].sort(),
      )
      expect(body.data).toMatchObject({ noteId, title: 'Details', body: 'Text', comments: 0 })
      expect(first.headers['x-cache']).toBe('miss')
      expect(first.headers['x-read-position']).toMatch(/^[0-9]+$/)
      expect(BigInt(String(first.headers['x-read-position']))).toBeGreaterThanOrEqual(BigInt(position))
      expect(first.headers['server-timing']).toMatch(/^query;dur=[0-9.]+$/)
      expect(first.headers['x-request-id']).toEqual(expect.any(String))

      const second = await s.get(url)
      expect(second.statusCode).toBe(200)
      expect(second.headers['x-cache']).toBe('hit')
      expect(second.json()).toEqual(body)
      // Sent as the bytes kept beside the cached answer: the same type and length as when it was made.
      expect(second.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(second.headers['content-length']).toBe(first.headers['content-length'])
      expect(second.headers['x-read-position']).toMatch(/^[0-9]+$/)
      // The guide's use_cache=False: the read models are read, and the cached answer stays as it was.
      for (const value of ['no-cache', 'max-age=0, No-Cache']) {
        const fresh = await s.get(url, { headers: { 'cache-control': value } })
        expect(fresh.headers['x-cache'], value).toBe('miss')
        expect(fresh.json()).toEqual(body)
      }
      expect((await s.get(url, { headers: { 'cache-control': 'no-store-ish' } })).headers['x-cache']).toBe(
        'hit',
      )
    })

    it('drops the cached answer when a command changes what it read', async () => {
      const { noteId, position } = await createNoteVia(s)
      await s.settle(position)
      const url = noteQuery('get-note', { noteId })
      expect((await s.get(url)).headers['x-cache']).toBe('miss')
      expect((await s.get(url)).headers['x-cache']).toBe('hit')
      const commented = await comment(noteId)
      const after = await s.get(url, { headers: { 'x-min-position': commented.position } })
      expect(after.headers['x-cache']).toBe('miss')
      expect(after.json<{ data: Note }>().data).toMatchObject({ comments: 1 })
    })

    it("answers 404 with the query's code for an unknown note", async () => {
      expectProblem(await s.get(noteQuery('get-note', { noteId: randomUUID() })), 404, 'NOTE_NOT_FOUND')
    })

    it('answers 400 naming a parameter given more than once, not "must be string"', async () => {
      const id = randomUUID()
      const twice = await s.get(`${noteQuery('get-note', { noteId: id })}&noteId=${id}`)
      expectProblem(twice, 400, 'VALIDATION_FAILED')
      expect(twice.json<{ errors: unknown[] }>().errors).toEqual([
        { path: '/noteId', message: 'is given more than once' },
      ])
    })
  })

  describe('read-your-writes', () => {
    it('with X-Min-Position set to a command position, every read sees that command', async () => {
      const { noteId } = await createNoteVia(s)
      for (let n = 1; n <= 5; n++) {
        const edited = expectSucceeded(
          await s.post(noteCommand('edit-note'), { noteId, title: `Edit ${n}` }, { caller: writer }),
        )
        const read = await s.get(noteQuery('get-note', { noteId }), {
          headers: { 'x-min-position': edited.position },
        })
        expect(read.statusCode).toBe(200)
        expect(read.json<{ data: Note }>().data.title).toBe(`Edit ${n}`)
        expect(BigInt(String(read.headers['x-read-position']))).toBeGreaterThanOrEqual(
          BigInt(edited.position),
        )
      }
    })

    it('sees a command in a SQL read model too (list-notes)', async () => {
      const author = newAuthor()
      const { noteId, position } = await createNoteVia(s, {}, author)
      const read = await s.get(noteQuery('list-notes', { ownerId: author.id }), {
        caller: author,
        headers: { 'x-min-position': position },
      })
      expect(read.json<Page<Note>>().data.map((n) => n.noteId)).toEqual([noteId])
    })

    it('answers 503 READ_MODEL_LAGGING for a position far ahead, after about X-Max-Wait-Ms', async () => {
      const ahead = (BigInt(await s.head()) + 1_000_000n).toString()
      const started = Date.now()
      const response = await s.get(noteQuery('list-notes'), {
        caller: reader,
        headers: { 'x-min-position': ahead, 'x-max-wait-ms': '150' },
      })
      const took = Date.now() - started
      expectProblem(response, 503, 'READ_MODEL_LAGGING')
      expect(response.headers['retry-after']).toBe('1')
      expect(took).toBeGreaterThanOrEqual(140)
      expect(took).toBeLessThan(2500)
    })

    it('answers 503 READ_MODEL_LAGGING at once with X-Max-Wait-Ms 0', async () => {
      const ahead = (BigInt(await s.head()) + 10n).toString()
      const response = await s.get(noteQuery('get-note', { noteId: randomUUID() }), {
        headers: { 'x-min-position': ahead, 'x-max-wait-ms': '0' },
      })
      expectProblem(response, 503, 'READ_MODEL_LAGGING')
    })

    it('accepts X-Max-Wait-Ms 10000, the maximum', async () => {
      const { position } = await createNoteVia(s)
      const response = await s.get(noteQuery('list-notes'), {
        caller: reader,
        headers: { 'x-min-position': position, 'x-max-wait-ms': '10000' },
      })
      expect(response.statusCode).toBe(200)
    })

    // Position 0 is before every event: every read model has applied it.
    it('answers at once for X-Min-Position 0', async () => {
      const response = await s.get(noteQuery('list-notes'), {
        caller: reader,
        headers: { 'x-min-position': '0', 'x-max-wait-ms': '500' },
      })
      expect(response.statusCode).toBe(200)
    })

    it('does not fail with a 500 for a 19-digit position beyond the log position type', async () => {
      const response = await s.get(noteQuery('list-notes'), {
        caller: reader,
        headers: { 'x-min-position': '9999999999999999999', 'x-max-wait-ms': '100' },
      })
      expect([400, 503]).toContain(response.statusCode)
      expect(response.json<{ code: string }>().code).toMatch(/^(VALIDATION_FAILED|READ_MODEL_LAGGING)$/)
    })

    it.each([
      ['x-min-position', 'abc'],
      ['x-min-position', '-1'],
      ['x-min-position', '1.5'],
      ['x-min-position', '12345678901234567890'],
      ['x-min-position', ''],
      ['x-max-wait-ms', '10001'],
      ['x-max-wait-ms', '99999'],
      ['x-max-wait-ms', 'abc'],
      ['x-max-wait-ms', '-1'],
      ['x-max-wait-ms', '1.5'],
    ])('answers 400 for %s: %j', async (name, value) => {
      const response = await s.get(noteQuery('list-notes'), { caller: reader, headers: { [name]: value } })
      expectInvalid(response, `/headers/${name}`)
    })
  })

  describe('a paged query (list-notes)', () => {
    /** One author's notes, at `position`. */
    const list = async (author: Caller, position: string, params: Record<string, string | number> = {}) => {
      const response = await s.get(noteQuery('list-notes', { ownerId: author.id, ...params }), {
        caller: author,
        headers: { 'x-min-position': position },
      })
      expect(response.statusCode).toBe(200)
      return response
    }

    it('answers { data, nextCursor } and pages in order, without loss or repeats', async () => {
      const author = newAuthor()
      const created: string[] = []
      let last = '0'
      for (let n = 0; n < 5; n++) {
        const note = await createNoteVia(s, { title: `Note ${n}` }, author)
        created.push(note.noteId)
        last = note.position
      }
      const seen: string[] = []
      const sizes: number[] = []
      let cursor: string | null = null
      do {
        const response = await list(author, last, { limit: 2, ...(cursor ? { cursor } : {}) })
        const page = response.json<Page<Note>>()
        expect(Object.keys(page).sort()).toEqual(['data', 'nextCursor'])
        expect(response.headers['x-cache']).toMatch(/^(hit|miss)$/)
        expect(response.headers['x-read-position']).toMatch(/^[0-9]+$/)
        expect(response.headers['server-timing']).toMatch(/^query;dur=/)
        seen.push(...page.data.map((e) => e.noteId))
        sizes.push(page.data.length)
        cursor = page.nextCursor
      } while (cursor !== null && sizes.length < 10)
      expect(seen).toEqual([...created].sort())
      expect(sizes).toEqual([2, 2, 1])
    })

    it('gives 20 by default and at most limit', async () => {
      const author = newAuthor()
      let last = '0'
      for (let n = 1; n <= 21; n++) last = (await createNoteVia(s, {}, author)).position
      const byDefault = (await list(author, last)).json<Page<Note>>()
      expect(byDefault.data).toHaveLength(20)
      expect(byDefault.nextCursor).toEqual(expect.any(String))
      const all = (await list(author, last, { limit: 100 })).json<Page<Note>>()
      expect(all.data).toHaveLength(21)
      expect(all.nextCursor).toBeNull()
      expect((await list(author, last, { limit: 1 })).json<Page<Note>>().data).toHaveLength(1)
    })
  })
})
