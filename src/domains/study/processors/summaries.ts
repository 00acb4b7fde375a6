import { defineProcessor, type Processor } from '../../../kernel/index.js'
import { recordSummary } from '../commands.js'
import { SummaryRequested } from '../messages.js'
import type { Summarizer } from '../summarizer.js'

/**
 * Writes each requested summary: summarizes the text the request carries, then records the outcome
 * through `record-summary` (ready, or failed with the summarizer's reason). A summary is never lost:
 * a failure of the provider is recorded as failed; a failure to record is retried, then parked; and
 * whatever happens, the request's deadline timer fails a summary still pending.
 */
export function summaryProcessor(summarizer: Summarizer): Processor {
  return defineProcessor({
    domain: 'study',
    name: 'summarizer',
    version: 1,
    events: [SummaryRequested],
    startFrom: 'beginning',
    async handle(event, ctx) {
      const { summaryId, content, style } = event.data
      let input: Record<string, unknown>
      try {
        const summary = await summarizer.summarize({ content, style })
        input = { summaryId, outcome: 'ready', summary, provider: summarizer.name }
      } catch (error) {
        const reason = `${summarizer.name}: ${error instanceof Error ? error.message : String(error)}`.slice(
          0,
          500,
        )
        input = { summaryId, outcome: 'failed', reason }
      }
      const done = await ctx.send(recordSummary, input)
      // SUMMARY_NOT_FOUND cannot happen (the request's row commits with the event); any other refusal
      // is a bug worth a dead letter.
      if (done.status === 'failed') throw done.error
    },
  })
}
