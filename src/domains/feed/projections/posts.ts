import { defineSqlProjection, indexName, unreachable } from '../../../kernel/index.js'
import { PostCommented, PostCreated, PostDeleted, PostLiked, PostUnliked, UserCreated } from '../messages.js'

/**
 * The posts read model: each live post with its like and comment counts, its comments, and the
 * handle and display name of every author (they never change), so listings need no second read model.
 * A deleted post is deleted here with its comments: it cannot show up in any listing.
 *
 * SQL rather than KV: listings are keyset pages (newest first) that join the author, and a like or a
 * comment updates one count in place; the KV store is kept for the home feed's timelines (issue 11).
 */

export const postsModel = 'feed-posts'

export const postsProjection = defineSqlProjection({
  domain: 'feed',
  name: postsModel,
  version: 1,
  events: [UserCreated, PostCreated, PostDeleted, PostLiked, PostUnliked, PostCommented],
  tables: ['authors', 'posts', 'comments'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('authors')} (
      user_id uuid PRIMARY KEY, handle text NOT NULL, display_name text NOT NULL);
    CREATE TABLE IF NOT EXISTS ${t('posts')} (
      post_id uuid PRIMARY KEY, author_id uuid NOT NULL, text text NOT NULL,
      created_at text COLLATE "C" NOT NULL, like_count integer NOT NULL DEFAULT 0,
      comment_count integer NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS ${indexName(t('posts'), 'by_author')} ON ${t('posts')} (author_id, created_at, post_id);
    CREATE TABLE IF NOT EXISTS ${t('comments')} (
      comment_id uuid PRIMARY KEY, post_id uuid NOT NULL, author_id uuid NOT NULL, text text NOT NULL,
      commented_at text COLLATE "C" NOT NULL);
    CREATE INDEX IF NOT EXISTS ${indexName(t('comments'), 'by_post')} ON ${t('comments')} (post_id, commented_at, comment_id)`,
  tags: (event) => {
    switch (event.type) {
      case 'UserCreated':
        return [`author:${event.data.userId}`]
      case 'PostCreated':
      case 'PostDeleted':
        return [`post:${event.data.postId}`, `posts:${event.data.authorId}`, `comments:${event.data.postId}`]
      case 'PostLiked':
      case 'PostUnliked':
        return [`post:${event.data.postId}`]
      case 'PostCommented':
        return [`post:${event.data.postId}`, `comments:${event.data.postId}`]
      default:
        return unreachable(event)
    }
  },
  async apply(event, tx, t) {
    switch (event.type) {
      case 'UserCreated': {
        const d = event.data
        tx.write({
          text: `INSERT INTO ${t('authors')} (user_id, handle, display_name) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO NOTHING`,
          params: [d.userId, d.handle, d.displayName],
        })
        return
      }
      case 'PostCreated': {
        const d = event.data
        tx.write({
          text: `INSERT INTO ${t('posts')} (post_id, author_id, text, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (post_id) DO NOTHING`,
          params: [d.postId, d.authorId, d.text, d.createdAt],
        })
        return
      }
      case 'PostDeleted':
        tx.write(
          { text: `DELETE FROM ${t('comments')} WHERE post_id = $1`, params: [event.data.postId] },
          { text: `DELETE FROM ${t('posts')} WHERE post_id = $1`, params: [event.data.postId] },
        )
        return
      case 'PostLiked':
      case 'PostUnliked': {
        // The write side emits a like or an unlike only when it changes something, once each.
        const change = event.type === 'PostLiked' ? 'like_count + 1' : 'greatest(like_count - 1, 0)'
        tx.write({
          text: `UPDATE ${t('posts')} SET like_count = ${change} WHERE post_id = $1`,
          params: [event.data.postId],
        })
        return
      }
      case 'PostCommented': {
        const d = event.data
        tx.write({
          text: `WITH added AS (
                   INSERT INTO ${t('comments')} (comment_id, post_id, author_id, text, commented_at)
                   SELECT $1::uuid, $2::uuid, $3::uuid, $4::text, $5::text
                   WHERE EXISTS (SELECT 1 FROM ${t('posts')} WHERE post_id = $2::uuid)
                   ON CONFLICT (comment_id) DO NOTHING RETURNING 1)
                 UPDATE ${t('posts')} SET comment_count = comment_count + (SELECT count(*)::int FROM added)
                 WHERE post_id = $2`,
          params: [d.commentId, d.postId, d.authorId, d.text, d.commentedAt],
        })
        return
      }
      default:
        unreachable(event)
    }
  },
})
