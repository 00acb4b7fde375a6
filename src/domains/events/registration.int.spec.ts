import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modes } from '../../testing/services.js'
import { startTestTandem, type TestTandem } from '../../testing/harness.js'
import { createEvent, registerParticipant } from './commands.js'
import { getEventDetails } from './projections/event-details.js'

describe.each(modes)('event registration (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode)
  })
  afterAll(async () => t.dispose())

  it('registers a participant and shows the seat taken', async () => {
    const created = await t.commands.execute(
      createEvent,
      { title: 'T', startsAt: '2031-01-01T10:00:00Z', endsAt: '2031-01-01T11:00:00Z', capacity: 5 },
      { caller: { id: 'org', roles: ['organizer'] } },
    )
    if (created.status !== 'succeeded') throw created.error
    const registered = await t.commands.execute(
      registerParticipant,
      { eventId: created.result.eventId },
      { caller: { id: 'p1', roles: [] } },
    )
    if (registered.status !== 'succeeded') throw registered.error
    const details = await t.queries.ask(
      getEventDetails,
      { eventId: created.result.eventId },
      {
        minPosition: BigInt(registered.position ?? '0'),
      },
    )
    if (details.status !== 'succeeded') throw details.error
    expect(details.data.confirmedCount).toBe(1)
    expect(details.data.remainingSeats).toBe(4)
  })
})
