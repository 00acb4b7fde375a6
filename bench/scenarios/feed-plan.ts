import { cursorOf } from '../../src/core/keyset.js'
import type { BenchContext } from '../lib/context.js'

/**
 * The feed scenario's data, decided up front and made the same way each time it is loaded: users by
 * index (authors first, then each group of readers, the celebrity, then its fans), posts by (author,
 * k), follows by a rule. Ids, handles and times follow from the indexes, so the bench knows every
 * reader's feed without asking the server, and every mode's server loads the same data.
 */
export interface FeedPlan {
  /** 8 hex digits, fresh per plan: the ids, accounts and handles of one plan never meet another's. */
  tag: string
  /** Epoch ms of the first user's creation; everything loaded happens within the next hour. */
  base: number
  authors: number
  postsEach: number
  /** Readers, each following `follows` of the authors. */
  groups: readonly ReaderGroup[]
  /** The celebrity's followers, who follow no one else. */
  fans: number
}

export interface ReaderGroup {
  readers: number
  follows: number
}

/**
 * The sizes, `BENCH_FEED_SCALE` (default 1) times the issue's: main readers following 10,000 of
 * 100,000 authors each, 100,000 fans. As in life, readers do not all follow the same accounts: the
 * main readers fall into ten sets of followees, so a new post reaches a tenth of them.
 */
export function feedPlan(ctx: BenchContext): FeedPlan {
  const knob = Number(process.env.BENCH_FEED_SCALE ?? 1)
  const factor = Number.isFinite(knob) && knob > 0 ? knob : 1
  const size = (full: number, smoke: number) => Math.max(1, Math.round(ctx.scale(full * factor, smoke)))
  const authors = size(100_000, 24)
  return {
    tag: Math.floor(Math.random() * 2 ** 32)
      .toString(16)
      .padStart(8, '0'),
    base: Date.now() - 24 * 3600_000,
    authors,
    postsEach: 1,
    // The main readers first: 10,000 authors each at full size, every tenth one from an offset.
    groups: [
      { readers: ctx.scale(100, 3), follows: size(10_000, 12) },
      { readers: ctx.scale(10, 2), follows: size(100, 4) },
      { readers: ctx.scale(10, 2), follows: size(1_000, 12) },
    ],
    fans: size(100_000, 12),
  }
}

const hex12 = (n: number) => n.toString(16).padStart(12, '0')
export const userId = (plan: FeedPlan, u: number) => `${plan.tag}-0001-7000-8000-${hex12(u)}`
export const accountId = (plan: FeedPlan, u: number) => `feedbench-${plan.tag}-${u}`
export const handle = (plan: FeedPlan, u: number) => `f${plan.tag}_${u}`
/** Post k of author slot a: the authors are slots 0 to authors - 1, the celebrity slot `plan.authors`. */
export const postNumber = (plan: FeedPlan, a: number, k: number) => k * (plan.authors + 1) + a
/** The user who writes the posts of author slot a. */
export const slotUser = (plan: FeedPlan, a: number) => (a < plan.authors ? a : celebrity(plan))
export const postId = (plan: FeedPlan, n: number) => `${plan.tag}-0002-7000-8000-${hex12(n)}`
export const userTime = (plan: FeedPlan, u: number) => new Date(plan.base + u).toISOString()
/** One ms per post, in the order of their numbers, after every user's creation. */
export const postTime = (plan: FeedPlan, n: number) => new Date(plan.base + 600_000 + n).toISOString()
export const followTime = (plan: FeedPlan, seq: number) => new Date(plan.base + 1_200_000 + seq).toISOString()

/** The first user index of group g's readers. */
export function groupStart(plan: FeedPlan, g: number): number {
  return plan.authors + plan.groups.slice(0, g).reduce((n, group) => n + group.readers, 0)
}
export const celebrity = (plan: FeedPlan) => groupStart(plan, plan.groups.length)
export const firstFan = (plan: FeedPlan) => celebrity(plan) + 1
export const userCount = (plan: FeedPlan) => firstFan(plan) + plan.fans

/** The user indexes of group g's readers. */
export function readersOf(plan: FeedPlan, g: number): number[] {
  const start = groupStart(plan, g)
  return Array.from({ length: plan.groups[g]?.readers ?? 0 }, (_, r) => start + r)
}

/** The authors reader r of group g follows: spread evenly over the authors, from an offset of its own. */
export function followees(plan: FeedPlan, g: number, r: number): number[] {
  const follows = Math.min(plan.groups[g]?.follows ?? 0, plan.authors)
  const step = Math.floor(plan.authors / follows)
  const offset = (r * 7) % plan.authors
  return Array.from({ length: follows }, (_, j) => (offset + j * step) % plan.authors)
}

/**
 * The cursor that starts a reader's feed at entry `index` (0 is the newest) of the loaded posts, and
 * the ids expected on that page: posts of later k come first, within one k the higher author.
 */
export function pageAt(
  plan: FeedPlan,
  g: number,
  r: number,
  index: number,
  limit: number,
): { cursor: string | undefined; postIds: string[] } {
  const authors = followees(plan, g, r).sort((a, b) => b - a)
  const total = authors.length * plan.postsEach
  const nth = (i: number) => {
    const k = plan.postsEach - 1 - Math.floor(i / authors.length)
    return postNumber(plan, authors[i % authors.length] ?? 0, k)
  }
  const postIds: string[] = []
  for (let i = index; i < Math.min(total, index + limit); i++) postIds.push(postId(plan, nth(i)))
  if (index === 0) return { cursor: undefined, postIds }
  const before = nth(index - 1)
  return { cursor: cursorOf('get-my-feed', postTime(plan, before), postId(plan, before)), postIds }
}
