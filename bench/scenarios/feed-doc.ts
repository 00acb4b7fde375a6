import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Entry, ResultsFile } from '../lib/results.js'
import { barChart, lineChart } from '../lib/svg.js'

/**
 * Fills docs/feed-push-vs-pull.md and draws docs/benchmarks/feed-*.svg from the feed entries of
 * results.json: `npx tsx bench/scenarios/feed-doc.ts [--results DIR] [--doc FILE] [--charts DIR]`.
 * Each figure in the doc sits between `<!-- figure: <mode> <key> -->` and `<!-- /figure -->`, the key
 * one of the entry's figures (or `command`, `date`, `commit`); running it again replaces them.
 */

const modes = ['push', 'hybrid', 'pull'] as const
const sweep = ['f100', 'f1000', 'f10000'] as const

function figure(entry: Entry | undefined, key: string): string {
  if (!entry) return 'not measured yet'
  if (key === 'command') return `\`${entry.command}\``
  if (key === 'date') return entry.date.slice(0, 10)
  if (key === 'commit') return entry.commit ?? 'unknown'
  if (key === 'ceiling') return (entry.ceiling?.throughput ?? 0).toLocaleString('en-US')
  const value = entry.figures[key]
  if (value === undefined) return 'n/a'
  return typeof value === 'number' ? value.toLocaleString('en-US') : value
}

/** Fills a doc's figure markers from the scenario's entries (one per mode). */
export function fillDoc(doc: string, entries: readonly Entry[], scenario = 'feed'): string {
  const of = (mode: string) => entries.find((e) => e.scenario === scenario && e.mode === mode)
  return doc.replace(
    /<!-- figure: (embedded|server) ([\w.]+) -->[\s\S]*?<!-- \/figure -->/g,
    (_all, mode: string, key: string) =>
      `<!-- figure: ${mode} ${key} -->${figure(of(mode), key)}<!-- /figure -->`,
  )
}

const num = (entry: Entry, key: string) => {
  const v = entry.figures[key]
  return typeof v === 'number' ? v : 0
}

export function charts(entry: Entry): Record<string, string> {
  const where = `${entry.mode} mode, ${entry.date.slice(0, 10)}`
  return {
    'feed-read-p99.svg': lineChart({
      title: `get-my-feed first page p99 by followee count (${where})`,
      xLabel: 'authors followed (log scale)',
      yLabel: 'p99 latency (ms)',
      logX: true,
      series: modes.map((m) => ({
        name: m,
        points: sweep.map(
          (s) => [num(entry, `sweep.followees.${s}`), num(entry, `sweep.${m}.${s}.p99Ms`)] as const,
        ),
      })),
    }),
    'feed-write-amplification.svg': barChart({
      title: `Timeline entries written per post (${where})`,
      yLabel: 'timeline entries (log scale)',
      logY: true,
      categories: [...modes],
      series: [
        {
          name: `post, ${num(entry, 'amplification.regularFollowers')} followers`,
          values: modes.map((m) => num(entry, `amplification.${m}.regular`)),
        },
        {
          name: `post, ${num(entry, 'plan.fans').toLocaleString('en-US')} followers`,
          values: modes.map((m) => num(entry, `amplification.${m}.celebrity`)),
        },
      ],
    }),
    'feed-memory.svg': barChart({
      title: `Redis memory of each home-feed read model (${where})`,
      yLabel: 'MiB (used_memory grown while built)',
      categories: [...modes],
      series: [{ name: 'read model', values: modes.map((m) => num(entry, `memory.${m}.redisDeltaMiB`)) }],
    }),
  }
}

/**
 * Fills a scenario's doc from results.json and draws its charts (from its server entry, else the
 * first): the command line of feed-doc.ts and procurement-doc.ts, `[--results DIR] [--doc FILE] [--charts DIR]`.
 */
export function fillAndDraw(
  scenario: string,
  defaultDoc: string,
  draw: (entry: Entry) => Record<string, string>,
): void {
  const { values } = parseArgs({
    options: { results: { type: 'string' }, doc: { type: 'string' }, charts: { type: 'string' } },
  })
  const results = JSON.parse(
    readFileSync(join(resolve(values.results ?? 'docs/benchmarks'), 'results.json'), 'utf8'),
  ) as ResultsFile
  const entries = results.entries.filter((e) => e.scenario === scenario)
  const doc = resolve(values.doc ?? defaultDoc)
  writeFileSync(doc, fillDoc(readFileSync(doc, 'utf8'), entries, scenario))
  console.log(`Filled ${doc}`)
  // The server entry has memory figures; the embedded one serves when there is no other.
  const entry = entries.find((e) => e.mode === 'server') ?? entries[0]
  if (!entry) return
  const dir = resolve(values.charts ?? 'docs/benchmarks')
  for (const [name, svg] of Object.entries(draw(entry))) {
    writeFileSync(join(dir, name), svg)
    console.log(`Wrote ${join(dir, name)}`)
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname))
  fillAndDraw('feed', 'docs/feed-push-vs-pull.md', charts)
