import type { BenchContext } from '../lib/context.js'
import type { RequestSpec, Span } from '../lib/load.js'
import { runLoad } from '../lib/load.js'
import { runPaced } from '../lib/pacer.js'
import type { Measurement } from '../lib/results.js'
import type { TandemServer } from '../lib/tandem-server.js'
import { accountId, pageAt, readersOf, type FeedPlan } from './feed-plan.js'
import { answersSoFar, hitRateBetween, missMsBetween } from './http.js'
import { describeMeasurement } from './scenario.js'

export const feedPath = '/api/queries/feed/get-my-feed'
const postPath = '/api/commands/feed/create-post'
/**
 * Where the deep pages start: past the 800 entries a timeline holds, so pull serves them; on a plan
 * too small for entry 1,000 (BENCH_FEED_SCALE below 1), a page before the end of the main feeds.
 */
export function deepIndex(ctx: BenchContext, plan: FeedPlan): number {
  const wanted = ctx.scale(1_000, 6)
  const total = Math.min(plan.groups[0]?.follows ?? 0, plan.authors) * plan.postsEach
  return total > wanted ? wanted : Math.max(0, total - 20)
}

export const bearer = (tandem: TandemServer, account: string) =>
  `Bearer ${tandem.auth.sign({ sub: account, roles: [] }, { expiresInSeconds: 3600 })}`

const any = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)] as T

/** One reader's requests: its token and the path it asks. */
interface Ask {
  authorization: string
  path: string
}

/** The main readers' first pages, or (deep) their pages from entry `deepIndex` on. */
export function mainAsks(ctx: BenchContext, tandem: TandemServer, plan: FeedPlan, deep: boolean): Ask[] {
  return readersOf(plan, 0).map((u, r) => {
    const cursor = deep ? pageAt(plan, 0, r, deepIndex(ctx, plan), 20).cursor : undefined
    return {
      authorization: bearer(tandem, accountId(plan, u)),
      path: `${feedPath}?limit=20${cursor ? `&cursor=${cursor}` : ''}`,
    }
  })
}

/** get-my-feed answers so far, and how many of them came from the query cache. */
const feedLookups = (tandem: TandemServer) => answersSoFar(tandem.server.url, 'feed/get-my-feed')

export interface UnderWrites {
  reads: Measurement
  writes: Measurement
  /** Share of the get-my-feed answers (warm-up included) served from the query cache. */
  cacheHitRate: number
  /** The server's own time per answer that missed the cache, in ms (`missMsBetween`). */
  missMs: number
}

/**
 * Feed reads at `connections` (autocannon, closed loop), a random reader each, while posts arrive
 * at `rate` per second (paced, open loop) by random authors the readers follow: every post touches
 * the feeds of its author's followers, so cached pages go stale as they would in life.
 */
export async function readsUnderWrites(
  ctx: BenchContext,
  tandem: TandemServer,
  plan: FeedPlan,
  options: { label: string; asks: readonly Ask[]; connections: number; rate: number },
): Promise<UnderWrites> {
  // 500 writers spread over the authors and over the readers' sets of followees (every tenth author).
  const writers = Math.min(plan.authors, 500)
  const authors = Array.from({ length: writers }, (_, i) =>
    bearer(tandem, accountId(plan, (Math.floor((i * plan.authors) / writers) + i) % plan.authors)),
  )
  let posted = 0
  const before = await feedLookups(tandem)
  const [reads, writes] = await Promise.all([
    runLoad({
      label: options.label,
      url: tandem.server.url,
      serverPid: tandem.server.pid,
      connections: options.connections,
      span: ctx.span,
      next: (): RequestSpec => {
        const ask = any(options.asks)
        return { method: 'GET', path: ask.path, headers: { authorization: ask.authorization } }
      },
    }),
    runPaced({
      label: `${options.label.split(':')[0] ?? ''}: create-post at ${options.rate}/s beside it (paced)`,
      url: tandem.server.url,
      rate: options.rate,
      span: ctx.span,
      connections: 16,
      next: () => ({
        method: 'POST',
        path: postPath,
        headers: { authorization: any(authors) },
        body: JSON.stringify({ text: `Live post ${posted++}` }),
      }),
    }),
  ])
  const after = await feedLookups(tandem)
  ctx.log(describeMeasurement(reads))
  ctx.log(describeMeasurement(writes))
  return { reads, writes, cacheHitRate: hitRateBetween(before, after), missMs: missMsBetween(before, after) }
}

/** Nominal followee counts of the sweep, and the reader group of each. */
export const sweepGroups = [
  { name: 'f100', group: 1 },
  { name: 'f1000', group: 2 },
  { name: 'f10000', group: 0 },
] as const

/**
 * First pages of readers following 100, 1,000 and 10,000 authors, no writes, past the query cache:
 * each request names its own `until`, far in the future, which changes nothing in the answer but
 * is a key of its own, so every request reads the read model.
 */
export async function sweep(
  ctx: BenchContext,
  tandem: TandemServer,
  plan: FeedPlan,
  feedMode: string,
): Promise<{ name: string; followees: number; m: Measurement }[]> {
  const span: Span = ctx.smoke ? ctx.span : { seconds: Math.max(2, ctx.seconds / 2), warmSeconds: 1 }
  const results = []
  let n = 0
  for (const { name, group } of sweepGroups) {
    const tokens = readersOf(plan, group).map((u) => bearer(tandem, accountId(plan, u)))
    const followees = Math.min(plan.groups[group]?.follows ?? 0, plan.authors)
    const m = await runLoad({
      label: `${feedMode}: first page, ${followees.toLocaleString('en-US')} followees, cache bypassed`,
      url: tandem.server.url,
      serverPid: tandem.server.pid,
      connections: ctx.scale(10, 2),
      span,
      next: () => {
        const until = new Date(Date.UTC(2999, 0, 1) + n++).toISOString()
        return {
          method: 'GET',
          path: `${feedPath}?limit=20&until=${until}`,
          headers: { authorization: any(tokens) },
        }
      },
    })
    ctx.log(describeMeasurement(m))
    results.push({ name, followees, m })
  }
  return results
}
