import { describe, expect, it } from 'vitest'
import { modes, origin, projectionSpec, type ReadModel } from '../../../kernel/testing.js'
import { PostCreated, PostDeleted, UserCreated, UserFollowed, UserUnfollowed } from '../messages.js'
import { getMyFeed } from './feed-queries.js'
import { timelineCap, timelineKey, timelinesModel, timelinesProjection } from './timelines.js'

const uuid = (n: number) => `0190c0d0-0000-7000-8000-${String(n).padStart(12, '0')}`
const at = (second: number) => new Date(Date.UTC(2031, 0, 1) + second * 1000).toISOString()
const [ann, bob, cat, dan] = [uuid(1), uuid(2), uuid(3), uuid(4)]
const handles: Record<string, string> = { [ann]: 'ann', [bob]: 'bob', [cat]: 'cat', [dan]: 'dan' }
/** Each user's account is named by their handle. */
const as = (userId: string) => ({ id: handles[userId] ?? 'nobody', roles: [] })

const user = (userId: string) =>
  UserCreated.create({
    userId,
    accountId: handles[userId] ?? '',
    handle: handles[userId] ?? '',
    displayName: (handles[userId] ?? '').toUpperCase(),
    bio: null,
    createdAt: at(0),
  })
const users = () => [ann, bob, cat, dan].map(user)
const follow = (followerId: string, followeeId: string) =>
  UserFollowed.create({ followerId, followeeId, followedAt: at(1) })
const unfollow = (followerId: string, followeeId: string) =>
  UserUnfollowed.create({ followerId, followeeId, unfollowedAt: at(1) })
const post = (n: number, authorId: string, second = n) =>
  PostCreated.create({ postId: uuid(1000 + n), authorId, text: `post ${n}`, createdAt: at(second) })
const deleted = (n: number, authorId: string) =>
  PostDeleted.create({ postId: uuid(1000 + n), authorId, deletedAt: at(100_000) })

/** The post numbers of a reader's whole feed, page by page, following the cursors to the end. */
async function feedPages(m: ReadModel, reader: string, limit = 20) {
  const pages: number[][] = []
  let cursor: string | undefined
  do {
    const page = await m.ask(getMyFeed, { limit, ...(cursor ? { cursor } : {}) }, as(reader))
    pages.push(page.items.map((item) => Number(item.postId.slice(-4)) - 1000))
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  return pages
}
const feed = async (m: ReadModel, reader: string) => (await feedPages(m, reader, 100)).flat()

describe.each(modes)('the home feed, push mode (%s)', (mode) => {
  const given = projectionSpec(mode, [timelinesProjection])

  it('fans a post out into the timeline of every follower of its author, and touches each', async () => {
    const m = await given(...users(), follow(bob, ann), follow(cat, ann), follow(dan, cat))
    expect(await m.apply(post(1, ann))).toEqual(new Set(['timeline:bob', 'timeline:cat']))
    expect(await feed(m, bob)).toEqual([1])
    expect(await feed(m, cat)).toEqual([1])
    expect(await feed(m, dan)).toEqual([])
    expect(await feed(m, ann)).toEqual([])
    const page = await m.ask(getMyFeed, {}, as(bob))
    expect(page).toEqual({
      items: [
        {
          postId: uuid(1001),
          authorId: ann,
          authorHandle: 'ann',
          authorDisplayName: 'ANN',
          text: 'post 1',
          createdAt: at(1),
        },
      ],
      nextCursor: null,
    })
  })

  it('backfills the followee’s recent posts on follow, newest first, and removes them on unfollow', async () => {
    const m = await given(...users(), post(1, ann), post(2, cat), post(3, ann), follow(bob, cat))
    expect(await m.apply(follow(bob, ann))).toEqual(new Set(['timeline:bob']))
    expect(await feed(m, bob)).toEqual([3, 2, 1])
    // Following twice changes nothing.
    await m.apply(follow(bob, ann))
    expect(await feed(m, bob)).toEqual([3, 2, 1])
    expect(await m.apply(unfollow(bob, ann))).toEqual(new Set(['timeline:bob']))
    expect(await feed(m, bob)).toEqual([2])
    // No longer a follower: ann's next post does not reach bob.
    await m.apply(post(4, ann))
    expect(await feed(m, bob)).toEqual([2])
  })

  it('removes a deleted post from every timeline that has it, and from later backfills', async () => {
    const m = await given(...users(), follow(bob, ann), follow(cat, ann), post(1, ann), post(2, ann))
    expect(await m.apply(deleted(1, ann))).toEqual(new Set(['timeline:bob', 'timeline:cat']))
    expect(await feed(m, bob)).toEqual([2])
    expect(await feed(m, cat)).toEqual([2])
    expect(await m.kv(timelinesModel).get(`post:${uuid(1001)}`)).toBeNull()
    await m.apply(follow(dan, ann))
    expect(await feed(m, dan)).toEqual([2])
  })

  it(`caps a timeline at ${timelineCap} entries, the oldest trimmed, on fan-out and on backfill`, async () => {
    const posts = Array.from({ length: timelineCap + 10 }, (_, i) => post(i + 1, ann))
    const m = await given(...users(), follow(bob, ann), ...posts)
    const newest = Array.from({ length: timelineCap }, (_, i) => timelineCap + 10 - i)
    expect(await m.kv(timelinesModel).zcard(timelineKey(bob))).toBe(timelineCap)
    expect((await feedPages(m, bob, 100)).flat()).toEqual(newest)
    await m.apply(follow(cat, ann))
    expect(await m.kv(timelinesModel).zcard(timelineKey(cat))).toBe(timelineCap)
    expect(await feed(m, cat)).toEqual(newest)
    // A post older than a full timeline's oldest entry is trimmed as soon as it is fanned out.
    await m.apply(follow(bob, dan), post(2000, dan, 5))
    expect(await feed(m, bob)).toEqual(newest)
  })

  it('pages newest first with no duplicates or holes, ties broken by post id, across writes between pages', async () => {
    // 45 posts by three authors, several at the same second.
    const authors = [ann, cat, dan]
    const posts = Array.from({ length: 45 }, (_, i) => post(i + 1, authors[i % 3] ?? ann, Math.floor(i / 4)))
    const m = await given(...users(), ...authors.map((a) => follow(bob, a)), ...posts)
    const expected = [...posts]
      .sort((a, b) =>
        a.data.createdAt === b.data.createdAt
          ? b.data.postId.localeCompare(a.data.postId)
          : b.data.createdAt.localeCompare(a.data.createdAt),
      )
      .map((p) => Number(p.data.postId.slice(-4)) - 1000)
    for (const limit of [1, 7, 20, 45, 100]) {
      const pages = await feedPages(m, bob, limit)
      expect(pages.flat()).toEqual(expected)
      expect(pages.slice(0, -1).every((p) => p.length === limit)).toBe(true)
    }
    // A newer post arriving between pages moves nothing across the next page's edge.
    const first = await m.ask(getMyFeed, { limit: 10 }, as(bob))
    await m.apply(post(100, ann, 1_000), deleted(45, dan))
    const second = await m.ask(getMyFeed, { limit: 10, cursor: first.nextCursor ?? '' }, as(bob))
    expect(second.items.map((i) => Number(i.postId.slice(-4)) - 1000)).toEqual(expected.slice(10, 20))
  })

  it('changes nothing when the same batch is applied twice from the same checkpoint', async () => {
    const m = await given()
    const batch = [...users(), follow(bob, ann), post(1, ann), post(2, ann), deleted(1, ann)].map(m.record)
    expect(await m.applyBatch(batch, origin)).toEqual([true])
    expect(await m.applyBatch(batch, origin)).toEqual([false])
    expect(await feed(m, bob)).toEqual([2])
    expect(await m.kv(timelinesModel).zcard(timelineKey(bob))).toBe(1)
  })

  it('refuses a caller with no profile with 409 PROFILE_REQUIRED', async () => {
    const m = await given(...users())
    await expect(m.ask(getMyFeed, {}, { id: 'stranger', roles: [] })).rejects.toMatchObject({
      code: 'PROFILE_REQUIRED',
    })
  })
})
