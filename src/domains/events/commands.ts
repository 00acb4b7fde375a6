import { stateStored, type Memory, defineCommand, signedIn, type CommandMeta } from '../../kernel/index.js'
import {
  CancelRegistrationInput,
  CancellationResult,
  CreateEventInput,
  DeleteEventInput,
  EventIdResult,
  RegisterParticipantInput,
  RegistrationResult,
  UpdateEventInput,
  type EventsEvent,
} from './messages.js'
import {
  decideCancel,
  decideCreate,
  decideDelete,
  decideRegister,
  decideUpdate,
  participantOf,
  type CancellationState,
  type EventState,
  type RegistrationState,
  type UpdateState,
} from './rules.js'
import {
  eventAfter,
  loadEvent,
  loadForCancellation,
  loadForRegistration,
  loadWaitlist,
  persist,
} from './write-model.js'

const domain = 'events'
/** The ids the examples create: one is changed and registered for, the other deleted. */
const exampleEventId = '0190a0d0-4c5e-7a1b-8c2d-3e4f5a6b7c8d'
const doomedEventId = '0190a0d0-4c5e-7a1b-8c2d-3e4f5a6b7c8e'
const streamId = (eventId: string) => `event-${eventId}`
const streamOf = (eventId: string, state: EventState) => ({
  id: streamId(eventId),
  expectedVersion: state.status === 'absent' ? 0 : state.version,
})

/**
 * Every command on an event keeps the event's row as its events leave it, so the next command on
 * the event in this process can skip reading it (core/stream-memory.ts).
 */
function eventMemory<I extends { eventId?: string }, S, E extends EventsEvent>(
  eventOf: (state: S) => EventState,
  recall?: (event: EventState, input: I) => S | undefined,
): Memory<I, S, E, EventState> {
  return {
    streamId: (cmd, meta) => streamId(cmd.eventId ?? meta.newId),
    keep: (state, events) => eventAfter(events, eventOf(state)),
    ...(recall ? { recall } : {}),
  }
}
const createdId = (events: readonly EventsEvent[], meta: CommandMeta) =>
  events[0]?.type === 'EventCreated' ? events[0].data.eventId : meta.newId

export const createEvent = defineCommand({
  domain,
  name: 'create-event',
  summary: 'Create an event; the caller becomes its organizer',
  input: CreateEventInput,
  output: EventIdResult,
  access: signedIn('organizer', 'admin'),
  refusals: { 409: ['EVENT_ALREADY_EXISTS', 'EVENT_STARTS_IN_PAST'] },
  examples: [
    {
      eventId: exampleEventId,
      title: 'CQRS in practice',
      venue: 'Seoul, Hall A',
      startsAt: '2099-05-01T09:00:00Z',
      endsAt: '2099-05-01T12:00:00Z',
      capacity: 50,
    },
    {
      eventId: doomedEventId,
      title: 'Postponed meetup',
      startsAt: '2099-06-01T18:00:00Z',
      endsAt: '2099-06-01T20:00:00Z',
      capacity: 20,
    },
  ],
  handle: stateStored({
    load: (tx, cmd, meta) => loadEvent(tx, cmd.eventId ?? meta.newId),
    decide: decideCreate,
    stream: (cmd, _state, meta) => streamOf(cmd.eventId ?? meta.newId, { status: 'absent' }),
    persist: (events, state) => persist(events, state),
    result: (events, _cmd, _state, meta) => ({ eventId: createdId(events, meta) }),
    memory: eventMemory((state: EventState) => state),
  }),
})

export const updateEvent = defineCommand({
  domain,
  name: 'update-event',
  summary: 'Change an event; raising the capacity confirms waitlisted people in order',
  input: UpdateEventInput,
  output: EventIdResult,
  access: signedIn(),
  refusals: { 404: ['EVENT_NOT_FOUND'], 409: ['EVENT_STARTS_IN_PAST', 'CAPACITY_BELOW_REGISTRATIONS'] },
  examples: [{ eventId: exampleEventId, capacity: 60, venue: 'Seoul, Hall B' }],
  handle: stateStored({
    async load(tx, cmd) {
      const event = await loadEvent(tx, cmd.eventId)
      const free = event.status === 'scheduled' && cmd.capacity ? cmd.capacity - event.confirmedCount : 0
      return { event, waitlist: await loadWaitlist(tx, cmd.eventId, free) }
    },
    decide: decideUpdate,
    stream: (cmd, state) => streamOf(cmd.eventId, state.event),
    persist: (events, state) => persist(events, state.event),
    result: (_events, cmd) => ({ eventId: cmd.eventId }),
    memory: eventMemory((state: UpdateState) => state.event),
  }),
})

export const deleteEvent = defineCommand({
  domain,
  name: 'delete-event',
  summary: 'Delete an event: it leaves every listing and its registrations are cancelled',
  input: DeleteEventInput,
  output: EventIdResult,
  access: signedIn(),
  refusals: { 404: ['EVENT_NOT_FOUND'] },
  examples: [{ eventId: doomedEventId }],
  handle: stateStored({
    load: (tx, cmd) => loadEvent(tx, cmd.eventId),
    decide: decideDelete,
    stream: (cmd, state) => streamOf(cmd.eventId, state),
    persist: (events, state) => persist(events, state),
    result: (_events, cmd) => ({ eventId: cmd.eventId }),
    memory: eventMemory(
      (state: EventState) => state,
      (event) => event,
    ),
  }),
})

export const registerParticipant = defineCommand({
  domain,
  name: 'register-participant',
  summary: 'Register for an event, or join its waitlist when it is full and `waitlist` is true',
  input: RegisterParticipantInput,
  output: RegistrationResult,
  access: signedIn(),
  refusals: { 404: ['EVENT_NOT_FOUND'], 409: ['EVENT_FULL', 'ALREADY_REGISTERED', 'REGISTRATION_CLOSED'] },
  examples: [
    { eventId: exampleEventId, name: 'Kim Minji', email: 'minji@example.com', waitlist: true },
    { eventId: exampleEventId, participantId: 'lee-jun' },
  ],
  handle: stateStored({
    load: (tx, cmd, meta) => loadForRegistration(tx, cmd.eventId, participantOf(cmd, meta)),
    decide: decideRegister,
    stream: (cmd, state) => streamOf(cmd.eventId, state.event),
    persist: (events, state) => persist(events, state.event),
    result: (events, _cmd, _state, meta) => ({
      registrationId: meta.newId,
      status: events[0]?.type === 'ParticipantWaitlisted' ? ('waitlisted' as const) : ('confirmed' as const),
    }),
    // The participant's registrations are not in the event's row: deciding as if there were none
    // is safe, since the one-active-registration index refuses the insert if there is one, and
    // the command runs again, reading them.
    memory: eventMemory(
      (state: RegistrationState) => state.event,
      (event) => ({ event, active: undefined }),
    ),
  }),
})

export const cancelRegistration = defineCommand({
  domain,
  name: 'cancel-registration',
  summary: 'Cancel a registration; the first waitlisted person takes the freed seat',
  input: CancelRegistrationInput,
  output: CancellationResult,
  access: signedIn(),
  refusals: { 404: ['REGISTRATION_NOT_FOUND'] },
  examples: [{ eventId: exampleEventId, participantId: 'lee-jun' }],
  handle: stateStored({
    load: (tx, cmd, meta) => loadForCancellation(tx, cmd.eventId, participantOf(cmd, meta)),
    decide: decideCancel,
    stream: (cmd, state) => streamOf(cmd.eventId, state.event),
    persist: (events, state) => persist(events, state.event),
    result: (events) => {
      const [cancelled, promoted] = events
      return {
        registrationId: cancelled?.type === 'RegistrationCancelled' ? cancelled.data.registrationId : '',
        promotedRegistrationId:
          promoted?.type === 'WaitlistedParticipantConfirmed' ? promoted.data.registrationId : null,
      }
    },
    memory: eventMemory((state: CancellationState) => state.event),
  }),
})

/** In the order their examples make a story: create, change, register, cancel, delete. */
export const commands = [createEvent, updateEvent, registerParticipant, cancelRegistration, deleteEvent]
