import { createClient } from 'redis'
import { cursorParts } from '../../src/core/keyset.js'
import type { BenchContext } from '../lib/context.js'
import type { Check } from '../lib/results.js'
import type { TandemServer } from '../lib/tandem-server.js'
import { accountId, firstFan, pageAt, readersOf, userCount, type FeedPlan } from './feed-plan.js'
import { deepIndex } from './feed-reads.js'
import { model, timelineOf, type FeedMode } from './feed-fanout.js'

interface Page {
  items: { postId: string }[]
  nextCursor: string | null
}

/** The brute-force page: the followees' live posts from the write model, newest first, below the cursor. */
const bruteForce = `
  SELECT p.post_id::text AS id FROM feed.posts p
  JOIN feed.follows f ON f.followee_id = p.author_id
  JOIN feed.users u ON u.user_id = f.follower_id
  WHERE u.account_id = $1 AND p.deleted_at IS NULL
    AND ($2::timestamptz IS NULL OR p.created_at < $2::timestamptz
         OR (p.created_at = $2::timestamptz AND p.post_id::text COLLATE "C" < $3))
  ORDER BY p.created_at DESC, p.post_id::text COLLATE "C" DESC
  LIMIT 20`

/**
 * A sample of feeds (readers of each group, two of the celebrity's fans) read through get-my-feed
 * with the cache off, first pages and, for the main readers, the deep page past the timeline's cap,
 * each equal to the brute-force answer from the write model.
 */
export async function feedsAgree(
  ctx: BenchContext,
  tandem: TandemServer,
  plan: FeedPlan,
  mode: FeedMode,
): Promise<Check> {
  const pages: { account: string; cursor?: string }[] = []
  for (let g = 0; g < plan.groups.length; g++) {
    for (const u of readersOf(plan, g).slice(0, 3)) pages.push({ account: accountId(plan, u) })
  }
  for (const [r, u] of readersOf(plan, 0).slice(0, 3).entries()) {
    pages.push({ account: accountId(plan, u), cursor: pageAt(plan, 0, r, deepIndex(ctx, plan), 20).cursor })
  }
  for (let u = firstFan(plan); u < Math.min(userCount(plan), firstFan(plan) + 2); u++) {
    pages.push({ account: accountId(plan, u) })
  }
  const wrong: string[] = []
  let items = 0
  for (const { account, cursor } of pages) {
    const [time = null, id = null] = cursorParts(cursor, 'get-my-feed', ['time', 'uuid']) ?? []
    const expected = (await tandem.sqlQuery<{ id: string }>(bruteForce, [account, time, id])).map((r) => r.id)
    const input = { limit: 20, ...(cursor ? { cursor } : {}) }
    const page = await tandem.ask<Page>('feed/get-my-feed', input, account)
    const actual = page.items.map((i) => i.postId)
    items += actual.length
    if (expected.length === 0 || actual.join() !== expected.join()) {
      wrong.push(`${account}${cursor ? ' (deep)' : ''}: ${actual.length} items, expected ${expected.length}`)
    }
  }
  return {
    name: `${mode}: sampled feeds equal the brute-force answer from the write model`,
    pass: wrong.length === 0,
    detail:
      wrong.length === 0
        ? `${pages.length} pages (${items} items) equal, first pages and deep pages from entry ${deepIndex(ctx, plan)}`
        : wrong.slice(0, 5).join('; '),
  }
}

/**
 * Server mode: MEMORY USAGE of timeline keys (the main readers' full timelines, and the fans'),
 * medians in bytes; 0 where the mode keeps no timelines.
 */
export async function timelineMemory(
  ctx: BenchContext,
  tandem: TandemServer,
  plan: FeedPlan,
  mode: FeedMode,
): Promise<{ mainBytes: number; fanBytes: number }> {
  const prefix = `${tandem.server.redisPrefix ?? ''}${await tandem.kvPrefix(model(mode))}`
  const client = createClient({ url: ctx.redisUrl })
  await client.connect()
  try {
    const median = async (accounts: readonly string[]) => {
      const sizes = await Promise.all(accounts.map((a) => client.memoryUsage(prefix + timelineOf(a))))
      const sorted = sizes.map((s) => s ?? 0).sort((a, b) => a - b)
      return sorted[Math.floor(sorted.length / 2)] ?? 0
    }
    const fans = Array.from({ length: Math.min(plan.fans, 100) }, (_, i) =>
      accountId(plan, firstFan(plan) + i),
    )
    return {
      mainBytes: await median(readersOf(plan, 0).map((u) => accountId(plan, u))),
      fanBytes: await median(fans),
    }
  } finally {
    client.destroy()
  }
}

/** Redis's used_memory, bytes (the whole instance: other tenants add noise). */
export async function redisUsedMemory(url: string): Promise<number> {
  const client = createClient({ url })
  await client.connect()
  try {
    const info = await client.info('memory')
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0)
  } finally {
    client.destroy()
  }
}
