import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { Caller } from '../../../kernel/index.js'
import {
  commandUrl,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  modes,
  queryUrl,
  useTestServer,
  type TestServer,
} from '../../../kernel/testing.js'
import { feedDomain } from '../index.js'

/** The social feed over HTTP, as a client and as an attacker would use it. */

interface FeedItem {
  postId: string
  authorId: string
  authorHandle: string
  text: string
  likeCount: number
  commentCount: number
  likedByMe: boolean
}
interface Page<T> {
  data: T[]
  nextCursor: string | null
}
interface Profile {
  userId: string
  followerCount: number
  followingCount: number
}

const person = (id: string): Caller => ({ id, roles: [] })
let people = 0
/** A caller of its own per call, so tests never share profiles or handles. */
const someone = (): Caller => person(`feed-e2e-${++people}-${randomUUID().slice(0, 8)}`)
const handleOf = (caller: Caller) => `u${caller.id.replace(/[^A-Za-z0-9]/g, '').slice(-20)}`

const command = (name: string) => commandUrl('feed', name)
const query = (name: string, params: Record<string, string | number> = {}) => queryUrl('feed', name, params)

describe.each(modes)('the social feed over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [feedDomain] })

  async function send(s: TestServer, name: string, body: unknown, caller: Caller, headers = {}) {
    return s.post(command(name), body, { caller, headers })
  }
  async function profile(caller: Caller): Promise<string> {
    const done = expectSucceeded<{ userId: string }>(
      await send(server(), 'create-user', { handle: handleOf(caller), displayName: caller.id }, caller),
    )
    return done.result.userId
  }
  async function post(caller: Caller, text: string) {
    const done = expectSucceeded<{ postId: string }>(await send(server(), 'create-post', { text }, caller))
    return { postId: done.result.postId, position: done.position }
  }
  /** The caller's feed, read after `position` (read-your-writes). */
  async function feedOf(caller: Caller, position: string, params: Record<string, string | number> = {}) {
    const answer = await server().get(query('get-my-feed', params), {
      caller,
      headers: { 'x-min-position': position },
    })
    expect(answer.statusCode, answer.body).toBe(200)
    return answer.json<Page<FeedItem>>()
  }

  it('shows a followee’s new post in the follower’s feed, with counts and the follower’s own like', async () => {
    const [reader, writer] = [someone(), someone()]
    await profile(reader)
    const writerId = await profile(writer)
    expectSucceeded(await send(server(), 'follow-user', { userId: writerId }, reader))
    const { postId } = await post(writer, 'Hello, followers')
    const liked = expectSucceeded(await send(server(), 'like-post', { postId }, reader))
    const comment = expectSucceeded(await send(server(), 'comment-on-post', { postId, text: 'Nice' }, writer))
    const page = await feedOf(reader, String(Math.max(Number(liked.position), Number(comment.position))))
    expect(page.data).toMatchObject([
      {
        postId,
        authorId: writerId,
        authorHandle: handleOf(writer),
        likeCount: 1,
        commentCount: 1,
        likedByMe: true,
      },
    ])
    // The writer follows nobody: an empty feed, not someone else's.
    expect((await feedOf(writer, liked.position)).data).toEqual([])
  })

  it('replays a keyed follow that changed nothing with a position to read it at, not null', async () => {
    const [reader, writer] = [someone(), someone()]
    await profile(reader)
    const writerId = await profile(writer)
    const followed = expectSucceeded(await send(server(), 'follow-user', { userId: writerId }, reader))
    const key = { 'idempotency-key': randomUUID() }
    const first = expectSucceeded(await send(server(), 'follow-user', { userId: writerId }, reader, key))
    const again = await send(server(), 'follow-user', { userId: writerId }, reader, key)
    expect(again.headers['idempotent-replayed']).toBe('true')
    const replayed = expectSucceeded(again)
    expect(replayed.commandId).toBe(first.commandId)
    // The log's head when replayed: at or past the first answer's, so it reads the follow.
    expect(BigInt(replayed.position)).toBeGreaterThanOrEqual(BigInt(first.position))
    expect(BigInt(first.position)).toBeGreaterThanOrEqual(BigInt(followed.position))
  })

  it('treats a user id or post id in capitals as the same one, in commands and in filters', async () => {
    const [reader, writer] = [someone(), someone()]
    await profile(reader)
    const writerId = await profile(writer)
    const upper = writerId.toUpperCase()
    const followed = await Promise.all(
      [upper, writerId, upper].map(async (userId) => send(server(), 'follow-user', { userId }, reader)),
    )
    const positions = followed.map((r) => Number(expectSucceeded(r).position))
    const { postId, position } = await post(writer, 'case test')
    expectSucceeded(await send(server(), 'like-post', { postId: postId.toUpperCase() }, reader))
    const again = expectSucceeded(await send(server(), 'like-post', { postId }, reader))
    const at = String(Math.max(...positions, Number(position), Number(again.position)))
    const users = await server().get(query('get-user', { userId: upper }), {
      headers: { 'x-min-position': at },
    })
    expect(users.json<{ data: Profile }>().data).toMatchObject({ userId: writerId, followerCount: 1 })
    const page = await feedOf(reader, at, { authorId: upper })
    expect(page.data.map((i) => [i.postId, i.likeCount, i.likedByMe])).toEqual([[postId, 1, true]])
  })

  it('refuses bad input with 400 and changes nothing: sizes past each limit, bad ids, bad times, bad cursors', async () => {
    const caller = someone()
    const userId = await profile(caller)
    const s = server()
    expectInvalid(await send(s, 'create-post', { text: 'x'.repeat(501) }, caller), '/text')
    for (const blank of [' \u200b ', '\u3164', '\u115f\u1160', '\u2800\u2800', '\u034f', '\u0301', '\ufe0f'])
      expectInvalid(await send(s, 'create-post', { text: blank }, caller), '/text')
    expectInvalid(await send(s, 'create-post', { text: 'nul \u0000 here' }, caller), '/text')
    expectInvalid(await send(s, 'create-post', { text: 'half \ud800 of a pair' }, caller), '/text')
    expectInvalid(await send(s, 'follow-user', { userId: 'not-a-uuid' }, caller), '/userId')
    expectInvalid(
      await send(s, 'create-user', { handle: 'a'.repeat(31), displayName: 'x' }, someone()),
      '/handle',
    )
    // One problem each: its length, or a character past ASCII letters, digits and `_`.
    for (const [handle, message] of [
      ['ab', /fewer than 3/],
      ['émile', /pattern/],
    ] as const) {
      const { errors = [] } = expectInvalid(
        await send(s, 'create-user', { handle, displayName: 'x' }, someone()),
        '/handle',
      )
      expect(errors).toHaveLength(1)
      expect(errors[0]?.message).toMatch(message)
    }
    const get = (params: Record<string, string | number>) => s.get(query('get-my-feed', params), { caller })
    expectInvalid(await get({ limit: 101 }), '/limit')
    expectInvalid(await get({ limit: 0 }), '/limit')
    expectInvalid(await get({ q: 'x'.repeat(101) }), '/q')
    expectInvalid(await get({ since: 'yesterday' }), '/since')
    expectInvalid(await get({ until: '2031-02-30T25:00:00Z' }), '/until')
    // Year 9999 here, 10000 in UTC: outside what the timelines' keys hold (it sorted before 2026).
    expectInvalid(await get({ since: '9999-12-31T23:59:59-14:00' }), '/since')
    expectInvalid(await get({ until: '9999-12-31T23:59:59-14:00' }), '/until')
    expectInvalid(await get({ until: '2031-06-30T23:59:60Z' }), '/until')
    expectInvalid(await get({ cursor: 'garbage' }), '/cursor')
    expectInvalid(await get({ cursor: 'x'.repeat(201) }), '/cursor')
    expectInvalid(await get({ authorId: 'nobody' }), '/authorId')
    // Nothing was posted: the caller's own list is empty.
    const mine = await s.get(query('get-user-posts', { userId }))
    expect(mine.json<Page<FeedItem>>().data).toEqual([])
    // At the limits it is accepted.
    // (The test server's GET waits for its last command's position: the profile and the post are read.)
    expectSucceeded(await send(s, 'create-post', { text: 'x'.repeat(500) }, caller))
    // A letter with its marks shows.
    expectSucceeded(await send(s, 'create-post', { text: 'e\u0301\ufe0f' }, caller))
    expect((await get({ limit: 100, q: 'x'.repeat(100) })).statusCode).toBe(200)
    expect((await get({ since: '0001-01-01T00:00:00Z', until: '9999-12-31T23:59:59.999Z' })).statusCode).toBe(
      200,
    )
    expect((await get({ since: '9999-12-31T23:59:59Z' })).json<Page<FeedItem>>().data).toEqual([])
    expect(s.serverErrors).toEqual([])
  })

  it('keeps other users’ data theirs: no deleting another’s post, no one else’s likes, a profile first', async () => {
    const [owner, stranger] = [someone(), someone()]
    const ownerId = await profile(owner)
    await profile(stranger)
    const { postId } = await post(owner, 'mine')
    expectProblem(await send(server(), 'delete-post', { postId }, stranger), 403, 'FORBIDDEN')
    expectProblem(
      await send(server(), 'create-post', { text: 'no profile' }, someone()),
      409,
      'PROFILE_REQUIRED',
    )
    expectProblem(await server().get(query('get-my-feed'), { caller: someone() }), 409, 'PROFILE_REQUIRED')
    expectProblem(await server().get(query('get-my-feed')), 401, 'UNAUTHENTICATED')
    expectProblem(await send(server(), 'follow-user', { userId: ownerId }, owner), 409, 'CANNOT_FOLLOW_SELF')
    expectProblem(
      await send(server(), 'follow-user', { userId: randomUUID() }, stranger),
      404,
      'USER_NOT_FOUND',
    )
    const liked = expectSucceeded(await send(server(), 'like-post', { postId }, stranger))
    const follow = expectSucceeded(await send(server(), 'follow-user', { userId: ownerId }, stranger))
    const page = await feedOf(stranger, String(Math.max(Number(liked.position), Number(follow.position))))
    expect(page.data.map((i) => [i.postId, i.likedByMe])).toEqual([[postId, true]])
  })

  it('answers the lists of a user nobody created 404, like get-user, and an empty page once they exist', async () => {
    const [reader, newcomer] = [someone(), someone()]
    await profile(reader)
    const userId = randomUUID()
    const lists = ['get-user-posts', 'get-followers', 'get-following']
    for (const name of ['get-user', ...lists])
      expectProblem(await server().get(query(name, { userId }), { caller: reader }), 404, 'USER_NOT_FOUND')
    const created = expectSucceeded<{ userId: string }>(
      await send(
        server(),
        'create-user',
        { userId, handle: handleOf(newcomer), displayName: 'New' },
        newcomer,
      ),
    )
    expect(created.result.userId).toBe(userId)
    // The 404s were not kept: once the profile is read, each list is an empty page.
    for (const name of lists) {
      const answer = await server().get(query(name, { userId: userId.toUpperCase() }), {
        caller: reader,
        headers: { 'x-min-position': created.position },
      })
      expect(answer.statusCode, answer.body).toBe(200)
      expect(answer.json<Page<unknown>>()).toEqual({ data: [], nextCursor: null })
    }
  })

  it('replays a retried create-post with the same Idempotency-Key: one post, the same id', async () => {
    const caller = someone()
    const userId = await profile(caller)
    const key = randomUUID()
    const headers = { 'idempotency-key': key }
    // Sent at once, the others wait or are told the first is still running; retried after, each replays.
    const racing = await Promise.all(
      Array.from({ length: 5 }, () => send(server(), 'create-post', { text: 'only once' }, caller, headers)),
    )
    for (const answer of racing.filter((a) => a.statusCode !== 200)) {
      expectProblem(answer, 409, 'IDEMPOTENCY_IN_PROGRESS')
    }
    const answers = [
      ...racing.filter((a) => a.statusCode === 200),
      await send(server(), 'create-post', { text: 'only once' }, caller, headers),
      await send(server(), 'create-post', { text: 'only once' }, caller, headers),
    ]
    const ids = new Set(answers.map((a) => expectSucceeded<{ postId: string }>(a).result.postId))
    expect(ids.size).toBe(1)
    expectProblem(
      await send(server(), 'create-post', { text: 'another text' }, caller, headers),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    )
    const position = String(Math.max(...answers.map((a) => Number(expectSucceeded(a).position))))
    const posts = await server().get(query('get-user-posts', { userId }), {
      headers: { 'x-min-position': position },
    })
    expect(posts.json<Page<FeedItem>>().data).toHaveLength(1)
  })

  it('counts one follow and one like when a caller sends each 20 times at once, and a delete removes the post from the feed', async () => {
    const [reader, writer] = [someone(), someone()]
    await profile(reader)
    const writerId = await profile(writer)
    const { postId } = await post(writer, 'racy')
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, () => send(server(), 'follow-user', { userId: writerId }, reader)),
      ...Array.from({ length: 20 }, () => send(server(), 'like-post', { postId }, reader)),
    ])
    const at = String(Math.max(...answers.map((a) => Number(expectSucceeded(a).position))))
    const users = await server().get(query('get-user', { userId: writerId }), {
      headers: { 'x-min-position': at },
    })
    expect(users.json<{ data: Profile }>().data.followerCount).toBe(1)
    expect((await feedOf(reader, at)).data.map((i) => i.likeCount)).toEqual([1])
    const gone = expectSucceeded(await send(server(), 'delete-post', { postId }, writer))
    expect((await feedOf(reader, gone.position)).data).toEqual([])
    expect(server().serverErrors).toEqual([])
  })
})
