import { type Caller, type CommandBus, type DemoExample, type QueryBus } from '../../kernel/index.js'
import { commentOnPost, createPost, createUser, followUser, likePost } from './commands.js'
import { type defineGetMyFeed } from './projections/feed-queries.js'
import { getPostComments, getUserPosts } from './projections/post-queries.js'

const reader: Caller = { id: 'demo-reader', roles: [] }
const writer: Caller = { id: 'demo-writer', roles: [] }
const other: Caller = { id: 'demo-other', roles: [] }

export const demoCallers: readonly (Caller & { label: string })[] = [
  { label: 'reader', ...reader },
  { label: 'writer', ...writer },
]

async function run<R>(
  done: Promise<{ status: 'succeeded'; result: R } | { status: 'failed'; error: Error }>,
) {
  const outcome = await done
  if (outcome.status === 'failed') throw outcome.error
  return outcome.result
}

const posts = [
  'CQRS 첫 글: commands and queries apart (first post)',
  'Projections are just folds over events.',
  'Fan-out on write or on read? Both, by follower count.',
]

/**
 * Three profiles: the demo reader follows the writer, who has three posts; the reader liked and
 * commented on the first. A third user, who commented too, has a post and is not followed yet.
 */
export async function seedDemo(commands: CommandBus): Promise<void> {
  const profile = (caller: Caller, handle: string, displayName: string, bio: string) =>
    run(commands.execute(createUser, { handle, displayName, bio }, { caller }))
  await profile(reader, 'demo_reader', 'Demo Reader', 'Reads the feed')
  const { userId: writerId } = await profile(writer, 'demo_writer', 'Demo Writer', 'Writes about CQRS')
  await profile(other, 'demo_other', 'Demo Other', 'Not followed yet')
  await run(commands.execute(followUser, { userId: writerId }, { caller: reader }))
  const postIds: string[] = []
  for (const text of posts) {
    postIds.push((await run(commands.execute(createPost, { text }, { caller: writer }))).postId)
  }
  await run(commands.execute(createPost, { text: 'Follow me to see this in your feed.' }, { caller: other }))
  const first = postIds[0] ?? ''
  await run(commands.execute(likePost, { postId: first }, { caller: reader }))
  await run(commands.execute(commentOnPost, { postId: first, text: 'Nice one!' }, { caller: reader }))
  await run(commands.execute(commentOnPost, { postId: first, text: 'Following soon.' }, { caller: other }))
}

/** The banner's examples, on profiles and posts found in the read models so they work as printed. */
export const demoExamples =
  (getMyFeed: ReturnType<typeof defineGetMyFeed>) =>
  async (queries: QueryBus): Promise<DemoExample[]> => {
    const examples: DemoExample[] = [
      {
        title: "The reader's home feed",
        method: 'GET',
        path: '/api/queries/feed/get-my-feed?limit=10',
        as: 'reader',
      },
      {
        title: 'Post as the writer (it reaches the reader’s feed)',
        method: 'POST',
        path: '/api/commands/feed/create-post',
        body: { text: 'Hello from the demo!' },
        as: 'writer',
      },
    ]
    const feed = await queries.ask(getMyFeed, { limit: 1 }, { caller: reader })
    const top = feed.status === 'succeeded' ? feed.data.items[0] : undefined
    if (top) {
      examples.push(
        {
          title: `Like "${top.text.slice(0, 30)}…"`,
          method: 'POST',
          path: '/api/commands/feed/like-post',
          body: { postId: top.postId },
          as: 'reader',
        },
        {
          title: "The writer's profile, with follower counts",
          method: 'GET',
          path: `/api/queries/feed/get-user?userId=${top.authorId}`,
        },
        {
          title: "The writer's posts (public)",
          method: 'GET',
          path: `/api/queries/feed/get-user-posts?userId=${top.authorId}&limit=10`,
        },
      )
    }
    // The third user is found among the commenters of the writer's posts.
    const writers = top
      ? await queries.ask(getUserPosts, { userId: top.authorId, limit: 100 }, { caller: reader })
      : undefined
    const firstPost = writers?.status === 'succeeded' ? writers.data.items.at(-1) : undefined
    const comments = firstPost
      ? await queries.ask(getPostComments, { postId: firstPost.postId, limit: 100 }, { caller: reader })
      : undefined
    const stranger =
      comments?.status === 'succeeded'
        ? comments.data.items.find((c) => c.authorHandle === 'demo_other')
        : undefined
    if (stranger) {
      examples.push({
        title: `Follow @${stranger.authorHandle}: their posts are backfilled into the reader's feed`,
        method: 'POST',
        path: '/api/commands/feed/follow-user',
        body: { userId: stranger.authorId },
        as: 'reader',
      })
    }
    return examples
  }
