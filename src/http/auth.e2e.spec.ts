import { createSigner } from 'fast-jwt'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { testSecret } from '../testing/harness.js'
import {
  admin,
  alice,
  bob,
  commandUrl,
  createEventVia,
  expectProblem,
  expectSucceeded,
  futureSlot,
  organizer,
  otherOrganizer,
  queryUrl,
  startTestServer,
  type TestServer,
} from '../testing/http.js'
import { modes } from '../testing/services.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600
const organizerClaims = () => ({ sub: organizer.id, roles: organizer.roles, exp: inAnHour() })

/** Tokens that must all be refused with 401, whatever they claim. */
const badTokens: [string, () => string][] = [
  [
    'a token signed with another secret',
    () => createSigner({ key: 'another-secret-0123456789' })(organizerClaims()),
  ],
  [
    'a token whose payload was changed after signing',
    () => {
      const [header, , signature] = createSigner({ key: testSecret })(organizerClaims()).split('.')
      return `${header ?? ''}.${b64({ ...organizerClaims(), roles: ['admin'] })}.${signature ?? ''}`
    },
  ],
  [
    'an expired token',
    () =>
      createSigner({ key: testSecret, expiresIn: 60_000, clockTimestamp: Date.now() - 3600_000 })(
        organizerClaims(),
      ),
  ],
  ['alg "none"', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(organizerClaims())}.`],
  [
    'an HS512 token with the right secret',
    () => createSigner({ key: testSecret, algorithm: 'HS512' })(organizerClaims()),
  ],
  [
    'an HS384 token with the right secret',
    () => createSigner({ key: testSecret, algorithm: 'HS384' })(organizerClaims()),
  ],
  [
    'a token without exp',
    () => createSigner({ key: testSecret, noTimestamp: true })({ sub: organizer.id, roles: organizer.roles }),
  ],
  [
    'a token without sub',
    () => createSigner({ key: testSecret })({ roles: organizer.roles, exp: inAnHour() }),
  ],
  [
    'a token whose roles is not a list',
    () => createSigner({ key: testSecret })({ ...organizerClaims(), roles: 'admin' }),
  ],
  [
    'a token not valid before an hour from now',
    () =>
      createSigner({ key: testSecret, notBefore: 3600_000 })({ ...organizerClaims(), exp: inAnHour() + 60 }),
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

describe.each(modes)('authentication and authorization over HTTP (%s)', (mode) => {
  let s: TestServer
  let eventId: string
  beforeAll(async () => {
    s = await startTestServer(mode)
    eventId = (await createEventVia(s, { capacity: 50 })).eventId
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  const createWith = (headers: Record<string, string>) =>
    s.post(commandUrl('create-event'), { title: 'Auth', capacity: 5, ...futureSlot() }, { headers })

  describe('401 UNAUTHENTICATED, nothing written', () => {
    it.each([
      ['create-event', () => ({ title: 'No token', capacity: 5, ...futureSlot() })],
      ['update-event', () => ({ eventId, title: 'No token' })],
      ['delete-event', () => ({ eventId })],
      ['register-participant', () => ({ eventId })],
      ['cancel-registration', () => ({ eventId })],
    ])('%s without a token', async (name, body) => {
      const head = await s.head()
      expectProblem(await s.post(commandUrl(name), body()), 401, 'UNAUTHENTICATED')
      expect(await s.head()).toBe(head)
    })

    it('list-my-registrations without a token', async () => {
      expectProblem(await s.get(queryUrl('list-my-registrations')), 401, 'UNAUTHENTICATED')
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
      const token = s.bearer(organizer, 60)
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
      const response = await s.get(queryUrl('get-event-details', { eventId }), {
        headers: { authorization: 'Bearer abc.def.ghi' },
      })
      expectProblem(response, 401, 'UNAUTHENTICATED')
    })
  })

  describe('accepted tokens', () => {
    it('takes the scheme in any case', async () => {
      const token = s.tandem.token(organizer)
      expect((await createWith({ authorization: `bearer ${token}` })).statusCode).toBe(200)
      expect((await createWith({ authorization: `BEARER ${token}` })).statusCode).toBe(200)
    })

    it('takes a token crafted with fast-jwt, HS256, the AUTH_SECRET and the documented claims', async () => {
      const token = createSigner({ key: testSecret, algorithm: 'HS256' })(organizerClaims())
      expect((await createWith({ authorization: `Bearer ${token}` })).statusCode).toBe(200)
    })
  })

  describe('403 FORBIDDEN, nothing written', () => {
    const forbidden = async (name: string, body: unknown, caller: typeof alice) => {
      const head = await s.head()
      expectProblem(await s.post(commandUrl(name), body, { caller }), 403, 'FORBIDDEN')
      expect(await s.head()).toBe(head)
    }

    it('a participant creating an event', async () => {
      await forbidden('create-event', { title: 'Mine', capacity: 5, ...futureSlot() }, alice)
    })

    it("another organizer changing or deleting someone's event", async () => {
      await forbidden('update-event', { eventId, title: 'Taken over' }, otherOrganizer)
      await forbidden('delete-event', { eventId }, otherOrganizer)
      await forbidden('update-event', { eventId, capacity: 1 }, alice)
    })

    it('a participant registering or cancelling someone else', async () => {
      await forbidden('register-participant', { eventId, participantId: bob.id }, alice)
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId }, { caller: bob }))
      await forbidden('cancel-registration', { eventId, participantId: bob.id }, alice)
    })

    it("a participant listing someone else's registrations", async () => {
      const response = await s.get(queryUrl('list-my-registrations', { participantId: bob.id }), {
        caller: alice,
      })
      expectProblem(response, 403, 'FORBIDDEN')
    })

    it('an organizer listing a participant of their own event', async () => {
      const response = await s.get(queryUrl('list-my-registrations', { participantId: bob.id }), {
        caller: organizer,
      })
      expectProblem(response, 403, 'FORBIDDEN')
    })
  })

  describe('what roles allow', () => {
    it('an admin may change and delete any event, and register and cancel anyone', async () => {
      const own = await createEventVia(s, { capacity: 5 }, otherOrganizer)
      for (const [name, body] of [
        ['update-event', { eventId: own.eventId, title: 'By admin' }],
        ['register-participant', { eventId: own.eventId, participantId: 'frank' }],
        ['cancel-registration', { eventId: own.eventId, participantId: 'frank' }],
        ['delete-event', { eventId: own.eventId }],
      ] as const) {
        expectSucceeded(await s.post(commandUrl(name), body, { caller: admin }))
      }
    })

    it('an admin may create an event', async () => {
      expectSucceeded(
        await s.post(
          commandUrl('create-event'),
          { title: 'Admin', capacity: 5, ...futureSlot() },
          { caller: admin },
        ),
      )
    })

    it('the organizer may cancel a participant of their event', async () => {
      const { eventId: own } = await createEventVia(s)
      expectSucceeded(await s.post(commandUrl('register-participant'), { eventId: own }, { caller: alice }))
      expectSucceeded(
        await s.post(
          commandUrl('cancel-registration'),
          { eventId: own, participantId: alice.id },
          { caller: organizer },
        ),
      )
    })

    it('public queries answer without a token', async () => {
      const details = await s.get(queryUrl('get-event-details', { eventId }))
      expect(details.statusCode).toBe(200)
      expect(details.json<{ data: { eventId: string } }>().data.eventId).toBe(eventId)
      expect((await s.get(queryUrl('list-upcoming-events'))).statusCode).toBe(200)
    })

    it("a caller's private answers are not served to another caller from the cache", async () => {
      const { eventId: own } = await createEventVia(s)
      const registered = expectSucceeded(
        await s.post(commandUrl('register-participant'), { eventId: own }, { caller: alice }),
      )
      await s.settle(registered.position)
      const at = { 'x-min-position': registered.position }
      const alices = await s.get(queryUrl('list-my-registrations'), { caller: alice, headers: at })
      const again = await s.get(queryUrl('list-my-registrations'), { caller: alice, headers: at })
      expect(again.headers['x-cache']).toBe('hit')
      const bobs = await s.get(queryUrl('list-my-registrations'), { caller: bob, headers: at })
      expect(bobs.headers['x-cache']).toBe('miss')
      const ids = (r: typeof bobs) => r.json<{ data: { eventId: string }[] }>().data.map((x) => x.eventId)
      expect(ids(alices)).toContain(own)
      expect(ids(bobs)).not.toContain(own)
    })
  })
})
