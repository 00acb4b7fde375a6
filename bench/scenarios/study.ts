import { storesOf } from '../lib/tandem-server.js'
import type { Outcome, Scenario } from './scenario.js'
import { guideBenchmark } from './study-bus.js'
import { drainSummaries } from './study-drain.js'
import { guideMixOverHttp } from './study-http.js'
import { summarizeLongText } from './study-summaries.js'

/** What each part of the study scenario measures: its share of the entry. */
export type Part = Omit<Outcome, 'stores'>

/**
 * Scenario 7, issue 10's targets for StudyMate's study domain: the guide's benchmark (`tandem bench
 * 1000 --domain study`, median of 5 fresh runs: >= 100x the guide's 351.2 ops/s, scaled, and a cache
 * hit rate >= 87.3%); the same mix over HTTP at 100 connections beside the run's ceiling, with no
 * minute of an acknowledged progress update lost; the local summarizer on a 100,000-character text
 * (< 1 s, median of 5); 1,000 queued summaries drained, the rate recorded.
 */
export const studyScenario: Scenario = {
  name: 'study',
  title: "StudyMate's study domain: the guide's benchmark, its mix over HTTP, summaries",
  async run(ctx, mode) {
    const parts: Part[] = []
    parts.push(await guideBenchmark(ctx, mode))
    parts.push(await guideMixOverHttp(ctx, mode))
    parts.push(await summarizeLongText(ctx))
    parts.push(await drainSummaries(ctx, mode))
    return {
      stores: `${storesOf(mode)} (HTTP); in the bench process: ${
        mode === 'server' ? 'PostgreSQL (scratch databases)' : 'in-memory PGlite'
      } + memory KV (tandem bench, summary drain)`,
      measurements: parts.flatMap((p) => p.measurements),
      targets: parts.flatMap((p) => p.targets),
      checks: parts.flatMap((p) => p.checks),
      figures: Object.assign({}, ...parts.map((p) => p.figures)) as Outcome['figures'],
      notes: parts.flatMap((p) => p.notes),
    }
  },
}
