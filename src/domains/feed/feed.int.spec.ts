import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnyCommand, Caller } from '../../kernel/index.js'
import { modes, startTestTandem, type TestTandem } from '../../kernel/testing.js'
import {
  commentOnPost,
  createPost,
  createUser,
  deletePost,
  followUser,
  likePost,
  unfollowUser,
  unlikePost,
} from './commands.js'
import { feedDomain } from './index.js'

const person = (id: string): Caller => ({ id, roles: [] })

describe.each(modes)('the feed’s write side through the buses (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [feedDomain] })
  })
  afterAll(async () => t.dispose())

  const run = (command: AnyCommand, input: unknown, caller: Caller) =>
    t.commands.execute(command, input, { caller }) as Promise<
      { status: 'succeeded'; result: Record<string, unknown> } | { status: 'failed'; error: { code: string } }
    >
  async function ok(command: AnyCommand, input: unknown, caller: Caller) {
    const done = await run(command, input, caller)
    if (done.status === 'failed') throw new Error(`${command.name} refused: ${done.error.code}`)
    return done.result
  }
  async function refused(command: AnyCommand, input: unknown, caller: Caller) {
    const done = await run(command, input, caller)
    return done.status === 'failed' ? done.error.code : 'succeeded'
  }
  async function profile(account: string, handle = account.replace(/-/g, '_')) {
    return (await ok(createUser, { handle, displayName: account.toUpperCase() }, person(account)))
      .userId as string
  }
  async function userRow(userId: string) {
    const [row] = await t.sql.query<{ followers: number; following: number; version: number }>(
      'SELECT follower_count AS followers, following_count AS following, version FROM feed.users WHERE user_id = $1',
      [userId],
    )
    return row
  }
  async function postRow(postId: string) {
    const [row] = await t.sql.query<{ likes: number; comments: number; deleted: boolean; rows: number }>(
      `SELECT like_count AS likes, comment_count AS comments, deleted_at IS NOT NULL AS deleted,
         (SELECT count(*)::int FROM feed.likes l WHERE l.post_id = p.post_id) AS rows
       FROM feed.posts p WHERE post_id = $1`,
      [postId],
    )
    return row
  }
  /** The log's view: how many events of a type went to the post's stream, and its last version. */
  async function postStream(postId: string, type: string) {
    const [row] = await t.sql.query<{ n: number; version: number }>(
      `SELECT count(*) FILTER (WHERE type = $2)::int AS n, max(stream_version)::int AS version
       FROM tandem.event_log WHERE stream_id = $1`,
      ['post-' + postId, type],
    )
    return row
  }

  it('creates one profile per caller, with handles unique ignoring case', async () => {
    await profile('ann')
    expect(await refused(createUser, { handle: 'ann2', displayName: 'Ann' }, person('ann'))).toBe(
      'USER_EXISTS',
    )
    expect(await refused(createUser, { handle: 'ANN', displayName: 'Other' }, person('other'))).toBe(
      'HANDLE_TAKEN',
    )
    expect(await refused(createUser, { handle: 'a b', displayName: 'Other' }, person('other'))).toBe(
      'VALIDATION_FAILED',
    )
  })

  it('follows and unfollows once, keeping both counts, and refuses self, unknown users and no profile', async () => {
    const bea = await profile('bea')
    const cal = await profile('cal')
    for (let i = 0; i < 2; i++) {
      expect(await ok(followUser, { userId: cal.toUpperCase() }, person('bea'))).toEqual({
        userId: cal,
        following: true,
      })
    }
    expect(await userRow(bea)).toMatchObject({ following: 1, followers: 0, version: 2 })
    expect(await userRow(cal)).toMatchObject({ following: 0, followers: 1 })
    for (let i = 0; i < 2; i++) {
      expect(await ok(unfollowUser, { userId: cal }, person('bea'))).toEqual({
        userId: cal,
        following: false,
      })
    }
    expect(await userRow(bea)).toMatchObject({ following: 0, version: 3 })
    expect(await userRow(cal)).toMatchObject({ followers: 0 })
    expect(await refused(followUser, { userId: bea }, person('bea'))).toBe('CANNOT_FOLLOW_SELF')
    expect(await refused(followUser, { userId: '0190c0d0-0000-7000-8000-00000000dead' }, person('bea'))).toBe(
      'USER_NOT_FOUND',
    )
    expect(await refused(followUser, { userId: cal }, person('nobody'))).toBe('PROFILE_REQUIRED')
  })

  it('posts, likes once, comments and deletes; a deleted post takes nothing more', async () => {
    await profile('dee')
    await profile('eve')
    expect(await refused(createPost, { text: 'hi' }, person('nobody'))).toBe('PROFILE_REQUIRED')
    const { postId } = await ok(createPost, { text: 'Hello' }, person('dee'))
    for (let i = 0; i < 2; i++)
      expect(await ok(likePost, { postId }, person('eve'))).toMatchObject({ liked: true })
    await ok(likePost, { postId }, person('dee'))
    expect(await postRow(postId as string)).toMatchObject({ likes: 2, rows: 2 })
    for (let i = 0; i < 2; i++) {
      expect(await ok(unlikePost, { postId }, person('eve'))).toMatchObject({ liked: false })
    }
    expect(await postRow(postId as string)).toMatchObject({ likes: 1, rows: 1 })
    await ok(commentOnPost, { postId, text: 'Nice' }, person('eve'))
    expect(await postRow(postId as string)).toMatchObject({ comments: 1 })
    expect(await refused(deletePost, { postId }, person('eve'))).toBe('FORBIDDEN')
    await ok(deletePost, { postId }, person('dee'))
    expect(await postRow(postId as string)).toMatchObject({ deleted: true })
    for (const [command, input] of [
      [likePost, { postId }],
      [unlikePost, { postId }],
      [commentOnPost, { postId, text: 'Late' }],
      [deletePost, { postId }],
    ] as const) {
      expect(await refused(command, input, person('dee'))).toBe('POST_NOT_FOUND')
    }
  })

  it('counts distinct likers when 50 like one post at once, and the same liker 50 times at once', async () => {
    await profile('author')
    const { postId } = await ok(createPost, { text: 'Popular' }, person('author'))
    const likers = Array.from({ length: 25 }, (_, i) => `liker-${i}`)
    for (const liker of likers) await profile(liker)
    const outcomes = await Promise.all([
      ...likers.flatMap((liker) => [
        run(likePost, { postId }, person(liker)),
        run(likePost, { postId }, person(liker)),
      ]),
    ])
    expect(outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(50)
    const same = await Promise.all(
      Array.from({ length: 50 }, () => run(likePost, { postId }, person('author'))),
    )
    expect(same.every((o) => o.status === 'succeeded')).toBe(true)
    expect(await postRow(postId as string)).toMatchObject({ likes: 26, rows: 26 })
    expect(await postStream(postId as string, 'PostLiked')).toEqual({ n: 26, version: 27 })
  })

  it('lets exactly one of 20 callers racing for one handle in different cases have it', async () => {
    const spellings = ['racer', 'RACER', 'Racer', 'rAcEr']
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        refused(createUser, { handle: spellings[i % 4], displayName: 'Racer' }, person(`racer-${i}`)),
      ),
    )
    expect(outcomes.filter((o) => o === 'succeeded')).toHaveLength(1)
    expect(outcomes.filter((o) => o === 'HANDLE_TAKEN')).toHaveLength(19)
    const [row] = await t.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM feed.users WHERE lower(handle) = 'racer'",
    )
    expect(row?.n).toBe(1)
  })

  it('gives a caller racing itself with 10 creates one profile', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        refused(createUser, { handle: `twin_${i}`, displayName: 'Twin' }, person('twin')),
      ),
    )
    expect(outcomes.filter((o) => o === 'succeeded')).toHaveLength(1)
    expect(outcomes.filter((o) => o === 'USER_EXISTS')).toHaveLength(9)
  })

  it('keeps follow counts when 30 follow one user at once, and two follow each other at once', async () => {
    const star = await profile('star')
    const fans = Array.from({ length: 30 }, (_, i) => `fan-${i}`)
    const fanIds = await Promise.all(fans.map((fan) => profile(fan)))
    const outcomes = await Promise.all(
      fans.flatMap((fan) => [
        run(followUser, { userId: star }, person(fan)),
        run(followUser, { userId: star }, person(fan)),
      ]),
    )
    expect(outcomes.every((o) => o.status === 'succeeded')).toBe(true)
    expect(await userRow(star)).toMatchObject({ followers: 30 })
    const [a, b] = fanIds as [string, string]
    const mutual = await Promise.all(
      Array.from({ length: 10 }, () => [
        run(followUser, { userId: b }, person('fan-0')),
        run(followUser, { userId: a }, person('fan-1')),
      ]).flat(),
    )
    expect(mutual.every((o) => o.status === 'succeeded')).toBe(true)
    expect(await userRow(a)).toMatchObject({ followers: 1, following: 2 })
    expect(await userRow(b)).toMatchObject({ followers: 1, following: 2 })
    const [edges] = await t.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM feed.follows WHERE followee_id = $1',
      [star],
    )
    expect(edges?.n).toBe(30)
  })
})
