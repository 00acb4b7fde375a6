import {
  anyone,
  defineQuery,
  Id,
  keyAfter,
  Limit,
  Page,
  pageOf,
  signedIn,
  type SqlClient,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { userNotFound } from '../rules.js'
import { profilesModel } from './profiles.js'

const Time = Type.String({ format: 'date-time' })
const Cursor = Type.String({ maxLength: 200 })
const exampleUserId = '0190c0d0-0000-7000-8000-000000000002'
/** The profile of the command examples' caller, who follows `exampleUserId` (commands.ts). */
const exampleFollowerId = '0190c0d0-0000-7000-8000-000000000004'

export const UserProfile = Type.Object({
  userId: Id(),
  handle: Type.String(),
  displayName: Type.String(),
  bio: Type.Union([Type.String(), Type.Null()]),
  createdAt: Time,
  followerCount: Type.Integer({ minimum: 0 }),
  followingCount: Type.Integer({ minimum: 0 }),
})
export type UserProfile = Static<typeof UserProfile>

export const getUser = defineQuery({
  domain: 'feed',
  name: 'get-user',
  summary: 'A profile, with its follower and following counts',
  input: Type.Object({ userId: Id() }, { additionalProperties: false }),
  output: UserProfile,
  access: anyone,
  readModels: [profilesModel],
  notFound: 'USER_NOT_FOUND',
  examples: [{ userId: exampleUserId }],
  cache: { ttlMs: 30_000, tags: (q) => [`user:${q.userId}`] },
  async handle(q, { stores }) {
    const { sql, table } = stores.sql(profilesModel)
    const [user] = await sql.query<UserProfile>(
      `SELECT user_id::text AS "userId", handle, display_name AS "displayName", bio, created_at AS "createdAt",
         follower_count AS "followerCount", following_count AS "followingCount"
       FROM ${table('users')} WHERE user_id = $1`,
      [q.userId],
    )
    if (!user) throw userNotFound()
    return user
  },
})

export const FollowEdge = Type.Object({
  userId: Id(),
  handle: Type.String(),
  displayName: Type.String(),
  followedAt: Time,
})
type FollowEdge = Static<typeof FollowEdge>

const ListInput = Type.Object(
  { userId: Id(), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
)

/** One end of the follow edges: who follows the user (`followers`), or whom the user follows. */
function followList(name: 'get-followers' | 'get-following') {
  const [self, other, tag] =
    name === 'get-followers'
      ? (['followee_id', 'follower_id', 'followers'] as const)
      : (['follower_id', 'followee_id', 'following'] as const)
  return defineQuery({
    domain: 'feed',
    name,
    summary:
      name === 'get-followers'
        ? 'Who follows a user, the latest follow first'
        : 'Whom a user follows, the latest follow first',
    input: ListInput,
    output: Page(FollowEdge),
    access: signedIn(),
    readModels: [profilesModel],
    paged: true,
    notFound: 'USER_NOT_FOUND',
    // Lee Jun's follower, and whom Kim Minji follows: each a page of one.
    examples: [{ userId: name === 'get-followers' ? exampleUserId : exampleFollowerId, limit: 10 }],
    // Handles and display names never change, so the list depends on its edges only.
    cache: { ttlMs: 30_000, tags: (q) => [`${tag}:${q.userId}`] },
    async handle(q, { stores }) {
      const { sql, table } = stores.sql(profilesModel)
      const limit = q.limit ?? 20
      const after = keyAfter(q.cursor, name)
      const rows = await sql.query<FollowEdge>(
        `SELECT f.${other}::text AS "userId", u.handle, u.display_name AS "displayName", f.followed_at AS "followedAt"
         FROM ${table('follows')} f JOIN ${table('users')} u ON u.user_id = f.${other}
         WHERE f.${self} = $1 AND ($2::text IS NULL OR (f.followed_at, f.${other}) < ($2::text, $3::uuid))
         ORDER BY f.followed_at DESC, f.${other} DESC LIMIT $4`,
        [q.userId, after?.time ?? null, after?.id ?? null, limit + 1],
      )
      if (rows.length === 0) await mustExist(sql, table('users'), q.userId)
      return pageOf(rows, limit, (r) => ({ time: r.followedAt, id: r.userId }), name)
    },
  })
}

/**
 * An empty list of someone nobody created is a 404, as `get-user` answers for them, not a page of
 * nothing: a client told apart "no such user" from "follows nobody" by asking twice. Looked up only
 * when the page is empty.
 */
export async function mustExist(sql: SqlClient, users: string, userId: string): Promise<void> {
  const [known] = await sql.query(`SELECT 1 FROM ${users} WHERE user_id = $1`, [userId])
  if (!known) throw userNotFound()
}

export const getFollowers = followList('get-followers')
export const getFollowing = followList('get-following')
