import type { Caller } from '../../src/core/messages.js'
import type { BenchContext } from '../lib/context.js'
import { runLoad, type RequestSpec } from '../lib/load.js'
import type { Check, Measurement } from '../lib/results.js'
import { startServerProcess, type ServerProcess } from '../lib/server-process.js'
import { round } from '../lib/stats.js'
import { benchSecret, startTandemServer, type TandemServer } from '../lib/tandem-server.js'
import type { Target } from '../lib/targets.js'
import { answersSoFar, hitRateBetween, missMsBetween } from './http.js'
import { loadBoth, type Commit } from './procurement-load.js'
import {
  budgetsOf,
  departmentOf,
  financeOf,
  managerOf,
  procurementPlan,
  type ProcurementPlan,
} from './procurement-plan.js'
import { describeMeasurement, noErrors, ratio, type Outcome, type Scenario } from './scenario.js'

const listPath = '/api/queries/procurement/list-department-requests'
const budgetPath = '/api/queries/procurement/get-budget-summary'
const createPath = '/api/commands/procurement/create-purchase-request'
const statuses = ['pending', 'approved', 'rejected', 'cancelled', 'paid'] as const
const sorts = ['-created', 'created', '-amount', 'amount'] as const
const any = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)] as T

/** The two servers on one database: the CQRS domain (Tandem) and the CRUD baseline. */
interface Sides {
  cqrs: { url: string; pid: number }
  crud: { url: string; pid: number }
}
type Side = keyof Sides

/**
 * Issue 12's performance section: 1,000,000 purchase requests over 50 departments, loaded once into
 * the CQRS domain (events into the log, read models built by the projections) and into the CRUD
 * baseline (rows into its one schema), on one scratch database; then the same reads and writes sent
 * to both, beside the run's ceiling. Server mode only: the baseline is PostgreSQL's.
 */
export const procurementScenario: Scenario = {
  name: 'procurement',
  title: 'Procurement: CQRS read models against a monolithic CRUD baseline on 1,000,000 requests',
  async run(ctx, mode) {
    const plan = procurementPlan(ctx)
    const bare = await ctx.ceiling()
    if (mode === 'embedded') {
      return {
        measurements: [bare],
        checks: [],
        targets: [],
        figures: {},
        notes: ['Server mode only: the CRUD baseline it is compared with runs on PostgreSQL.'],
      }
    }
    // The log is loaded by a process that projects nothing; the serving process then builds the read
    // models from it, so the build is timed alone.
    const owner = await startTandemServer(ctx, 'server', { roles: ['command'] })
    let crud: ServerProcess | undefined
    let tandem: TandemServer | undefined
    try {
      crud = await startServerProcess('crud', {
        BENCH_DATABASE_URL: owner.databaseUrl ?? '',
        BENCH_AUTH_SECRET: benchSecret,
      })
      const figures = await load(ctx, plan, owner, crud)
      const began = performance.now()
      tandem = await startTandemServer(ctx, 'server', { joins: owner })
      await waitCaughtUp(tandem)
      const build = (performance.now() - began) / 1000
      figures['build.seconds'] = round(build, 1)
      figures['build.eventsPerSecond'] = Math.round(Number(figures['load.log.events']) / build)
      ctx.log(`  read models built from the log in ${round(build, 1)} s`)
      await storage(tandem, figures)
      // A figure only, and a process start more: not in a smoke run, which checks the harness.
      if (!ctx.smoke) figures['restart.seconds'] = await restart(ctx, owner)
      const sides: Sides = {
        cqrs: { url: tandem.server.url, pid: tandem.server.pid },
        crud: { url: crud.url, pid: crud.pid },
      }
      return await measureSides(ctx, plan, tandem, sides, bare, figures)
    } finally {
      await crud?.close()
      await tandem?.close()
      await owner.close()
    }
  },
}

async function load(ctx: BenchContext, plan: ProcurementPlan, tandem: TandemServer, crud: ServerProcess) {
  const figures: Outcome['figures'] = { 'plan.requests': plan.requests, 'plan.departments': plan.departments }
  let t = performance.now()
  const budgets = budgetsOf(plan)
  ctx.log(`  planned ${plan.requests} requests in ${round((performance.now() - t) / 1000, 1)} s`)
  const crudCommit: Commit = (statements) =>
    crud
      .call<null>({
        op: 'sqlCommit',
        statements: statements.map((s) => ({ text: s.text, params: [...(s.params ?? [])] })),
      })
      .then(() => undefined)
  t = performance.now()
  const loaded = await loadBoth(plan, budgets, {
    log: (statements) => tandem.sqlCommit(statements),
    crud: crudCommit,
  })
  figures['load.log.events'] = loaded.events
  figures['load.seconds'] = round((performance.now() - t) / 1000, 1)
  figures['load.log.seconds'] = round(loaded.logSeconds, 1)
  figures['load.log.eventsPerSecond'] = Math.round(loaded.events / loaded.logSeconds)
  figures['load.crud.seconds'] = round(loaded.crudSeconds, 1)
  figures['load.crud.requestsPerSecond'] = Math.round(plan.requests / loaded.crudSeconds)
  ctx.log(
    `  loaded in ${figures['load.seconds']} s: the log ${loaded.events} events (${figures['load.log.seconds']} s of commits), ` +
      `the baseline ${plan.requests} requests (${figures['load.crud.seconds']} s of commits)`,
  )
  return figures
}

/** VACUUM (ANALYZE) after the load, and what each schema takes on disk. */
async function storage(tandem: TandemServer, figures: Outcome['figures']) {
  await tandem.sqlQuery('VACUUM (ANALYZE)', [])
  const sizes = await tandem.sqlQuery<{ schema: string; bytes: string }>(
    `SELECT n.nspname AS schema, sum(pg_total_relation_size(c.oid))::text AS bytes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm') AND n.nspname IN ('tandem', 'procurement', 'read', 'procurement_crud')
     GROUP BY 1`,
    [],
  )
  for (const { schema, bytes } of sizes) figures[`storage.${schema}.MiB`] = round(Number(bytes) / 2 ** 20, 1)
  return figures
}

/**
 * Another process of the deployment started on the built log, timed from its start until every read
 * model says it has caught up: a restart's cost. Each read model of another domain keeps its checkpoint
 * near the log's end, so none walks the 2.5 million events again (`farBelow`, src/storage/event-log.ts).
 */
async function restart(ctx: BenchContext, owner: TandemServer): Promise<number> {
  const began = performance.now()
  const again = await startTandemServer(ctx, 'server', { joins: owner })
  try {
    await waitCaughtUp(again)
    const seconds = round((performance.now() - began) / 1000, 1)
    ctx.log(`  another process started on the log and caught up in ${seconds} s`)
    return seconds
  } finally {
    await again.close()
  }
}

async function waitCaughtUp(tandem: TandemServer) {
  const deadline = performance.now() + 60 * 60_000
  while (!(await tandem.projectionStatus()).every((s) => s.caughtUp)) {
    if (performance.now() > deadline) throw new Error('The read models did not catch up in an hour')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  await tandem.caughtUp()
}

/** Requests a load sends, per side: the same choices, each side's own tokens (one secret). */
function asks(tandem: TandemServer, plan: ProcurementPlan) {
  const token = (caller: Caller) =>
    `Bearer ${tandem.auth.sign({ sub: caller.id, roles: caller.roles, ...(caller.dept ? { dept: caller.dept } : {}) }, { expiresInSeconds: 7200 })}`
  const managers = Array.from({ length: plan.departments }, (_, d) => token(managerOf(plan, d)))
  const finance = token(financeOf(plan))
  const employees = Array.from({ length: plan.departments }, (_, d) =>
    token({ id: `bench-writer-${plan.tag}-${d}`, roles: ['employee'], dept: departmentOf(d) }),
  )
  return {
    /** A manager's first page of their department, with filters drawn at random. */
    firstPage: (): RequestSpec => {
      const min = any([0, 1_000, 100_000, 1_000_000])
      const params = new URLSearchParams({
        status: any(statuses),
        minAmount: String(min),
        maxAmount: String(min + any([1_000_000, 10_000_000, 100_000_000])),
        sort: any(sorts),
        limit: '20',
      })
      return {
        method: 'GET',
        path: `${listPath}?${params.toString()}`,
        headers: { authorization: any(managers) },
      }
    },
    budget: (): RequestSpec => {
      const d = Math.floor(Math.random() * plan.departments)
      return {
        method: 'GET',
        path: `${budgetPath}?department=${departmentOf(d)}&fiscalYear=${plan.fiscalYear}`,
        headers: { authorization: Math.random() < 0.5 ? finance : (managers[d] as string) },
      }
    },
    create: (): RequestSpec => ({
      method: 'POST',
      path: createPath,
      headers: { authorization: any(employees), 'content-type': 'application/json' },
      body: JSON.stringify({
        title: 'Benchmark purchase',
        items: [{ description: 'Paper', quantity: 1 + Math.floor(Math.random() * 5), unitPrice: 1_000 }],
        currency: 'KRW',
      }),
    }),
    managers,
    finance,
  }
}

/** Cursors deep in the departments' lists (page `depth` of 20, newest first), one per department. */
async function deepCursors(url: string, managers: readonly string[], depth: number): Promise<string[]> {
  return Promise.all(
    managers.slice(0, 10).map(async (authorization) => {
      let cursor: string | null = null
      for (let page = 0; page < depth; page++) {
        const path: string = `${listPath}?sort=-created&limit=100${cursor ? `&cursor=${cursor}` : ''}`
        const body = (await (await fetch(`${url}${path}`, { headers: { authorization } })).json()) as {
          nextCursor: string | null
        }
        cursor = body.nextCursor
        if (!cursor) break
      }
      return `${authorization}\n${cursor ?? ''}`
    }),
  )
}

async function measureSides(
  ctx: BenchContext,
  plan: ProcurementPlan,
  tandem: TandemServer,
  sides: Sides,
  bare: Measurement,
  figures: Outcome['figures'],
): Promise<Outcome> {
  const make = asks(tandem, plan)
  const measurements: Measurement[] = [bare]
  const checks: Check[] = [await sameAnswers(sides, make.managers, make.finance, plan)]
  const targets: Target[] = []
  const connections = ctx.scale(50, 4)
  // Page 5 × depth of 20 (pages of 100 walked to get there), within the departments' lists.
  const depth = Math.max(
    0,
    Math.min(ctx.scale(50, 2), Math.floor(plan.requests / plan.departments / 100) - 1),
  )
  for (const side of ['cqrs', 'crud'] as const) {
    const { url, pid } = sides[side]
    const load = async (label: string, next: () => RequestSpec, conns = connections) => {
      const m = await runLoad({
        label: `${side}: ${label}`,
        url,
        serverPid: pid,
        connections: conns,
        span: ctx.span,
        next,
      })
      ctx.log(describeMeasurement(m))
      measurements.push(m)
      return m
    }
    const answers = () => answersSoFar(url, 'procurement/list-department-requests')
    const before = side === 'cqrs' ? await answers() : undefined
    const first = await load('list first page, filters', make.firstPage)
    if (before) {
      // The server's own time per answer that missed the query cache (its pipeline: the audit's
      // admission, the read), against the page's time as the client saw it.
      const after = await answers()
      figures['cqrs.first.cacheHitRate'] = hitRateBetween(before, after)
      figures['cqrs.first.missMs'] = missMsBetween(before, after)
    }
    const deep = (await deepCursors(url, make.managers, depth)).map(
      (line) => line.split('\n') as [string, string],
    )
    const deepPage = await load(`list page ${depth * 5 + 1} of 20 (deep)`, () => {
      const [authorization, cursor] = any(deep)
      return {
        method: 'GET',
        path: `${listPath}?sort=-created&limit=20${cursor ? `&cursor=${cursor}` : ''}`,
        headers: { authorization },
      }
    })
    const budget = await load('budget summary', make.budget)
    const writes = await load('create-purchase-request alone', make.create, ctx.scale(20, 2))
    const [mixedWrites] = await Promise.all([
      runLoad({
        label: `${side}: create-purchase-request with 100 readers`,
        url,
        serverPid: pid,
        connections: ctx.scale(20, 2),
        span: ctx.span,
        next: make.create,
      }),
      runLoad({
        label: `${side}: list first page beside the writes`,
        url,
        serverPid: pid,
        connections: ctx.scale(100, 4),
        span: ctx.span,
        next: make.firstPage,
      }).then((m) => {
        measurements.push(m)
        ctx.log(describeMeasurement(m))
        return m
      }),
    ])
    ctx.log(describeMeasurement(mixedWrites))
    measurements.push(mixedWrites)
    figures[`${side}.writesKept`] = ratio(mixedWrites.throughput, writes.throughput)
    for (const [name, m] of [
      ['first', first],
      ['deep', deepPage],
      ['budget', budget],
    ] as const) {
      figures[`${side}.${name}.p50Ms`] = m.p50Ms
      figures[`${side}.${name}.p99Ms`] = m.p99Ms
      figures[`${side}.${name}.rate`] = m.throughput
    }
    figures[`${side}.writes.rate`] = writes.throughput
    figures[`${side}.writesWithReaders.rate`] = mixedWrites.throughput
    if (side === 'cqrs') {
      targets.push(
        {
          name: 'cqrs: list-department-requests first page with filters, p99 at 50 connections',
          reference: 25,
          unit: 'ms',
          better: 'lower',
          actual: first.p99Ms,
        },
        {
          name: `cqrs: list-department-requests deep page (row ${depth * 100}), p99 at 50 connections`,
          reference: 25,
          unit: 'ms',
          better: 'lower',
          actual: deepPage.p99Ms,
        },
        {
          name: 'cqrs: get-budget-summary p99 at 50 connections',
          reference: 10,
          unit: 'ms',
          better: 'lower',
          actual: budget.p99Ms,
        },
      )
    }
  }
  figures['ceiling.rate'] = bare.throughput
  checks.push(noErrors(measurements.slice(1)))
  return { measurements, checks, targets, figures, notes: [] }
}

/** The same questions asked of both sides get the same requests, in the same order. */
async function sameAnswers(
  sides: Sides,
  managers: readonly string[],
  finance: string,
  plan: ProcurementPlan,
): Promise<Check> {
  const wrong: string[] = []
  let compared = 0
  const get = async (url: string, path: string, authorization: string) =>
    (await (await fetch(`${url}${path}`, { headers: { authorization } })).json()) as {
      data: unknown
    }
  for (let d = 0; d < Math.min(5, plan.departments); d++) {
    for (const [status, sort] of [
      ['', '-created'],
      ['pending', '-amount'],
      ['paid', 'created'],
      ['approved', 'amount'],
    ] as const) {
      const path = `${listPath}?sort=${sort}&limit=50${status ? `&status=${status}` : ''}`
      const [a, b] = await Promise.all(
        (['cqrs', 'crud'] as const).map((side) => get(sides[side].url, path, managers[d] as string)),
      )
      const ids = (x: typeof a | undefined) =>
        Array.isArray(x?.data) ? (x.data as { requestId: string }[]).map((r) => r.requestId) : []
      if (ids(a).length > 0) compared++
      if (ids(a).join() !== ids(b).join())
        wrong.push(
          `${departmentOf(d)} ${status} ${sort}: ${ids(a).length} vs ${ids(b).length} (${JSON.stringify(a).slice(0, 300)})`,
        )
    }
  }
  const budget = async (side: Side) =>
    JSON.stringify(
      await get(
        sides[side].url,
        `${budgetPath}?department=${departmentOf(0)}&fiscalYear=${plan.fiscalYear}`,
        finance,
      ),
    )
  const [bc, bd] = await Promise.all([budget('cqrs'), budget('crud')])
  for (const field of ['reserved', 'committed', 'spent']) {
    const value = (text: string) => new RegExp(`"${field}":(\\d+)`).exec(text)?.[1]
    if (value(bc) === undefined || value(bc) !== value(bd))
      wrong.push(`budget ${field}: ${value(bc)} vs ${value(bd)}`)
  }
  return {
    name: 'the CQRS read models and the CRUD baseline answer the same lists and budgets',
    pass: wrong.length === 0 && compared > 0,
    detail: wrong.length === 0 ? `${compared} list pages and a budget equal` : wrong.join('; '),
  }
}
