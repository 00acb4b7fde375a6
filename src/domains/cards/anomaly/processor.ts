import {
  defineProcessor,
  type CommandDefinition,
  type EventOf,
  type Processor,
} from '../../../kernel/index.js'
import { TransactionAuthorized, TransactionDeclined } from '../messages.js'
import { detectorCaller } from './commands.js'
import { loadHistories, loadHistory } from './history.js'
import { anyRuleOn, detect as detectFindings, type History } from './rules.js'
import type { AnomalyPolicy } from './settings.js'

/**
 * Sends each network authorization and decline on which a rule fires to `detect-anomalies`, with what
 * its event says (the command's key is the event's position: a redelivered event is answered by the
 * first run). The command runs the rules again on the same history, in its transaction, and raises
 * the alerts.
 * Declines count: velocity and card testing are about attempts, and a tester's probes are often
 * declined; travel is about where the card was presented. A decline for an unknown card (no
 * customer) and an auto-payment (our own timer's) are left out. Starts from `now`: switching
 * detection on (or a bulk load before the first start) does not raise alerts on years of history.
 */
export function anomalyDetector(policy: AnomalyPolicy, detect: CommandDefinition): Processor {
  /** What a transaction event asks `detect-anomalies`; undefined for the events detection leaves out. */
  const inputOf = ({ data: d }: EventOf<typeof TransactionAuthorized | typeof TransactionDeclined>) =>
    d.customerId === null || d.source !== 'network' || !anyRuleOn(policy)
      ? undefined
      : {
          transactionId: d.transactionId,
          cardId: d.cardId,
          customerId: d.customerId,
          decision: d.decision,
          amount: d.amount,
          currency: d.currency,
          mcc: d.mcc,
          country: d.country,
          occurredAt: d.occurredAt,
          decidedAt: d.at,
        }
  /**
   * Histories read for a batch, by transaction id (unique across databases, so two Tandems of one
   * process sharing this processor cannot take each other's), each taken once by its handling.
   */
  const prefetched = new Map<string, History>()
  return defineProcessor({
    domain: 'cards',
    name: 'anomaly-detector',
    version: 1,
    events: [TransactionAuthorized, TransactionDeclined],
    startFrom: 'now',
    caller: detectorCaller,
    // Eight detections at once: each one's history is fixed by its trigger and each alert's id by its
    // evidence, so none depends on another's effect (one at a time, the alerts of a burst of risky
    // payments queued behind each other's commits: about 50 a second).
    concurrency: 8,
    // The batch's histories in two statements, not two per event (history.ts: the same reads).
    async prefetch(events, read) {
      const inputs = events.flatMap((event) => inputOf(event) ?? [])
      const histories = await loadHistories(read, inputs, policy)
      if (prefetched.size > 10_000) prefetched.clear()
      inputs.forEach((input, k) => {
        const history = histories[k]
        if (history) prefetched.set(input.transactionId, history)
      })
    },
    async handle(event, ctx) {
      const input = inputOf(event)
      if (!input) return
      // The rules on what the command would read (the trigger fixes it: history.ts): most attempts
      // raise nothing, and then no command is sent, so no idempotency record is written for them.
      const history = prefetched.get(input.transactionId) ?? (await loadHistory(ctx.read, input, policy))
      prefetched.delete(input.transactionId)
      const trigger = { ...input, approved: input.decision === 'approved' }
      if (detectFindings(trigger, history, policy).length === 0) return
      const done = await ctx.send(detect, input)
      // The command refuses only a caller that is not this processor: a bug worth a dead letter.
      if (done.status === 'failed') throw done.error
    },
  })
}
