import { defineSqlProjection, indexName, unreachable } from '../../../kernel/index.js'
import { UserCreated, UserFollowed, UserUnfollowed } from '../messages.js'

/**
 * The profiles read model: each profile with its follower and following counts, and the follow
 * edges, listed newest first from either end.
 *
 * SQL rather than KV: both lists are keyset pages over (followed_at, user id) that join the profile
 * of each user listed, and a follow changes an edge and two counts at once, which one transaction of
 * plain statements keeps consistent. The KV store is kept for the home feed's timelines (issue 11).
 */

export const profilesModel = 'feed-profiles'

export const profilesProjection = defineSqlProjection({
  domain: 'feed',
  name: profilesModel,
  version: 1,
  events: [UserCreated, UserFollowed, UserUnfollowed],
  tables: ['users', 'follows'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('users')} (
      user_id uuid PRIMARY KEY, handle text NOT NULL, display_name text NOT NULL, bio text,
      created_at text NOT NULL, follower_count integer NOT NULL DEFAULT 0,
      following_count integer NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS ${t('follows')} (
      follower_id uuid NOT NULL, followee_id uuid NOT NULL, followed_at text COLLATE "C" NOT NULL,
      PRIMARY KEY (follower_id, followee_id));
    CREATE INDEX IF NOT EXISTS ${indexName(t('follows'), 'followers')} ON ${t('follows')} (followee_id, followed_at, follower_id);
    CREATE INDEX IF NOT EXISTS ${indexName(t('follows'), 'following')} ON ${t('follows')} (follower_id, followed_at, followee_id)`,
  tags: (event) => {
    if (event.type === 'UserCreated') return [`user:${event.data.userId}`]
    const { followerId, followeeId } = event.data
    return [`user:${followerId}`, `user:${followeeId}`, `following:${followerId}`, `followers:${followeeId}`]
  },
  async apply(event, tx, t) {
    switch (event.type) {
      case 'UserCreated': {
        const d = event.data
        tx.write({
          text: `INSERT INTO ${t('users')} (user_id, handle, display_name, bio, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO NOTHING`,
          params: [d.userId, d.handle, d.displayName, d.bio, d.createdAt],
        })
        return
      }
      case 'UserFollowed':
      case 'UserUnfollowed': {
        // The counts move by the edges actually added or removed, so an edge is never counted twice.
        const d = event.data
        const edge =
          event.type === 'UserFollowed'
            ? `INSERT INTO ${t('follows')} (follower_id, followee_id, followed_at) VALUES ($1, $2, $3)
               ON CONFLICT (follower_id, followee_id) DO NOTHING RETURNING 1`
            : `DELETE FROM ${t('follows')} WHERE follower_id = $1 AND followee_id = $2 AND $3::text IS NOT NULL
               RETURNING 1`
        const sign = event.type === 'UserFollowed' ? '+' : '-'
        const at = event.type === 'UserFollowed' ? event.data.followedAt : event.data.unfollowedAt
        tx.write({
          text: `WITH edge AS (${edge}),
                   n AS (SELECT count(*)::int AS n FROM edge),
                   follower AS (UPDATE ${t('users')} SET following_count = following_count ${sign} (SELECT n FROM n)
                                WHERE user_id = $1 RETURNING 1)
                 UPDATE ${t('users')} SET follower_count = follower_count ${sign} (SELECT n FROM n) WHERE user_id = $2`,
          params: [d.followerId, d.followeeId, at],
        })
        return
      }
      default:
        unreachable(event)
    }
  },
})
