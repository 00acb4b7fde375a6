import { stateStored } from '../../core/decider.js'
import { defineCommand, signedIn, type CommandMeta } from '../../core/messages.js'
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
  type EventState,
} from './rules.js'
import { loadEvent, loadForCancellation, loadForRegistration, loadWaitlist, persist } from './write-model.js'

const domain = 'events'
const streamOf = (eventId: string, state: EventState) => ({
  id: `event-${eventId}`,
  expectedVersion: state.status === 'absent' ? 0 : state.version,
})
const createdId = (events: readonly EventsEvent[], meta: CommandMeta) =>
  events[0]?.type === 'EventCreated' ? events[0].data.eventId : meta.newId

export const createEvent = defineCommand({
  domain,
  name: 'create-event',
  summary: 'Create an event; the caller becomes its organizer',
  input: CreateEventInput,
  output: EventIdResult,
  access: signedIn('organizer', 'admin'),
  refusals: ['EVENT_ALREADY_EXISTS'],
  handle: stateStored({
    load: (tx, cmd, meta) => loadEvent(tx, cmd.eventId ?? meta.newId),
    decide: decideCreate,
    stream: (cmd, _state, meta) => streamOf(cmd.eventId ?? meta.newId, { status: 'absent' }),
    persist: (events, state) => persist(events, state),
    result: (events, _cmd, _state, meta) => ({ eventId: createdId(events, meta) }),
  }),
})

export const updateEvent = defineCommand({
  domain,
  name: 'update-event',
  summary: 'Change an event; raising the capacity confirms waitlisted people in order',
  input: UpdateEventInput,
  output: EventIdResult,
  access: signedIn(),
  refusals: ['EVENT_NOT_FOUND', 'CAPACITY_BELOW_REGISTRATIONS'],
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
  }),
})

export const deleteEvent = defineCommand({
  domain,
  name: 'delete-event',
  summary: 'Delete an event: it leaves every listing and its registrations are cancelled',
  input: DeleteEventInput,
  output: EventIdResult,
  access: signedIn(),
  refusals: ['EVENT_NOT_FOUND'],
  handle: stateStored({
    load: (tx, cmd) => loadEvent(tx, cmd.eventId),
    decide: decideDelete,
    stream: (cmd, state) => streamOf(cmd.eventId, state),
    persist: (events, state) => persist(events, state),
    result: (_events, cmd) => ({ eventId: cmd.eventId }),
  }),
})

export const registerParticipant = defineCommand({
  domain,
  name: 'register-participant',
  summary: 'Register for an event, or join its waitlist when it is full and `waitlist` is true',
  input: RegisterParticipantInput,
  output: RegistrationResult,
  access: signedIn(),
  refusals: ['EVENT_NOT_FOUND', 'EVENT_FULL', 'ALREADY_REGISTERED', 'REGISTRATION_CLOSED'],
  handle: stateStored({
    load: (tx, cmd, meta) => loadForRegistration(tx, cmd.eventId, participantOf(cmd, meta)),
    decide: decideRegister,
    stream: (cmd, state) => streamOf(cmd.eventId, state.event),
    persist: (events, state) => persist(events, state.event),
    result: (events, _cmd, _state, meta) => ({
      registrationId: meta.newId,
      status: events[0]?.type === 'ParticipantWaitlisted' ? ('waitlisted' as const) : ('confirmed' as const),
    }),
  }),
})

export const cancelRegistration = defineCommand({
  domain,
  name: 'cancel-registration',
  summary: 'Cancel a registration; the first waitlisted person takes the freed seat',
  input: CancelRegistrationInput,
  output: CancellationResult,
  access: signedIn(),
  refusals: ['REGISTRATION_NOT_FOUND'],
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
  }),
})

export const commands = [createEvent, updateEvent, deleteEvent, registerParticipant, cancelRegistration]
