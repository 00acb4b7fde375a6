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
import { getPost, getPostComments, getUserPosts } from './post-queries.js'
import { postsModel, postsProjection } from './posts.js'
import { getFollowers, getFollowing, getUser } from './profile-queries.js'
import { profilesProjection } from './profiles.js'

const uuid = (n: number) => `0190c0d0-0000-7000-8000-${String(n).padStart(12, '0')}`
const at = (minute: number) => new Date(Date.UTC(2031, 0, 1, 0, minute)).toISOString()
const [ann, bob, cat] = [uuid(1), uuid(2), uuid(3)]
const caller = { id: 'reader', roles: [] }

const user = (userId: string, handle: string) =>
  UserCreated.create({
    userId,
    accountId: handle,
    handle,
    displayName: handle.toUpperCase(),
    bio: null,
    createdAt: at(0),
  })
const follow = (followerId: string, followeeId: string, minute: number) =>
  UserFollowed.create({ followerId, followeeId, followedAt: at(minute) })
const unfollow = (followerId: string, followeeId: string, minute: number) =>
  UserUnfollowed.create({ followerId, followeeId, unfollowedAt: at(minute) })
const post = (postId: string, authorId: string, minute: number) =>
  PostCreated.create({ postId, authorId, text: `post ${postId.slice(-3)}`, createdAt: at(minute) })
const like = (postId: string, userId: string) => PostLiked.create({ postId, userId, likedAt: at(50) })
const unlike = (postId: string, userId: string) => PostUnliked.create({ postId, userId, unlikedAt: at(51) })
const comment = (commentId: string, postId: string, authorId: string, minute: number) =>
  PostCommented.create({ commentId, postId, authorId, text: `comment ${minute}`, commentedAt: at(minute) })

/** Every page of a paged query, each page's ids, following the cursors to the end. */
async function pages<T>(
  field: keyof T,
  ask: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>,
) {
  const seen: string[][] = []
  let cursor: string | undefined
  do {
    const page = await ask(cursor)
    seen.push(page.items.map((item) => String(item[field])))
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  return seen
}

describe.each(modes)('the feed’s read models (%s)', (mode) => {
  const given = projectionSpec(mode, [profilesProjection, postsProjection])
  const users = () => [user(ann, 'ann'), user(bob, 'bob'), user(cat, 'cat')]

  describe('profiles and follows', () => {
    it('counts followers and following through follows and unfollows, and lists both ends newest first', async () => {
      const m = await given(...users(), follow(bob, ann, 1), follow(cat, ann, 2), follow(ann, bob, 3))
      expect(await m.ask(getUser, { userId: ann })).toMatchObject({
        handle: 'ann',
        displayName: 'ANN',
        followerCount: 2,
        followingCount: 1,
      })
      const followers = await m.ask(getFollowers, { userId: ann }, caller)
      expect(followers.items.map((u) => [u.userId, u.handle, u.followedAt])).toEqual([
        [cat, 'cat', at(2)],
        [bob, 'bob', at(1)],
      ])
      expect(await m.ask(getFollowing, { userId: bob }, caller)).toMatchObject({
        items: [{ userId: ann, handle: 'ann' }],
        nextCursor: null,
      })

      const tags = await m.apply(unfollow(bob, ann, 4), unfollow(bob, ann, 5))
      expect(tags).toEqual(new Set([`user:${bob}`, `user:${ann}`, `following:${bob}`, `followers:${ann}`]))
      expect(await m.ask(getUser, { userId: ann })).toMatchObject({ followerCount: 1, followingCount: 1 })
      expect(await m.ask(getUser, { userId: bob })).toMatchObject({ followerCount: 1, followingCount: 0 })
      expect((await m.ask(getFollowing, { userId: bob }, caller)).items).toEqual([])
      await m.apply(follow(bob, ann, 6), follow(bob, ann, 7))
      expect(await m.ask(getUser, { userId: ann })).toMatchObject({ followerCount: 2 })
      expect((await m.ask(getFollowers, { userId: ann }, caller)).items[0]).toMatchObject({
        userId: bob,
        followedAt: at(6),
      })
    })

    it('answers USER_NOT_FOUND for an unknown user, and reads an id in upper case as the same user', async () => {
      const m = await given(...users())
      await expect(m.ask(getUser, { userId: uuid(99) })).rejects.toMatchObject({ code: 'USER_NOT_FOUND' })
      expect(await m.ask(getUser, { userId: ann.toUpperCase() })).toMatchObject({ userId: ann })
    })

    it('pages followers without duplicates or holes, ties in time ordered by id', async () => {
      const fans = Array.from({ length: 7 }, (_, i) => uuid(100 + i))
      const m = await given(
        ...users(),
        ...fans.map((fan, i) => user(fan, `fan_${i}`)),
        ...fans.map((fan, i) => follow(fan, ann, i < 4 ? 10 : 20)),
      )
      const seen = await pages('userId', async (cursor) =>
        m.ask(getFollowers, { userId: ann, limit: 3, ...(cursor ? { cursor } : {}) }, caller),
      )
      expect(seen.map((page) => page.length)).toEqual([3, 3, 1])
      expect(seen.flat()).toEqual([...fans.slice(4).reverse(), ...fans.slice(0, 4).reverse()])
    })
  })

  describe('posts and comments', () => {
    const p1 = uuid(201)
    const p2 = uuid(202)
    const p3 = uuid(203)
    const withPosts = () => given(...users(), post(p1, ann, 1), post(p2, ann, 2), post(p3, bob, 3))

    it('lists a user’s posts newest first, with like and comment counts that likes and unlikes move', async () => {
      const m = await withPosts()
      await m.apply(like(p1, bob), like(p1, cat), like(p2, bob), comment(uuid(301), p1, cat, 10))
      const listing = await m.ask(getUserPosts, { userId: ann })
      expect(listing.items.map((p) => [p.postId, p.likeCount, p.commentCount, p.authorHandle])).toEqual([
        [p2, 1, 0, 'ann'],
        [p1, 2, 1, 'ann'],
      ])
      expect(await m.apply(unlike(p1, bob))).toEqual(new Set([`post:${p1}`]))
      expect(await m.ask(getPost, { postId: p1.toUpperCase() })).toMatchObject({
        postId: p1,
        likeCount: 1,
        commentCount: 1,
        authorDisplayName: 'ANN',
      })
    })

    it('lists a post’s comments newest first, page by page, each with its author', async () => {
      const m = await withPosts()
      const ids = [uuid(401), uuid(402), uuid(403)]
      const tags = await m.apply(...ids.map((id, i) => comment(id, p1, i === 1 ? bob : cat, 10 + i)))
      expect(tags).toEqual(new Set([`post:${p1}`, `comments:${p1}`]))
      const seen = await pages('commentId', async (cursor) =>
        m.ask(getPostComments, { postId: p1, limit: 2, ...(cursor ? { cursor } : {}) }),
      )
      expect(seen).toEqual([[ids[2], ids[1]], [ids[0]]])
      const first = await m.ask(getPostComments, { postId: p1, limit: 1 })
      expect(first.items[0]).toMatchObject({ authorId: cat, authorHandle: 'cat', text: 'comment 12' })
    })

    it('drops a deleted post from its author’s list, from get-post and with its comments', async () => {
      const m = await withPosts()
      await m.apply(comment(uuid(301), p1, cat, 10), like(p1, bob))
      const tags = await m.apply(PostDeleted.create({ postId: p1, authorId: ann, deletedAt: at(30) }))
      expect(tags).toEqual(new Set([`post:${p1}`, `posts:${ann}`, `comments:${p1}`]))
      expect((await m.ask(getUserPosts, { userId: ann })).items.map((p) => p.postId)).toEqual([p2])
      await expect(m.ask(getPost, { postId: p1 })).rejects.toMatchObject({ code: 'POST_NOT_FOUND' })
      await expect(m.ask(getPostComments, { postId: p1 })).rejects.toMatchObject({
        code: 'POST_NOT_FOUND',
      })
      expect(await m.rows(postsModel, 'comments')).toEqual([])
    })

    it('refuses a cursor that is not one of its own with 400: made up, or of another query', async () => {
      const m = await withPosts()
      const page = await m.ask(getUserPosts, { userId: ann, limit: 1 })
      const cursor = page.nextCursor ?? undefined
      expect((await m.ask(getUserPosts, { userId: ann, cursor })).items.map((p) => p.postId)).toEqual([p1])
      await expect(m.ask(getUserPosts, { userId: ann, cursor: 'bm90LWEta2V5' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      })
      await expect(m.ask(getPostComments, { postId: p1, cursor })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      })
    })
  })

  it('changes nothing when the same batch is applied twice from the same checkpoint', async () => {
    const m = await given()
    const batch = [
      ...users(),
      follow(bob, ann, 1),
      post(uuid(201), ann, 2),
      like(uuid(201), bob),
      comment(uuid(301), uuid(201), bob, 3),
    ].map(m.record)
    expect(await m.applyBatch(batch, origin)).toEqual([true, true])
    const before = await answers(m)
    expect(await m.applyBatch(batch, origin)).toEqual([false, false])
    expect(await answers(m)).toEqual(before)
    expect(before.slice(0, 2)).toMatchObject([
      { followerCount: 1 },
      { items: [{ likeCount: 1, commentCount: 1 }] },
    ])
  })
})

async function answers(m: ReadModel) {
  return [
    await m.ask(getUser, { userId: ann }),
    await m.ask(getUserPosts, { userId: ann }),
    await m.ask(getPostComments, { postId: uuid(201) }),
  ]
}
