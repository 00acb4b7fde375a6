import { randomUUID } from 'node:crypto'
import { Latencies, round } from '../lib/stats.js'
import type { TandemServer } from '../lib/tandem-server.js'
import { accountId, celebrity, firstFan, userCount, type FeedPlan } from './feed-plan.js'
import { bearer, feedPath } from './feed-reads.js'

export type FeedMode = 'push' | 'pull' | 'hybrid'
export const model = (mode: FeedMode) => `feed-home-${mode}`
export const timelineOf = (account: string) => `timeline:${encodeURIComponent(account)}`

/** Accounts of users [from, to). */
export const accountsIn = (plan: FeedPlan, from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => accountId(plan, from + i))

/** Posts as `author` with an id chosen here; resolves to the id, the log position and when it was sent. */
async function post(tandem: TandemServer, plan: FeedPlan, author: number) {
  const postId = randomUUID()
  const sent = Date.now()
  const response = await fetch(`${tandem.server.url}/api/commands/feed/create-post`, {
    method: 'POST',
    headers: { authorization: bearer(tandem, accountId(plan, author)), 'content-type': 'application/json' },
    body: JSON.stringify({ postId, text: `A post by user ${author}` }),
  })
  if (!response.ok) throw new Error(`create-post: ${response.status} ${await response.text()}`)
  const { position } = (await response.json()) as { position: string }
  return { postId, position, sent, acked: Date.now() }
}

/** How many of these accounts' timelines hold the post (among their newest few entries). */
export async function timelinesHolding(
  tandem: TandemServer,
  mode: FeedMode,
  accounts: readonly string[],
  postId: string,
): Promise<number> {
  let holding = 0
  for (let from = 0; from < accounts.length; from += 5_000) {
    const keys = accounts.slice(from, from + 5_000).map(timelineOf)
    const newest = await tandem.kvNewest(model(mode), keys, 5)
    holding += newest.filter((entries) => entries.some((e) => e.includes(postId))).length
  }
  return holding
}

export interface CelebrityPost {
  /** From sending create-post to the post at the head of each sampled follower's timeline (push). */
  visible?: { p50Ms: number; p99Ms: number; maxMs: number; sampled: number }
  /** Hybrid and pull: sampled followers whose first read after the ack (read-your-writes) shows it. */
  atOnce?: { shown: number; asked: number; p50Ms: number; p99Ms: number }
  commandMs: number
  /** Timelines holding the post afterwards, over all the celebrity's followers. */
  timelines: number
}

/**
 * The celebrity posts. Push: a sample of its followers' timelines is polled from the moment the
 * command is sent until each holds the post, then every follower's timeline is counted. Hybrid and
 * pull: a sample of followers read their feed once, right after the ack, asking for the command's
 * position (X-Min-Position), and the post must be on that first page.
 */
export async function celebrityPost(
  tandem: TandemServer,
  plan: FeedPlan,
  mode: FeedMode,
  sample: number,
): Promise<CelebrityPost> {
  const fans = accountsIn(plan, firstFan(plan), userCount(plan))
  const step = Math.max(1, Math.floor(fans.length / sample))
  const sampled = fans.filter((_, i) => i % step === 0).slice(0, sample)
  if (mode !== 'push') {
    const done = await post(tandem, plan, celebrity(plan))
    const latencies = new Latencies()
    let shown = 0
    await Promise.all(
      sampled.slice(0, 20).map(async (account) => {
        const start = performance.now()
        const response = await fetch(`${tandem.server.url}${feedPath}?limit=20`, {
          headers: { authorization: bearer(tandem, account), 'x-min-position': done.position },
        })
        const text = await response.text()
        latencies.add(performance.now() - start)
        if (response.ok && text.includes(done.postId)) shown++
      }),
    )
    const { p50Ms, p99Ms } = latencies.summary()
    return {
      atOnce: { shown, asked: Math.min(20, sampled.length), p50Ms, p99Ms },
      commandMs: done.acked - done.sent,
      timelines: await timelinesHolding(tandem, mode, fans, done.postId),
    }
  }
  const seen = new Map<string, number>()
  let posted: Awaited<ReturnType<typeof post>> | undefined
  const posting = post(tandem, plan, celebrity(plan)).then((p) => (posted = p))
  const sentAt = Date.now()
  const deadline = sentAt + 30_000
  while (seen.size < sampled.length && Date.now() < deadline) {
    const waiting = sampled.filter((a) => !seen.has(a))
    const newest = await tandem.kvNewest(model(mode), waiting.map(timelineOf), 1)
    const now = Date.now()
    const id = posted?.postId
    waiting.forEach((account, i) => {
      if (id && newest[i]?.[0]?.includes(id)) seen.set(account, now)
    })
    if (!id) await posting
  }
  const done = await posting
  const latencies = new Latencies()
  for (const at of seen.values()) latencies.add(at - done.sent)
  const { p50Ms, p99Ms, maxMs } = latencies.summary()
  return {
    visible: {
      p50Ms: round(p50Ms, 0),
      p99Ms: seen.size < sampled.length ? Infinity : round(p99Ms, 0),
      maxMs: round(maxMs, 0),
      sampled: seen.size,
    },
    commandMs: done.acked - done.sent,
    timelines: await timelinesHolding(tandem, mode, fans, done.postId),
  }
}

/** A post by author 0, and how many of the readers' timelines hold it once the read models caught up. */
export async function regularPost(
  tandem: TandemServer,
  plan: FeedPlan,
  mode: FeedMode,
): Promise<{ followers: number; timelines: number }> {
  const done = await post(tandem, plan, 0)
  await tandem.caughtUp()
  const [row] = await tandem.sqlQuery<{ n: string }>(
    `SELECT count(*)::text AS n FROM feed.follows f JOIN feed.users u ON u.user_id = f.followee_id
     WHERE u.account_id = $1`,
    [accountId(plan, 0)],
  )
  const readers = accountsIn(plan, plan.authors, celebrity(plan))
  return {
    followers: Number(row?.n ?? 0),
    timelines: await timelinesHolding(tandem, mode, readers, done.postId),
  }
}
