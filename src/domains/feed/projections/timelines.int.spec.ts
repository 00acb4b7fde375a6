import { describe, expect, it } from 'vitest'
import { modes, origin, projectionSpec, type ReadModel } from '../../../kernel/testing.js'
import {
  PostCommented,
  PostCreated,
  PostDeleted,
  PostLiked,
  PostUnliked,
  UserCreated,
  UserFollowed,
  UserUnfollowed,
} from '../messages.js'
import { defineGetMyFeed } from './feed-queries.js'
import {
  floorKey,
  followingKey,
  profileKey,
  pulledKey,
  readerOf,
  timelineCap,
  timelineKey,
  timelinesModel,
  timelinesProjection,
  type FeedSettings,
} from './timelines.js'

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

const like = (n: number, userId: string) =>
  PostLiked.create({ postId: uuid(1000 + n), userId, likedAt: at(2) })
const unlike = (n: number, userId: string) =>
  PostUnliked.create({ postId: uuid(1000 + n), userId, unlikedAt: at(3) })
const comment = (n: number, authorId: string, c: number) =>
  PostCommented.create({
    commentId: uuid(5000 + c),
    postId: uuid(1000 + n),
    authorId,
    text: 'hi',
    commentedAt: at(4),
  })
const numberOf = (postId: string) => Number(postId.slice(-4)) - 1000

/** Hybrid with a threshold of 1: an author with two followers is pulled, one with one is pushed. */
const feedModes: FeedSettings[] = [
  { mode: 'push', pullAbove: 1 },
  { mode: 'pull', pullAbove: 1 },
  { mode: 'hybrid', pullAbove: 1 },
]
const cases = feedModes.flatMap((settings) => modes.map((mode) => [settings.mode, mode, settings] as const))

it('keeps every account’s keys apart, also an account named like another’s key', () => {
  const keys = (account: string) => {
    const r = readerOf(account)
    return [timelineKey(r), floorKey(r), followingKey(r), pulledKey(r), profileKey(r)]
  }
  const all = ['x', 'x:floor', 'x%3Afloor', 'timeline:x', 'x/y'].flatMap(keys)
  expect(new Set(all).size).toBe(all.length)
})

describe.each(cases)('the home feed, %s mode (%s)', (feedMode, mode, settings) => {
  const given = projectionSpec(mode, [timelinesProjection(settings)])
  const getMyFeed = defineGetMyFeed(settings)
  const model = timelinesModel(feedMode)

  /** The post numbers of a reader's whole feed, page by page, following the cursors to the end. */
  async function feedPages(m: ReadModel, reader: string, limit = 20, filters: Record<string, string> = {}) {
    const pages: number[][] = []
    let cursor: string | undefined
    do {
      const page = await m.ask(getMyFeed, { limit, ...filters, ...(cursor ? { cursor } : {}) }, as(reader))
      pages.push(page.items.map((item) => numberOf(item.postId)))
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    return pages
  }
  const feed = async (m: ReadModel, reader: string, filters: Record<string, string> = {}) =>
    (await feedPages(m, reader, 100, filters)).flat()

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
          likeCount: 0,
          commentCount: 0,
          likedByMe: false,
          // Its PostCreated's: what a stream's resume compares (http/live-items.ts).
          position: expect.stringMatching(/^[1-9]\d*$/) as string,
        },
      ],
      nextCursor: null,
    })
  })

  it('backfills the followee’s recent posts on follow, newest first, and removes them on unfollow', async () => {
    const m = await given(...users(), post(1, ann), post(2, cat), post(3, ann), follow(bob, cat))
    expect(await m.apply(follow(bob, ann))).toEqual(new Set(['timeline:bob']))
    expect(await feed(m, bob)).toEqual([3, 2, 1])
    expect(await m.apply(unfollow(bob, ann))).toEqual(new Set(['timeline:bob']))
    expect(await feed(m, bob)).toEqual([2])
    // No longer a follower: ann's next post does not reach bob.
    await m.apply(post(4, ann))
    expect(await feed(m, bob)).toEqual([2])
  })

  it('removes a deleted post from every timeline that has it, and from later backfills', async () => {
    const m = await given(...users(), follow(bob, ann), follow(cat, ann), post(1, ann), post(2, ann))
    expect(await m.apply(deleted(1, ann))).toEqual(
      new Set(['timeline:bob', 'timeline:cat', `post:${uuid(1001)}`]),
    )
    expect(await feed(m, bob)).toEqual([2])
    expect(await feed(m, cat)).toEqual([2])
    expect(await m.kv(model).get(`post:${uuid(1001)}`)).toBeNull()
    await m.apply(follow(dan, ann))
    expect(await feed(m, dan)).toEqual([2])
  })

  it(`caps a timeline at ${timelineCap} entries and serves the pages past them by pull, with no hole`, async () => {
    const posts = Array.from({ length: timelineCap + 10 }, (_, i) => post(i + 1, ann))
    const m = await given(...users(), follow(bob, ann), ...posts)
    const all = Array.from({ length: timelineCap + 10 }, (_, i) => timelineCap + 10 - i)
    const kv = m.kv(model)
    expect(await kv.zcard(timelineKey('bob'))).toBe(feedMode === 'pull' ? 0 : timelineCap)
    expect(await kv.get(floorKey('bob'))).toBe(feedMode === 'pull' ? null : `${at(10)}|${uuid(1010)}|${ann}`)
    expect(await feed(m, bob)).toEqual(all)
    await m.apply(follow(cat, ann))
    expect(await feed(m, cat)).toEqual(all)
    // A timeline that dropped entries and then lost others to an unfollow is whole only above its
    // floor: dan's posts older than the floor come by pull, interleaved where they belong.
    await m.apply(
      post(3000, dan, 5),
      post(3001, dan, 900),
      unfollow(bob, ann),
      follow(bob, dan),
      follow(bob, ann),
    )
    expect(await feed(m, bob)).toEqual([3001, ...all.slice(0, -5), 3000, ...all.slice(-5)])
  })

  it('reads the lists of the authors who posted last first, and stops once no other can be on the page', async () => {
    // 40 authors, one post each, a second by the first author long after; then its newest is deleted.
    const many = Array.from({ length: 40 }, (_, i) => uuid(100 + i))
    const profile = (userId: string) =>
      UserCreated.create({
        userId,
        accountId: userId,
        handle: userId,
        displayName: userId,
        bio: null,
        createdAt: at(0),
      })
    const m = await given(
      ...users(),
      ...many.map(profile),
      ...many.map((a) => follow(bob, a)),
      ...many.map((a, i) => post(i + 1, a)),
      post(500, many[0] ?? '', 5_000),
    )
    expect((await feedPages(m, bob, 5)).flat()).toEqual([
      500,
      ...Array.from({ length: 40 }, (_, i) => 40 - i),
    ])
    await m.apply(deleted(500, many[0] ?? ''))
    expect((await feedPages(m, bob, 7)).flat()).toEqual(Array.from({ length: 40 }, (_, i) => 40 - i))
    expect(await feed(m, bob, { since: at(30) })).toEqual([40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30])
  })

  it('gives like and comment counts, and whether the caller liked each post, without rewriting timelines', async () => {
    const m = await given(...users(), follow(bob, ann), follow(cat, ann), post(1, ann), post(2, ann))
    expect(await m.apply(like(1, bob), like(1, cat), comment(1, dan, 1), comment(2, bob, 2))).toEqual(
      new Set([`post:${uuid(1001)}`, `post:${uuid(1002)}`]),
    )
    await m.apply(unlike(1, cat))
    const page = await m.ask(getMyFeed, {}, as(bob))
    expect(page.items.map((i) => [numberOf(i.postId), i.likeCount, i.commentCount, i.likedByMe])).toEqual([
      [2, 0, 1, false],
      [1, 1, 1, true],
    ])
    const cats = await m.ask(getMyFeed, {}, as(cat))
    expect(cats.items.map((i) => i.likedByMe)).toEqual([false, false])
  })

  it('filters by followee, text, and time, reading the same model', async () => {
    const m = await given(
      ...users(),
      follow(bob, ann),
      follow(bob, cat),
      ...Array.from({ length: 30 }, (_, i) => post(i + 1, i % 2 === 0 ? ann : cat)),
      post(99, dan),
    )
    expect(await feed(m, bob, { authorId: cat })).toEqual([
      30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2,
    ])
    expect(await feed(m, bob, { authorId: dan })).toEqual([])
    expect(await feed(m, bob, { q: 'POST 1' })).toEqual([19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1])
    expect(await feed(m, bob, { since: at(25), until: at(27) })).toEqual([27, 26, 25])
    expect(await feed(m, bob, { since: at(25), until: '2031-01-01T09:00:27+09:00' })).toEqual([27, 26, 25])
    expect((await feedPages(m, bob, 2, { q: 'post 2' })).flat()).toEqual([
      29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 2,
    ])
    await expect(m.ask(getMyFeed, { until: 'not a time' }, as(bob))).rejects.toMatchObject({ status: 400 })
    // The same moment in another zone is no reversed window; one that ends before it begins is refused.
    expect(await feed(m, bob, { since: '2031-01-01T09:00:27+09:00', until: at(27) })).toEqual([27])
    await expect(m.ask(getMyFeed, { since: at(27), until: at(25) }, as(bob))).rejects.toMatchObject({
      status: 400,
      errors: [{ path: '/since', message: 'must not be after until' }],
    })
    // To the digit, past the millisecond too.
    const [early, late] = ['2031-01-01T00:00:27.0001Z', '2031-01-01T00:00:27.0009Z']
    await expect(m.ask(getMyFeed, { since: late, until: early }, as(bob))).rejects.toMatchObject({
      status: 400,
    })
    expect(await feed(m, bob, { since: early, until: early })).toEqual([])
  })

  it('finds text typed with a combining accent by the precomposed letter, and back', async () => {
    const text = (n: number, body: string) =>
      PostCreated.create({ postId: uuid(1000 + n), authorId: ann, text: body, createdAt: at(n) })
    const m = await given(...users(), follow(bob, ann), text(1, 'Cafe\u0301 LATTE'), text(2, 'café au lait'))
    expect(await feed(m, bob, { q: 'café' })).toEqual([2, 1])
    expect(await feed(m, bob, { q: 'CAFE\u0301' })).toEqual([2, 1])
  })

  it('ignores case as Unicode folds it: ß and ss, a final sigma and σ', async () => {
    const text = (n: number, body: string) =>
      PostCreated.create({ postId: uuid(1000 + n), authorId: ann, text: body, createdAt: at(n) })
    const m = await given(...users(), follow(bob, ann), text(1, 'Die Straße'), text(2, 'ΟΔΟΣ'))
    expect(await feed(m, bob, { q: 'STRASSE' })).toEqual([1])
    expect(await feed(m, bob, { q: 'straße' })).toEqual([1])
    expect(await feed(m, bob, { q: 'Σ' })).toEqual([2])
    expect(await feed(m, bob, { q: 'οδος' })).toEqual([2])
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
    expect(second.items.map((i) => numberOf(i.postId))).toEqual(expected.slice(10, 20))
  })

  it('changes nothing when the same batch is applied twice from the same checkpoint', async () => {
    const m = await given()
    const batch = [...users(), follow(bob, ann), post(1, ann), post(2, ann), deleted(1, ann)].map(m.record)
    expect(await m.applyBatch(batch, origin)).toEqual([true])
    expect(await m.applyBatch(batch, origin)).toEqual([false])
    expect(await feed(m, bob)).toEqual([2])
    expect(await m.kv(model).zcard(timelineKey('bob'))).toBe(feedMode === 'pull' ? 0 : 1)
  })

  it('refuses a caller with no profile with 409 PROFILE_REQUIRED', async () => {
    const m = await given(...users())
    await expect(m.ask(getMyFeed, {}, { id: 'stranger', roles: [] })).rejects.toMatchObject({
      code: 'PROFILE_REQUIRED',
    })
  })
})
