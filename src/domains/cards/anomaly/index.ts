import type { AnyCommand, AnyQuery, DomainSetting, Processor, Projection } from '../../../kernel/index.js'

/** Anomaly detection: the processor that raises alerts, the alerts read model and its queries. */
export const anomalyCommands: readonly AnyCommand[] = []
export const anomalyProcessors: readonly Processor[] = []
export const anomalyProjections: readonly Projection[] = []
export const anomalyQueries: readonly AnyQuery[] = []
/** The settings (rules' thresholds) anomaly detection reads from the environment. */
export const anomalySettings: readonly DomainSetting[] = []
