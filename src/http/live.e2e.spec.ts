import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import { expectSucceeded, startTestServer, type TestServer } from '../testing/http.js'
import { notesDomain, otherWriter, reader, writer } from '../testing/notes-domain/index.js'
import { createNoteVia, noteCommand, noteQuery } from '../testing/notes-domain/http.js'
import { createNote } from '../testing/notes-domain/commands.js'
import { modes } from '../testing/services.js'
import { streamsPerHolder } from './event-stream.js'
import { maxItemPages } from './live-items.js'
import { openStream, type Stream } from '../testing/sse.js'

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

  it('ends a stream when the token it was opened with expires: a problem event, then the end', async () => {
    const noteId = await settledNote()
    // 2 to 3 s of life (whole seconds): room to open the stream on a slow machine, then its end.
    const stream = await streamOf(noteId, { authorization: s.bearer(reader, 3) })
    expect((await stream.next()).event).toBe('answer')
    expect(await stream.next(8000)).toMatchObject({
      event: 'problem',
      data: { code: 'UNAUTHENTICATED', status: 401 },
    })
    await expect(stream.next(5000)).rejects.toThrow('The stream ended')
  })

  it('refuses a stream, and a query, whose token expired while its first answer waited for X-Min-Position', async () => {
    const created = await createNoteVia(s)
    await s.settle(created.position)
    // A minute of life, which passes (by the Tandem's clock) before the note that ends the wait.
    const headers = {
      authorization: s.bearer(writer, 60),
      'x-min-position': String(BigInt(created.position) + 1n),
      'x-max-wait-ms': '10000',
    }
    const opening = openStream(`${base}/api/queries/notes/recent-notes/stream?ownerId=${writer.id}`, headers)
    const asked = s.get(noteQuery('recent-notes', { ownerId: writer.id }), { headers })
    // Both requests are waiting (their tokens were checked as they came).
    await new Promise((resolve) => setTimeout(resolve, 300))
    s.tandem.shiftClock(120_000)
    try {
      await s.tandem.commands.execute(createNote, { title: 'Late' }, { caller: writer })
      const stream = await opening
      streams.push(stream)
      expect(stream.response.status).toBe(401)
      expect(await stream.response.json()).toMatchObject({ code: 'UNAUTHENTICATED' })
      expect((await asked).statusCode).toBe(401)
    } finally {
      s.tandem.shiftClock(0)
    }
  })

  it('sends an answer at once, then a new one after each change to the note', async () => {
    const noteId = await settledNote()
    const stream = await streamOf(noteId)
    expect(stream.response.status).toBe(200)
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(stream.response.headers.get('x-request-id')).toEqual(expect.any(String))

    const first = await stream.next()
    expect(first.event).toBe('answer')
    expect(first.id).toMatch(/^[0-9]+$/)
    expect(first.data).toMatchObject({ data: { noteId, comments: 0, title: 'A note' } })

    await comment(noteId)
    const second = await stream.next()
    expect(second.event).toBe('answer')
    expect(second.data).toMatchObject({ data: { noteId, comments: 1 } })
    // The id is the read position taken before the read: a lower bound, never going back.
    expect(BigInt(second.id)).toBeGreaterThanOrEqual(BigInt(first.id))

    expectSucceeded(await s.post(noteCommand('edit-note'), { noteId, title: 'Renamed' }, { caller: writer }))
    const third = await stream.next()
    expect(third.data).toMatchObject({ data: { comments: 1, title: 'Renamed' } })
  })

  it('sends the new answer to every open stream of the note, and nothing for other notes', async () => {
    const noteId = await settledNote()
    const otherId = await settledNote()
    const [one, two, other] = [await streamOf(noteId), await streamOf(noteId), await streamOf(otherId)]
    for (const stream of [one, two, other]) expect((await stream.next()).event).toBe('answer')

    await comment(noteId, otherWriter)
    for (const stream of [one, two]) {
      expect((await stream.next()).data).toMatchObject({ data: { noteId, comments: 1 } })
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
    // No id: the client's Last-Event-ID stays the last answer's. Then the stream ends.
    expect(problem.id).toBe('')
    await expect(stream.next(5000)).rejects.toThrow('The stream ended')
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

  it('holds a stream’s first answer for X-Min-Position as the query does: unreached 503, malformed 400', async () => {
    // Read-your-writes: a note just created is the stream's first answer, not a 404.
    const created = await createNoteVia(s)
    const fresh = await streamOf(created.noteId, { 'x-min-position': created.position })
    expect((await fresh.next()).data).toMatchObject({ data: { noteId: created.noteId } })
    const authorization = s.bearer(reader)
    const ahead = {
      authorization,
      'x-min-position': String(BigInt(created.position) + 1000n),
      'x-max-wait-ms': '50',
    }
    for (const url of [
      `get-note/stream?noteId=${created.noteId}`,
      `recent-notes/stream?ownerId=${reader.id}`,
    ]) {
      const lagging = await openStream(`${base}/api/queries/notes/${url}`, ahead)
      streams.push(lagging)
      expect(lagging.response.status).toBe(503)
      expect(await lagging.response.json()).toMatchObject({ code: 'READ_MODEL_LAGGING' })
      const bad = await openStream(`${base}/api/queries/notes/${url}`, {
        authorization,
        'x-min-position': '-1',
      })
      streams.push(bad)
      expect(bad.response.status).toBe(400)
      expect(await bad.response.json()).toMatchObject({ code: 'VALIDATION_FAILED' })
    }
  })

  it('streams to a signed-in caller too', async () => {
    const noteId = await settledNote()
    const stream = await streamOf(noteId, { authorization: s.bearer(reader) })
    expect(stream.response.status).toBe(200)
    expect((await stream.next()).data).toMatchObject({ data: { noteId } })
  })

  it('keeps a signed-in caller to a bound of open live streams: past it 429, others unaffected, a seat back on close', async () => {
    const noteId = await settledNote()
    const many = { authorization: s.bearer({ ...reader, id: `many-${randomUUID()}` }) }
    const held: Stream[] = []
    for (let i = 0; i < streamsPerHolder; i++) {
      const stream = await streamOf(noteId, many)
      expect(stream.response.status).toBe(200)
      held.push(stream)
    }
    const refused = await streamOf(noteId, many)
    expect(refused.response.status).toBe(429)
    expect(await refused.response.json()).toMatchObject({ code: 'TOO_MANY_STREAMS' })
    expect((await streamOf(noteId, { authorization: s.bearer(reader) })).response.status).toBe(200)
    // Without a token, callers share the process's bound (1,000 by default), not a caller's.
    for (let i = 0; i <= streamsPerHolder; i++) expect((await streamOf(noteId)).response.status).toBe(200)
    held[0]?.close()
    let again = 429
    for (let tries = 0; again === 429 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      const stream = await streamOf(noteId, many)
      again = stream.response.status
      if (again === 429) await stream.response.body?.cancel()
    }
    expect(again).toBe(200)
  })

  it('answers HEAD with the headers of a stream, then ends, holding no seat', async () => {
    const noteId = await settledNote()
    const many = { authorization: s.bearer({ ...reader, id: `heads-${randomUUID()}` }) }
    for (let i = 0; i <= streamsPerHolder; i++) {
      const head = await fetch(`${base}/api/queries/notes/get-note/stream?noteId=${noteId}`, {
        method: 'HEAD',
        headers: many,
        signal: AbortSignal.timeout(10_000),
      })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      expect(await head.text()).toBe('')
    }
    expect((await streamOf(noteId, many)).response.status).toBe(200)
    // As GET would: an unknown note is a problem, not a stream.
    const unknown = await fetch(`${base}/api/queries/notes/get-note/stream?noteId=${randomUUID()}`, {
      method: 'HEAD',
      signal: AbortSignal.timeout(10_000),
    })
    expect(unknown.status).toBe(404)
  })

  describe('an item stream (recent-notes, newest first, keyed by note id)', () => {
    // Each test writes as a writer of its own, and streams that writer's notes only.
    const newWriter = (): Caller => ({ id: `writer-${randomUUID()}`, roles: ['writer'] })
    const itemStream = async (
      caller: Caller,
      params: Record<string, string> = {},
      headers: Record<string, string> = {},
    ) => {
      const query = new URLSearchParams({ ownerId: caller.id, ...params })
      const stream = await openStream(`${base}/api/queries/notes/recent-notes/stream?${query.toString()}`, {
        authorization: s.bearer(caller),
        ...headers,
      })
      streams.push(stream)
      return stream
    }
    /** Writes `count` notes at once, waits for the read models; their ids in key order. */
    const notesBy = async (caller: Caller, count: number, fields: Record<string, unknown> = {}) => {
      const created = await Promise.all(
        Array.from({ length: count }, () => createNoteVia(s, { ...fields }, caller)),
      )
      // Each one: notes committed side by side may be read in another order than their positions',
      // so the greatest position applied does not say that every other one is.
      for (const c of created) await s.settle(c.position)
      return created.map((c) => c.noteId).sort()
    }
    /** The ids of the next `count` events, each an `item` whose id is its note's. */
    const nextItems = async (stream: Stream, count: number) => {
      const ids: string[] = []
      for (let i = 0; i < count; i++) {
        const event = await stream.next(3000)
        expect(event).toMatchObject({ event: 'item', data: { noteId: event.id } })
        ids.push(event.id)
      }
      return ids
    }

    it("sends the first page's items oldest first, then each new item as it arrives", async () => {
      const caller = newWriter()
      const ids = await notesBy(caller, 3)
      const stream = await itemStream(caller, { limit: '2' })
      expect(stream.response.status).toBe(200)
      expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
      expect(await nextItems(stream, 2)).toEqual(ids.slice(1))

      const [added] = await notesBy(caller, 1, { title: 'Fresh' })
      const event = await stream.next(3000)
      expect(event).toMatchObject({ event: 'item', id: added, data: { noteId: added, title: 'Fresh' } })
    })

    it('resumes after Last-Event-ID with exactly the items after it, over more than one page', async () => {
      const caller = newWriter()
      const before = await notesBy(caller, 2)
      const first = await itemStream(caller, { limit: '2' })
      expect(await nextItems(first, 2)).toEqual(before)
      first.close()

      const missed = await notesBy(caller, 3)
      const resumed = await itemStream(caller, { limit: '2' }, { 'last-event-id': before.at(-1) ?? '' })
      expect(await nextItems(resumed, 3)).toEqual(missed)
      // Nothing repeats: the next event is the next new note.
      const later = await notesBy(caller, 1)
      expect(await nextItems(resumed, 1)).toEqual(later)

      // As EventSource polyfills send it: a parameter.
      const polyfill = await itemStream(caller, { limit: '2', lastEventId: missed[0] ?? '' })
      expect(await nextItems(polyfill, 3)).toEqual([...missed.slice(1), ...later])

      // An id in capitals is the same item: what came after it, not it again.
      const upper = { 'last-event-id': (missed[0] ?? '').toUpperCase() }
      const shouted = await itemStream(caller, { limit: '2' }, upper)
      expect(await nextItems(shouted, 3)).toEqual([...missed.slice(1), ...later])
    })

    it(`reads at most ${maxItemPages} pages back, past the first at the query's largest size, and sends what they held`, async () => {
      const caller = newWriter()
      // The client's page of 1, then 9 of 3 (recent-notes takes at most 3): 28 of the 30 after the id.
      const held = 1 + (maxItemPages - 1) * 3
      const ids = await notesBy(caller, held + 3)
      const stream = await itemStream(caller, { limit: '1' }, { 'last-event-id': ids[0] ?? '' })
      // Two were left below the pages: the client is told to read them from the query, before the
      // items, whose ids name a floor above those two: cut off after one, it would never hear of them.
      expect(await stream.next(3000)).toMatchObject({ event: 'problem', data: { code: 'ITEMS_SKIPPED' } })
      // (A note's id is its key: the event's id too.)
      const [cut] = await nextItems(stream, 1)
      expect(cut).toBe(ids[3])
      expect(await nextItems(stream, held - 1)).toEqual(ids.slice(4))
      // Resumed from the first item's id: the rest, and no word of the two below it.
      const resumed = await itemStream(caller, { limit: '1' }, { 'last-event-id': cut ?? '' })
      expect(await nextItems(resumed, held - 1)).toEqual(ids.slice(4))
      await expect(resumed.next(500)).rejects.toThrow(/No event/)
      // Exactly what the pages hold after the id: nothing skipped, nothing said.
      const whole = await itemStream(caller, { limit: '1' }, { 'last-event-id': ids[2] ?? '' })
      expect(await nextItems(whole, held)).toEqual(ids.slice(3))
      await expect(whole.next(500)).rejects.toThrow(/No event/)
    })

    it('reads its settling window again without calling it skipped: more items sent than 10 pages hold', async () => {
      const caller = newWriter()
      const stream = await itemStream(caller, { limit: '1' })
      // One at a time, each sent before the next: 1 + 9 × 3 = 28 pages' worth, and past it, all
      // within the 10 s a key takes to settle, so every refresh reads them all again.
      const held = 1 + (maxItemPages - 1) * 3
      for (let i = 0; i < held + 4; i++) {
        const [id] = await notesBy(caller, 1)
        expect(await nextItems(stream, 1)).toEqual([id])
      }
    })

    it('refuses a cursor: a stream starts at the newest items', async () => {
      const caller = newWriter()
      const stream = await itemStream(caller, { cursor: 'abc' })
      expect(stream.response.status).toBe(400)
      expect(await stream.response.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ path: '/cursor' }],
      })
    })

    it('sends a note that commits out of key order, once, with the id a reconnect resumes from', async () => {
      const caller = newWriter()
      const ids = await notesBy(caller, 1)
      const stream = await itemStream(caller)
      expect(await nextItems(stream, 1)).toEqual(ids)

      // A smaller key than the one sent last, as a slower commit racing a faster one would have. Its
      // event's id is the greatest key sent, not its own: resumed from its own, the stream sent the
      // newer note again.
      const late = `00000000-0000-7000-8000-${randomUUID().slice(-12)}`
      expect(await notesBy(caller, 1, { noteId: late })).toEqual([late])
      const event = await stream.next(3000)
      expect(event).toMatchObject({ event: 'item', id: ids[0], data: { noteId: late } })
      stream.close()

      const resumed = await itemStream(caller, {}, { 'last-event-id': event.id })
      const next = await notesBy(caller, 1)
      expect(await nextItems(resumed, 1)).toEqual(next)
    })

    it('sends a note that commits late below several sent, pages down from the first', async () => {
      const caller = newWriter()
      // Nothing yet: the stream's reads reach the end, and every note from now on is its to send.
      const stream = await itemStream(caller, { limit: '1' })
      const [first] = await notesBy(caller, 1)
      expect(await nextItems(stream, 1)).toEqual([first])
      const [second] = await notesBy(caller, 1)
      expect(await nextItems(stream, 1)).toEqual([second])
      // Below both: on the third page of one. A refresh whose first page held only a sent note
      // stopped there, and this note was never sent.
      const late = `00000000-0000-7000-8000-${randomUUID().slice(-12)}`
      await notesBy(caller, 1, { noteId: late })
      expect(await stream.next(3000)).toMatchObject({ event: 'item', id: second, data: { noteId: late } })
    })

    it('does not send an older note that a deletion brings onto the first page', async () => {
      const caller = newWriter()
      const [, newer = ''] = await notesBy(caller, 2)
      const stream = await itemStream(caller, { limit: '1' })
      expect(await nextItems(stream, 1)).toEqual([newer])

      expectSucceeded(await s.post(noteCommand('delete-note'), { noteId: newer }, { caller }))
      const next = await notesBy(caller, 1)
      expect(await nextItems(stream, 1)).toEqual(next)
    })

    it('treats an empty, overlong or control-character Last-Event-ID as none', async () => {
      const caller = newWriter()
      const ids = await notesBy(caller, 2)
      const unusable = [
        await itemStream(caller, {}, { 'last-event-id': '' }),
        await itemStream(caller, {}, { 'last-event-id': 'x'.repeat(401) }),
        await itemStream(caller, { lastEventId: '\u0000\u0001' }),
      ]
      for (const stream of unusable) {
        expect(stream.response.status).toBe(200)
        expect(await nextItems(stream, 2)).toEqual(ids)
      }
    })

    it('compares any other id as a key: one above every key sends only what comes next', async () => {
      const caller = newWriter()
      await notesBy(caller, 2)
      const stream = await itemStream(caller, {}, { 'last-event-id': 'garbage \u00e9' })
      expect(stream.response.status).toBe(200)
      const [added] = await notesBy(caller, 1)
      // Its id stays the greatest the client has: the one it gave, above every key.
      expect(await stream.next(3000)).toMatchObject({
        event: 'item',
        id: 'garbage \u00e9',
        data: { noteId: added },
      })
    })

    it('answers problem+json, not a stream, to a caller who may not read it or asks amiss', async () => {
      const caller = newWriter()
      const url = `${base}/api/queries/notes/recent-notes/stream?ownerId=${caller.id}`
      const cases: { url: string; headers: Record<string, string>; status: number; code: string }[] = [
        { url, headers: {}, status: 401, code: 'UNAUTHENTICATED' },
        { url, headers: { authorization: s.bearer(newWriter()) }, status: 403, code: 'FORBIDDEN' },
        {
          url: `${url}&limit=0`,
          headers: { authorization: s.bearer(caller), 'last-event-id': 'x' },
          status: 400,
          code: 'VALIDATION_FAILED',
        },
      ]
      for (const { url, headers, status, code } of cases) {
        const stream = await openStream(url, headers)
        streams.push(stream)
        expect(stream.response.status).toBe(status)
        expect(stream.response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
        expect(await stream.response.json()).toMatchObject({ code, status })
      }
    })
  })
})

describe.each(modes)('live streams without a token (%s)', (mode) => {
  let s: TestServer
  let base: string
  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [notesDomain], config: { anonymousStreams: 3 } })
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`
  })
  afterAll(() => s.close())

  it('share the bound LIVE_STREAMS_ANONYMOUS sets: past it 429, signed-in callers unaffected, a seat back on close', async () => {
    const created = await createNoteVia(s)
    await s.settle(created.position)
    const url = `${base}/api/queries/notes/get-note/stream?noteId=${created.noteId}`
    const held: Stream[] = []
    try {
      for (let i = 0; i < 3; i++) {
        held.push(await openStream(url))
        expect(held.at(-1)?.response.status).toBe(200)
      }
      const refused = await openStream(url)
      expect(refused.response.status).toBe(429)
      expect(await refused.response.json()).toMatchObject({
        code: 'TOO_MANY_STREAMS',
        detail: 'At most 3 live streams at once without a token; sign in, or close one first',
      })
      const signed = await openStream(url, { authorization: s.bearer(reader) })
      held.push(signed)
      expect(signed.response.status).toBe(200)
      held.shift()?.close()
      let again = 429
      for (let tries = 0; again === 429 && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        const stream = await openStream(url)
        again = stream.response.status
        if (again === 429) await stream.response.body?.cancel()
        else held.push(stream)
      }
      expect(again).toBe(200)
    } finally {
      for (const stream of held) stream.close()
    }
    expect(s.serverErrors).toEqual([])
  })
})

describe.each(modes)('live streams of a server closing (%s)', (mode) => {
  /** A server listening, with a note applied; the streams `use` opens are closed after it. */
  async function withServer(
    use: (
      s: TestServer,
      open: (path: string, headers?: Record<string, string>) => Promise<Stream>,
      created: { noteId: string; position: string },
    ) => Promise<void>,
  ) {
    const s = await startTestServer(mode, { domains: [notesDomain] })
    const opened: Stream[] = []
    try {
      await s.app.listen({ port: 0, host: '127.0.0.1' })
      const base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`
      const created = await createNoteVia(s)
      await s.settle(created.position)
      const open = async (path: string, headers: Record<string, string> = {}) => {
        const stream = await openStream(`${base}${path}`, headers)
        opened.push(stream)
        return stream
      }
      await use(s, open, created)
    } finally {
      for (const stream of opened) stream.close()
      await s.close()
    }
  }

  it('ends its streams, so that its close does not wait for their clients to leave', async () => {
    await withServer(async (s, open, created) => {
      const stream = await open(`/api/queries/notes/get-note/stream?noteId=${created.noteId}`)
      expect((await stream.next()).data).toMatchObject({ data: { noteId: created.noteId } })
      const closed = s.app.close()
      await expect(stream.next(10_000)).rejects.toThrow('The stream ended')
      await closed
    })
  })

  it('ends the wait of a stream for X-Min-Position when its close begins: 503 UNAVAILABLE, not held up to the wait', async () => {
    await withServer(async (s, open, created) => {
      const opening = open(`/api/queries/notes/recent-notes/stream?ownerId=${writer.id}`, {
        authorization: s.bearer(writer),
        'x-min-position': String(BigInt(created.position) + 1n),
        'x-max-wait-ms': '10000',
      })
      // The request waits for the position (up to 10 s); the close begins as `serve` begins it on a
      // signal: the wait ends at once.
      await new Promise((resolve) => setTimeout(resolve, 300))
      s.tandem.projections.endWaits()
      const closed = s.app.close()
      const stream = await opening
      expect(stream.response.status).toBe(503)
      expect(await stream.response.json()).toMatchObject({ code: 'UNAVAILABLE' })
      await closed
    })
  })
})
