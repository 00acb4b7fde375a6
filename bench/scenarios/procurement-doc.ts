import { resolve } from 'node:path'
import type { Entry } from '../lib/results.js'
import { barChart } from '../lib/svg.js'
import { fillAndDraw } from './feed-doc.js'

/**
 * Fills docs/procurement-crud-vs-cqrs.md and draws docs/benchmarks/procurement-*.svg from the
 * procurement entry of results.json: `npx tsx bench/scenarios/procurement-doc.ts [--results DIR]`.
 * Figures sit between `<!-- figure: server <key> -->` and `<!-- /figure -->`, as in the feed's doc.
 */

const sides = ['cqrs', 'crud'] as const
const label = { cqrs: 'CQRS (read models)', crud: 'CRUD (one schema)' }

const num = (entry: Entry, key: string) => {
  const v = entry.figures[key]
  return typeof v === 'number' ? v : 0
}

export function charts(entry: Entry): Record<string, string> {
  const where = `${entry.mode} mode, ${entry.date.slice(0, 10)}`
  const reads = [
    ['first', 'list, first page'],
    ['deep', 'list, deep page'],
    ['budget', 'budget summary'],
  ] as const
  return {
    'procurement-read-p99.svg': barChart({
      title: `p99 latency at 50 connections (${where})`,
      yLabel: 'p99 (ms)',
      categories: reads.map(([, name]) => name),
      series: sides.map((side) => ({
        name: label[side],
        values: reads.map(([key]) => num(entry, `${side}.${key}.p99Ms`)),
      })),
    }),
    'procurement-throughput.svg': barChart({
      title: `Throughput (${where})`,
      yLabel: 'requests per second',
      categories: [...reads.map(([, name]) => name), 'writes alone', 'writes beside 100 readers'],
      series: sides.map((side) => ({
        name: label[side],
        values: [
          ...reads.map(([key]) => num(entry, `${side}.${key}.rate`)),
          num(entry, `${side}.writes.rate`),
          num(entry, `${side}.writesWithReaders.rate`),
        ],
      })),
    }),
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname))
  fillAndDraw('procurement', 'docs/procurement-crud-vs-cqrs.md', charts)
