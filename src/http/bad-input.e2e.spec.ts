import type { LightMyRequestResponse } from 'fastify'
import { beforeAll, describe, expect, it } from 'vitest'
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

/**
 * What the platform does with bad input to any command or query: JSON, media types and sizes,
 * query strings, limits and cursors, on the notes domain (the events domain's own inputs:
 * src/domains/events/http/).
 */

const valid = { title: 'Valid', body: 'A note' }

/** A bad request: sent with what it needs (an existing note's id), answered as `status`/`code`. */
interface Case {
  name: string
  send: (s: TestServer, noteId: string) => Promise<LightMyRequestResponse>
  status: number
  code: string
  /** For a 400: the paths `errors` must name. */
  paths?: string[]
}

const raw =
  (
    contentType: string | undefined,
    payload: string | Buffer,
    name = 'create-note',
    headers: Record<string, string> = {},
  ) =>
  (s: TestServer) =>
    s.app.inject({
      method: 'POST',
      url: noteCommand(name),
      headers: {
        authorization: s.bearer(writer),
        ...(contentType ? { 'content-type': contentType } : {}),
        ...headers,
      },
      payload,
    })

const commandCases: Case[] = [
  {
    // Dropped unread, it would look taken: a command reads its body only.
    name: 'create-note: a query string',
    send: (s) =>
      s.app.inject({
        method: 'POST',
        url: `${noteCommand('create-note')}?title=Other&x=%00&a%2Fb~c=1`,
        headers: { authorization: s.bearer(writer), 'content-type': 'application/json' },
        payload: JSON.stringify(valid),
      }),
    status: 400,
    code: 'VALIDATION_FAILED',
    // Named as JSON pointers are, as a body's fields: `a/b~c` is `a~1b~0c`.
    paths: ['/query/title', '/query/x', '/query/a~1b~0c'],
  },
  {
    // Without a token the answer is the 401 it is without the query string.
    name: 'create-note: a query string and no token',
    send: (s) =>
      s.app.inject({
        method: 'POST',
        url: `${noteCommand('create-note')}?x=1`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(valid),
      }),
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'create-note: bad JSON',
    send: raw('application/json', '{"title": '),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-note: a JSON array',
    send: raw('application/json', '[1, 2]'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    // Not read as an empty object: its fields' problems were listed as if none had been sent.
    name: 'create-note: a JSON null',
    send: raw('application/json', 'null'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-note: a JSON string',
    send: raw('application/json', '"note"'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-note: a JSON number',
    send: raw('application/json', '42'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-note: JSON null',
    send: raw('application/json', 'null'),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'create-note: an empty body with content-type json',
    send: raw('application/json', ''),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'create-note: bytes that are not UTF-8 (read as they were, they would be stored as U+FFFD)',
    send: raw(
      'application/json',
      Buffer.concat([Buffer.from('{"title":"A'), Buffer.from([0xff, 0xfe]), Buffer.from('B"}')]),
    ),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  ...['gzip', 'deflate', 'br'].map((coding): Case => ({
    name: `create-note: a body with Content-Encoding: ${coding}`,
    send: raw('application/json', JSON.stringify(valid), 'create-note', { 'content-encoding': coding }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  })),
  {
    name: 'create-note: a __proto__ key',
    send: raw('application/json', JSON.stringify(valid).replace('{', '{"__proto__":{"admin":true},')),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'create-note: a constructor key holding a prototype',
    send: raw('application/json', '{"constructor":{"prototype":{"admin":true}},"title":"x"}'),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  ...[
    'text/plain',
    'text/plain; charset=utf-8',
    'application/vnd.api+json',
    'application/jsonx',
    'multipart/form-data; boundary=x',
  ].map((type): Case => ({
    name: `create-note: a JSON body sent as ${type}`,
    send: raw(type, JSON.stringify(valid)),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  })),
  {
    name: 'create-note: a JSON body without Content-Type',
    send: raw(undefined, JSON.stringify(valid)),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'create-note: no body and no Content-Type (read as {})',
    send: raw(undefined, ''),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/title'],
  },
  {
    name: 'create-note: application/xml',
    send: raw('application/xml', '<note/>'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'create-note: a form',
    send: raw('application/x-www-form-urlencoded', 'title=x'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'create-note: a body over 1 MiB',
    send: raw('application/json', JSON.stringify({ ...valid, body: 'x'.repeat(1024 * 1024) })),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'create-note: a key named twice (JSON.parse keeps the last, another reader the first)',
    send: raw('application/json', '{"title":"seen by a proxy","body":"b","title":"run"}'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/title'],
  },
  {
    name: 'create-note: a key named twice, once escaped',
    send: raw('application/json', '{"title":"a","body":"b","\\u0074itle":"c"}'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/title'],
  },
  {
    name: 'create-note: a number JavaScript reads as a whole one though it is not (1.0000000000000001 is read as 1)',
    send: raw('application/json', '{"title":"a","body":"b","n":[1, 2.5, 1.0000000000000001]}'),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: ['/n/2'],
  },
  {
    name: 'create-note: a body nesting 100,000 levels, refused before it is parsed',
    send: raw(
      'application/json',
      `{"title":"a","body":"b","n":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    ),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  {
    name: 'add-comment: bad JSON',
    send: raw('application/json', '{noteId}', 'add-comment'),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
]

const get = (url: string) => (s: TestServer) => s.get(url, { caller: reader })
const invalidQuery = (url: string, path: string): Case => ({
  name: `GET ${url}`,
  send: get(url),
  status: 400,
  code: 'VALIDATION_FAILED',
  paths: [path],
})
const q = '/api/queries/notes'
const someId = '0190a3c2-5e7a-7c3d-9a1b-2c3d4e5f6a7b'
const queryCases: Case[] = [
  invalidQuery(`${q}/get-note`, '/noteId'),
  invalidQuery(`${q}/get-note?noteId=abc`, '/noteId'),
  invalidQuery(`${q}/get-note?noteId=${someId}&noteId=${someId}`, '/noteId'),
  invalidQuery(`${q}/get-note?noteId=${someId}&extra=1`, '/extra'),
  invalidQuery(`${q}/get-note?noteId[]=${someId}`, '/noteId'),
  invalidQuery(`${q}/get-note/stream?noteId=abc`, '/noteId'),
  invalidQuery(`${q}/list-notes?limit=0`, '/limit'),
  invalidQuery(`${q}/list-notes?limit=101`, '/limit'),
  invalidQuery(`${q}/list-notes?limit=abc`, '/limit'),
  invalidQuery(`${q}/list-notes?limit=1.5`, '/limit'),
  invalidQuery(`${q}/list-notes?limit=true`, '/limit'),
  invalidQuery(`${q}/list-notes?limit=`, '/limit'),
  invalidQuery(`${q}/list-notes?limit=1&limit=2`, '/limit'),
  invalidQuery(`${q}/list-notes?cursor=!!not*a*cursor!!`, '/cursor'),
  invalidQuery(`${q}/list-notes?cursor=${'A'.repeat(201)}`, '/cursor'),
  invalidQuery(`${q}/list-notes?cursor=%25%25`, '/cursor'),
  {
    // Dropped unread, its limit would look applied: a query reads its query string only.
    name: 'list-notes: a JSON body',
    send: (s) =>
      s.app.inject({
        method: 'GET',
        url: `${q}/list-notes?limit=2`,
        headers: { authorization: s.bearer(writer), 'content-type': 'application/json' },
        payload: '{"limit":1}',
      }),
    status: 400,
    code: 'VALIDATION_FAILED',
    paths: [''],
  },
  ...(
    [
      ['an unknown route', `${q}/no-such-query`, 404, 'ROUTE_NOT_FOUND', '{"limit":1}'],
      ["a command's route", noteCommand('create-note'), 405, 'METHOD_NOT_ALLOWED', '{"limit":1}'],
      // Over the bound, as any body is.
      ['list-notes', `${q}/list-notes`, 413, 'PAYLOAD_TOO_LARGE', 'x'.repeat(1024 * 1024 + 1)],
    ] as const
  ).map(([what, url, status, code, payload]): Case => ({
    name: `${what}: a GET with a body of ${payload.length} bytes`,
    send: (s) =>
      s.app.inject({
        method: 'GET',
        url,
        headers: { authorization: s.bearer(writer), 'content-type': 'application/json' },
        payload,
      }),
    status,
    code,
  })),
]

describe.each(modes)('bad input over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [notesDomain] })
  /** The file's server, for the tests below (set once it has started). */
  let s: TestServer
  let noteId: string
  beforeAll(async () => {
    s = server()
    noteId = (await createNoteVia(s)).noteId
  })

  for (const c of [...commandCases, ...queryCases]) {
    it(`${c.name}: ${c.status} ${c.code}, nothing written`, async () => {
      const head = await s.head()
      const response = await c.send(s, noteId)
      expectProblem(response, c.status, c.code)
      if (c.status === 400) expectInvalid(response, ...(c.paths ?? []))
      expect(await s.head()).toBe(head)
    })
  }

  it('refuses a HEAD with a body as its GET: 400, no body', async () => {
    const response = await s.app.inject({
      method: 'HEAD',
      url: `${q}/list-notes?limit=2`,
      headers: { authorization: s.bearer(writer), 'content-type': 'application/json' },
      payload: '{"limit":1}',
    })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(response.body).toBe('')
  })

  it('says why a body holding __proto__ is refused, rather than that it is not JSON', async () => {
    for (const body of [
      JSON.stringify(valid).replace('{', '{"__proto__":{"admin":true},'),
      '{"constructor":{"prototype":{"admin":true}},"title":"x"}',
    ]) {
      const response = await s.app.inject({
        method: 'POST',
        url: '/api/commands/notes/create-note',
        headers: { authorization: s.bearer(writer), 'content-type': 'application/json' },
        payload: body,
      })
      expect(expectInvalid(response).errors?.[0]?.message).toMatch(/^holds a __proto__ key/)
    }
  })

  it('answers 400 for a cursor changed by one character', async () => {
    // A writer of its own, so the listing holds this test's notes only.
    const author = { id: 'cursor-author', roles: ['writer'] }
    const first = await createNoteVia(s, {}, author)
    const second = await createNoteVia(s, {}, author)
    const page = await s.get(noteQuery('list-notes', { ownerId: author.id, limit: 1 }), {
      caller: author,
      headers: { 'x-min-position': second.position },
    })
    const { data, nextCursor } = page.json<{ data: { noteId: string }[]; nextCursor: string }>()
    expect(data.map((n) => n.noteId)).toEqual([first.noteId])
    expect(nextCursor).toEqual(expect.any(String))
    // '*' is not in the base64url alphabet: the cursor no longer decodes to what was given out.
    const tampered = `${nextCursor.slice(0, 10)}*${nextCursor.slice(11)}`
    const url = `${noteQuery('list-notes', { ownerId: author.id })}&cursor=${tampered}`
    expectInvalid(await s.get(url, { caller: author }), '/cursor')
  })

  it.each([
    ['a key that is not a listing key', Buffer.from('not-a-key').toString('base64url')],
    ['Redis range syntax', Buffer.from('[+').toString('base64url')],
    ['a long key', Buffer.from('z'.repeat(140)).toString('base64url')],
  ])('answers a forged cursor (%s) with a page or a 400, never a 500', async (_name, cursor) => {
    const response = await s.get(noteQuery('list-notes', { cursor }), { caller: reader })
    expect([200, 400]).toContain(response.statusCode)
    if (response.statusCode === 200)
      expect(response.json<{ data: unknown[] }>().data).toEqual(expect.any(Array))
  })

  it('answers 413 for 2 MiB of whitespace, and writes nothing', async () => {
    const head = await s.head()
    const response = await s.app.inject({
      method: 'POST',
      url: noteCommand('create-note'),
      headers: { authorization: s.bearer(writer), 'content-type': 'application/json' },
      payload: Buffer.alloc(2 * 1024 * 1024, 0x20),
    })
    expectProblem(response, 413, 'PAYLOAD_TOO_LARGE')
    expect(await s.head()).toBe(head)
  })

  it('accepts Content-Encoding: identity, and text outside ASCII sent as UTF-8', async () => {
    const response = await s.app.inject({
      method: 'POST',
      url: noteCommand('create-note'),
      headers: {
        authorization: s.bearer(writer),
        'content-type': 'application/json',
        'content-encoding': 'identity',
      },
      payload: Buffer.from(JSON.stringify({ ...valid, title: '노트 ✓ 𝄞' })),
    })
    expectSucceeded(response)
  })

  it.each(['application/json; charset=utf-8', 'Application/JSON'])(
    'accepts a command sent as %s',
    async (type) => {
      const response = await s.app.inject({
        method: 'POST',
        url: noteCommand('create-note'),
        headers: { authorization: s.bearer(writer), 'content-type': type },
        payload: JSON.stringify(valid),
      })
      expectSucceeded(response)
    },
  )
})
