import { type BenchMix, type Caller } from '../../kernel/index.js'
import { createPost, createUser, followUser, likePost } from './commands.js'
import { type defineGetMyFeed } from './projections/feed-queries.js'
import { getUserPosts } from './projections/post-queries.js'

const authors = 50
const readers = 200
const followsEach = 10
const author = (i: number): Caller => ({ id: `bench-author-${i % authors}`, roles: [] })
const reader = (i: number): Caller => ({ id: `bench-reader-${i % readers}`, roles: [] })

/**
 * The feed domain in the guide's benchmark: 50 authors, 200 readers following 10 of them each.
 * Writes: a new post 80%, a like 20%. Reads: a reader's home feed 80%, an author's posts 20%.
 */
export const benchMix = (getMyFeed: ReturnType<typeof defineGetMyFeed>): BenchMix => ({
  async prepare({ commands, queries }) {
    const must = async <R>(
      done: Promise<{ status: 'succeeded'; result: R } | { status: 'failed'; error: Error }>,
    ) => {
      const outcome = await done
      if (outcome.status === 'failed') throw outcome.error
      return outcome.result
    }
    const authorIds: string[] = []
    for (let i = 0; i < authors; i++) {
      const caller = author(i)
      const { userId } = await must(
        commands.execute(createUser, { handle: `bench_author_${i}`, displayName: `Author ${i}` }, { caller }),
      )
      authorIds.push(userId)
      await must(commands.execute(createPost, { text: `First post by author ${i}` }, { caller }))
    }
    let position = '0'
    for (let i = 0; i < readers; i++) {
      const caller = reader(i)
      await must(
        commands.execute(createUser, { handle: `bench_reader_${i}`, displayName: `Reader ${i}` }, { caller }),
      )
      for (let f = 0; f < followsEach; f++) {
        const done = await commands.execute(
          followUser,
          { userId: authorIds[(i + f * 7) % authors] ?? '' },
          { caller },
        )
        if (done.status === 'failed') throw done.error
        position = done.position ?? position
      }
    }
    // The reads start once the home feeds hold every follow (read-your-writes on the last one).
    const caughtUp = await queries.ask(
      getMyFeed,
      {},
      { caller: reader(readers - 1), minPosition: BigInt(position), maxWaitMs: 30_000 },
    )
    if (caughtUp.status === 'failed') throw caughtUp.error
    const recent: string[] = []
    return {
      async command(i, r) {
        if (r < 0.2 && recent.length > 0) {
          const postId = recent[Math.floor((r / 0.2) * recent.length)] ?? ''
          return commands.execute(likePost, { postId }, { caller: reader(i) })
        }
        const done = await commands.execute(createPost, { text: `Post ${i}` }, { caller: author(i) })
        if (done.status === 'succeeded') {
          recent.push(done.result.postId)
          if (recent.length > 1000) recent.shift()
        }
        return done
      },
      query: (i, r) =>
        r < 0.8
          ? queries.ask(getMyFeed, { limit: 20 }, { caller: reader(i) })
          : queries.ask(
              getUserPosts,
              { userId: authorIds[i % authors] ?? '', limit: 20 },
              { caller: reader(i) },
            ),
    }
  },
})
