import {
  ConflictError,
  defineQuery,
  cursorOf,
  Id,
  keyAfter,
  type KvReader,
  type LexBound,
  Limit,
  laterTime,
  Page,
  searchForm,
  signedIn,
  storedTime,
  Text,
  timeIdKey,
  ValidationError,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import {
  authorOf,
  authorPostsKey,
  floorKey,
  latestKey,
  followingKey,
  likedKey,
  postKey,
  postOf,
  postTag,
  profileKey,
  pulledKey,
  readerOf,
  timelineKey,
  timelinesModel,
  timelineTag,
  userKey,
  type FeedSettings,
  type PostDoc,
  type UserDoc,
} from './timelines.js'

/**
 * The home feed: a page is read from the caller's timeline where it is whole, with the pulled
 * authors merged in (hybrid), and from the followees' own post lists below that (pull). Filters
 * walk the same lists and keep what matches; nothing in the read model is built for them.
 */

const Time = Type.String({ format: 'date-time' })
const Cursor = Type.String({ maxLength: 200 })

export const FeedItem = Type.Object({
  postId: Id(),
  authorId: Id(),
  authorHandle: Type.String(),
  authorDisplayName: Type.String(),
  text: Type.String(),
  createdAt: Time,
  likeCount: Type.Integer({ minimum: 0 }),
  commentCount: Type.Integer({ minimum: 0 }),
  likedByMe: Type.Boolean(),
  position: Type.String({
    description: "The event log position of its `PostCreated` (X-Read-Position's kind)",
  }),
})
export type FeedItem = Static<typeof FeedItem>

export const GetMyFeedInput = Type.Object(
  {
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
    authorId: Type.Optional(Id('Only posts by this followee')),
    q: Type.Optional(
      Text(
        100,
        'Only posts whose text contains this, ignoring case (folded in full: `ß` as `ss`, a final `ς` as `σ`) and how accents were typed (compared in NFC)',
      ),
    ),
    since: Type.Optional({ ...Time, description: 'Only posts created at or after this time' }),
    until: Type.Optional({ ...Time, description: 'Only posts created at or before this time' }),
  },
  { additionalProperties: false },
)
type GetMyFeed = Static<typeof GetMyFeedInput>

/** A filtered page walks at most this many entries; a page cut short still gives a cursor to go on. */
export const scanLimit = 2_000

/** Entries newest first, at most `count`, all below `max`. */
type Source = (max: LexBound, count: number) => Promise<string[]>

const newestFirst = (a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0)

/** Merges sources newest first, an entry found in two of them once. */
function merged(sources: readonly Source[]): Source {
  return async (max, count) => {
    const lists = await Promise.all(sources.map((source) => source(max, count)))
    return [...new Set(lists.flat())].sort(newestFirst).slice(0, count)
  }
}

/** The larger of two lower bounds (`-`, `[x` or `(x`). */
function higher(a: LexBound, b: LexBound): LexBound {
  if (a === '-') return b
  if (b === '-') return a
  const [x, y] = [a.slice(1), b.slice(1)]
  if (x !== y) return x > y ? a : b
  return a.startsWith('(') ? a : b
}

/** The smaller of two upper bounds (`+`, `[x` or `(x`). */
function lower(a: LexBound, b: LexBound): LexBound {
  if (a === '+') return b
  if (b === '+') return a
  const [x, y] = [a.slice(1), b.slice(1)]
  if (x !== y) return x < y ? a : b
  return a.startsWith('(') ? a : b
}

const isEmpty = (min: LexBound, max: LexBound) => {
  if (min === '-' || max === '+') return false
  const [x, y] = [min.slice(1), max.slice(1)]
  return x > y || (x === y && (min.startsWith('(') || max.startsWith('(')))
}

function listSource(kv: KvReader, key: string, min: LexBound): Source {
  return (max, count) =>
    isEmpty(min, max) ? Promise.resolve([]) : kv.zrangeByLex(key, { min, max, count, reverse: true })
}

/**
 * One source after another: the first until it runs dry within (`split`, max], then the second
 * below and at `split`.
 */
function chained(first: Source, split: LexBound, second: Source): Source {
  const below: LexBound = split === '-' || split === '+' ? split : `[${split.slice(1)}`
  return async (max, count) => {
    const head = isEmpty(split, max) ? [] : await first(max, count)
    if (head.length === count) return head
    const from = head.length > 0 ? lower(max, `(${head[head.length - 1]}`) : max
    const rest = await second(lower(from, below), count - head.length)
    return [...head, ...rest]
  }
}

interface Reading {
  kv: KvReader
  reader: string
  settings: FeedSettings
  /** The lowest entry a page may hold (`since`). */
  min: LexBound
}

/** Authors whose lists are read at once in a pull, newest poster first. */
const pullWave = 32

/**
 * The followees' post lists merged: what the feed is, read the slow way. Their newest entries are
 * read first (one MGET), and the lists are read in waves, newest poster first, until no author left
 * can have an entry newer than the page's last: a first page reads about a page's worth of lists,
 * whatever the followee count. A deep page still reads every list whose newest entry is above it.
 */
async function pulled(r: Reading, key: string): Promise<Source> {
  const authors = await r.kv.smembers(key)
  const latest = await r.kv.mget(authors.map(latestKey))
  const posters = authors
    .map((id, i) => ({ id, latest: latest[i] ?? null }))
    .filter((a): a is { id: string; latest: string } => a.latest !== null && above(a.latest, r.min))
    .sort((a, b) => newestFirst(a.latest, b.latest))
  return async (max, count) => {
    // The newest entry an author can have below `max`.
    const cap = (entry: string) => (max === '+' || above(max.slice(1), `(${entry}`) ? entry : max.slice(1))
    let found: string[] = []
    for (let at = 0; at < posters.length; at += pullWave) {
      const last = found[count - 1]
      const wave = posters.slice(at, at + pullWave)
      // Every author from here on posted last before the page's last entry: none can be on the page.
      if (last !== undefined && !above(cap(wave[0]?.latest ?? ''), `(${last}`)) break
      const lists = await Promise.all(
        wave.map((a) => listSource(r.kv, authorPostsKey(a.id), r.min)(max, count)),
      )
      found = [...new Set([...found, ...lists.flat()])].sort(newestFirst).slice(0, count)
    }
    return found
  }
}

/** Where the caller's feed is read from, by mode and filters. */
/** A source made on its first read only: a page the timeline fills never lists the followees. */
function lazy(make: () => Promise<Source>): Source {
  let made: Promise<Source> | undefined
  return async (max, count) => (await (made ??= make()))(max, count)
}

/** Whether an entry lies above a lower bound. */
const above = (entry: string, min: LexBound) =>
  min === '-' || (min.startsWith('[') ? entry >= min.slice(1) : entry > min.slice(1))

/** What a page's first reads found, started together before the source was known. */
interface Ahead {
  floor: string | null
  /** Hybrid: the followees merged at read time. */
  pulledIds: readonly string[]
  /** The timeline's first read, (max, count), down to `since` only: the floor is applied here. */
  first?: { max: LexBound; count: number; entries: readonly string[] }
}

async function sourceOf(r: Reading, q: GetMyFeed, ahead: Ahead): Promise<Source> {
  const { kv, reader, settings, min } = r
  if (q.authorId !== undefined) {
    const follows = (await kv.smembers(followingKey(reader))).includes(q.authorId)
    return follows ? listSource(kv, authorPostsKey(q.authorId), min) : async () => []
  }
  const pull = lazy(() => pulled(r, followingKey(reader)))
  if (settings.mode === 'pull') return pull
  // Above its floor a timeline is whole; with no floor it has never dropped anything.
  const whole: LexBound = ahead.floor === null ? '-' : `(${ahead.floor}`
  const headMin = higher(min, whole)
  const list = listSource(kv, timelineKey(reader), headMin)
  const { first } = ahead
  let primed = first !== undefined
  const timeline: Source = (max, count) => {
    if (!primed || max !== first?.max || count !== first.count) return list(max, count)
    primed = false
    return Promise.resolve(first.entries.filter((e) => above(e, headMin)))
  }
  const head =
    settings.mode === 'hybrid' && ahead.pulledIds.length > 0
      ? merged([timeline, ...ahead.pulledIds.map((id) => listSource(kv, authorPostsKey(id), headMin))])
      : timeline
  return ahead.floor === null ? head : chained(head, whole, pull)
}

/** Upper bound from the cursor and `until`; lower bound from `since`. */
function boundsOf(q: GetMyFeed): { min: LexBound; max: LexBound } {
  const after = keyAfter(q.cursor, 'get-my-feed')
  // As the timelines' keys hold it: UTC text of four-digit years, which sorts as text.
  // `since` is the first time in: digits past the millisecond round up; `until` the last, cut.
  const iso = (field: 'since' | 'until', text: string) =>
    storedTime(text, `/${field}`, field === 'since' ? 'ceil' : undefined)
  // A window that ends before it begins is a mistake, refused as other ranges are (not an empty page).
  if (q.since !== undefined && q.until !== undefined && laterTime(q.since, q.until))
    throw new ValidationError([{ path: '/since', message: 'must not be after until' }])
  // `|~` sorts after every entry of that time: ids are lower-case hexadecimal and dashes.
  const until: LexBound = q.until === undefined ? '+' : `[${iso('until', q.until)}|~`
  const cursor: LexBound = after ? `(${after.time}|${after.id}` : '+'
  return {
    min: q.since === undefined ? '-' : `[${iso('since', q.since)}`,
    max: lower(until, cursor),
  }
}

interface Docs {
  posts: Map<string, PostDoc>
  authors: Map<string, UserDoc>
  liked: Set<string>
}

/** Posts, their authors and the caller's likes of them, in one read. */
async function docsOf(kv: KvReader, reader: string, entries: readonly string[]): Promise<Docs> {
  const postIds = entries.map(postOf)
  const authorIds = [...new Set(entries.map(authorOf))]
  const keys = [
    ...postIds.map(postKey),
    ...authorIds.map(userKey),
    ...postIds.map((id) => likedKey(reader, id)),
  ]
  const values = await kv.mget(keys)
  const docs: Docs = { posts: new Map(), authors: new Map(), liked: new Set() }
  postIds.forEach((id, i) => {
    const text = values[i]
    if (text) docs.posts.set(id, JSON.parse(text) as PostDoc)
    if (values[postIds.length + authorIds.length + i]) docs.liked.add(id)
  })
  authorIds.forEach((id, i) => {
    const text = values[postIds.length + i]
    if (text) docs.authors.set(id, JSON.parse(text) as UserDoc)
  })
  return docs
}

function itemOf(post: PostDoc, docs: Docs): FeedItem {
  const author = docs.authors.get(post.authorId)
  return {
    postId: post.postId,
    authorId: post.authorId,
    authorHandle: author?.handle ?? '',
    authorDisplayName: author?.displayName ?? '',
    text: post.text,
    createdAt: post.createdAt,
    likeCount: post.likes,
    commentCount: post.comments,
    likedByMe: docs.liked.has(post.postId),
    position: post.position,
  }
}

/** The cursor after a timeline entry, `<createdAt>|<postId>|<authorId>`. */
const cursorAt = (entry: string) => cursorOf('get-my-feed', entry.slice(0, entry.indexOf('|')), postOf(entry))

/** Reads one page of the caller's feed. */
export async function readFeed(kv: KvReader, settings: FeedSettings, accountId: string, q: GetMyFeed) {
  const reader = readerOf(accountId)
  const limit = q.limit ?? 20
  const { min, max: top } = boundsOf(q)
  const needle = q.q === undefined ? undefined : searchForm(q.q)
  const chunk = (found: number) => (needle === undefined ? limit + 1 - found : 200)
  // The profile, the floor, the pulled followees and the timeline's first entries: one round trip.
  const timelineFirst = settings.mode !== 'pull' && q.authorId === undefined
  const [[profile, floor], pulledIds, entries] = await Promise.all([
    kv.mget([profileKey(reader), floorKey(reader)]),
    settings.mode === 'hybrid' && q.authorId === undefined ? kv.smembers(pulledKey(reader)) : [],
    timelineFirst
      ? kv.zrangeByLex(timelineKey(reader), { min, max: top, count: chunk(0), reverse: true })
      : undefined,
  ])
  if (profile === null) {
    throw new ConflictError('PROFILE_REQUIRED', 'Profile required', 'Create your profile first')
  }
  const first = entries && { max: top, count: chunk(0), entries }
  const source = await sourceOf({ kv, reader, settings, min }, q, {
    floor: floor ?? null,
    pulledIds,
    ...(first ? { first } : {}),
  })
  const items: FeedItem[] = []
  let max = top
  let scanned = 0
  let last: string | undefined
  // Reads until a page and one more are found: entries whose post is gone or does not match are skipped.
  while (items.length <= limit && scanned < scanLimit) {
    const want = Math.min(chunk(items.length), scanLimit - scanned)
    const entries = await source(max, want)
    if (entries.length === 0) {
      last = undefined
      break
    }
    const docs = await docsOf(kv, reader, entries)
    for (const entry of entries) {
      const post = docs.posts.get(postOf(entry))
      if (post && (needle === undefined || searchForm(post.text).includes(needle))) {
        items.push(itemOf(post, docs))
      }
      last = entry
      if (items.length > limit) break
    }
    scanned += entries.length
    max = `(${last ?? ''}`
    if (entries.length < want) {
      last = undefined
      break
    }
  }
  if (items.length > limit) {
    const end = items[limit - 1] as FeedItem
    return { items: items.slice(0, limit), nextCursor: cursorOf('get-my-feed', end.createdAt, end.postId) }
  }
  // A scan cut short before the page filled: the cursor goes on from the last entry walked.
  return { items, nextCursor: last === undefined ? null : cursorAt(last) }
}

/** The home feed query, read by the given settings' mode. */
export function defineGetMyFeed(settings: FeedSettings) {
  return defineQuery({
    domain: 'feed',
    name: 'get-my-feed',
    summary: 'Posts of the users the caller follows, newest first, with counts and the caller’s likes',
    input: GetMyFeedInput,
    output: Page(FeedItem),
    access: signedIn(),
    conflict: 'PROFILE_REQUIRED: the caller has no profile yet (create-user)',
    readModels: [timelinesModel(settings.mode)],
    paged: true,
    // `/stream`: each new item as it arrives, its key sorting as the feed does; resumable by Last-Event-ID.
    live: {
      itemKey: (item) => `${item.createdAt}|${item.postId}`,
      keyPattern: timeIdKey,
      itemPosition: (item) => item.position,
    },
    examples: [{ limit: 10 }],
    // A post, a delete, a follow or an unfollow touches each feed it changes; a like or a comment its post.
    cache: {
      ttlMs: 30_000,
      tags: (_q, answer, caller) => [
        timelineTag(readerOf(caller?.id ?? '')),
        ...answer.items.map((item) => postTag(item.postId)),
      ],
    },
    async handle(q, { stores, caller }) {
      return readFeed(stores.kv(timelinesModel(settings.mode)), settings, caller?.id ?? '', q)
    },
  })
}
