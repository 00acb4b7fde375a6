import {
  anyone,
  defineQuery,
  Id,
  keyAfter,
  Limit,
  Page,
  pageOf,
  type ReadStores,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { postNotFound } from '../rules.js'
import { postsModel } from './posts.js'
import { mustExist } from './profile-queries.js'

const Time = Type.String({ format: 'date-time' })
const Cursor = Type.String({ maxLength: 200 })
const examplePostId = '0190c0d0-0000-7000-8000-000000000001'
const exampleUserId = '0190c0d0-0000-7000-8000-000000000002'

export const PostView = Type.Object({
  postId: Id(),
  authorId: Id(),
  authorHandle: Type.String(),
  authorDisplayName: Type.String(),
  text: Type.String(),
  createdAt: Time,
  likeCount: Type.Integer({ minimum: 0 }),
  commentCount: Type.Integer({ minimum: 0 }),
})
export type PostView = Static<typeof PostView>

const postColumns = `p.post_id::text AS "postId", p.author_id::text AS "authorId", a.handle AS "authorHandle",
  a.display_name AS "authorDisplayName", p.text, p.created_at AS "createdAt", p.like_count AS "likeCount",
  p.comment_count AS "commentCount"`

async function livePost(stores: ReadStores, postId: string): Promise<PostView | undefined> {
  const { sql, table } = stores.sql(postsModel)
  const [post] = await sql.query<PostView>(
    `SELECT ${postColumns} FROM ${table('posts')} p JOIN ${table('authors')} a ON a.user_id = p.author_id
     WHERE p.post_id = $1`,
    [postId],
  )
  return post
}

export const getUserPosts = defineQuery({
  domain: 'feed',
  name: 'get-user-posts',
  summary: "A user's posts, newest first, with their like and comment counts",
  input: Type.Object(
    { userId: Id(), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
    { additionalProperties: false },
  ),
  output: Page(PostView),
  access: anyone,
  readModels: [postsModel],
  paged: true,
  notFound: 'USER_NOT_FOUND',
  examples: [{ userId: exampleUserId, limit: 10 }],
  // New and deleted posts touch the author's list; likes and comments touch the posts on the page.
  cache: {
    ttlMs: 30_000,
    tags: (q, answer) => [`posts:${q.userId}`, ...answer.items.map((p) => `post:${p.postId}`)],
  },
  async handle(q, { stores }) {
    const { sql, table } = stores.sql(postsModel)
    const limit = q.limit ?? 20
    const after = keyAfter(q.cursor, 'get-user-posts')
    const rows = await sql.query<PostView>(
      `SELECT ${postColumns} FROM ${table('posts')} p JOIN ${table('authors')} a ON a.user_id = p.author_id
       WHERE p.author_id = $1 AND ($2::text IS NULL OR (p.created_at, p.post_id) < ($2::text, $3::uuid))
       ORDER BY p.created_at DESC, p.post_id DESC LIMIT $4`,
      [q.userId, after?.time ?? null, after?.id ?? null, limit + 1],
    )
    if (rows.length === 0) await mustExist(sql, table('authors'), q.userId)
    return pageOf(rows, limit, (r) => ({ time: r.createdAt, id: r.postId }), 'get-user-posts')
  },
})

export const getPost = defineQuery({
  domain: 'feed',
  name: 'get-post',
  summary: 'A post, with its like and comment counts (404 once deleted)',
  input: Type.Object({ postId: Id() }, { additionalProperties: false }),
  output: PostView,
  access: anyone,
  readModels: [postsModel],
  notFound: 'POST_NOT_FOUND',
  examples: [{ postId: examplePostId }],
  cache: { ttlMs: 30_000, tags: (q) => [`post:${q.postId}`] },
  async handle(q, { stores }) {
    const post = await livePost(stores, q.postId)
    if (!post) throw postNotFound()
    return post
  },
})

export const CommentView = Type.Object({
  commentId: Id(),
  postId: Id(),
  authorId: Id(),
  authorHandle: Type.String(),
  authorDisplayName: Type.String(),
  text: Type.String(),
  commentedAt: Time,
})
type CommentView = Static<typeof CommentView>

export const getPostComments = defineQuery({
  domain: 'feed',
  name: 'get-post-comments',
  summary: "A post's comments, newest first (404 once the post is deleted)",
  input: Type.Object(
    { postId: Id(), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
    { additionalProperties: false },
  ),
  output: Page(CommentView),
  access: anyone,
  readModels: [postsModel],
  paged: true,
  notFound: 'POST_NOT_FOUND',
  examples: [{ postId: examplePostId, limit: 10 }],
  cache: { ttlMs: 30_000, tags: (q) => [`comments:${q.postId}`] },
  async handle(q, { stores }) {
    if (!(await livePost(stores, q.postId))) throw postNotFound()
    const { sql, table } = stores.sql(postsModel)
    const limit = q.limit ?? 20
    const after = keyAfter(q.cursor, 'get-post-comments')
    const rows = await sql.query<CommentView>(
      `SELECT c.comment_id::text AS "commentId", c.post_id::text AS "postId", c.author_id::text AS "authorId",
         a.handle AS "authorHandle", a.display_name AS "authorDisplayName", c.text, c.commented_at AS "commentedAt"
       FROM ${table('comments')} c JOIN ${table('authors')} a ON a.user_id = c.author_id
       WHERE c.post_id = $1 AND ($2::text IS NULL OR (c.commented_at, c.comment_id) < ($2::text, $3::uuid))
       ORDER BY c.commented_at DESC, c.comment_id DESC LIMIT $4`,
      [q.postId, after?.time ?? null, after?.id ?? null, limit + 1],
    )
    return pageOf(rows, limit, (r) => ({ time: r.commentedAt, id: r.commentId }), 'get-post-comments')
  },
})
