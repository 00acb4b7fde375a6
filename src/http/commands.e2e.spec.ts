import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { expectProblem, useTestServer, type TestServer } from '../testing/http.js'
import { createNoteVia, noteCommand } from '../testing/notes-domain/http.js'
import { notesDomain, writer } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * What any command answers over HTTP, on the notes domain (the events domain's commands and
 * refusals: src/domains/events/http/).
 */
describe.each(modes)('commands over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [notesDomain] })
  /** The file's server, for the tests below (set once it has started). */
  let s: TestServer
  beforeAll(() => {
    s = server()
  })

  it('answers with the command answer: commandId, status, position of the last event, time, result', async () => {
    const response = await s.post(
      noteCommand('create-note'),
      { title: 'CQRS night', body: 'Talks' },
      { caller: writer },
    )
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    const body = response.json<Record<string, unknown>>()
    expect(Object.keys(body).sort()).toEqual(['commandId', 'executionTimeMs', 'position', 'result', 'status'])
    expect(body).toMatchObject({
      commandId: expect.stringMatching(uuid) as unknown,
      status: 'succeeded',
      position: expect.stringMatching(/^[1-9][0-9]*$/) as unknown,
      executionTimeMs: expect.any(Number) as unknown,
      result: { noteId: expect.stringMatching(uuid) as unknown },
    })
    expect(body.position).toBe(await s.head())
    expect(response.headers['x-request-id']).toEqual(expect.any(String))
  })

  it('keeps a client-chosen id, and refuses it a second time with 409 NOTE_ALREADY_EXISTS', async () => {
    const noteId = randomUUID()
    expect((await createNoteVia(s, { noteId })).noteId).toBe(noteId)
    const head = await s.head()
    const again = await s.post(noteCommand('create-note'), { noteId, title: 'Again' }, { caller: writer })
    expectProblem(again, 409, 'NOTE_ALREADY_EXISTS')
    expect(await s.head()).toBe(head)
  })

  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const body = { title: 'Ids' }
    const given = await s.post(noteCommand('create-note'), body, {
      caller: writer,
      headers: { 'x-request-id': 'client-req.42' },
    })
    expect(given.headers['x-request-id']).toBe('client-req.42')
    const bad = await s.post(noteCommand('create-note'), body, {
      caller: writer,
      headers: { 'x-request-id': 'bad id with spaces' },
    })
    expect(bad.headers['x-request-id']).toMatch(uuid)
  })
})
