import {
  ConflictError,
  defineQuery,
  Id,
  keyAfter,
  type KvReader,
  Limit,
  Page,
  pageOf,
  signedIn,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import {
  accountKey,
  postKey,
  postOf,
  timelineKey,
  timelineTag,
  timelinesModel,
  userKey,
  type PostDoc,
  type UserDoc,
} from './timelines.js'

/**
 * How the home feed is built. Only push (fan-out on write into capped timelines) so far; pull (merge
 * the followees' posts at read time) and hybrid (pull for authors past a follower threshold) come next.
 */
export type FeedMode = 'push'

const Time = Type.String({ format: 'date-time' })
const Cursor = Type.String({ maxLength: 200 })

export const FeedItem = Type.Object({
  postId: Id(),
  authorId: Id(),
  authorHandle: Type.String(),
  authorDisplayName: Type.String(),
  text: Type.String(),
  createdAt: Time,
})
type FeedItem = Static<typeof FeedItem>

interface FeedPage {
  items: FeedItem[]
  nextCursor: string | null
}

/** A page of a pushed timeline: its entries newest first, joined with the post and author documents. */
async function readPushed(kv: KvReader, userId: string, limit: number, cursor?: string): Promise<FeedPage> {
  const after = keyAfter(cursor)
  // Entries are `<time>|<postId>|<authorId>`: every entry of the cursor's post sorts after `(<time>|<postId>`.
  const entries = await kv.zrangeByLex(timelineKey(userId), {
    min: '-',
    max: after ? `(${after.time}|${after.id}` : '+',
    count: limit + 1,
    reverse: true,
  })
  const posts = (await kv.mget(entries.map((e) => postKey(postOf(e))))).flatMap((text) =>
    text === null ? [] : [JSON.parse(text) as PostDoc],
  )
  const authorIds = [...new Set(posts.map((p) => p.authorId))]
  const authors = new Map<string, UserDoc>()
  for (const text of await kv.mget(authorIds.map(userKey))) {
    if (text !== null) {
      const author = JSON.parse(text) as UserDoc
      authors.set(author.userId, author)
    }
  }
  const items = posts.map((p) => ({
    postId: p.postId,
    authorId: p.authorId,
    authorHandle: authors.get(p.authorId)?.handle ?? '',
    authorDisplayName: authors.get(p.authorId)?.displayName ?? '',
    text: p.text,
    createdAt: p.createdAt,
  }))
  return pageOf(items, limit, (item) => ({ time: item.createdAt, id: item.postId }))
}

type FeedReader = (kv: KvReader, userId: string, limit: number, cursor?: string) => Promise<FeedPage>
/** How each mode reads a page: a mode added to `FeedMode` must add its reader here. */
const readers: Record<FeedMode, FeedReader> = { push: readPushed }

/** The home feed query, built by the given mode. */
export function defineGetMyFeed(mode: FeedMode) {
  return defineQuery({
    domain: 'feed',
    name: 'get-my-feed',
    summary: 'Posts of the users the caller follows, newest first',
    input: Type.Object(
      { limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
      { additionalProperties: false },
    ),
    output: Page(FeedItem),
    access: signedIn(),
    readModels: [timelinesModel],
    paged: true,
    examples: [{ limit: 10 }],
    // A fan-out, a backfill, an unfollow or a delete touches the timeline of each reader it changes.
    cache: { ttlMs: 30_000, tags: (_q, _answer, caller) => [timelineTag(caller?.id ?? '')] },
    async handle(q, { stores, caller }) {
      const kv = stores.kv(timelinesModel)
      const userId = await kv.get(accountKey(caller?.id ?? ''))
      if (userId === null) {
        throw new ConflictError('PROFILE_REQUIRED', 'Profile required', 'Create your profile first')
      }
      const limit = q.limit ?? 20
      return readers[mode](kv, userId, limit, q.cursor)
    },
  })
}

export const getMyFeed = defineGetMyFeed('push')
