import { type Domain } from '../../kernel/index.js'
import { benchMix } from './bench.js'
import { commands } from './commands.js'
import { demoCallers, demoExamples, seedDemo } from './demo.js'
import { eventDetailsProjection, getEventDetails, listUpcomingEvents } from './projections/event-details.js'
import { listMyRegistrations, registrationsProjection } from './projections/registrations.js'
import { allEvents } from './messages.js'
import { migrations } from './write-model.js'

/** Event registration: events with a capacity, registrations, a first-come-first-served waitlist. */
export const eventsDomain: Domain = {
  name: 'events',
  events: allEvents,
  commands,
  queries: [getEventDetails, listUpcomingEvents, listMyRegistrations],
  projections: [eventDetailsProjection, registrationsProjection],
  migrations,
  demoCallers,
  seedDemo,
  demoExamples,
  benchMix,
}
