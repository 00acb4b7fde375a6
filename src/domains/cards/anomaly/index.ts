import type { AnyCommand, AnyQuery, DomainSetting, Processor, Projection } from '../../../kernel/index.js'
import { alertsProjection, getAnomalyAlerts } from './alerts.js'
import { defineAnomalyCommands } from './commands.js'
import { anomalyDetector } from './processor.js'
import { anomalyPolicyFrom, anomalySettings as settings, type AnomalyPolicy } from './settings.js'

/** Anomaly detection with these thresholds: its commands, its processor, the alerts read model and query. */
export function defineAnomalyDetection(policy: AnomalyPolicy) {
  const commands = defineAnomalyCommands(policy)
  return {
    commands: [commands.detectAnomalies, commands.resolveAlert] as AnyCommand[],
    processors: [anomalyDetector(policy, commands.detectAnomalies)],
    projections: [alertsProjection],
    queries: [getAnomalyAlerts] as AnyQuery[],
    ...commands,
  }
}

const detection = defineAnomalyDetection(anomalyPolicyFrom(process.env))

/** Anomaly detection: the processor that raises alerts, the alerts read model and its queries. */
export const anomalyCommands: readonly AnyCommand[] = detection.commands
export const anomalyProcessors: readonly Processor[] = detection.processors
export const anomalyProjections: readonly Projection[] = detection.projections
export const anomalyQueries: readonly AnyQuery[] = detection.queries
/** The settings (rules' thresholds) anomaly detection reads from the environment. */
export const anomalySettings: readonly DomainSetting[] = settings
