import type { Caller } from '../../../kernel/index.js'
import { commandUrl, expectSucceeded, queryUrl, type TestServer } from '../../../kernel/testing.js'

/** The events domain over HTTP, for its own end-to-end specs. */

/** An organizer creates events and runs their own; `otherOrganizer` runs someone else's. */
export const organizer: Caller = { id: 'organizer-1', roles: ['organizer'] }
export const otherOrganizer: Caller = { id: 'organizer-2', roles: ['organizer'] }

/** `POST /api/commands/events/<name>`. */
export const eventCommand = (name: string) => commandUrl('events', name)
/** `GET /api/queries/events/<name>?<params>`. */
export const eventQuery = (name: string, params: Record<string, string | number | boolean> = {}) =>
  queryUrl('events', name, params)

let hour = 0
/** A fresh future time window, one per call, so events of different tests do not mix in listings. */
export function futureSlot(daysAhead = 400): { startsAt: string; endsAt: string } {
  hour += 3
  const start = Date.UTC(2030, 0, 1) + daysAhead * 24 * 3600_000 + hour * 3600_000
  return { startsAt: new Date(start).toISOString(), endsAt: new Date(start + 2 * 3600_000).toISOString() }
}

/** Creates an event as `organizer` (or `by`) and returns its id and the command's position. */
export async function createEventVia(
  server: TestServer,
  fields: Record<string, unknown> = {},
  by: Caller = organizer,
): Promise<{ eventId: string; position: string }> {
  const answer = expectSucceeded<{ eventId: string }>(
    await server.post(
      eventCommand('create-event'),
      { title: 'Meetup', capacity: 10, ...futureSlot(), ...fields },
      { caller: by },
    ),
  )
  return { eventId: answer.result.eventId, position: answer.position }
}
