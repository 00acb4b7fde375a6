import { defineProcessor, type CommandDefinition, type Processor } from '../../../kernel/index.js'
import { TransactionAuthorized, TransactionDeclined } from '../messages.js'
import { detectorCaller } from './commands.js'
import { loadHistory } from './history.js'
import { anyRuleOn, detect as detectFindings } from './rules.js'
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
  return defineProcessor({
    domain: 'cards',
    name: 'anomaly-detector',
    version: 1,
    events: [TransactionAuthorized, TransactionDeclined],
    startFrom: 'now',
    caller: detectorCaller,
    async handle(event, ctx) {
      const d = event.data
      if (d.customerId === null || d.source !== 'network' || !anyRuleOn(policy)) return
      const input = {
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
      // The rules on what the command would read (the trigger fixes it: history.ts): most attempts
      // raise nothing, and then no command is sent, so no idempotency record is written for them.
      const trigger = { ...input, approved: input.decision === 'approved' }
      if (detectFindings(trigger, await loadHistory(ctx.read, input, policy), policy).length === 0) return
      const done = await ctx.send(detect, input)
      // The command refuses only a caller that is not this processor: a bug worth a dead letter.
      if (done.status === 'failed') throw done.error
    },
  })
}
