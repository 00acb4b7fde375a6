import {
  defineCommand,
  eventSourced,
  onlyCallers,
  signedIn,
  type Caller,
  type CommandContext,
} from '../../../kernel/index.js'
import {
  AnomalyDetected,
  DetectAnomaliesInput,
  DetectedResult,
  ResolveAlertInput,
  ResolvedResult,
  type DetectAnomalies,
} from '../messages.js'
import { alertStream, resolveDecider } from './alert.js'
import { detectExample, resolveExample } from './examples.js'
import { loadHistory } from './history.js'
import { alertIdOf, detect } from './rules.js'
import type { AnomalyPolicy } from './settings.js'

/** The anomaly processor's caller: the only one `detect-anomalies` takes. */
export const detectorCaller: Caller = { id: 'processor:cards/anomaly-detector', roles: ['system'] }

/**
 * Reads the trigger's history, runs the rules, and raises an alert for each that fires, unless its
 * stream (named by the alert's deterministic id) holds it already. The stream is read under its
 * lock and appended at version 0: two copies racing (two processes, a redelivery past the
 * idempotency record's 24 hours) cannot both commit the first event; the loser runs again and
 * finds the alert raised.
 */
async function raiseAlerts(input: DetectAnomalies, { meta, tx }: CommandContext, policy: AnomalyPolicy) {
  const trigger = { ...input, approved: input.decision === 'approved' }
  const findings = detect(trigger, await loadHistory(tx, input, policy), policy)
  const alerts = []
  for (const finding of findings) {
    const alertId = alertIdOf(finding.rule, input.transactionId)
    const stream = alertStream(alertId)
    const { version } = await tx.readStream(stream)
    if (version === 0) {
      const { transactionId, cardId, customerId } = input
      const { rule, score, evidence } = finding
      const data = { alertId, cardId, customerId, rule, score, evidence, transactionId }
      const event = AnomalyDetected.create({ ...data, detectedAt: meta.now.toISOString() })
      tx.append({ id: stream, expectedVersion: 0 }, [event], { locked: true })
    }
    alerts.push({ alertId, rule: finding.rule, raised: version === 0 })
  }
  return { transactionId: input.transactionId, alerts }
}

/** The commands of anomaly detection, with the rules' thresholds. */
export function defineAnomalyCommands(policy: AnomalyPolicy) {
  const detectAnomalies = defineCommand({
    domain: 'cards',
    name: 'detect-anomalies',
    summary:
      'Check a transaction against the anomaly rules and raise an alert per rule that fires (internal)',
    description:
      'Sent by the anomaly processor (processor:cards/anomaly-detector) for each authorization or decline; ' +
      'any other caller is 403. An alert already raised for the same rule and transaction is not raised again.',
    input: DetectAnomaliesInput,
    output: DetectedResult,
    // Checked before the input: another caller is 403 whatever it sends.
    access: onlyCallers([detectorCaller]),
    examples: [detectExample],
    exampleCallers: [detectorCaller.id],
    handle: (input, ctx) => raiseAlerts(input, ctx, policy),
  })

  const resolveAlert = defineCommand({
    domain: 'cards',
    name: 'resolve-alert',
    summary: 'Resolve an anomaly alert as fraud or legitimate (agents)',
    input: ResolveAlertInput,
    output: ResolvedResult,
    access: signedIn('agent', 'admin'),
    refusals: { 404: ['ALERT_NOT_FOUND'], 409: ['ALERT_ALREADY_RESOLVED'] },
    examples: [resolveExample],
    handle: eventSourced(resolveDecider),
  })

  return { detectAnomalies, resolveAlert }
}

export type AnomalyCommands = ReturnType<typeof defineAnomalyCommands>
