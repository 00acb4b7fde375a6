import type { BenchContext } from '../lib/context.js'
import type { Check, Measurement, Mode } from '../lib/results.js'
import { round } from '../lib/stats.js'
import { startTandemServer, storesOf, type TandemServer } from '../lib/tandem-server.js'
import type { Target } from '../lib/targets.js'
import { feedsAgree, redisUsedMemory, timelineMemory } from './feed-checks.js'
import { celebrityPost, model, regularPost, type FeedMode } from './feed-fanout.js'
import { loadPlan } from './feed-load.js'
import { feedPlan, type FeedPlan } from './feed-plan.js'
import { deepIndex, mainAsks, readsUnderWrites, sweep } from './feed-reads.js'
import { measure as measureLoad } from './http.js'
import { inPercent, noErrors, ratio, type Outcome, type Scenario } from './scenario.js'

type Figures = Outcome['figures']

/**
 * Posts per second beside the first pages: the issue's 100, or `BENCH_FEED_POST_RATE` (to see what
 * the arriving posts cost the reads; the first page's targets name the rate they were measured at).
 */
function postRate(ctx: BenchContext): number {
  const knob = Number(process.env.BENCH_FEED_POST_RATE)
  return Number.isInteger(knob) && knob > 0 ? knob : ctx.scale(100, 50)
}

/**
 * Issue 11's performance section: the home feed built push, pull and hybrid from the same log. A
 * bulk loader writes 100 readers following 10,000 authors each (1,000,000 follows) and a celebrity
 * with 100,000 followers; each mode's read model is built from those events; then first pages at 100
 * connections while 100 posts per second arrive, deep pages past the timeline's cap, first pages by
 * followee count, the celebrity's post reaching its followers, and the memory timelines take.
 */
export const feedScenario: Scenario = {
  name: 'feed',
  title: 'Social feed: push, pull and hybrid home feeds on 1,000,000 follows and a 100,000-follower author',
  async run(ctx, mode) {
    const plan = feedPlan(ctx)
    const bare = await ctx.ceiling()
    const run = createRun(ctx, mode, plan, bare)
    // Hybrid's threshold below the celebrity's followers (10,000 at full size): it is pulled.
    const pullAbove = Math.min(10_000, Math.max(1, Math.floor(plan.fans / 2)))
    const start = (feed: FeedMode, joins?: TandemServer) =>
      startTandemServer(ctx, mode, { feed: { mode: feed, pullAbove }, ...(joins ? { joins } : {}) })
    if (mode === 'server') {
      // One log, loaded once by a process that projects nothing; each mode is a process on it that
      // builds its read model from the log, one at a time, so no two apply the same read model.
      const owner = await startTandemServer(ctx, mode, { roles: ['command'] })
      try {
        await run.load(owner, 'all')
        for (const feed of feedModes(ctx, mode)) {
          const memoryBefore = await redisUsedMemory(ctx.redisUrl)
          const began = performance.now()
          const server = await start(feed, owner)
          try {
            await run.measure(server, feed, began, memoryBefore)
          } finally {
            await server.close()
          }
        }
      } finally {
        await owner.close()
      }
    } else {
      // Embedded stores live in their process: each mode's process loads the same plan afresh.
      for (const feed of feedModes(ctx, mode)) {
        const server = await start(feed)
        try {
          await run.load(server, feed)
          await run.measure(server, feed, performance.now(), 0)
        } finally {
          await server.close()
        }
      }
    }
    return run.outcome(pullAbove)
  },
}

/**
 * The feed modes measured: all three. A smoke run, which checks the harness, not the product (its
 * three modes are proved equal to the write model by feed.property.int.spec.ts), runs each mode once
 * over its two files: a process per mode was a third of the feed scenario's time in each.
 */
function feedModes(ctx: BenchContext, mode: Mode): readonly FeedMode[] {
  const chosen = process.env.BENCH_FEED_MODES?.split(',').filter((m): m is FeedMode =>
    ['hybrid', 'push', 'pull'].includes(m),
  )
  if (chosen?.length) return chosen
  if (!ctx.smoke) return ['hybrid', 'push', 'pull']
  return mode === 'server' ? ['hybrid', 'push'] : ['pull']
}

function createRun(ctx: BenchContext, mode: Mode, plan: FeedPlan, bare: Measurement) {
  const measurements: Measurement[] = []
  const checks: Check[] = []
  const targets: Target[] = []
  const figures: Figures = {}
  const follows =
    plan.groups.reduce((n, g) => n + g.readers * Math.min(g.follows, plan.authors), 0) + plan.fans
  figures['plan.authors'] = plan.authors
  figures['plan.mainReaders'] = plan.groups[0]?.readers ?? 0
  figures['plan.mainFollowees'] = Math.min(plan.groups[0]?.follows ?? 0, plan.authors)
  figures['plan.follows'] = follows
  figures['plan.fans'] = plan.fans
  figures['ceiling.rate'] = bare.throughput

  /** Seconds from `began` until the mode's home-feed read model has caught up, then until all have. */
  async function waitCaughtUp(server: TandemServer, feed: FeedMode, began: number) {
    const deadline = performance.now() + 30 * 60_000
    let own: number | undefined
    for (;;) {
      const status = await server.projectionStatus()
      const now = performance.now()
      own ??= status.find((s) => s.name === model(feed))?.caughtUp ? now : undefined
      if (status.every((s) => s.caughtUp)) break
      if (now > deadline) throw new Error('The read models did not catch up in 30 minutes')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    await server.caughtUp()
    const seconds = (at: number) => round((at - began) / 1000, 1)
    return { own: seconds(own ?? performance.now()), all: seconds(performance.now()) }
  }

  /** `began`: when building the read model began; `memoryBefore`: Redis's used memory then (server mode). */
  async function measure(server: TandemServer, feed: FeedMode, began: number, memoryBefore: number) {
    const catchUp = await waitCaughtUp(server, feed, began)
    figures[`catchUp.${feed}.seconds`] = catchUp.own
    figures[`catchUp.${feed}.allSeconds`] = catchUp.all
    ctx.log(`  ${feed}: ${model(feed)} built in ${catchUp.own} s, every read model in ${catchUp.all} s`)
    if (mode === 'server') {
      const grown = (await redisUsedMemory(ctx.redisUrl)) - memoryBefore
      figures[`memory.${feed}.redisDeltaMiB`] = round(grown / 2 ** 20, 1)
    }
    checks.push(await feedsAgree(ctx, server, plan, feed))
    const connections = ctx.scale(100, 4)
    const rate = postRate(ctx)
    const main = await readsUnderWrites(ctx, server, plan, {
      label: `${feed}: get-my-feed first page, ${figures['plan.mainFollowees']} followees`,
      asks: mainAsks(ctx, server, plan, false),
      // Pull merges every followee's list per page: at 100 connections none is answered in seconds.
      connections: feed === 'pull' ? ctx.scale(10, 2) : connections,
      rate,
    })
    measurements.push(main.reads, main.writes)
    record(`read.${feed}.f10000`, main.reads)
    figures[`read.${feed}.cacheHitRate`] = main.cacheHitRate
    figures[`read.${feed}.missMs`] = main.missMs
    figures[`read.${feed}.shareOfCeiling`] = ratio(main.reads.throughput, bare.throughput)
    figures[`write.${feed}.p99Ms`] = main.writes.p99Ms
    if (feed === 'hybrid') {
      judgeMain(main.reads)
      const { m: sized, bytes } = await pageSizedCeiling(server)
      measurements.push(sized)
      figures['ceiling.pageBytes'] = bytes
      figures['ceiling.pageRate'] = sized.throughput
      figures[`read.${feed}.shareOfPageCeiling`] = ratio(main.reads.throughput, sized.throughput)
      const deep = await readsUnderWrites(ctx, server, plan, {
        label: `${feed}: get-my-feed page from entry ${deepIndex(ctx, plan)} (pull, below the cap)`,
        asks: mainAsks(ctx, server, plan, true),
        // A deep page merges every followee's list: at 100 connections none is answered in seconds.
        connections: ctx.scale(10, 2),
        rate,
      })
      measurements.push(deep.reads, deep.writes)
      record(`read.${feed}.deep`, deep.reads)
    }
    for (const { name, followees, m } of await sweep(ctx, server, plan, feed)) {
      measurements.push(m)
      record(`sweep.${feed}.${name}`, m)
      figures[`sweep.followees.${name}`] = followees
    }
    await fanOut(server, feed)
    if (mode === 'server') {
      const memory = await timelineMemory(ctx, server, plan, feed)
      figures[`memory.${feed}.mainTimelineBytes`] = memory.mainBytes
      figures[`memory.${feed}.fanTimelineBytes`] = memory.fanBytes
    }
  }

  /**
   * The bare server answering a body as large as a first page (one read from a main reader's feed)
   * at the ceiling's connections: what the answer's size alone costs the machine, each response
   * being one socket write of it. The target stays against the plain ceiling, as the issue sets it.
   */
  async function pageSizedCeiling(server: TandemServer): Promise<{ m: Measurement; bytes: number }> {
    const [ask] = mainAsks(ctx, server, plan, false)
    if (!ask) throw new Error('No main reader to read a page of')
    const page = await fetch(`${server.server.url}${ask.path}`, {
      headers: { authorization: ask.authorization },
    })
    if (!page.ok) throw new Error(`A first page answered ${page.status}`)
    const bare = await ctx.bare()
    const put = await fetch(`${bare.url}/bare/body`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: await page.text(),
    })
    const { bytes } = (await put.json()) as { bytes: number }
    const m = await measureLoad(ctx, {
      label: `bare Fastify GET of a first page's body (${bytes.toLocaleString('en-US')} bytes)`,
      kind: 'baseline',
      url: bare.url,
      serverPid: bare.pid,
      connections: ctx.scale(100, 4),
      next: () => ({ method: 'GET', path: '/bare/body' }),
    })
    return { m, bytes }
  }

  async function fanOut(server: TandemServer, feed: FeedMode) {
    const celebrity = await celebrityPost(server, plan, feed, ctx.scale(1_000, 6))
    figures[`celebrity.${feed}.commandMs`] = celebrity.commandMs
    figures[`amplification.${feed}.celebrity`] = celebrity.timelines
    if (celebrity.visible) {
      const { p50Ms, p99Ms, maxMs, sampled } = celebrity.visible
      figures[`celebrity.${feed}.visibleP50Ms`] = p50Ms
      figures[`celebrity.${feed}.visibleP99Ms`] = Number.isFinite(p99Ms) ? p99Ms : -1
      figures[`celebrity.${feed}.visibleMaxMs`] = maxMs
      figures[`celebrity.${feed}.sampled`] = sampled
      figures[`fanout.${feed}.entriesPerSecond`] =
        maxMs > 0 ? Math.round((celebrity.timelines / maxMs) * 1000) : 0
      targets.push({
        name: `push: the ${plan.fans.toLocaleString('en-US')}-follower author's post in every sampled follower's timeline, p99`,
        reference: 2000,
        unit: 'ms',
        better: 'lower',
        absolute: true,
        actual: Number.isFinite(p99Ms) ? p99Ms : 30_000,
        detail: `${sampled} followers polled from the command's sending; ${celebrity.timelines} of ${plan.fans} timelines hold it`,
        ...(celebrity.timelines < plan.fans ? { failedBy: 'not every follower timeline holds it' } : {}),
      })
    }
    if (celebrity.atOnce) {
      const { shown, asked, p99Ms } = celebrity.atOnce
      figures[`celebrity.${feed}.shownAtOnce`] = ratio(shown, asked)
      figures[`celebrity.${feed}.firstReadP99Ms`] = p99Ms
      targets.push({
        name: `${feed}: the ${plan.fans.toLocaleString('en-US')}-follower author's post on the first read after the ack`,
        reference: 100,
        unit: '%',
        better: 'higher',
        absolute: true,
        actual: inPercent(ratio(shown, asked)),
        detail: `${shown} of ${asked} followers, read with X-Min-Position, p99 ${p99Ms} ms`,
      })
    }
    const regular = await regularPost(server, plan, feed)
    figures[`amplification.${feed}.regular`] = regular.timelines
    figures['amplification.regularFollowers'] = regular.followers
  }

  function judgeMain(reads: Measurement) {
    const errors = reads.errors > 0 ? `${reads.errors} errors` : undefined
    targets.push(
      {
        name: `hybrid: get-my-feed first page p99 (10,000 followees, ${postRate(ctx)} posts/s arriving)`,
        reference: 20,
        unit: 'ms',
        better: 'lower',
        actual: reads.p99Ms,
        ...(errors ? { failedBy: errors } : {}),
      },
      {
        name: 'hybrid: get-my-feed first page rate, share of the ceiling',
        reference: 50,
        unit: '%',
        better: 'higher',
        relative: true,
        actual: inPercent(ratio(reads.throughput, bare.throughput)),
        detail: `${reads.throughput} req/s beside the ceiling's ${bare.throughput}`,
        ...(errors ? { failedBy: errors } : {}),
      },
    )
  }

  function record(key: string, m: Measurement) {
    figures[`${key}.p50Ms`] = m.p50Ms
    figures[`${key}.p99Ms`] = m.p99Ms
    figures[`${key}.rate`] = m.throughput
  }

  return {
    measure,
    /** Bulk-loads the plan through this process's database; `as`: the mode's process, or all's. */
    async load(server: TandemServer, as: FeedMode | 'all') {
      const loaded = await loadPlan(plan, (statements) => server.sqlCommit(statements))
      ctx.log(`  bulk load (${as}): ${loaded.events} events in ${round(loaded.seconds, 1)} s`)
      figures[`load.${as}.events`] = loaded.events
      figures[`load.${as}.seconds`] = round(loaded.seconds, 1)
      figures[`load.${as}.eventsPerSecond`] = Math.round(loaded.events / loaded.seconds)
      // As an operator would after a bulk load: otherwise autovacuum works through the new rows while
      // the reads are measured (seen: PostgreSQL at a third to half a core with no writes arriving).
      if (mode === 'server') {
        const began = Date.now()
        await server.sqlQuery('VACUUM (ANALYZE)', [])
        figures[`load.${as}.vacuumSeconds`] = round((Date.now() - began) / 1000, 1)
        ctx.log(`  VACUUM (ANALYZE) after the load: ${figures[`load.${as}.vacuumSeconds`]} s`)
      }
    },
    outcome(pullAbove: number): Outcome {
      figures['hybrid.pullAbove'] = pullAbove
      return {
        stores: `${storesOf(mode)}, one server process per feed mode (FEED_MODE)`,
        measurements,
        targets,
        checks: [noErrors([bare, ...measurements]), ...checks],
        figures,
        notes: notes(ctx, mode, plan, pullAbove),
      }
    },
  }
}

function notes(ctx: BenchContext, mode: Mode, plan: FeedPlan, pullAbove: number): string[] {
  const main = plan.groups[0]
  return [
    `Data (bench/scenarios/feed-plan.ts): ${plan.authors} authors with ${plan.postsEach} posts each; ${main?.readers} ` +
      `readers following ${Math.min(main?.follows ?? 0, plan.authors)} of them each; ${plan.groups
        .slice(1)
        .map((g) => `${g.readers} readers following ${g.follows}`)
        .join(
          ', ',
        )}; a celebrity with ${plan.fans} followers (each following only it). Written by a bulk loader ` +
      '(bench/scenarios/feed-load.ts): the write-model rows and the events the commands would append, through ' +
      "the log's append statement, in transactions of about 20,000 events; load.*.eventsPerSecond is its rate.",
    mode === 'server'
      ? 'Server mode: a command-only process owns the scratch database and takes the bulk load; then each feed ' +
        'mode runs as a process of its own on the same PostgreSQL and Redis (one at a time), building its home-feed ' +
        'read model from the log: catchUp.<mode>.seconds counts from its start until that read model caught up ' +
        '(allSeconds: every read model it places; the first, hybrid, also builds the SQL profiles and posts).'
      : 'Embedded mode: PGlite and the memory KV live in the server process, so each feed mode runs in a process ' +
        'of its own that loads the same plan (same ids and times) and builds its read models as the load goes ' +
        '(catchUp.* counts from the end of the load).',
    `First pages: ${ctx.scale(100, 4)} connections (autocannon) over the main readers while create-post runs ` +
      `paced at ${postRate(ctx)}/s by random authors they follow (query cache on: read.*.cacheHitRate; read.*.missMs, ` +
      "the server's own time per answer that missed, from its statistics). " +
      `Deep pages start at entry ${deepIndex(ctx, plan)}, below the 800-entry timeline. The sweep (sweep.<mode>.f100 ` +
      '…) reads first pages with no writes, each request past the cache (an `until` of its own).',
    `Hybrid pulls authors with more than ${pullAbove} followers (FEED_PULL_ABOVE). The celebrity's post: push ` +
      'polls the timelines of sampled followers from the sending of create-post; hybrid and pull read the feed ' +
      'once right after the ack with X-Min-Position. amplification.<mode>.* counts the timelines that hold a post ' +
      'afterwards: the timeline entries written for it.',
    'Charts and docs/feed-push-vs-pull.md are filled from results.json by `npx tsx bench/scenarios/feed-doc.ts`.',
  ]
}
