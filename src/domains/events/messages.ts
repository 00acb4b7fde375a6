import { defineEvent, Id, Text, UserId } from '../../kernel/index.js'
import Type, { type Static } from 'typebox'

/** Schemas of the events domain's commands, results and events: one definition each. */

const ParticipantId = UserId()
const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time' })
const Title = Text(200)
const Description = Type.String({ maxLength: 5000 })
const Venue = Type.String({ maxLength: 200 })
const Capacity = Type.Integer({ minimum: 1, maximum: 100_000 })
const strict = { additionalProperties: false } as const

export const CreateEventInput = Type.Object(
  {
    eventId: Type.Optional(Id()),
    title: Title,
    description: Type.Optional(Description),
    venue: Type.Optional(Venue),
    startsAt: Time,
    endsAt: Time,
    capacity: Capacity,
  },
  strict,
)
export const UpdateEventInput = Type.Object(
  {
    eventId: Id(),
    title: Type.Optional(Title),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    venue: Type.Optional(Type.Union([Venue, Type.Null()])),
    startsAt: Type.Optional(Time),
    endsAt: Type.Optional(Time),
    capacity: Type.Optional(Capacity),
  },
  strict,
)
export const DeleteEventInput = Type.Object({ eventId: Id() }, strict)
export const RegisterParticipantInput = Type.Object(
  {
    eventId: Id(),
    participantId: Type.Optional(ParticipantId),
    name: Type.Optional(Text(200)),
    email: Type.Optional(Type.String({ format: 'email', maxLength: 320 })),
    waitlist: Type.Optional(Type.Boolean({ description: 'Join the waitlist when the event is full' })),
  },
  strict,
)
export const CancelRegistrationInput = Type.Object(
  { eventId: Id(), participantId: Type.Optional(ParticipantId) },
  strict,
)

export const EventIdResult = Type.Object({ eventId: Id() })
export const RegistrationResult = Type.Object({
  registrationId: Id(),
  status: Type.Enum(['confirmed', 'waitlisted']),
})
export const CancellationResult = Type.Object({
  registrationId: Id(),
  promotedRegistrationId: Type.Union([Id(), Type.Null()]),
})

export type CreateEvent = Static<typeof CreateEventInput>
export type UpdateEvent = Static<typeof UpdateEventInput>
export type DeleteEvent = Static<typeof DeleteEventInput>
export type RegisterParticipant = Static<typeof RegisterParticipantInput>
export type CancelRegistration = Static<typeof CancelRegistrationInput>

const Details = {
  title: Title,
  description: Type.Union([Type.String(), Type.Null()]),
  venue: Type.Union([Type.String(), Type.Null()]),
  startsAt: Time,
  endsAt: Time,
  capacity: Capacity,
}

export const EventCreated = defineEvent(
  'EventCreated',
  Type.Object({ eventId: Id(), organizerId: Type.String(), createdAt: Time, ...Details }),
)
export const EventUpdated = defineEvent(
  'EventUpdated',
  Type.Object({ eventId: Id(), changes: Type.Partial(Type.Object(Details)), updatedAt: Time }),
)
export const EventDeleted = defineEvent('EventDeleted', Type.Object({ eventId: Id(), deletedAt: Time }))

const Registration = {
  registrationId: Id(),
  eventId: Id(),
  participantId: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  email: Type.Union([Type.String(), Type.Null()]),
  /** Order of arrival within the event: the waitlist is served by it. */
  seq: Type.Integer(),
  registeredAt: Time,
}
export const ParticipantRegistered = defineEvent('ParticipantRegistered', Type.Object(Registration))
export const ParticipantWaitlisted = defineEvent('ParticipantWaitlisted', Type.Object(Registration))
export const RegistrationCancelled = defineEvent(
  'RegistrationCancelled',
  Type.Object({
    registrationId: Id(),
    eventId: Id(),
    participantId: Type.String(),
    previousStatus: Type.Enum(['confirmed', 'waitlisted']),
    cancelledAt: Time,
  }),
)
export const WaitlistedParticipantConfirmed = defineEvent(
  'WaitlistedParticipantConfirmed',
  Type.Object({ registrationId: Id(), eventId: Id(), participantId: Type.String(), confirmedAt: Time }),
)

export const allEvents = [
  EventCreated,
  EventUpdated,
  EventDeleted,
  ParticipantRegistered,
  ParticipantWaitlisted,
  RegistrationCancelled,
  WaitlistedParticipantConfirmed,
]

export type EventsEvent = ReturnType<(typeof allEvents)[number]['create']>
