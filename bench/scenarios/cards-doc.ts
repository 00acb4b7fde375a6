import { resolve } from 'node:path'
import type { Entry } from '../lib/results.js'
import { barChart } from '../lib/svg.js'
import { fillAndDraw } from './feed-doc.js'

/**
 * Draws docs/benchmarks/cards-*.svg, the read models compared in docs/cards-read-models.md, from the
 * cards entry of results.json: `npx tsx bench/scenarios/cards-doc.ts [--results DIR]`.
 */

const num = (entry: Entry, key: string) => {
  const v = entry.figures[key]
  return typeof v === 'number' ? v : 0
}

const sql = 'SQL rollups'
const duck = 'DuckDB'

/** A read model's size: its tables and their indexes. */
const mib = (entry: Entry, tables: readonly string[]) =>
  tables.reduce(
    (sum, t) => sum + num(entry, `storage.read.${t}.tableMiB`) + num(entry, `storage.read.${t}.indexMiB`),
    0,
  )

export function charts(entry: Entry): Record<string, string> {
  const when = entry.date.slice(0, 10)
  const rollups = ['customer_month', 'customer_day', 'merchant_day', 'product_day'].map(
    (t) => `cards_spending_g1_${t}`,
  )
  return {
    'cards-read-p99.svg': barChart({
      title: `Analytics reads, p99 at 50 connections (${when})`,
      yLabel: 'p99 (ms, log scale)',
      logY: true,
      categories: ['monthly summary', 'merchant, 30 days'],
      series: [
        {
          name: sql,
          values: [
            num(entry, 'read.get-monthly-spending-summary.p99Ms'),
            num(entry, 'read.get-merchant-summary.p99Ms'),
          ],
        },
        { name: duck, values: [num(entry, 'duckdb.monthly.p99Ms'), num(entry, 'duckdb.merchant.p99Ms')] },
      ],
    }),
    'cards-ingest.svg': barChart({
      title: `Read models built from the log (${when})`,
      yLabel: 'events per second',
      categories: ['ingest rate'],
      series: [
        {
          name: 'SQL rollups, card history, KV recent (all together)',
          values: [num(entry, 'ingest.sql.eventsPerSecond')],
        },
        { name: duck, values: [num(entry, 'duckdb.ingest.eventsPerSecond')] },
      ],
    }),
    'cards-storage.svg': barChart({
      title: `Storage of each read model (${when})`,
      yLabel: 'MiB (log scale)',
      logY: true,
      categories: ['rollups (SQL)', 'facts (DuckDB)', 'history (SQL)', 'recent (Redis)'],
      series: [
        {
          name: 'tables and indexes',
          values: [
            mib(entry, rollups),
            num(entry, 'duckdb.storage.MiB'),
            mib(entry, ['cards_history_g1_card_events', 'cards_history_g1_cards']),
            num(entry, 'storage.redis.MiB'),
          ],
        },
      ],
    }),
    'cards-freshness.svg': barChart({
      title: `Command answered to transaction read (${when})`,
      yLabel: 'ms (log scale)',
      logY: true,
      categories: ['p50', 'p99'],
      series: [
        {
          name: 'KV',
          values: [num(entry, 'kv.freshness.p50Ms'), num(entry, 'kv.freshness.p99Ms')],
        },
        {
          name: duck,
          values: [num(entry, 'duckdb.freshness.p50Ms'), num(entry, 'duckdb.freshness.p99Ms')],
        },
      ],
    }),
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname))
  fillAndDraw('cards', 'docs/cards-read-models.md', charts)
