import { unreachable, type Migration, type SqlClient, type Statement } from '../../kernel/index.js'
import type { FeedEvent } from './messages.js'
import type {
  CreatePostState,
  CreateUserState,
  FollowState,
  PostActionState,
  PostState,
  UserRow,
} from './rules.js'

/**
 * The normalized write model of the feed, in PostgreSQL. Counts live beside the rows they count and
 * change in the transaction that adds or removes a row; the primary keys of follows and likes refuse a
 * second row, so a count can never be bumped twice for one fact (the command then runs again and finds
 * nothing to do), and CHECKs refuse a count below zero.
 */
export const migrations: readonly Migration[] = [
  {
    id: 'feed/001-write-model',
    sql: `
      CREATE SCHEMA feed;
      CREATE TABLE feed.users (
        user_id uuid PRIMARY KEY,
        account_id text NOT NULL UNIQUE,
        handle text NOT NULL,
        display_name text NOT NULL,
        bio text,
        follower_count integer NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
        following_count integer NOT NULL DEFAULT 0 CHECK (following_count >= 0),
        version integer NOT NULL,
        created_at timestamptz NOT NULL
      );
      CREATE UNIQUE INDEX users_handle_key ON feed.users (lower(handle));
      CREATE TABLE feed.posts (
        post_id uuid PRIMARY KEY,
        author_id uuid NOT NULL REFERENCES feed.users,
        text text NOT NULL,
        like_count integer NOT NULL DEFAULT 0 CHECK (like_count >= 0),
        comment_count integer NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        deleted_at timestamptz
      );
      CREATE INDEX posts_author ON feed.posts (author_id, created_at DESC);
      CREATE TABLE feed.follows (
        follower_id uuid NOT NULL REFERENCES feed.users,
        followee_id uuid NOT NULL REFERENCES feed.users,
        followed_at timestamptz NOT NULL,
        PRIMARY KEY (follower_id, followee_id),
        CHECK (follower_id <> followee_id)
      );
      CREATE INDEX follows_followee ON feed.follows (followee_id, follower_id);
      CREATE TABLE feed.likes (
        post_id uuid NOT NULL REFERENCES feed.posts,
        user_id uuid NOT NULL REFERENCES feed.users,
        liked_at timestamptz NOT NULL,
        PRIMARY KEY (post_id, user_id)
      );
      CREATE TABLE feed.comments (
        comment_id uuid PRIMARY KEY,
        post_id uuid NOT NULL REFERENCES feed.posts,
        author_id uuid NOT NULL REFERENCES feed.users,
        text text NOT NULL,
        commented_at timestamptz NOT NULL
      );
      CREATE INDEX comments_post ON feed.comments (post_id, commented_at);
    `,
  },
]

const userColumns = `user_id AS "userId", account_id AS "accountId", handle, version`

/** The caller's profile, if any. */
export async function loadActor(tx: SqlClient, accountId: string): Promise<UserRow | undefined> {
  const [row] = await tx.query<UserRow>(`SELECT ${userColumns} FROM feed.users WHERE account_id = $1`, [
    accountId,
  ])
  return row
}

/** The caller's profile, and whether the post id the client chose is taken. */
export async function loadForCreatePost(
  tx: SqlClient,
  accountId: string,
  postId: string | undefined,
): Promise<CreatePostState> {
  const [actor, taken] = await Promise.all([
    loadActor(tx, accountId),
    postId ? tx.query('SELECT 1 FROM feed.posts WHERE post_id = $1', [postId]) : Promise.resolve([]),
  ])
  return { actor, idTaken: taken.length > 0 }
}

/**
 * The caller's profile and the one holding the handle, ignoring case. Two creates racing both find
 * neither; the unique indexes refuse the second commit and it runs again, finding the first.
 */
export async function loadForCreateUser(
  tx: SqlClient,
  accountId: string,
  handle: string,
  userId: string | undefined,
): Promise<CreateUserState> {
  const rows = await tx.query<UserRow>(
    `SELECT ${userColumns} FROM feed.users
     WHERE account_id = $1 OR lower(handle) = lower($2) OR user_id = $3`,
    [accountId, handle, userId ?? null],
  )
  return {
    existing: rows.find((r) => r.accountId === accountId),
    sameHandle: rows.find((r) => r.handle.toLowerCase() === handle.toLowerCase()),
    idTaken: rows.some((r) => r.userId === userId),
  }
}

/**
 * Both users locked in the order of their ids (so that A following B while B follows A cannot
 * deadlock), then the follow itself, read after the locks are held.
 */
export async function loadForFollow(tx: SqlClient, accountId: string, userId: string): Promise<FollowState> {
  const rows = await tx.query<UserRow>(
    `SELECT ${userColumns} FROM feed.users WHERE account_id = $1 OR user_id = $2 ORDER BY user_id FOR UPDATE`,
    [accountId, userId],
  )
  const actor = rows.find((r) => r.accountId === accountId)
  const target = rows.find((r) => r.userId === userId)
  if (!actor || !target || actor === target) return { actor, target, following: false }
  const follows = await tx.query('SELECT 1 FROM feed.follows WHERE follower_id = $1 AND followee_id = $2', [
    actor.userId,
    target.userId,
  ])
  return { actor, target, following: follows.length > 0 }
}

/** The post, locked, then the caller's profile and like, read after the lock is held. */
export async function loadForPost(
  tx: SqlClient,
  accountId: string,
  postId: string,
): Promise<PostActionState> {
  const [post] = await tx.query<{ postId: string; authorId: string; version: number; deleted: boolean }>(
    `SELECT post_id AS "postId", author_id AS "authorId", version, deleted_at IS NOT NULL AS deleted
     FROM feed.posts WHERE post_id = $1 FOR UPDATE`,
    [postId],
  )
  const actor = await loadActor(tx, accountId)
  const state: PostState = post
    ? {
        status: post.deleted ? 'deleted' : 'published',
        postId: post.postId,
        authorId: post.authorId,
        version: post.version,
      }
    : { status: 'absent' }
  if (!actor || !post) return { actor, post: state, liked: false }
  const likes = await tx.query('SELECT 1 FROM feed.likes WHERE post_id = $1 AND user_id = $2', [
    postId,
    actor.userId,
  ])
  return { actor, post: state, liked: likes.length > 0 }
}

/** The rows each event changes; every event on a user's or a post's stream bumps its version. */
export function persist(events: readonly FeedEvent[]): Statement[] {
  return events.flatMap(rowsOf)
}

function rowsOf(event: FeedEvent): Statement[] {
  switch (event.type) {
    case 'UserCreated': {
      const d = event.data
      return [
        {
          text: `INSERT INTO feed.users (user_id, account_id, handle, display_name, bio, version, created_at)
                 VALUES ($1, $2, $3, $4, $5, 1, $6)`,
          params: [d.userId, d.accountId, d.handle, d.displayName, d.bio, d.createdAt],
        },
      ]
    }
    case 'PostCreated': {
      const d = event.data
      return [
        {
          text: `INSERT INTO feed.posts (post_id, author_id, text, version, created_at) VALUES ($1, $2, $3, 1, $4)`,
          params: [d.postId, d.authorId, d.text, d.createdAt],
        },
      ]
    }
    case 'PostDeleted':
      return [postUpdate(event.data.postId, 'deleted_at = $2', [event.data.deletedAt])]
    case 'UserFollowed': {
      const d = event.data
      return [
        {
          text: 'INSERT INTO feed.follows (follower_id, followee_id, followed_at) VALUES ($1, $2, $3)',
          params: [d.followerId, d.followeeId, d.followedAt],
        },
        ...followCounts(d.followerId, d.followeeId, '+'),
      ]
    }
    case 'UserUnfollowed': {
      const d = event.data
      return [
        {
          text: 'DELETE FROM feed.follows WHERE follower_id = $1 AND followee_id = $2',
          params: [d.followerId, d.followeeId],
        },
        ...followCounts(d.followerId, d.followeeId, '-'),
      ]
    }
    case 'PostLiked':
      return [
        {
          text: 'INSERT INTO feed.likes (post_id, user_id, liked_at) VALUES ($1, $2, $3)',
          params: [event.data.postId, event.data.userId, event.data.likedAt],
        },
        postUpdate(event.data.postId, 'like_count = like_count + 1'),
      ]
    case 'PostUnliked':
      return [
        {
          text: 'DELETE FROM feed.likes WHERE post_id = $1 AND user_id = $2',
          params: [event.data.postId, event.data.userId],
        },
        postUpdate(event.data.postId, 'like_count = like_count - 1'),
      ]
    case 'PostCommented': {
      const d = event.data
      return [
        {
          text: `INSERT INTO feed.comments (comment_id, post_id, author_id, text, commented_at)
                 VALUES ($1, $2, $3, $4, $5)`,
          params: [d.commentId, d.postId, d.authorId, d.text, d.commentedAt],
        },
        postUpdate(d.postId, 'comment_count = comment_count + 1'),
      ]
    }
    default:
      return unreachable(event)
  }
}

function postUpdate(postId: string, set: string, params: readonly unknown[] = []): Statement {
  return {
    text: `UPDATE feed.posts SET ${set}, version = version + 1 WHERE post_id = $1`,
    params: [postId, ...params],
  }
}

/** The follower's row is locked by the command; the followee's is too (loadForFollow). */
function followCounts(followerId: string, followeeId: string, sign: '+' | '-'): Statement[] {
  return [
    {
      text: `UPDATE feed.users SET following_count = following_count ${sign} 1, version = version + 1
             WHERE user_id = $1`,
      params: [followerId],
    },
    {
      text: `UPDATE feed.users SET follower_count = follower_count ${sign} 1 WHERE user_id = $1`,
      params: [followeeId],
    },
  ]
}
