import type { StoredEvent } from '../../core/envelope.js'
import type { NewEvent } from '../../core/messages.js'

/** How the kit's events are recorded: the moment, and who caused them. */
export interface Recording {
  /** When they were recorded (default: now). */
  recordedAt?: Date
  /** The stream each event is recorded in (default: `<type>-<position>`). */
  streamId?: (event: NewEvent, position: number) => string
}

/**
 * Records events as the log would, one position (and one transaction) after another: what
 * projections and processors are handed. Each recorder counts from 1.
 */
export function eventRecorder(recording: Recording = {}) {
  let position = 0
  return <E extends NewEvent>(event: E): StoredEvent<E['type'], E['data']> => {
    position += 1
    const at = String(position)
    return {
      position: at,
      txId: at,
      streamId: recording.streamId?.(event, position) ?? `${event.type}-${at}`,
      version: 1,
      type: event.type,
      data: event.data,
      metadata: { commandId: `command-${at}`, correlationId: `correlation-${at}`, command: 'test' },
      recordedAt: recording.recordedAt ?? new Date(),
    }
  }
}

/**
 * The events again at positions from `first` on, each its own transaction: positions across a power
 * of ten (9, 10, 11) catch what orders them as text.
 */
export function renumbered<E extends StoredEvent>(events: readonly E[], first: number): E[] {
  return events.map((event, i) => ({ ...event, position: String(first + i), txId: String(first + i) }))
}
