import { afterAll, beforeAll, describe, it } from 'vitest'
import { postgresUrl, redisUrl, servicesAvailable, type Mode } from '../src/testing/services.js'
import { createContext } from './lib/context.js'
import type { Entry } from './lib/results.js'
import { runScenario } from './lib/runner.js'
import { scenarios } from './scenarios/index.js'

// The smoke run checks the harness on the sources as they are, built or not (bench/lib/product.ts).
process.env.BENCH_FROM_SRC = '1'

/**
 * What is wrong with a smoke entry: empty when the scenario completed with zero errors, its own
 * correctness checks held and its figures are sane. Nothing here looks at speed: the machine is shared.
 */
function problems(entry: Entry): string[] {
  const found: string[] = []
  if (entry.measurements.length === 0) found.push('no measurement')
  for (const m of [...(entry.ceiling ? [entry.ceiling] : []), ...entry.measurements]) {
    const at = `${m.label}:`
    if (m.ok === 0) found.push(`${at} nothing answered`)
    if (m.errors !== 0) found.push(`${at} ${m.errors} errors ${JSON.stringify(m.statusCodes)}`)
    if (!(m.throughput > 0)) found.push(`${at} throughput ${m.throughput}`)
    if (!(m.p50Ms > 0 && m.p50Ms <= m.p95Ms && m.p95Ms <= m.p99Ms && Number.isFinite(m.p99Ms))) {
      found.push(`${at} percentiles out of order: ${m.p50Ms} / ${m.p95Ms} / ${m.p99Ms}`)
    }
  }
  for (const c of entry.checks) if (!c.pass) found.push(`check "${c.name}" failed: ${c.detail}`)
  for (const t of entry.targets) {
    const figures = [t.value, t.reference, t.ceiling, t.required]
    if (!figures.every((n) => typeof n === 'number' && Number.isFinite(n)) || /NaN|undefined/.test(t.actual))
      found.push(`target "${t.name}": ${t.actual}, required ${t.target}, figures ${figures.join(' / ')}`)
  }
  for (const [k, v] of Object.entries(entry.figures))
    if (typeof v === 'number' && !Number.isFinite(v)) found.push(`figure ${k}: ${v}`)
  return found
}

/*
 * Every scenario runs once in the mode (but see smokedOnlyIn) through its real code path with a tiny load counted in
 * requests, not seconds (bench/lib/context.ts): a slower machine takes longer but does the same work.
 * One file per mode, so the two can run side by side like any two test files. The scenarios that run
 * in this process alone go first, while the servers start.
 */
const inProcess = new Set(['bus', 'append'])
const ordered = [...scenarios].sort((a, b) => Number(inProcess.has(b.name)) - Number(inProcess.has(a.name)))

/**
 * The scenarios whose modes differ only in the store their code is handed (a scratch PostgreSQL
 * database or an in-memory PGlite, through the same functions) are checked in one mode: server mode
 * where the scenario has branches of its own there (split roles, transaction and Redis probes), where
 * its embedded branch only words a note. Every other in both. The suite is CPU-bound.
 */
const smokedOnlyIn: Readonly<Record<string, Mode>> = {
  bus: 'embedded',
  study: 'embedded',
  append: 'server',
  details: 'server',
  register: 'server',
  lag: 'server',
  mixed: 'server',
}

export function smokeMode(mode: Mode): void {
  describe.skipIf(mode === 'server' && !servicesAvailable)(`benchmark harness, smoke mode (${mode})`, () => {
    const ctx = createContext({ seconds: 0, smoke: true, postgresUrl, redisUrl, quiet: true })
    // Every server the scenarios share starts now, beside the in-process scenarios that come first; a
    // failed start fails the first scenario that asks for that server.
    beforeAll(() => {
      ctx.tandem(mode).catch(() => undefined)
      if (mode === 'server') ctx.splitRoles().catch(() => undefined)
    })
    afterAll(() => ctx.close())

    // 20-45 s here (2 cores, beside other test files): a machine three times slower, three times over,
    // stays inside.
    it(
      'every scenario completes with zero errors and sane results',
      { timeout: 450_000 },
      async ({ expect }) => {
        const found: Record<string, string[]> = {}
        const run = ordered.filter((s) => (smokedOnlyIn[s.name] ?? mode) === mode)
        for (const scenario of run) found[scenario.name] = problems(await runScenario(ctx, scenario, mode))
        expect(found).toEqual(Object.fromEntries(run.map((s) => [s.name, []])))
      },
    )
  })
}
