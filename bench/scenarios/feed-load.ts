import { randomUUID } from 'node:crypto'
import type { NewEvent } from '../../src/core/messages.js'
import type { Statement } from '../../src/core/sql.js'
import { appendStatement } from '../../src/storage/event-log.js'
import {
  accountId,
  celebrity,
  firstFan,
  followees,
  followTime,
  handle,
  postId,
  postNumber,
  postTime,
  readersOf,
  slotUser,
  userCount,
  userId,
  userTime,
  type FeedPlan,
} from './feed-plan.js'

/** Runs statements in one transaction (the server's `Sql`, through its child process). */
export type Commit = (statements: Statement[]) => Promise<void>

/** Events per transaction, about: large enough that a transaction's overhead is nothing. */
const eventsPerTx = 20_000

export interface Loaded {
  events: number
  seconds: number
}

/**
 * Writes a plan the way the feed's commands would have, in large transactions: the write model's
 * rows (users with their final follower and following counts and versions, posts, follows) and the
 * events each command appends (UserCreated, PostCreated, UserFollowed, with the data the deciders
 * produce), through the log's own append statement (`appendStatement`, as the unit of work appends).
 * A user's follows go into its stream in one statement after its creation; every creation comes
 * before any follow, and posts before follows, so the projections meet them in an order the commands
 * could have made. One metadata (a fresh command id) per statement: the only thing not as it would be.
 */
export async function loadPlan(plan: FeedPlan, commit: Commit): Promise<Loaded> {
  const started = performance.now()
  let events = 0
  const counts = followCounts(plan)
  let pending: Statement[] = []
  let pendingEvents = 0
  const flush = async () => {
    if (pending.length > 0) await commit(pending)
    events += pendingEvents
    pending = []
    pendingEvents = 0
  }
  const add = async (statements: Statement[], eventCount: number) => {
    pending.push(...statements)
    pendingEvents += eventCount
    if (pendingEvents >= eventsPerTx) await flush()
  }

  for (let from = 0; from < userCount(plan); from += 2_000) {
    const users = range(from, Math.min(userCount(plan), from + 2_000))
    await add([usersRows(plan, users, counts), ...users.map((u) => userCreated(plan, u))], users.length)
  }
  const posts = [...range(0, plan.authors + 1)].flatMap((a) =>
    range(0, plan.postsEach).map((k) => ({ a, n: postNumber(plan, a, k) })),
  )
  for (let from = 0; from < posts.length; from += 2_000) {
    const chunk = posts.slice(from, from + 2_000)
    await add([postsRows(plan, chunk), ...chunk.map((p) => postCreated(plan, p.a, p.n))], chunk.length)
  }
  let seq = 0
  for (let g = 0; g < plan.groups.length; g++) {
    for (const [r, u] of readersOf(plan, g).entries()) {
      const follows = followees(plan, g, r).map((a) => ({ follower: u, followee: a, at: seq++ }))
      await add([followRows(plan, follows), followed(plan, u, follows)], follows.length)
    }
  }
  for (let from = firstFan(plan); from < userCount(plan); from += 2_000) {
    const fans = range(from, Math.min(userCount(plan), from + 2_000))
    const follows = fans.map((u) => ({ follower: u, followee: celebrity(plan), at: seq++ }))
    await add(
      [followRows(plan, follows), ...follows.map((f) => followed(plan, f.follower, [f]))],
      fans.length,
    )
  }
  await flush()
  return { events, seconds: (performance.now() - started) / 1000 }
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)

interface Follow {
  follower: number
  followee: number
  at: number
}

/** Followers and followees per user, as the follow commands would have counted them. */
function followCounts(plan: FeedPlan): { followers: Int32Array; following: Int32Array } {
  const followers = new Int32Array(userCount(plan))
  const following = new Int32Array(userCount(plan))
  for (let g = 0; g < plan.groups.length; g++) {
    for (const [r, u] of readersOf(plan, g).entries()) {
      for (const a of followees(plan, g, r)) followers[a] = (followers[a] ?? 0) + 1
      following[u] = plan.groups[g]?.follows ?? 0
    }
  }
  followers[celebrity(plan)] = plan.fans
  following.fill(1, firstFan(plan))
  return { followers, following }
}

const meta = (command: string, u: number, plan: FeedPlan) => {
  const commandId = randomUUID()
  return { commandId, correlationId: commandId, command: `feed/${command}`, userId: accountId(plan, u) }
}

/** Rows as JSON in one parameter: both drivers pass text as is. */
const json = (text: string, rows: readonly object[]): Statement => ({ text, params: [JSON.stringify(rows)] })

function usersRows(
  plan: FeedPlan,
  users: readonly number[],
  counts: ReturnType<typeof followCounts>,
): Statement {
  return json(
    `INSERT INTO feed.users (user_id, account_id, handle, display_name, bio, follower_count, following_count,
                             version, created_at)
     SELECT user_id, account_id, handle, display_name, NULL, follower_count, following_count, version, created_at
     FROM jsonb_to_recordset($1::jsonb) AS r(user_id uuid, account_id text, handle text, display_name text,
       follower_count int, following_count int, version int, created_at timestamptz)`,
    users.map((u) => ({
      user_id: userId(plan, u),
      account_id: accountId(plan, u),
      handle: handle(plan, u),
      display_name: `User ${u}`,
      follower_count: counts.followers[u] ?? 0,
      following_count: counts.following[u] ?? 0,
      // Each follow the user made bumped its version, as its stream's.
      version: 1 + (counts.following[u] ?? 0),
      created_at: userTime(plan, u),
    })),
  )
}

function userCreated(plan: FeedPlan, u: number): Statement {
  const event: NewEvent = {
    type: 'UserCreated',
    data: {
      userId: userId(plan, u),
      accountId: accountId(plan, u),
      handle: handle(plan, u),
      displayName: `User ${u}`,
      bio: null,
      createdAt: userTime(plan, u),
    },
  }
  return appendStatement(
    { id: `user-${userId(plan, u)}`, expectedVersion: 0 },
    [event],
    meta('create-user', u, plan),
  )
}

const postText = (n: number) => `Post number ${n} of the feed benchmark`

function postsRows(plan: FeedPlan, posts: readonly { a: number; n: number }[]): Statement {
  return json(
    `INSERT INTO feed.posts (post_id, author_id, text, version, created_at)
     SELECT post_id, author_id, text, 1, created_at
     FROM jsonb_to_recordset($1::jsonb) AS r(post_id uuid, author_id uuid, text text, created_at timestamptz)`,
    posts.map(({ a, n }) => ({
      post_id: postId(plan, n),
      author_id: userId(plan, slotUser(plan, a)),
      text: postText(n),
      created_at: postTime(plan, n),
    })),
  )
}

function postCreated(plan: FeedPlan, a: number, n: number): Statement {
  const event: NewEvent = {
    type: 'PostCreated',
    data: {
      postId: postId(plan, n),
      authorId: userId(plan, slotUser(plan, a)),
      text: postText(n),
      createdAt: postTime(plan, n),
    },
  }
  return appendStatement(
    { id: `post-${postId(plan, n)}`, expectedVersion: 0 },
    [event],
    meta('create-post', slotUser(plan, a), plan),
  )
}

function followRows(plan: FeedPlan, follows: readonly Follow[]): Statement {
  return json(
    `INSERT INTO feed.follows (follower_id, followee_id, followed_at)
     SELECT follower_id, followee_id, followed_at
     FROM jsonb_to_recordset($1::jsonb) AS r(follower_id uuid, followee_id uuid, followed_at timestamptz)`,
    follows.map((f) => ({
      follower_id: userId(plan, f.follower),
      followee_id: userId(plan, f.followee),
      followed_at: followTime(plan, f.at),
    })),
  )
}

/** A user's follows, appended to its stream after its creation (version 1). */
function followed(plan: FeedPlan, u: number, follows: readonly Follow[]): Statement {
  const events: NewEvent[] = follows.map((f) => ({
    type: 'UserFollowed',
    data: {
      followerId: userId(plan, f.follower),
      followeeId: userId(plan, f.followee),
      followedAt: followTime(plan, f.at),
    },
  }))
  return appendStatement(
    { id: `user-${userId(plan, u)}`, expectedVersion: 1 },
    events,
    meta('follow-user', u, plan),
  )
}
