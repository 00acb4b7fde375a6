import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../../kernel/index.js'
import {
  commandUrl,
  expectSucceeded,
  modes,
  openStream,
  startTestServer,
  type Stream,
  type TestServer,
} from '../../../kernel/testing.js'
import { feedDomain } from '../index.js'

interface Item {
  postId: string
  text: string
}

describe.each(modes)('the home feed as a stream of Server-Sent Events (%s)', (mode) => {
  let s: TestServer
  let base: string
  const streams: Stream[] = []
  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [feedDomain] })
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`
  })
  afterAll(() => s.close())
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close()
    expect(s.serverErrors.splice(0)).toEqual([])
  })

  const someone = (): Caller => ({ id: `stream-${randomUUID().slice(0, 8)}`, roles: [] })
  const send = async (name: string, body: unknown, caller: Caller) =>
    expectSucceeded<Record<string, string>>(await s.post(commandUrl('feed', name), body, { caller }))
  const profile = async (caller: Caller) =>
    (await send('create-user', { handle: caller.id.replace('-', '_'), displayName: caller.id }, caller))
      .result.userId ?? ''
  const post = async (caller: Caller, text: string) => send('create-post', { text }, caller)
  /** A reader following a writer who has posted `texts`, every post applied. */
  const readerOfPosts = async (...texts: string[]) => {
    const [reader, writer] = [someone(), someone()]
    await profile(reader)
    await send('follow-user', { userId: await profile(writer) }, reader)
    let at = ''
    for (const text of texts) at = (await post(writer, text)).position
    await s.settle(at)
    return { reader, writer }
  }
  const open = async (caller: Caller, headers: Record<string, string> = {}) => {
    const stream = await openStream(`${base}/api/queries/feed/get-my-feed/stream?limit=5`, {
      authorization: s.bearer(caller),
      ...headers,
    })
    streams.push(stream)
    return stream
  }
  const texts = async (stream: Stream, n: number) => {
    const events = []
    for (let i = 0; i < n; i++) events.push(await stream.next())
    expect(events.every((e) => e.event === 'item')).toBe(true)
    return events
  }

  it('sends the posts a follow brings in between items already sent, not only those above them', async () => {
    const [reader, a, x] = [someone(), someone(), someone()]
    await profile(reader)
    const aId = await profile(a)
    const xId = await profile(x)
    // A and X post in turns: a0, x0, a1, x1, … a7, x7.
    for (let i = 0; i < 8; i++) {
      await post(a, `a${i}`)
      await post(x, `x${i}`)
    }
    const followed = await send('follow-user', { userId: aId }, reader)
    await s.settle(followed.position)
    const stream = await open(reader) // limit=5: a3…a7
    expect((await texts(stream, 5)).map((e) => (e.data as Item).text)).toEqual(['a3', 'a4', 'a5', 'a6', 'a7'])
    // Following X brings x0…x7 into the feed: x3…x7 lie between items sent, on several pages.
    await send('follow-user', { userId: xId }, reader)
    const got = (await texts(stream, 5)).map((e) => (e.data as Item).text)
    expect(got.sort()).toEqual(['x3', 'x4', 'x5', 'x6', 'x7'])
  })

  it('sends the feed’s items oldest first, then each new post of a followee as it arrives', async () => {
    const [reader, writer, stranger] = [someone(), someone(), someone()]
    await profile(reader)
    await profile(stranger)
    const writerId = await profile(writer)
    await send('follow-user', { userId: writerId }, reader)
    await post(writer, 'one')
    const last = await post(writer, 'two')
    await s.settle(last.position)

    const stream = await open(reader)
    expect(stream.response.status).toBe(200)
    const first = await texts(stream, 2)
    expect(first.map((e) => (e.data as Item).text).sort()).toEqual(['one', 'two'])
    expect(first.map((e) => e.id)).toEqual(first.map((e) => e.id).sort())

    await post(stranger, 'not followed')
    await post(writer, 'three')
    const next = await stream.next()
    expect([next.event, (next.data as Item).text]).toEqual(['item', 'three'])
    expect(next.id > (first[1]?.id ?? '')).toBe(true)
  })

  it('resumes from Last-Event-ID with exactly the items after it, none repeated', async () => {
    const { reader, writer } = await readerOfPosts('p1')
    const stream = await open(reader)
    const [seen] = await texts(stream, 1)
    stream.close()

    // Twelve posts while away: more than a page of five.
    let at = ''
    for (let i = 2; i <= 13; i++) at = (await post(writer, `p${i}`)).position
    await s.settle(at)
    const resumed = await open(reader, { 'last-event-id': seen?.id ?? '' })
    const events = await texts(resumed, 12)
    // Oldest first by the feed's order (time, then post id: two posts in one millisecond go by id).
    const sent = events.map((e) => (e.data as Item).text)
    expect([...sent].sort()).toEqual(Array.from({ length: 12 }, (_, i) => `p${i + 2}`).sort())
    const ids = events.map((e) => e.id)
    expect(ids).toEqual([...ids].sort())
    await expect(resumed.next(300)).rejects.toThrow(/No event/)
    resumed.close()

    // An id not of the stream's form is none: the first page again, not nothing (`garbage` sorts
    // after every time).
    const firstPage = async (headers: Record<string, string>) => {
      const fresh = await open(reader, headers)
      const page = (await texts(fresh, 5)).map((e) => (e.data as Item).text)
      fresh.close()
      return page
    }
    const newest = await firstPage({})
    for (const id of ['garbage', '9999', `${seen?.id ?? ''}x`])
      expect(await firstPage({ 'last-event-id': id })).toEqual(newest)
    // Its post id in capitals is the same key: the items after it, as before.
    const upper = (seen?.id ?? '').replace(/\|.*/, (id) => id.toUpperCase())
    expect(await firstPage({ 'last-event-id': upper })).toEqual(sent.slice(0, 5))
  })

  it('resumes a stream cut off within a burst with the items after the last one it had, none again', async () => {
    const { reader } = await readerOfPosts('b1', 'b2', 'b3', 'b4')
    // One read shows the four: the client is cut off after the second.
    const stream = await open(reader)
    const had = await texts(stream, 2)
    expect(had.map((e) => (e.data as Item).text)).toEqual(['b1', 'b2'])
    stream.close()
    const resumed = await open(reader, { 'last-event-id': had.at(-1)?.id ?? '' })
    expect((await texts(resumed, 2)).map((e) => (e.data as Item).text)).toEqual(['b3', 'b4'])
    await expect(resumed.next(300)).rejects.toThrow(/No event/)
  })

  it('resumes with a post that committed while the client was away below the last key it had', async () => {
    const { reader, writer } = await readerOfPosts('q1', 'q2', 'q3')
    const stream = await open(reader)
    const had = await texts(stream, 3)
    expect(had.map((e) => (e.data as Item).text)).toEqual(['q1', 'q2', 'q3'])
    stream.close()
    // Decided a second before q3 and committed after it (the clock set back stands for that), then
    // one in order.
    s.tandem.shiftClock(-1_000)
    await post(writer, 'late')
    s.tandem.shiftClock(0)
    await s.settle((await post(writer, 'q4')).position)
    const lastId = had.at(-1)?.id ?? ''
    const resumed = await open(reader, { 'last-event-id': lastId })
    expect((await texts(resumed, 2)).map((e) => (e.data as Item).text)).toEqual(['late', 'q4'])
    await expect(resumed.next(300)).rejects.toThrow(/No event/)
    // The id as it was before ids carried positions, the key alone: the late post is not found.
    const [key] = JSON.parse(lastId) as string[]
    const keyOnly = await open(reader, { 'last-event-id': key ?? '' })
    expect((await texts(keyOnly, 1)).map((e) => (e.data as Item).text)).toEqual(['q4'])
    await expect(keyOnly.next(300)).rejects.toThrow(/No event/)
  })

  it('answers a caller with no token, or no profile, with a problem, not a stream', async () => {
    const anonymous = await openStream(`${base}/api/queries/feed/get-my-feed/stream`)
    expect(anonymous.response.status).toBe(401)
    anonymous.close()
    const stranger = await openStream(`${base}/api/queries/feed/get-my-feed/stream`, {
      authorization: s.bearer(someone()),
    })
    expect(stranger.response.status).toBe(409)
    expect(((await stranger.response.json()) as { code: string }).code).toBe('PROFILE_REQUIRED')
  })
})
