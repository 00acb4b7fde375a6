import { createHmac } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import { testSecret } from '../testing/harness.js'
import { admin, expectProblem, expectSucceeded, useTestServer, type TestServer } from '../testing/http.js'
import { createNoteVia, noteCommand, noteQuery } from '../testing/notes-domain/http.js'
import { notesDomain, otherWriter, reader, writer } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600
const writerClaims = () => ({ sub: writer.id, roles: writer.roles, exp: inAnHour() })

/** Tokens that must all be refused with 401, whatever they claim. */
const badTokens: [string, () => string][] = [
  [
    'a token signed with another secret',
    () => createSigner({ key: 'another-secret-0123456789' })(writerClaims()),
  ],
  [
    'a token whose payload was changed after signing',
    () => {
      const [header, , signature] = createSigner({ key: testSecret })(writerClaims()).split('.')
      return `${header ?? ''}.${b64({ ...writerClaims(), roles: ['admin'] })}.${signature ?? ''}`
    },
  ],
  [
    'an expired token',
    () =>
      createSigner({ key: testSecret, expiresIn: 60_000, clockTimestamp: Date.now() - 3600_000 })(
        writerClaims(),
      ),
  ],
  ['alg "none"', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(writerClaims())}.`],
  [
    'a token, signed with the right secret, that names roles twice (another reader would see the first)',
    () => {
      const header = b64({ alg: 'HS256', typ: 'JWT' })
      const { sub, exp } = writerClaims()
      const payload = Buffer.from(
        `{"sub":${JSON.stringify(sub)},"roles":${JSON.stringify(writer.roles)},"roles":["admin"],"exp":${exp}}`,
      ).toString('base64url')
      const signature = createHmac('sha256', testSecret).update(`${header}.${payload}`).digest('base64url')
      return `${header}.${payload}.${signature}`
    },
  ],
  ...(
    [
      [
        'whose exp JavaScript reads as another number',
        (exp: number) => `{"sub":"ann","exp":${exp}.00000000001}`,
      ],
      ['whose claims are not UTF-8', (exp: number) => `{"sub":"ann\xff\xfe","exp":${exp}}`],
      [
        'whose claims hold a __proto__ key',
        (exp: number) => `{"sub":"ann","exp":${exp},"__proto__":{"roles":["admin"]}}`,
      ],
      [
        'whose claims hold a constructor key holding a prototype',
        (exp: number) => `{"sub":"ann","exp":${exp},"constructor":{"prototype":{"roles":["admin"]}}}`,
      ],
      [
        'whose claims nest deeper than 64 levels',
        (exp: number) => `{"sub":"ann","exp":${exp},"x":${'['.repeat(65)}${']'.repeat(65)}}`,
      ],
    ] as const
  ).map(([what, claims]): [string, () => string] => [
    `a token, signed with the right secret, ${what}`,
    () => {
      const header = b64({ alg: 'HS256', typ: 'JWT' })
      const payload = Buffer.from(claims(inAnHour()), 'latin1').toString('base64url')
      const signature = createHmac('sha256', testSecret).update(`${header}.${payload}`).digest('base64url')
      return `${header}.${payload}.${signature}`
    },
  ]),
  [
    'a token, signed with the right secret, whose header names alg twice',
    () => {
      const header = Buffer.from('{"alg":"none","alg":"HS256","typ":"JWT"}').toString('base64url')
      const payload = b64(writerClaims())
      const signature = createHmac('sha256', testSecret).update(`${header}.${payload}`).digest('base64url')
      return `${header}.${payload}.${signature}`
    },
  ],
  [
    'an HS512 token with the right secret',
    () => createSigner({ key: testSecret, algorithm: 'HS512' })(writerClaims()),
  ],
  [
    'an HS384 token with the right secret',
    () => createSigner({ key: testSecret, algorithm: 'HS384' })(writerClaims()),
  ],
  [
    'a token without exp',
    () => createSigner({ key: testSecret, noTimestamp: true })({ sub: writer.id, roles: writer.roles }),
  ],
  ['a token without sub', () => createSigner({ key: testSecret })({ roles: writer.roles, exp: inAnHour() })],
  ...[
    ' ann',
    'ann ',
    'a\nb',
    '\u200bann',
    '',
    'a\u0000b',
    'a\u0001b',
    'a\u2028b',
    'a\ud800b',
    'ab\udc00',
  ].map((sub): [string, () => string] => [
    `a token whose sub is ${JSON.stringify(sub)} (no user id: blank at an end, a control character, a line separator, half a surrogate pair, empty)`,
    () => createSigner({ key: testSecret })({ ...writerClaims(), sub }),
  ]),
  ...['a\u0000b', 'a\ud800', ' sales', ''].map((dept): [string, () => string] => [
    `a token whose dept is ${JSON.stringify(dept)}`,
    () => createSigner({ key: testSecret })({ ...writerClaims(), dept }),
  ]),
  [
    'a token whose roles is not a list',
    () => createSigner({ key: testSecret })({ ...writerClaims(), roles: 'admin' }),
  ],
  [
    'a token not valid before an hour from now',
    () => createSigner({ key: testSecret, notBefore: 3600_000 })({ ...writerClaims(), exp: inAnHour() + 60 }),
  ],
  [
    "a good token with base64's padding after its header (one token, two spellings)",
    () => createSigner({ key: testSecret })(writerClaims()).replace('.', '==.'),
  ],
  [
    'a good token whose signature is spelled another way (its last character carries two unused bits)',
    () => {
      const token = createSigner({ key: testSecret })(writerClaims())
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      return token.slice(0, -1) + (alphabet[alphabet.indexOf(token.slice(-1)) + 1] ?? '')
    },
  ],
  [
    'a token that expires more than ten years from now (one that never expires, for any purpose)',
    () => createSigner({ key: testSecret })({ ...writerClaims(), exp: inAnHour() + 10 * 365 * 24 * 3600 }),
  ],
  ['three random segments', () => 'abc.def.ghi'],
  ['one segment', () => 'not-a-jwt'],
]

const badHeaders: [string, string][] = [
  ['Basic credentials', 'Basic dXNlcjpwYXNz'],
  ['"Basic x"', 'Basic x'],
  ['"Bearer" alone', 'Bearer'],
  ['"Bearer " with no token', 'Bearer '],
  ['two tokens', 'Bearer a.b.c d.e.f'],
  ['a token without a scheme', 'eyJhbGciOiJIUzI1NiJ9.e30.x'],
]

/**
 * Tokens, the Authorization header and what roles and ownership allow, on the notes domain (the
 * events domain's own rules: src/domains/events/http/).
 */
describe.each(modes)('authentication and authorization over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [notesDomain] })
  /** The file's server, for the tests below (set once it has started). */
  let s: TestServer
  let noteId: string
  beforeAll(async () => {
    s = server()
    noteId = (await createNoteVia(s)).noteId
  })

  const createWith = (headers: Record<string, string>) =>
    s.post(noteCommand('create-note'), { title: 'Auth' }, { headers })

  describe('401 UNAUTHENTICATED, nothing written', () => {
    it.each([
      ['create-note', () => ({ title: 'No token' })],
      ['edit-note', () => ({ noteId, title: 'No token' })],
      ['delete-note', () => ({ noteId })],
      ['add-comment', () => ({ noteId, text: 'No token' })],
    ])('%s without a token', async (name, body) => {
      const head = await s.head()
      expectProblem(await s.post(noteCommand(name), body()), 401, 'UNAUTHENTICATED')
      expect(await s.head()).toBe(head)
    })

    it('a signed-in query (list-notes) without a token', async () => {
      expectProblem(await s.get(noteQuery('list-notes')), 401, 'UNAUTHENTICATED')
    })

    it.each(badTokens)('%s', async (_name, token) => {
      const head = await s.head()
      expectProblem(await createWith({ authorization: `Bearer ${token()}` }), 401, 'UNAUTHENTICATED')
      expect(await s.head()).toBe(head)
    })

    it.each(badHeaders)('an Authorization header with %s', async (_name, header) => {
      const head = await s.head()
      expectProblem(await createWith({ authorization: header }), 401, 'UNAUTHENTICATED')
      expect(await s.head()).toBe(head)
    })

    it('a token that expires while in use: accepted, then refused', async () => {
      const token = s.bearer(writer, 60)
      expect((await createWith({ authorization: token })).statusCode).toBe(200)
      // An hour later, on the Tandem's clock: the token is checked against it, as commands are.
      s.tandem.shiftClock(3600_000)
      try {
        const refused = expectProblem(await createWith({ authorization: token }), 401, 'UNAUTHENTICATED')
        expect(refused.detail).toMatch(/expired/i)
      } finally {
        s.tandem.shiftClock(0)
      }
    })

    it('a bad token on a public query', async () => {
      const response = await s.get(noteQuery('get-note', { noteId }), {
        headers: { authorization: 'Bearer abc.def.ghi' },
      })
      expectProblem(response, 401, 'UNAUTHENTICATED')
    })
  })

  describe('accepted tokens', () => {
    it('takes the scheme in any case', async () => {
      const token = s.tandem.token(writer)
      expect((await createWith({ authorization: `bearer ${token}` })).statusCode).toBe(200)
      expect((await createWith({ authorization: `BEARER ${token}` })).statusCode).toBe(200)
    })

    it('takes a token crafted with fast-jwt, HS256, the AUTH_SECRET and the documented claims', async () => {
      const token = createSigner({ key: testSecret, algorithm: 'HS256' })(writerClaims())
      expect((await createWith({ authorization: `Bearer ${token}` })).statusCode).toBe(200)
    })
  })

  describe('403 FORBIDDEN, nothing written', () => {
    const forbidden = async (name: string, body: unknown, caller: Caller) => {
      const head = await s.head()
      expectProblem(await s.post(noteCommand(name), body, { caller }), 403, 'FORBIDDEN')
      expect(await s.head()).toBe(head)
    }

    it('a caller without the role the command asks for (a reader creating a note)', async () => {
      await forbidden('create-note', { title: 'Mine' }, reader)
    })

    it("a caller the decider refuses (another writer changing or deleting someone's note)", async () => {
      await forbidden('edit-note', { noteId, title: 'Taken over' }, otherWriter)
      await forbidden('delete-note', { noteId }, otherWriter)
      await forbidden('edit-note', { noteId, body: 'Mine now' }, reader)
    })
  })

  describe('what roles allow', () => {
    it('an admin may change and delete any note', async () => {
      const own = await createNoteVia(s, {}, otherWriter)
      expectSucceeded(
        await s.post(noteCommand('edit-note'), { noteId: own.noteId, title: 'By admin' }, { caller: admin }),
      )
      expectSucceeded(await s.post(noteCommand('delete-note'), { noteId: own.noteId }, { caller: admin }))
    })

    it("a caller's private answers are not served to another caller from the cache", async () => {
      // A writer of its own, so the listing holds this test's note only.
      const author: Caller = { id: 'cache-author', roles: ['writer'] }
      const { noteId: own, position } = await createNoteVia(s, {}, author)
      await s.settle(position)
      const at = { 'x-min-position': position }
      const url = noteQuery('list-notes', { ownerId: author.id })
      const authors = await s.get(url, { caller: author, headers: at })
      const again = await s.get(url, { caller: author, headers: at })
      expect(again.headers['x-cache']).toBe('hit')
      const ids = (r: typeof authors) => r.json<{ data: { noteId: string }[] }>().data.map((x) => x.noteId)
      expect(ids(authors)).toEqual([own])
      // Served the author's cached page, another writer would see it instead of being refused.
      expectProblem(await s.get(url, { caller: otherWriter, headers: at }), 403, 'FORBIDDEN')
      const admins = await s.get(url, { caller: admin, headers: at })
      expect(admins.headers['x-cache']).toBe('miss')
      expect(ids(admins)).toEqual([own])
    })
  })
})
