import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import {
  alice,
  bob,
  commandUrl,
  createEventVia,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  futureSlot,
  organizer,
  queryUrl,
  startTestServer,
  type TestServer,
} from '../testing/http.js'
import { modes } from '../testing/services.js'

describe.each(modes)('Idempotency-Key over HTTP (%s)', (mode) => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer(mode)
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  const register = (body: Record<string, unknown>, caller: Caller, key: string) =>
    s.post(commandUrl('register-participant'), body, { caller, headers: { 'idempotency-key': key } })

  const registrationsOf = async (caller: Caller, eventId: string, position: string) => {
    const response = await s.get(queryUrl('list-my-registrations'), {
      caller,
      headers: { 'x-min-position': position },
    })
    expect(response.statusCode).toBe(200)
    return response.json<{ data: { eventId: string }[] }>().data.filter((r) => r.eventId === eventId)
  }

  it('answers the same key and body with the first answer, Idempotent-Replayed: true, and one registration', async () => {
    const { eventId } = await createEventVia(s, { capacity: 5 })
    const key = randomUUID()
    const first = await register({ eventId }, alice, key)
    const answer = expectSucceeded(first)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    const head = await s.head()

    const again = await register({ eventId }, alice, key)
    expect(again.statusCode).toBe(200)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual({ ...answer, executionTimeMs: expect.any(Number) as unknown })
    expect(await s.head()).toBe(head)

    expect(await registrationsOf(alice, eventId, answer.position)).toHaveLength(1)
    const details = await s.get(queryUrl('get-event-details', { eventId }), {
      headers: { 'x-min-position': answer.position },
    })
    expect(details.json<{ data: { confirmedCount: number } }>().data.confirmedCount).toBe(1)
  })

  it('replays a create-event, so a retried create makes one event', async () => {
    const key = randomUUID()
    const body = { title: 'Once', capacity: 3, ...futureSlot() }
    const send = () =>
      s.post(commandUrl('create-event'), body, { caller: organizer, headers: { 'idempotency-key': key } })
    const first = expectSucceeded<{ eventId: string }>(await send())
    const head = await s.head()
    const second = await send()
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(expectSucceeded<{ eventId: string }>(second).result.eventId).toBe(first.result.eventId)
    expect(await s.head()).toBe(head)
  })

  it('treats the same body with its fields in another order as the same body', async () => {
    const { eventId } = await createEventVia(s)
    const key = randomUUID()
    const answer = expectSucceeded(await register({ eventId, waitlist: false }, bob, key))
    const again = await register({ waitlist: false, eventId }, bob, key)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(expectSucceeded(again).commandId).toBe(answer.commandId)
  })

  it('refuses the same key with another body: 422 IDEMPOTENCY_KEY_REUSED, nothing written', async () => {
    const first = await createEventVia(s)
    const second = await createEventVia(s)
    const key = randomUUID()
    expectSucceeded(await register({ eventId: first.eventId }, alice, key))
    const head = await s.head()
    expectProblem(await register({ eventId: second.eventId }, alice, key), 422, 'IDEMPOTENCY_KEY_REUSED')
    expect(await s.head()).toBe(head)
    expect(await registrationsOf(alice, second.eventId, head)).toHaveLength(0)
  })

  it('refuses the same key and body on another command: 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const { eventId } = await createEventVia(s)
    const key = randomUUID()
    expectSucceeded(await register({ eventId }, alice, key))
    const head = await s.head()
    const cancel = await s.post(
      commandUrl('cancel-registration'),
      { eventId },
      { caller: alice, headers: { 'idempotency-key': key } },
    )
    expectProblem(cancel, 422, 'IDEMPOTENCY_KEY_REUSED')
    expect(await s.head()).toBe(head)
  })

  it('keeps keys apart per user', async () => {
    const { eventId } = await createEventVia(s)
    const key = randomUUID()
    const alices = expectSucceeded(await register({ eventId }, alice, key))
    const bobs = await register({ eventId }, bob, key)
    expect(bobs.headers['idempotent-replayed']).toBeUndefined()
    expect(expectSucceeded(bobs).commandId).not.toBe(alices.commandId)
  })

  it('keeps a refusal as the answer: after a seat is freed the same key and body is refused again', async () => {
    const { eventId } = await createEventVia(s, { capacity: 1 })
    expectSucceeded(await register({ eventId }, alice, randomUUID()))
    const key = randomUUID()
    const refused = await register({ eventId }, bob, key)
    expectProblem(refused, 409, 'EVENT_FULL')
    expect(refused.headers['idempotent-replayed']).toBeUndefined()
    const freed = expectSucceeded(
      await s.post(commandUrl('cancel-registration'), { eventId }, { caller: alice }),
    )
    const head = await s.head()

    const retried = await register({ eventId }, bob, key)
    expect(retried.headers['idempotent-replayed']).toBe('true')
    expect(expectProblem(retried, 409, 'EVENT_FULL')).toEqual(refused.json())
    expect(await s.head()).toBe(head)
    expect(await registrationsOf(bob, eventId, freed.position)).toHaveLength(0)
    // The seat is there for a new request.
    expect(
      expectSucceeded<{ status: string }>(await register({ eventId }, bob, randomUUID())).result.status,
    ).toBe('confirmed')
  })

  it('refuses the key of a refusal with another body: 422', async () => {
    const key = randomUUID()
    const missing = randomUUID()
    expectProblem(await register({ eventId: missing }, bob, key), 404, 'EVENT_NOT_FOUND')
    const { eventId } = await createEventVia(s)
    expectProblem(await register({ eventId }, bob, key), 422, 'IDEMPOTENCY_KEY_REUSED')
    const again = await register({ eventId: missing }, bob, key)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expectProblem(again, 404, 'EVENT_NOT_FOUND')
  })

  it('does not keep a validation failure: the key is free for a corrected body', async () => {
    const { eventId } = await createEventVia(s)
    const key = randomUUID()
    expectInvalid(await register({ eventId, waitlist: 'yes' }, bob, key), '/waitlist')
    const corrected = await register({ eventId }, bob, key)
    expect(corrected.headers['idempotent-replayed']).toBeUndefined()
    expectSucceeded(corrected)
  })

  it('runs concurrent copies of one keyed request once', async () => {
    const { eventId } = await createEventVia(s, { capacity: 10 })
    const key = randomUUID()
    const answers = await Promise.all(Array.from({ length: 6 }, () => register({ eventId }, alice, key)))
    for (const answer of answers) {
      if (answer.statusCode === 409) expectProblem(answer, 409, 'IDEMPOTENCY_IN_PROGRESS')
      else expect(answer.statusCode).toBe(200)
    }
    const succeeded = answers.filter((a) => a.statusCode === 200)
    expect(succeeded.length).toBeGreaterThan(0)
    expect(new Set(succeeded.map((a) => a.json<{ commandId: string }>().commandId)).size).toBe(1)
    expect(succeeded.filter((a) => a.headers['idempotent-replayed'] !== 'true')).toHaveLength(1)
    expect(await registrationsOf(alice, eventId, await s.head())).toHaveLength(1)
  })

  it.each([
    ['a key of 256 characters', 'k'.repeat(256)],
    ['an empty key', ''],
  ])('answers 400 for %s, and writes nothing', async (_name, key) => {
    const { eventId } = await createEventVia(s)
    const head = await s.head()
    expectInvalid(await register({ eventId }, alice, key), '/headers/idempotency-key')
    expect(await s.head()).toBe(head)
  })

  it('accepts a key of 255 characters', async () => {
    const { eventId } = await createEventVia(s)
    const key = `${randomUUID()}${'k'.repeat(255)}`.slice(0, 255)
    expectSucceeded(await register({ eventId }, alice, key))
    expect((await register({ eventId }, alice, key)).headers['idempotent-replayed']).toBe('true')
  })
})
