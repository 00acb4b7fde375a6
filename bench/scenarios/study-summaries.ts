import type { BenchContext } from '../lib/context.js'
import { product } from '../lib/product.js'
import type { Measurement } from '../lib/results.js'
import { Latencies, round } from '../lib/stats.js'
import { studyNotes } from '../lib/study-text.js'
import { describeMeasurement } from './scenario.js'
import { median } from './study-bus.js'
import type { Part } from './study.js'

/** The bound on one 100,000-character summary: wall-clock, the same on any machine. */
const boundMs = 1000

/**
 * The local summarizer (the provider `STUDY_SUMMARIZER=local` picks) on one long text of Korean and
 * English notes, several times: the median is judged against the 1 s.
 */
export async function summarizeLongText(ctx: BenchContext): Promise<Part> {
  const { summarizerFor } = await product<typeof import('../../src/domains/study/summarizer.js')>(
    'domains/study/summarizer.js',
  )
  const summarizer = summarizerFor('local')
  const chars = ctx.smoke ? 20_000 : 100_000
  const runs = ctx.smoke ? 1 : 5
  const content = studyNotes(chars)
  const times: number[] = []
  const summaries = new Set<string>()
  const latencies = new Latencies()
  for (let run = 0; run < runs; run++) {
    const started = performance.now()
    // The command's default style: brief (the ranking is the same work for both styles).
    summaries.add(await summarizer.summarize({ content, style: 'brief' }))
    const ms = round(performance.now() - started)
    times.push(ms)
    latencies.add(ms)
  }
  const medianMs = median(times)
  const measurement: Measurement = {
    label: `local summarizer, ${chars.toLocaleString('en-US')} characters (Korean and English), ${runs} runs`,
    kind: 'tandem',
    tool: 'in-process',
    concurrency: 1,
    seconds: round(times.reduce((a, b) => a + b, 0) / 1000),
    completed: runs,
    ok: runs,
    errors: 0,
    throughput: Math.round(chars / (medianMs / 1000)),
    unit: 'chars/s',
    ...latencies.summary(),
  }
  ctx.log(describeMeasurement(measurement))
  const [summary = ''] = summaries
  return {
    measurements: [measurement],
    targets: [
      {
        name: `summarize a ${chars.toLocaleString('en-US')}-character text, median of ${runs}`,
        reference: boundMs,
        unit: 'ms',
        better: 'lower',
        absolute: true,
        actual: medianMs,
        detail: `runs: ${times.join(', ')} ms`,
      },
    ],
    checks: [
      {
        name: 'the same text gives the same summary',
        pass: summaries.size === 1 && summary.length > 0,
        detail: `${summaries.size} distinct summaries of ${runs} runs, ${summary.length} characters`,
      },
    ],
    figures: {
      'summarizer.chars': chars,
      'summarizer.medianMs': medianMs,
      'summarizer.runsMs': times.join(' '),
      'summarizer.summaryChars': summary.length,
    },
    notes: [
      `Summarizer: ${summarizer.name} (src/domains/study/summarizer.ts) in the bench process on one ` +
        `deterministic ${chars.toLocaleString('en-US')}-character text of Korean and English study notes ` +
        `(bench/lib/study-text.ts, seed 1), style brief, ${runs} times in a row (the first one compiles the ` +
        `code). The median is judged against the issue's ${boundMs} ms as is: a wall-clock bound, not scaled.`,
    ],
  }
}
