import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modes, startTestTandem, type TestTandem } from '../../kernel/testing.js'
import { createEvent, deleteEvent, registerParticipant } from './commands.js'
import { getEventDetails } from './projections/event-details.js'
import { listMyRegistrations } from './projections/registrations.js'

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

  it("drops a participant's cached lists when an event deletion cancels their registration", async () => {
    const organizer = { id: 'org', roles: ['organizer'] }
    const carol = { id: 'carol', roles: [] }
    const created = await t.commands.execute(
      createEvent,
      { title: 'Gone', startsAt: '2031-02-01T10:00:00Z', endsAt: '2031-02-01T11:00:00Z', capacity: 5 },
      { caller: organizer },
    )
    if (created.status !== 'succeeded') throw created.error
    const { eventId } = created.result
    const registered = await t.commands.execute(registerParticipant, { eventId }, { caller: carol })
    if (registered.status !== 'succeeded') throw registered.error
    const minPosition = BigInt(registered.position ?? '0')
    const cancelledBefore = await t.queries.ask(
      listMyRegistrations,
      { status: 'cancelled' },
      { caller: carol, minPosition },
    )
    if (cancelledBefore.status !== 'succeeded') throw cancelledBefore.error
    expect(cancelledBefore.data.items).toEqual([])

    const deleted = await t.commands.execute(deleteEvent, { eventId }, { caller: organizer })
    if (deleted.status !== 'succeeded') throw deleted.error
    await t.projections.caughtUp()
    const cancelledAfter = await t.queries.ask(
      listMyRegistrations,
      { status: 'cancelled' },
      { caller: carol },
    )
    if (cancelledAfter.status !== 'succeeded') throw cancelledAfter.error
    expect(cancelledAfter.cacheHit).toBe(false)
    expect(cancelledAfter.data.items.map((r) => [r.eventId, r.status])).toEqual([[eventId, 'cancelled']])
    // The write model counts what it holds: no one, once every registration is cancelled with it.
    const [row] = await t.sql.query<{ confirmed: number; waitlisted: number }>(
      'SELECT confirmed_count AS confirmed, waitlist_count AS waitlisted FROM events.event WHERE event_id = $1',
      [eventId],
    )
    expect(row).toEqual({ confirmed: 0, waitlisted: 0 })
  })
})
