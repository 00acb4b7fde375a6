import { defineKvProjection, unreachable, type KvBatch } from '../../../kernel/index.js'
import { PostCreated, PostDeleted, UserCreated, UserFollowed, UserUnfollowed } from '../messages.js'

/**
 * The home feed's read model, push mode: each user's timeline is a capped sorted set that every post
 * of the users they follow is written into (fan-out on write). The follower lists, each author's
 * recent posts, the post documents and the authors' handles are kept here too, since a projection
 * reads only its own store. Pull and hybrid modes (issue 11) will read the same author lists at read
 * time instead of, or beside, the timelines.
 *
 * Timeline members are `<createdAt>|<postId>|<authorId>` at score 0, so a lex range walks them newest
 * first (ISO times in UTC sort as text) and the author is known without reading the post. Sorted sets
 * are write-only inside a batch, so each one has a plain set beside it (`…:members`) that the batch
 * reads, seeing its own writes, to trim to the cap and to find what to remove.
 */

export const timelinesModel = 'feed-timelines'
/** Entries per timeline and per author's recent posts, as Twitter and Mastodon cap theirs. */
export const timelineCap = 800

export interface PostDoc {
  postId: string
  authorId: string
  text: string
  createdAt: string
}
export interface UserDoc {
  userId: string
  accountId: string
  handle: string
  displayName: string
}

const enc = encodeURIComponent
export const postKey = (postId: string) => `post:${postId}`
export const userKey = (userId: string) => `user:${userId}`
export const accountKey = (accountId: string) => `account:${enc(accountId)}`
export const timelineKey = (userId: string) => `timeline:${userId}`
const timelineMembers = (userId: string) => `timeline:${userId}:members`
const followersKey = (userId: string) => `followers:${userId}`
const authorPosts = (userId: string) => `author:${userId}:posts`
/** The cache tag of a reader's timeline: the account, since the query knows the caller, not the profile. */
export const timelineTag = (accountId: string) => `timeline:${accountId}`

const entry = (p: PostDoc) => `${p.createdAt}|${p.postId}|${p.authorId}`
export const authorOf = (member: string) => member.slice(member.lastIndexOf('|') + 1)
export const postOf = (member: string) => member.split('|')[1] ?? ''

/** A capped list of entries: a plain set the batch reads, and the sorted set queries read, if any. */
interface Capped {
  members: string
  sorted?: string
}
const timeline = (userId: string): Capped => ({
  members: timelineMembers(userId),
  sorted: timelineKey(userId),
})
const recentPosts = (userId: string): Capped => ({ members: authorPosts(userId) })

/** Adds entries, then drops the oldest past the cap. */
async function addCapped(kv: KvBatch, list: Capped, entries: readonly string[]) {
  const current = new Set(await kv.smembers(list.members))
  for (const e of entries) {
    if (current.has(e)) continue
    current.add(e)
    kv.sadd(list.members, e)
    if (list.sorted !== undefined) kv.zadd(list.sorted, 0, e)
  }
  if (current.size <= timelineCap) return
  const oldest = [...current].sort().slice(0, current.size - timelineCap)
  for (const e of oldest) removeEntry(kv, list, e)
}

function removeEntry(kv: KvBatch, list: Capped, e: string) {
  kv.srem(list.members, e)
  if (list.sorted !== undefined) kv.zrem(list.sorted, e)
}

/** Touches the cache tag of a user's timeline (their account's). */
async function touchTimeline(kv: KvBatch, userId: string) {
  const user = await kv.getJson<UserDoc>(userKey(userId))
  if (user) kv.touch(timelineTag(user.accountId))
}

async function addToTimeline(kv: KvBatch, userId: string, entries: readonly string[]) {
  await addCapped(kv, timeline(userId), entries)
  await touchTimeline(kv, userId)
}

async function removeFromTimeline(kv: KvBatch, userId: string, keep: (e: string) => boolean) {
  for (const e of await kv.smembers(timelineMembers(userId))) {
    if (!keep(e)) removeEntry(kv, timeline(userId), e)
  }
  await touchTimeline(kv, userId)
}

export const timelinesProjection = defineKvProjection({
  domain: 'feed',
  name: timelinesModel,
  version: 1,
  events: [UserCreated, PostCreated, PostDeleted, UserFollowed, UserUnfollowed],
  // Whose timelines an event changes is found in the read model: apply touches them.
  tags: () => [],
  async apply(event, kv) {
    switch (event.type) {
      case 'UserCreated': {
        const { userId, accountId, handle, displayName } = event.data
        kv.setJson(userKey(userId), { userId, accountId, handle, displayName } satisfies UserDoc)
        kv.set(accountKey(accountId), userId)
        return
      }
      case 'PostCreated': {
        const post: PostDoc = { ...event.data }
        if (await kv.get(postKey(post.postId))) return
        kv.setJson(postKey(post.postId), post)
        const e = entry(post)
        await addCapped(kv, recentPosts(post.authorId), [e])
        for (const follower of await kv.smembers(followersKey(post.authorId))) {
          await addToTimeline(kv, follower, [e])
        }
        return
      }
      case 'PostDeleted': {
        const { postId, authorId } = event.data
        const post = await kv.getJson<PostDoc>(postKey(postId))
        if (!post) return
        kv.del(postKey(postId))
        const e = entry(post)
        removeEntry(kv, recentPosts(authorId), e)
        // Every timeline holding the post is a current follower's: an unfollow removed it from the rest.
        for (const follower of await kv.smembers(followersKey(authorId))) {
          removeEntry(kv, timeline(follower), e)
          await touchTimeline(kv, follower)
        }
        return
      }
      case 'UserFollowed': {
        const { followerId, followeeId } = event.data
        const followers = await kv.smembers(followersKey(followeeId))
        if (followers.includes(followerId)) return
        kv.sadd(followersKey(followeeId), followerId)
        await addToTimeline(kv, followerId, await kv.smembers(authorPosts(followeeId)))
        return
      }
      case 'UserUnfollowed': {
        const { followerId, followeeId } = event.data
        kv.srem(followersKey(followeeId), followerId)
        await removeFromTimeline(kv, followerId, (e) => authorOf(e) !== followeeId)
        return
      }
      default:
        unreachable(event)
    }
  },
})
