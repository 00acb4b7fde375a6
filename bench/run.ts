import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createContext } from './lib/context.js'
import { machineFacts } from './lib/machine.js'
import { readResults, writeReadme, writeResults } from './lib/output.js'
import type { Entry, Mode } from './lib/results.js'
import { runScenario } from './lib/runner.js'
import { scenarioNames, scenarios } from './scenarios/index.js'
// Last: it probes the services with a 1 s timeout while loading, which modules loaded after it (beside
// it, in native ESM) can hold up long enough on a busy machine to read as "not reachable".
import { postgresUrl, redisUrl, servicesAvailable } from '../src/testing/services.js'

const usage = `npm run bench -- [scenario ...] [options]

Scenarios (all by default): ${scenarioNames.join(', ')}

Options:
  --smoke            tiny loads (a few requests each, few connections, one server per mode shared by the
                     scenarios): checks every scenario completes and is correct, in seconds; writes nothing
  --seconds N        seconds per measurement (default: BENCH_SECONDS or 10)
  --mode M           embedded or server (default: both; server needs PostgreSQL and Redis)
  --out DIR          where results.json and README.md go (default: docs/benchmarks; smoke: nowhere)
  --report           only rewrite README.md from the results.json in --out (after a change to the report)
  --help

Services: TEST_DATABASE_URL (default ${postgresUrl}), TEST_REDIS_URL (default ${redisUrl}).`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    smoke: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    mode: { type: 'string' },
    out: { type: 'string' },
    report: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

if (values.help) {
  console.log(usage)
  process.exit(0)
}
if (values.report) {
  const dir = resolve(values.out ?? 'docs/benchmarks')
  const results = readResults(dir)
  if (!results) {
    console.error(`No results.json in ${dir}`)
    process.exit(2)
  }
  await writeReadme(dir, results)
  console.log(`Wrote ${dir}/README.md`)
  process.exit(0)
}
const unknown = positionals.filter((p) => !(scenarioNames as readonly string[]).includes(p))
if (unknown.length > 0) {
  console.error(`Unknown scenario ${unknown.join(', ')}\n\n${usage}`)
  process.exit(2)
}
if (values.mode !== undefined && values.mode !== 'embedded' && values.mode !== 'server') {
  console.error(`--mode is embedded or server, not ${values.mode}`)
  process.exit(2)
}
const smoke = values.smoke
const seconds = Number(values.seconds ?? process.env.BENCH_SECONDS ?? 10)
if (!smoke && !(Number.isFinite(seconds) && seconds > 0)) {
  console.error('--seconds (or BENCH_SECONDS) must be a positive number')
  process.exit(2)
}
const modes: Mode[] = values.mode ? [values.mode] : ['embedded', 'server']
const runnable = modes.filter((m) => m === 'embedded' || servicesAvailable)
if (runnable.length < modes.length)
  console.warn('PostgreSQL or Redis is not reachable: server mode does not run.')
const selected = scenarios.filter((s) => positionals.length === 0 || positionals.includes(s.name))
const out = values.out ?? (smoke ? undefined : 'docs/benchmarks')

const ctx = createContext({ seconds, smoke, postgresUrl, redisUrl, selected: positionals, mode: values.mode })
const entries: Entry[] = []
const failures: string[] = []
try {
  for (const scenario of selected) {
    for (const mode of runnable) {
      try {
        entries.push(await runScenario(ctx, scenario, mode))
      } catch (error) {
        failures.push(`${scenario.name} (${mode})`)
        console.error(`\n${scenario.name} (${mode}) failed:`, error)
      }
    }
  }
} finally {
  await ctx.close()
}

if (out && entries.length > 0) {
  const machine = await machineFacts(servicesAvailable ? { postgresUrl, redisUrl } : undefined)
  await writeResults(resolve(out), entries, machine)
}
for (const e of entries) {
  for (const c of e.checks.filter((check) => !check.pass)) {
    if (c.about === 'errors') console.warn(`\nErrors recorded in ${e.scenario} (${e.mode}): ${c.detail}`)
    else failures.push(`${e.scenario} (${e.mode}): integrity check "${c.name}" failed: ${c.detail}`)
  }
}
if (failures.length > 0) {
  console.error(`\nFailed: ${failures.join('; ')}`)
  process.exitCode = 1
}
