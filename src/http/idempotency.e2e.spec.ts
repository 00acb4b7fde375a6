import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import { expectInvalid, expectProblem, expectSucceeded, useTestServer } from '../testing/http.js'
import { notesDomain, otherWriter, reader, writer } from '../testing/notes-domain/index.js'
import { createNoteVia, noteAt, noteCommand } from '../testing/notes-domain/http.js'
import { modes } from '../testing/services.js'

describe.each(modes)('Idempotency-Key over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [notesDomain] })

  const send = (name: string, body: Record<string, unknown>, caller: Caller, key: string) =>
    server().post(noteCommand(name), body, { caller, headers: { 'idempotency-key': key } })
  const comment = (body: Record<string, unknown>, caller: Caller, key: string) =>
    send('add-comment', body, caller, key)
  const commentsOn = async (noteId: string, position: string) =>
    (await noteAt(server(), noteId, position)).comments

  it('answers the same key and body with the first answer, Idempotent-Replayed: true, and one comment', async () => {
    const s = server()
    const { noteId } = await createNoteVia(s)
    const key = randomUUID()
    const first = await comment({ noteId, text: 'Once' }, reader, key)
    const answer = expectSucceeded(first)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    const head = await s.head()

    const again = await comment({ noteId, text: 'Once' }, reader, key)
    expect(again.statusCode).toBe(200)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual({ ...answer, executionTimeMs: expect.any(Number) as unknown })
    expect(await s.head()).toBe(head)
    expect(await commentsOn(noteId, answer.position)).toBe(1)
  })

  it('replays a create command, so a retried create makes one note', async () => {
    const s = server()
    const key = randomUUID()
    const create = () => send('create-note', { title: 'Once' }, writer, key)
    const first = expectSucceeded<{ noteId: string }>(await create())
    const head = await s.head()
    const second = await create()
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(expectSucceeded<{ noteId: string }>(second).result.noteId).toBe(first.result.noteId)
    expect(await s.head()).toBe(head)
  })

  it('treats the same body with its fields in another order as the same body', async () => {
    const { noteId } = await createNoteVia(server())
    const key = randomUUID()
    const answer = expectSucceeded(await comment({ noteId, text: 'Hi' }, reader, key))
    const again = await comment({ text: 'Hi', noteId }, reader, key)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(expectSucceeded(again).commandId).toBe(answer.commandId)
  })

  it('refuses the same key with another body: 422 IDEMPOTENCY_KEY_REUSED, nothing written', async () => {
    const s = server()
    const first = await createNoteVia(s)
    const second = await createNoteVia(s)
    const key = randomUUID()
    expectSucceeded(await comment({ noteId: first.noteId, text: 'Hi' }, reader, key))
    const head = await s.head()
    const reused = await comment({ noteId: second.noteId, text: 'Hi' }, reader, key)
    expectProblem(reused, 422, 'IDEMPOTENCY_KEY_REUSED')
    expect(await s.head()).toBe(head)
    expect(await commentsOn(second.noteId, head)).toBe(0)
  })

  it('refuses the same key and body on another command: 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const s = server()
    // A body both create-note and edit-note take.
    const body = { noteId: randomUUID(), title: 'Same body' }
    const key = randomUUID()
    expectSucceeded(await send('create-note', body, writer, key))
    const head = await s.head()
    expectProblem(await send('edit-note', body, writer, key), 422, 'IDEMPOTENCY_KEY_REUSED')
    expect(await s.head()).toBe(head)
  })

  it('keeps keys apart per user', async () => {
    const { noteId } = await createNoteVia(server())
    const key = randomUUID()
    const readers = expectSucceeded(await comment({ noteId, text: 'Hi' }, reader, key))
    const writers = await comment({ noteId, text: 'Hi' }, writer, key)
    expect(writers.headers['idempotent-replayed']).toBeUndefined()
    expect(expectSucceeded(writers).commandId).not.toBe(readers.commandId)
  })

  it('keeps a refusal as the answer: once the note exists the same key and body is refused again', async () => {
    const s = server()
    const noteId = randomUUID()
    const key = randomUUID()
    const edit = { noteId, title: 'Edited' }
    const refused = await send('edit-note', edit, writer, key)
    expectProblem(refused, 404, 'NOTE_NOT_FOUND')
    expect(refused.headers['idempotent-replayed']).toBeUndefined()
    const created = await createNoteVia(s, { noteId })
    const head = await s.head()

    const retried = await send('edit-note', edit, writer, key)
    expect(retried.headers['idempotent-replayed']).toBe('true')
    expect(expectProblem(retried, 404, 'NOTE_NOT_FOUND')).toEqual(refused.json())
    expect(await s.head()).toBe(head)
    expect((await noteAt(s, noteId, created.position)).title).toBe('A note')
    // The note is there for a new request.
    expectSucceeded(await send('edit-note', edit, writer, randomUUID()))
  })

  it('refuses the key of a refusal with another body: 422', async () => {
    const key = randomUUID()
    const missing = randomUUID()
    expectProblem(
      await send('edit-note', { noteId: missing, title: 'x' }, writer, key),
      404,
      'NOTE_NOT_FOUND',
    )
    const { noteId } = await createNoteVia(server())
    expectProblem(await send('edit-note', { noteId, title: 'x' }, writer, key), 422, 'IDEMPOTENCY_KEY_REUSED')
    const again = await send('edit-note', { noteId: missing, title: 'x' }, writer, key)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expectProblem(again, 404, 'NOTE_NOT_FOUND')
  })

  it('does not keep a validation failure: the key is free for a corrected body', async () => {
    const { noteId } = await createNoteVia(server())
    const key = randomUUID()
    expectInvalid(await comment({ noteId, text: 7 }, reader, key), '/text')
    const corrected = await comment({ noteId, text: 'Seven' }, reader, key)
    expect(corrected.headers['idempotent-replayed']).toBeUndefined()
    expectSucceeded(corrected)
  })

  it('runs concurrent copies of one keyed request once', async () => {
    const s = server()
    const { noteId } = await createNoteVia(s)
    const key = randomUUID()
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => comment({ noteId, text: 'Hi' }, otherWriter, key)),
    )
    for (const answer of answers) {
      if (answer.statusCode === 409) {
        expectProblem(answer, 409, 'IDEMPOTENCY_IN_PROGRESS')
        expect(answer.headers['retry-after']).toBe('1')
      } else expect(answer.statusCode).toBe(200)
    }
    const succeeded = answers.filter((a) => a.statusCode === 200)
    expect(succeeded.length).toBeGreaterThan(0)
    expect(new Set(succeeded.map((a) => a.json<{ commandId: string }>().commandId)).size).toBe(1)
    expect(succeeded.filter((a) => a.headers['idempotent-replayed'] !== 'true')).toHaveLength(1)
    expect(await commentsOn(noteId, await s.head())).toBe(1)
  })

  it('replays to every copy of a retry sent at once after the first answer committed', async () => {
    const s = server()
    const key = randomUUID()
    const create = () => send('create-note', { title: 'Once' }, writer, key)
    const first = expectSucceeded<{ noteId: string }>(await create())
    const head = await s.head()
    const retries = await Promise.all(Array.from({ length: 8 }, create))
    for (const retry of retries) {
      expect(retry.headers['idempotent-replayed']).toBe('true')
      expect(expectSucceeded<{ noteId: string }>(retry).result.noteId).toBe(first.result.noteId)
    }
    expect(await s.head()).toBe(head)
  })

  it.each([
    ['a key of 256 characters', 'k'.repeat(256)],
    ['an empty key', ''],
    // Node reads a header's bytes as Latin-1: an emoji's four bytes came as four characters.
    ['a key of bytes outside ASCII', 'key-\u00f0\u009f\u0098\u0080'],
    ['a key with a tab', 'key\tone'],
  ])('answers 400 for %s, and writes nothing', async (_name, key) => {
    const s = server()
    const { noteId } = await createNoteVia(s)
    const head = await s.head()
    expectInvalid(await comment({ noteId, text: 'Hi' }, reader, key), '/headers/idempotency-key')
    expect(await s.head()).toBe(head)
  })

  it('accepts a key of 255 characters', async () => {
    const { noteId } = await createNoteVia(server())
    const key = `${randomUUID()}${'k'.repeat(255)}`.slice(0, 255)
    expectSucceeded(await comment({ noteId, text: 'Hi' }, reader, key))
    expect((await comment({ noteId, text: 'Hi' }, reader, key)).headers['idempotent-replayed']).toBe('true')
  })
})
