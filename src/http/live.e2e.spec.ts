import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { expectSucceeded, startTestServer, type TestServer } from '../testing/http.js'
import { notesDomain, otherWriter, reader, writer } from '../testing/notes-domain/index.js'
import { createNoteVia, noteCommand } from '../testing/notes-domain/http.js'
import { modes } from '../testing/services.js'

interface SseEvent {
  event: string
  id: string
  data: unknown
}

interface Stream {
  response: Response
  /** The next event (comments such as keep-alives are skipped); throws after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseEvent>
  close(): void
}

function parse(block: string): SseEvent | undefined {
  const fields: Record<string, string> = {}
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || !line.includes(':')) continue
    const at = line.indexOf(':')
    fields[line.slice(0, at)] = line.slice(at + 1).trimStart()
  }
  if (fields.event === undefined && fields.data === undefined) return undefined
  return { event: fields.event ?? 'message', id: fields.id ?? '', data: JSON.parse(fields.data ?? 'null') }
}

async function openStream(url: string, headers: Record<string, string> = {}): Promise<Stream> {
  const controller = new AbortController()
  const response = await fetch(url, { headers, signal: controller.signal })
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  const decoder = new TextDecoder()
  let buffer = ''
  return {
    response,
    async next(timeoutMs = 5000) {
      reader ??= response.body?.getReader()
      if (!reader) throw new Error('The answer has no body')
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const end = buffer.indexOf('\n\n')
        if (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = parse(block)
          if (event) return event
          continue
        }
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => {
              reject(new Error(`No event within ${timeoutMs} ms`))
            },
            Math.max(0, deadline - Date.now()),
          )
        })
        try {
          const { value, done } = await Promise.race([reader.read(), timeout])
          if (done) throw new Error('The stream ended')
          buffer += decoder.decode(value, { stream: true })
        } finally {
          clearTimeout(timer)
        }
      }
    },
    close: () => controller.abort(),
  }
}

describe.each(modes)('live queries over Server-Sent Events (%s)', (mode) => {
  let s: TestServer
  let base: string
  const streams: Stream[] = []
  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [notesDomain] })
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`
  })
  afterAll(() => s.close())
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close()
    expect(s.serverErrors.splice(0)).toEqual([])
  })

  const streamOf = async (noteId: string, headers: Record<string, string> = {}) => {
    const stream = await openStream(`${base}/api/queries/notes/get-note/stream?noteId=${noteId}`, headers)
    streams.push(stream)
    return stream
  }
  const settledNote = async () => {
    const created = await createNoteVia(s)
    await s.settle(created.position)
    return created.noteId
  }
  const comment = async (noteId: string, caller = reader) =>
    expectSucceeded(await s.post(noteCommand('add-comment'), { noteId, text: 'Hi' }, { caller }))

  it('sends an answer at once, then a new one after each change to the note', async () => {
    const noteId = await settledNote()
    const stream = await streamOf(noteId)
    expect(stream.response.status).toBe(200)
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(stream.response.headers.get('x-request-id')).toEqual(expect.any(String))

    const first = await stream.next()
    expect(first.event).toBe('answer')
    expect(first.id).toMatch(/^[0-9]+$/)
    expect(first.data).toMatchObject({ noteId, comments: 0, title: 'A note' })

    await comment(noteId)
    const second = await stream.next()
    expect(second.event).toBe('answer')
    expect(second.data).toMatchObject({ noteId, comments: 1 })
    // The id is the read position taken before the read: a lower bound, never going back.
    expect(BigInt(second.id)).toBeGreaterThanOrEqual(BigInt(first.id))

    expectSucceeded(await s.post(noteCommand('edit-note'), { noteId, title: 'Renamed' }, { caller: writer }))
    const third = await stream.next()
    expect(third.data).toMatchObject({ comments: 1, title: 'Renamed' })
  })

  it('sends the new answer to every open stream of the note, and nothing for other notes', async () => {
    const noteId = await settledNote()
    const otherId = await settledNote()
    const [one, two, other] = [await streamOf(noteId), await streamOf(noteId), await streamOf(otherId)]
    for (const stream of [one, two, other]) expect((await stream.next()).event).toBe('answer')

    await comment(noteId, otherWriter)
    for (const stream of [one, two]) {
      expect((await stream.next()).data).toMatchObject({ noteId, comments: 1 })
    }
    await expect(other.next(500)).rejects.toThrow(/No event/)
  })

  it('sends a problem event when the note is deleted', async () => {
    const noteId = await settledNote()
    const stream = await streamOf(noteId)
    expect((await stream.next()).event).toBe('answer')
    expectSucceeded(await s.post(noteCommand('delete-note'), { noteId }, { caller: writer }))
    const problem = await stream.next()
    expect(problem.event).toBe('problem')
    expect(problem.data).toMatchObject({ code: 'NOTE_NOT_FOUND', status: 404 })
  })

  it('answers problem+json instead of a stream for an unknown note or a bad token', async () => {
    const unknown = await streamOf(randomUUID())
    expect(unknown.response.status).toBe(404)
    expect(unknown.response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await unknown.response.json()).toMatchObject({ code: 'NOTE_NOT_FOUND' })

    const noteId = await settledNote()
    const badToken = await streamOf(noteId, { authorization: 'Bearer abc.def.ghi' })
    expect(badToken.response.status).toBe(401)
    expect(await badToken.response.json()).toMatchObject({ code: 'UNAUTHENTICATED' })
  })

  it('streams to a signed-in caller too', async () => {
    const noteId = await settledNote()
    const stream = await streamOf(noteId, { authorization: s.bearer(reader) })
    expect(stream.response.status).toBe(200)
    expect((await stream.next()).data).toMatchObject({ noteId })
  })
})
