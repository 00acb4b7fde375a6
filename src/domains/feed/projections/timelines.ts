import { defineKvProjection, unreachable, type KvBatch } from '../../../kernel/index.js'
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

/**
 * The home feed's read model, in the KV store (Redis sorted sets in server mode). How it is built
 * depends on the feed mode (docs/feed-push-vs-pull.md):
 *
 * - every mode keeps each author's posts (`author:<id>:posts`, whole), who follows whom both ways,
 *   the post documents with their like and comment counts, the authors' names, and who liked what;
 * - push also writes each post into every follower's timeline (`timeline:<reader>`, fan-out on write),
 *   capped at 800 entries; a timeline remembers the newest entry it ever dropped (its floor): above
 *   the floor it is whole, below it a reader is served by pull;
 * - hybrid pushes too, except the posts of authors past the follower threshold: those authors are
 *   "pulled", listed per reader in `pulled:<reader>` and merged in at read time;
 * - pull writes no timelines: a page merges the followees' post lists at read time.
 *
 * A reader is an account (the JWT `sub`, URL-encoded): queries know the caller, not the profile.
 * List members are `<createdAt>|<postId>|<authorId>` at score 0, so a lex range walks them newest first
 * (ISO times in UTC sort as text) and the author is known without reading the post.
 */

export type FeedMode = 'push' | 'pull' | 'hybrid'
export const feedModes: readonly FeedMode[] = ['push', 'pull', 'hybrid']

export interface FeedSettings {
  mode: FeedMode
  /** Hybrid: an author with more followers than this is pulled, not pushed. */
  pullAbove: number
  /** Entries a timeline keeps (default `timelineCap`); tests lower it to cross it with fewer posts. */
  timelineCap?: number
}

/** Entries per timeline, as Twitter and Mastodon cap theirs. */
export const timelineCap = 800

export interface PostDoc {
  postId: string
  authorId: string
  text: string
  createdAt: string
  likes: number
  comments: number
  /** The log position of its `PostCreated`. */
  position: string
}
export interface UserDoc {
  userId: string
  reader: string
  handle: string
  displayName: string
  followers: number
  /** Hybrid: past the threshold once, so merged at read time from then on. */
  pulled: boolean
}

/** An account as a key part: encoded, `:` too, so no account's keys can meet another's. */
export const readerOf = (accountId: string) => encodeURIComponent(accountId).replaceAll(':', '%3A')
export const postKey = (postId: string) => `post:${postId}`
export const userKey = (userId: string) => `user:${userId}`
/** The profile of a reader (an account). */
export const profileKey = (reader: string) => `account:${reader}`
export const timelineKey = (reader: string) => `timeline:${reader}`
export const floorKey = (reader: string) => `timeline:${reader}:floor`
export const followingKey = (reader: string) => `following:${reader}`
export const pulledKey = (reader: string) => `pulled:${reader}`
export const likedKey = (reader: string, postId: string) => `liked:${reader}:${postId}`
export const authorPostsKey = (userId: string) => `author:${userId}:posts`
/** An author's newest entry: pull reads the lists of the authors who posted last first, and stops early. */
export const latestKey = (userId: string) => `author:${userId}:latest`
const followersKey = (userId: string) => `followers:${userId}`

/** Cache tags: a reader's feed, and a post's counts. */
export const timelineTag = (reader: string) => `timeline:${reader}`
export const postTag = (postId: string) => `post:${postId}`

export const entryOf = (p: Pick<PostDoc, 'createdAt' | 'postId' | 'authorId'>) =>
  `${p.createdAt}|${p.postId}|${p.authorId}`
export const authorOf = (entry: string) => entry.slice(entry.lastIndexOf('|') + 1)
export const postOf = (entry: string) => entry.split('|')[1] ?? ''

/** Reads more than any timeline holds between two trims. */
const wholeList = 1_000_000

export const timelinesModel = (mode: FeedMode) => `feed-home-${mode}`

export function timelinesProjection(settings: FeedSettings) {
  const { mode } = settings
  const cap = settings.timelineCap ?? timelineCap
  /** Whether an author's new posts are written into their followers' timelines. */
  const pushes = (author: UserDoc) => mode === 'push' || (mode === 'hybrid' && !author.pulled)

  function addToTimeline(kv: KvBatch, reader: string, entries: readonly string[]) {
    for (const e of entries) kv.zadd(timelineKey(reader), 0, e)
    kv.ztrim(timelineKey(reader), cap, floorKey(reader))
  }

  async function changeCount(kv: KvBatch, postId: string, field: 'likes' | 'comments', by: number) {
    const post = await kv.getJson<PostDoc>(postKey(postId))
    if (!post) return
    kv.setJson(postKey(postId), { ...post, [field]: Math.max(0, post[field] + by) })
  }

  return defineKvProjection({
    domain: 'feed',
    name: timelinesModel(mode),
    version: 3,
    events: [
      UserCreated,
      PostCreated,
      PostDeleted,
      UserFollowed,
      UserUnfollowed,
      PostLiked,
      PostUnliked,
      PostCommented,
    ],
    // The documents apply reads, in one MGET per batch.
    prefetch: (events) =>
      events.flatMap((event) => {
        switch (event.type) {
          case 'UserCreated':
            return []
          case 'PostCreated':
            return [postKey(event.data.postId), userKey(event.data.authorId), latestKey(event.data.authorId)]
          case 'PostDeleted':
            return [postKey(event.data.postId)]
          case 'UserFollowed':
          case 'UserUnfollowed':
            return [userKey(event.data.followerId), userKey(event.data.followeeId)]
          case 'PostLiked':
          case 'PostUnliked':
            return [postKey(event.data.postId), userKey(event.data.userId)]
          case 'PostCommented':
            return [postKey(event.data.postId)]
          default:
            return unreachable(event)
        }
      }),
    // Likes and comments touch their post; whose feeds a post or a follow changes is found in apply.
    tags: (event) =>
      event.type === 'PostLiked' || event.type === 'PostUnliked' || event.type === 'PostCommented'
        ? [postTag(event.data.postId)]
        : [],
    async apply(event, kv) {
      switch (event.type) {
        case 'UserCreated': {
          const { userId, accountId, handle, displayName } = event.data
          const reader = readerOf(accountId)
          const user: UserDoc = { userId, reader, handle, displayName, followers: 0, pulled: false }
          kv.setJson(userKey(userId), user)
          kv.set(profileKey(reader), userId)
          return
        }
        case 'PostCreated': {
          const { postId, authorId, text, createdAt } = event.data
          if (await kv.get(postKey(postId))) return
          const doc: PostDoc = {
            postId,
            authorId,
            text,
            createdAt,
            likes: 0,
            comments: 0,
            position: event.position,
          }
          kv.setJson(postKey(postId), doc)
          const entry = entryOf(event.data)
          kv.zadd(authorPostsKey(authorId), 0, entry)
          const latest = await kv.get(latestKey(authorId))
          if (latest === null || latest < entry) kv.set(latestKey(authorId), entry)
          const author = await kv.getJson<UserDoc>(userKey(authorId))
          const push = author !== undefined && pushes(author)
          for (const reader of await kv.smembers(followersKey(authorId))) {
            if (push) kv.zaddCapped(timelineKey(reader), entry, cap, floorKey(reader))
            kv.touch(timelineTag(reader))
          }
          return
        }
        case 'PostDeleted': {
          const { postId, authorId } = event.data
          const post = await kv.getJson<PostDoc>(postKey(postId))
          if (!post) return
          kv.del(postKey(postId))
          const entry = entryOf(post)
          kv.zrem(authorPostsKey(authorId), entry)
          if ((await kv.get(latestKey(authorId))) === entry) {
            const [next] = await kv.zrangeByLex(authorPostsKey(authorId), {
              min: '-',
              max: '+',
              count: 1,
              reverse: true,
            })
            if (next === undefined) kv.del(latestKey(authorId))
            else kv.set(latestKey(authorId), next)
          }
          // Every timeline holding the post is a current follower's: an unfollow removed it from the rest.
          for (const reader of await kv.smembers(followersKey(authorId))) {
            if (mode !== 'pull') kv.zrem(timelineKey(reader), entry)
            kv.touch(timelineTag(reader))
          }
          kv.touch(postTag(postId))
          return
        }
        case 'UserFollowed': {
          const { followerId, followeeId } = event.data
          const follower = await kv.getJson<UserDoc>(userKey(followerId))
          const followee = await kv.getJson<UserDoc>(userKey(followeeId))
          if (!follower || !followee) return
          const reader = follower.reader
          kv.sadd(followersKey(followeeId), reader)
          kv.sadd(followingKey(reader), followeeId)
          const next = { ...followee, followers: followee.followers + 1 }
          if (mode === 'hybrid' && !next.pulled && next.followers > settings.pullAbove) {
            // Past the threshold: from now on every follower merges this author in at read time.
            next.pulled = true
            for (const each of await kv.smembers(followersKey(followeeId))) {
              kv.sadd(pulledKey(each), followeeId)
              kv.touch(timelineTag(each))
            }
          } else if (mode === 'hybrid' && next.pulled) {
            kv.sadd(pulledKey(reader), followeeId)
          } else if (mode !== 'pull') {
            // Backfill: the followee's newest posts, as many as a timeline holds and one more, which
            // the trim drops if the followee has more, so the timeline knows it is whole only above it.
            const recent = await kv.zrangeByLex(authorPostsKey(followeeId), {
              min: '-',
              max: '+',
              count: cap + 1,
              reverse: true,
            })
            if (recent.length > 0) addToTimeline(kv, reader, recent)
          }
          kv.setJson(userKey(followeeId), next)
          kv.touch(timelineTag(reader))
          return
        }
        case 'UserUnfollowed': {
          const { followerId, followeeId } = event.data
          const follower = await kv.getJson<UserDoc>(userKey(followerId))
          const followee = await kv.getJson<UserDoc>(userKey(followeeId))
          if (!follower || !followee) return
          const reader = follower.reader
          kv.srem(followersKey(followeeId), reader)
          kv.srem(followingKey(reader), followeeId)
          kv.srem(pulledKey(reader), followeeId)
          kv.setJson(userKey(followeeId), { ...followee, followers: Math.max(0, followee.followers - 1) })
          if (mode !== 'pull') {
            const entries = await kv.zrangeByLex(timelineKey(reader), {
              min: '-',
              max: '+',
              count: wholeList,
            })
            for (const e of entries) if (authorOf(e) === followeeId) kv.zrem(timelineKey(reader), e)
          }
          kv.touch(timelineTag(reader))
          return
        }
        case 'PostLiked':
        case 'PostUnliked': {
          const { postId, userId } = event.data
          const liker = await kv.getJson<UserDoc>(userKey(userId))
          if (!liker || !(await kv.get(postKey(postId)))) return
          // The write side emits a like or an unlike only when it changes something, once each.
          if (event.type === 'PostLiked') kv.set(likedKey(liker.reader, postId), '1')
          else kv.del(likedKey(liker.reader, postId))
          await changeCount(kv, postId, 'likes', event.type === 'PostLiked' ? 1 : -1)
          return
        }
        case 'PostCommented':
          await changeCount(kv, event.data.postId, 'comments', 1)
          return
        default:
          unreachable(event)
      }
    },
  })
}
