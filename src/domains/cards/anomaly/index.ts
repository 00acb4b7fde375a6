import type { AnyCommand, AnyQuery, Processor, Projection } from '../../../kernel/index.js'

/** Anomaly detection: the processor that raises alerts, the alerts read model and its queries. */
export const anomalyCommands: readonly AnyCommand[] = []
export const anomalyProcessors: readonly Processor[] = []
export const anomalyProjections: readonly Projection[] = []
export const anomalyQueries: readonly AnyQuery[] = []
