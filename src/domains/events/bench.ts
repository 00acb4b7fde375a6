import { type BenchMix, type Caller } from '../../kernel/index.js'
import { createEvent, registerParticipant } from './commands.js'
import { getEventDetails, listUpcomingEvents } from './projections/event-details.js'
import { listMyRegistrations } from './projections/registrations.js'

const organizer: Caller = { id: 'bench-organizer', roles: ['organizer'] }
const day = 24 * 3600_000

/**
 * The events domain in the guide's benchmark: registrations (waitlisted once an event is full) on
 * 50 events, and its three queries: details 70%, the upcoming listing 20%, a user's registrations 10%.
 */
export const benchMix: BenchMix = {
  async prepare({ commands, queries }, now) {
    const eventIds: string[] = []
    for (let i = 0; i < 50; i++) {
      const startsAt = new Date(now.getTime() + (i + 1) * day)
      const done = await commands.execute(
        createEvent,
        {
          title: `Benchmark event ${i}`,
          startsAt: startsAt.toISOString(),
          endsAt: new Date(startsAt.getTime() + 3600_000).toISOString(),
          capacity: 100_000,
        },
        { caller: organizer },
      )
      if (done.status === 'failed') throw done.error
      eventIds.push(done.result.eventId)
    }
    const pick = (r: number) => eventIds[Math.floor(r * eventIds.length)] ?? ''
    return {
      command: (i, r) =>
        commands.execute(
          registerParticipant,
          { eventId: pick(r), participantId: `bench-${i}`, waitlist: true },
          { caller: organizer },
        ),
      query: (i, r) =>
        r < 0.7
          ? queries.ask(getEventDetails, { eventId: pick(r / 0.7) })
          : r < 0.9
            ? queries.ask(listUpcomingEvents, { limit: 20 })
            : queries.ask(listMyRegistrations, {}, { caller: { id: `bench-user-${i % 500}`, roles: [] } }),
    }
  },
}
