/** Who and what caused an event: recorded with it in the log. */
export interface EventMetadata {
  commandId: string
  correlationId: string
  command: string
  userId?: string
}

/**
 * An event as the log recorded it: the one envelope that projections, processors and queries over
 * the log see. `position` is global and ordered (a decimal string: PostgreSQL bigint); `version` is
 * its place in its stream.
 */
export interface StoredEvent<T extends string = string, D = unknown> {
  position: string
  txId: string
  streamId: string
  version: number
  type: T
  data: D
  metadata: EventMetadata
  recordedAt: Date
}
