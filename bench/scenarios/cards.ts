import { createClient } from 'redis'
import type { BenchContext } from '../lib/context.js'
import { runLoad, type RequestSpec } from '../lib/load.js'
import type { Measurement } from '../lib/results.js'
import { Latencies, round } from '../lib/stats.js'
import { startTandemServer, type TandemServer } from '../lib/tandem-server.js'
import type { Target } from '../lib/targets.js'
import type { ReadStores } from '../../src/core/read-stores.js'
import { duckdbSpendingEngine } from '../../src/domains/cards/analytics/index.js'
import type { Check } from '../lib/results.js'
import { measureDuck, openDuckSide, questions, type DuckSide } from './cards-duckdb.js'
import { answersSoFar, hitRateBetween, missMsBetween } from './http.js'
import { authorizeLoad, authorizeOnce, callers, readAsks, serves } from './cards-http.js'
import { loadCards } from './cards-load.js'
import { cardIdOf, cardsPlan, customerOf, type CardsPlan } from './cards-plan.js'
import { cpuPerRequest, describeMeasurement, noErrors, type Outcome, type Scenario } from './scenario.js'

/**
 * Issue 13's performance section, server mode: N transactions (10,000,000 at full size,
 * BENCH_CARDS_SCALE) loaded into the log with their write-model rows by a process that projects
 * nothing; a fresh process builds the read models from the log (timed: the ingest rate); DuckDB
 * ingests the same log (timed); the read queries at 50 connections on both engines where they
 * overlap; then authorize-transaction at 100 connections: once on each of 10,000 cards (the first
 * decision since the start, recorded), then spread over them (the target), and on one hot card.
 */
export const cardsScenario: Scenario = {
  name: 'cards',
  title:
    'Cards: authorizations at 100 connections, bulk-loaded transactions, SQL rollups and DuckDB on one log',
  async run(ctx, mode) {
    const bare = await ctx.ceiling()
    if (mode === 'embedded') {
      return {
        measurements: [bare],
        checks: [],
        targets: [],
        figures: {},
        notes: ['Server mode only: the issue sets these targets on PostgreSQL and Redis.'],
      }
    }
    const plan = cardsPlan(ctx)
    const owner = await startTandemServer(ctx, 'server', { roles: ['command'] })
    let tandem: TandemServer | undefined
    let duck: DuckSide | undefined
    try {
      const figures = await load(ctx, plan, owner)
      const began = performance.now()
      // A deployment keeps every active card's state (STREAM_MEMORY_STREAMS), with room for the
      // alerts' and auto-payments' streams: an authorization then decides without reading its card.
      tandem = await startTandemServer(ctx, 'server', { joins: owner, streamMemory: 4 * plan.cards })
      // The process starts (and its projections begin) before it answers: a fixed cost, apart.
      figures['ingest.sql.processStartSeconds'] = round((performance.now() - began) / 1000, 1)
      await waitCaughtUp(tandem)
      const ingest = (performance.now() - began) / 1000
      figures['ingest.sql.seconds'] = round(ingest, 1)
      figures['ingest.sql.eventsPerSecond'] = Math.round(Number(figures['load.events']) / ingest)
      ctx.log(`  read models built from the log in ${round(ingest, 1)} s (process start included)`)
      await storage(ctx, tandem, figures)
      duck = await openDuckSide(ctx, owner.databaseUrl ?? '', figures)
      const same = await sameAnswers(tandem, plan, duck)
      const outcome = await measure(ctx, { plan, tandem, duck, bare, figures })
      return { ...outcome, checks: [same, ...outcome.checks] }
    } finally {
      await duck?.close()
      await tandem?.close()
      await owner.close()
    }
  },
}

async function load(ctx: BenchContext, plan: CardsPlan, owner: TandemServer): Promise<Outcome['figures']> {
  const figures: Outcome['figures'] = {
    'plan.transactions': plan.transactions,
    'plan.cards': plan.cards,
    'plan.customers': plan.customers,
    'plan.merchants': plan.merchants,
  }
  const began = performance.now()
  const loaded = await loadCards(plan, (statements) => owner.sqlCommit(statements))
  const seconds = (performance.now() - began) / 1000
  figures['load.events'] = loaded.events
  figures['load.seconds'] = round(seconds, 1)
  figures['load.eventsPerSecond'] = Math.round(loaded.events / seconds)
  figures['load.commitSeconds'] = round(loaded.logSeconds, 1)
  ctx.log(
    `  loaded ${plan.transactions} transactions on ${plan.cards} cards: ${loaded.events} events in ${round(seconds, 1)} s`,
  )
  return figures
}

async function waitCaughtUp(tandem: TandemServer) {
  const deadline = performance.now() + 2 * 3600_000
  while (!(await tandem.projectionStatus()).every((s) => s.caughtUp)) {
    if (performance.now() > deadline) throw new Error('The read models did not catch up in two hours')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  await tandem.caughtUp()
}

/** VACUUM (ANALYZE), then each schema's size, the read side's tables and indexes, and the run's Redis keys. */
async function storage(ctx: BenchContext, tandem: TandemServer, figures: Outcome['figures']) {
  await tandem.sqlQuery('VACUUM (ANALYZE)', [])
  const mib = (bytes: string | number) => round(Number(bytes) / 2 ** 20, 1)
  const tables = await tandem.sqlQuery<{ schema: string; name: string; table: string; indexes: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_table_size(c.oid)::text AS table,
            pg_indexes_size(c.oid)::text AS indexes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm') AND n.nspname IN ('tandem', 'cards', 'read')`,
    [],
  )
  for (const t of tables) {
    const key = `storage.${t.schema}`
    figures[`${key}.MiB`] = round(
      Number(figures[`${key}.MiB`] ?? 0) + mib(Number(t.table) + Number(t.indexes)),
      1,
    )
    if (t.schema === 'read' && /card/.test(t.name) && Number(t.table) > 0) {
      figures[`storage.read.${t.name}.tableMiB`] = mib(t.table)
      figures[`storage.read.${t.name}.indexMiB`] = mib(t.indexes)
    }
  }
  const prefix = tandem.server.redisPrefix
  if (prefix) {
    const client = createClient({ url: ctx.redisUrl })
    await client.connect()
    try {
      let keys = 0
      let bytes = 0
      for await (const page of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
        keys += page.length
        const sizes = await Promise.all(page.map((k) => client.memoryUsage(k)))
        bytes += sizes.reduce<number>((s, n) => s + (n ?? 0), 0)
      }
      figures['storage.redis.keys'] = keys
      figures['storage.redis.MiB'] = mib(bytes)
    } finally {
      client.destroy()
    }
  }
}

interface Run {
  plan: CardsPlan
  tandem: TandemServer
  duck: DuckSide
  bare: Measurement
  figures: Outcome['figures']
}

async function measure(ctx: BenchContext, run: Run): Promise<Outcome> {
  const { plan, tandem, figures } = run
  const measurements: Measurement[] = [run.bare]
  const targets: Target[] = []
  const notes: string[] = []
  const http = async (
    label: string,
    next: () => RequestSpec,
    connections = ctx.scale(50, 4),
    server: TandemServer = tandem,
    timeoutSeconds?: number,
  ) => {
    const m = await runLoad({
      label,
      url: server.server.url,
      serverPid: server.server.pid,
      connections,
      span: ctx.span,
      next,
      ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
    })
    ctx.log(describeMeasurement(m))
    measurements.push(m)
    return m
  }
  targets.push({
    name: 'projections ingest the bulk-loaded log',
    reference: 20_000,
    unit: 'events/s',
    better: 'higher',
    actual: Number(figures['ingest.sql.eventsPerSecond']),
  })
  // The read queries: the read side registers them (src/domains/cards/projections/); until it has,
  // the scenario says so and times DuckDB alone.
  const asks = readAsks(tandem, plan)
  const probe = await serves(tandem, asks.recent())
  if (!probe.served)
    notes.push('The read queries are not registered yet: the SQL rollups and the KV store were not timed.')
  else {
    const reads = [
      ['get-recent-transactions', asks.recent, 10],
      ['get-monthly-spending-summary', () => asks.monthly(), 10],
      ['get-merchant-summary over 30 days', () => asks.merchant(), 20],
    ] as const
    for (const [name, next, p99] of reads) {
      const query = name.split(' ')[0] ?? name
      const before = await answersSoFar(tandem.server.url, `cards/${query}`)
      const m = await http(`${name} (${ctx.scale(50, 4)} connections)`, next)
      const after = await answersSoFar(tandem.server.url, `cards/${query}`)
      const hitRate = hitRateBetween(before, after)
      const missMs = missMsBetween(before, after)
      figures[`read.${query}.p99Ms`] = m.p99Ms
      // Answers from the query cache, warm-up included: the questions are drawn uniformly from all.
      figures[`read.${query}.cacheHitRate`] = hitRate
      // The server's own time per answer that missed (its pipeline, not the HTTP queue around it).
      figures[`read.${query}.missMs`] = missMs
      ctx.log(
        `  cards/${query}: ${Math.round(hitRate * 1000) / 10}% of the answers from the query cache, ${missMs} ms in the server per miss`,
      )
      targets.push({
        name: `${name} p99 at 50 connections`,
        reference: p99,
        unit: 'ms',
        better: 'lower',
        actual: m.p99Ms,
      })
    }
    // engine=duckdb: a query process of its own keeps the replica (CARDS_DUCKDB=memory), built from
    // the whole log before it is timed, so that its ingest shares nothing with the figures above.
    const began = performance.now()
    const duckServer = await startTandemServer(ctx, 'server', {
      joins: tandem,
      roles: ['query'],
      duckdb: true,
    })
    const duckConnections = ctx.scale(8, 4)
    try {
      await replicaCaughtUp(tandem, duckServer, asks.monthly('duckdb'))
      figures['duckdbHttp.startSeconds'] = round((performance.now() - began) / 1000, 1)
      for (const [name, next] of [
        ['get-monthly-spending-summary engine=duckdb', () => asks.monthly('duckdb')],
        ['get-merchant-summary engine=duckdb', () => asks.merchant('duckdb')],
      ] as const) {
        // On a full-size log the engine takes tens of milliseconds (a customer's month) to a second
        // (a merchant's 30 days) per answer: 50 connections would queue past autocannon's 10 s
        // timeout and time nothing. Eight keep it busy, and an answer may take up to a minute.
        const label = `${name} (${duckConnections} connections, a query process with the replica)`
        const m = await http(label, next, duckConnections, duckServer, 60)
        figures[`read.duckdbHttp.${name.split(' ')[0] ?? name}.p99Ms`] = m.p99Ms
      }
    } finally {
      await duckServer.close()
    }
  }
  measurements.push(...(await measureDuck(ctx, run.duck.engine, plan, figures)))

  const connections = ctx.scale(100, 4)
  const cards = Math.min(plan.cards, 10_000)
  // A card's first decision since the process started reads and locks its row (one more round trip,
  // and a connection held over it); from then on the stream memory has it. A running deployment has
  // its active cards there, so one pass over the cards comes first, timed apart (recorded, no target).
  const firstPass = await authorizeLoad(ctx, tandem, plan, {
    label: `authorize-transaction, ${connections} connections, each card's first decision since the start`,
    connections,
    spread: cards,
    pass: true,
  })
  measurements.push(firstPass.measurement)
  figures['authorize.first.rate'] = firstPass.measurement.throughput
  figures['authorize.first.p99Ms'] = firstPass.measurement.p99Ms
  const spread = await authorizeLoad(ctx, tandem, plan, {
    label: `authorize-transaction, ${connections} connections over ${cards.toLocaleString('en-US')} cards`,
    connections,
    spread: cards,
  })
  const hot = await authorizeLoad(ctx, tandem, plan, {
    label: `authorize-transaction, ${connections} connections on one card`,
    connections,
    spread: 1,
  })
  measurements.push(spread.measurement, hot.measurement)
  for (const [key, a] of [
    ['spread', spread],
    ['hot', hot],
  ] as const) {
    figures[`authorize.${key}.rate`] = a.measurement.throughput
    figures[`authorize.${key}.p50Ms`] = a.measurement.p50Ms
    figures[`authorize.${key}.p99Ms`] = a.measurement.p99Ms
    figures[`authorize.${key}.approved`] = a.approved
    figures[`authorize.${key}.declined`] = a.declined
    // Where a decision's time goes: CPU per answered request by process (meaningful on a quiet machine).
    Object.assign(figures, cpuPerRequest(a.measurement, `authorize.${key}.cpu`))
  }
  const sm = spread.measurement
  targets.push(
    {
      name: 'authorize-transaction, 100 connections over 10,000 cards',
      reference: 2_000,
      unit: 'decisions/s',
      better: 'higher',
      actual: sm.throughput,
    },
    {
      name: 'authorize-transaction p99, 100 connections over 10,000 cards',
      reference: 25,
      unit: 'ms',
      better: 'lower',
      actual: sm.p99Ms,
    },
    {
      name: 'authorize-transaction, 100 connections on one hot card (recorded)',
      reference: 2_000,
      unit: 'decisions/s',
      better: 'higher',
      actual: hot.measurement.throughput,
      applies: false,
    },
  )
  // Freshness from an idle read side: the loads above leave the projections a backlog to apply.
  await tandem.caughtUp()
  const fresh = await run.duck.freshness(
    () => authorizeOnce(tandem, plan, Math.floor(Math.random() * plan.cards)),
    ctx.scale(50, 5),
  )
  figures['duckdb.freshness.p50Ms'] = fresh.p50Ms
  figures['duckdb.freshness.p99Ms'] = fresh.p99Ms
  if (probe.served) {
    const kv = await readYourWrites(tandem, plan, ctx.scale(50, 5))
    figures['kv.freshness.p50Ms'] = kv.p50Ms
    figures['kv.freshness.p99Ms'] = kv.p99Ms
  }
  figures['ceiling.rate'] = run.bare.throughput
  return { measurements, checks: [noErrors(measurements.slice(1))], targets, figures, notes }
}

/**
 * Freshness of the recent-transactions read model: an authorization, then the card's recent
 * transactions asked with its position as X-Min-Position (the query waits until the read model has
 * it): the time from the command's answer to the query's.
 */
async function readYourWrites(tandem: TandemServer, plan: CardsPlan, samples: number) {
  const latencies = new Latencies()
  for (let k = 0; k < samples; k++) {
    const c = Math.floor(Math.random() * plan.cards)
    const position = await authorizeOnce(tandem, plan, c)
    const started = performance.now()
    const response = await fetch(
      `${tandem.server.url}/api/queries/cards/get-recent-transactions?cardId=${cardIdOf(plan, c)}&limit=1`,
      { headers: { authorization: callers(tandem, plan).customer(c), 'x-min-position': position } },
    )
    await response.text()
    if (!response.ok)
      throw new Error(`get-recent-transactions for ${customerOf(plan, c)}: ${response.status}`)
    latencies.add(performance.now() - started)
  }
  return latencies.summary()
}

/**
 * The same questions asked of both engines on the same log, before any load writes to it: the SQL
 * rollups over HTTP (as an admin), DuckDB in process through the read side's shaping. Equal answers.
 */
async function sameAnswers(tandem: TandemServer, plan: CardsPlan, duck: DuckSide): Promise<Check> {
  const duckdb = duckdbSpendingEngine(duck.engine)
  const stores = {} as ReadStores
  const q = questions(plan)
  const { admin } = callers(tandem, plan)
  const http = async (name: string, input: Record<string, string | number | null>) => {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(input)) if (v !== null) params.set(k, String(v))
    const response = await fetch(`${tandem.server.url}/api/queries/cards/${name}?${params.toString()}`, {
      headers: { authorization: admin },
    })
    const body = (await response.json()) as { data?: unknown }
    if (!response.ok) throw new Error(`${name}: ${response.status} ${JSON.stringify(body).slice(0, 300)}`)
    return body.data
  }
  const pairs: [string, () => Promise<[unknown, unknown]>][] = []
  for (let k = 0; k < 5; k++) {
    const m = q.monthly()
    pairs.push([
      `monthly ${m.customerId} ${m.month}`,
      async () => [await http('get-monthly-spending-summary', m), await duckdb.monthlySummary(m, stores)],
    ])
    const r = q.merchant()
    pairs.push([
      `merchant ${r.merchantId} ${r.from}`,
      async () => [await http('get-merchant-summary', r), await duckdb.merchantSummary(r, stores)],
    ])
  }
  const d = q.byDate()
  pairs.push([
    'by date',
    async () => [await http('get-spending-by-date', d), await duckdb.spendingByDate(d, stores)],
  ])
  const p = q.byProduct()
  pairs.push([
    'by product',
    async () => [await http('get-spending-by-product', p), await duckdb.spendingByProduct(p, stores)],
  ])
  const wrong: string[] = []
  for (const [name, ask] of pairs) {
    const [rollups, duckAnswer] = await ask()
    if (JSON.stringify(rollups) !== JSON.stringify(duckAnswer))
      wrong.push(
        `${name}: ${JSON.stringify(rollups).slice(0, 200)} vs ${JSON.stringify(duckAnswer).slice(0, 200)}`,
      )
  }
  return {
    name: 'the SQL rollups and DuckDB answer the same analytics questions on the same log',
    pass: wrong.length === 0,
    detail: wrong.length === 0 ? `${pairs.length} questions, equal answers` : wrong.join('; '),
  }
}

/**
 * Until the process's DuckDB replica holds the whole log as it is now: its query answers with the
 * head's position as X-Min-Position (503 while it lags, asked again).
 */
async function replicaCaughtUp(owner: TandemServer, duckServer: TandemServer, spec: RequestSpec) {
  const [head] = await owner.sqlQuery<{ at: string }>(
    'SELECT coalesce(max(position), 0)::text AS at FROM tandem.event_log',
    [],
  )
  const deadline = performance.now() + 3600_000
  for (;;) {
    const response = await fetch(`${duckServer.server.url}${spec.path}`, {
      headers: { ...spec.headers, 'x-min-position': head?.at ?? '0', 'x-max-wait-ms': '10000' },
    })
    await response.text()
    if (response.ok) return
    if (response.status !== 503 || performance.now() > deadline)
      throw new Error(`The DuckDB replica did not catch up: ${response.status}`)
  }
}
