import { CommandFailedError, cutText, defineProcessor, type Processor } from '../../../kernel/index.js'
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
      const failed = (why: string) => ({
        summaryId,
        outcome: 'failed',
        reason: cutText(`${summarizer.name}: ${why}`, 500),
      })
      let input: Record<string, unknown>
      try {
        const summary = await summarizer.summarize({ content, style })
        input = { summaryId, outcome: 'ready', summary, provider: summarizer.name }
      } catch (error) {
        input = failed(error instanceof Error ? error.message : String(error))
      }
      const done = await ctx.send(recordSummary, input).catch(async (error: unknown) => {
        // A summary the command refuses as input (text it cannot store, say) is an outcome, not a
        // fault to retry: retried, then parked, it held every learner's summaries behind it.
        if (input.outcome !== 'ready' || !(error instanceof CommandFailedError) || error.error.status !== 400)
          throw error
        return ctx.send(recordSummary, failed(`the summary was refused: ${refusalText(error.error)}`))
      })
      // SUMMARY_NOT_FOUND cannot happen (the request's row commits with the event); any other refusal
      // is a bug worth a dead letter.
      if (done.status === 'failed') throw done.error
    },
  })
}

/** A refusal in a line: each field's problem, else its detail. */
function refusalText(error: {
  detail?: string
  title: string
  errors?: readonly { path: string; message: string }[]
}) {
  return error.errors?.map((e) => `${e.path} ${e.message}`).join('; ') ?? error.detail ?? error.title
}
