import { type DemoExample, type CommandBus, type Caller, type QueryBus } from '../../kernel/index.js'
import { createEvent, registerParticipant } from './commands.js'
import { listUpcomingEvents } from './projections/event-details.js'
import { listMyRegistrations } from './projections/registrations.js'

const organizer: Caller = { id: 'demo-organizer', roles: ['organizer'] }
const alice: Caller = { id: 'demo-alice', roles: [] }

export const demoCallers: readonly (Caller & { label: string })[] = [
  { label: 'admin', id: 'demo-admin', roles: ['admin'] },
  { label: 'organizer', ...organizer },
  { label: 'participant', ...alice },
]

const topics = [
  ['CQRS in practice', 'Seoul, Hall A'],
  ['Event sourcing workshop', 'Busan, Room 3'],
  ['PostgreSQL performance clinic', 'Online'],
  ['TypeScript at scale', 'Seoul, Hall B'],
  ['Redis data structures', 'Daejeon'],
  ['Designing read models', 'Online'],
  ['Startup backend meetup', 'Seoul, Rooftop'],
  ['Load testing with open tools', 'Incheon'],
] as const

/** A few upcoming events, one of them full with a waitlist, and registrations for the demo participant. */
export async function seedDemo(commands: CommandBus): Promise<void> {
  const day = 24 * 3600_000
  const ids: string[] = []
  for (const [i, [title, venue]] of topics.entries()) {
    const startsAt = new Date(Date.now() + (i + 2) * day + 9 * 3600_000)
    const done = await commands.execute(
      createEvent,
      {
        title,
        venue,
        description: `${title}: talks, a hands-on session and time for questions.`,
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 3 * 3600_000).toISOString(),
        capacity: i === 0 ? 3 : 50 + i * 10,
      },
      { caller: organizer },
    )
    if (done.status === 'failed') throw done.error
    ids.push(done.result.eventId)
  }
  const [full, second] = ids as [string, string]
  const register = async (eventId: string, participantId: string, waitlist = false) => {
    const done = await commands.execute(
      registerParticipant,
      { eventId, participantId, waitlist },
      { caller: organizer },
    )
    if (done.status === 'failed') throw done.error
  }
  for (const name of ['demo-bob', 'demo-carol', 'demo-dave']) await register(full, name)
  await register(full, alice.id, true)
  await register(second, alice.id)
}

/**
 * The banner's examples: the listing, and a registration the demo participant can make now (an
 * upcoming event with a free seat that they are not registered for), found in the read models.
 */
export async function demoExamples(queries: QueryBus): Promise<DemoExample[]> {
  const listing = '/api/queries/events/list-upcoming-events'
  const examples: DemoExample[] = [{ title: 'List the upcoming events', method: 'GET', path: listing }]
  const upcoming = await queries.ask(listUpcomingEvents, { limit: 100 })
  const mine = await queries.ask(listMyRegistrations, { limit: 100 }, { caller: alice })
  if (upcoming.status === 'failed' || mine.status === 'failed') return examples
  const taken = new Set(mine.data.items.filter((r) => r.status !== 'cancelled').map((r) => r.eventId))
  const open = upcoming.data.items.find((e) => e.remainingSeats > 0 && !taken.has(e.eventId))
  if (open) {
    examples.push({
      title: `Register the demo participant for "${open.title}"`,
      method: 'POST',
      path: '/api/commands/events/register-participant',
      body: { eventId: open.eventId },
      as: 'participant',
    })
    examples.push({
      title: 'Its seats taken and left',
      method: 'GET',
      path: `/api/queries/events/get-event-details?eventId=${open.eventId}`,
    })
  }
  examples.push({
    title: "The demo participant's registrations",
    method: 'GET',
    path: '/api/queries/events/list-my-registrations',
    as: 'participant',
  })
  return examples
}
