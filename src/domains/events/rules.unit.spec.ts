import { describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { deciderSpec } from '../../kernel/testing.js'
import { cancelRegistration, createEvent, deleteEvent, registerParticipant, updateEvent } from './commands.js'
import {
  EventCreated,
  EventDeleted,
  EventUpdated,
  ParticipantRegistered,
  ParticipantWaitlisted,
  RegistrationCancelled,
  WaitlistedParticipantConfirmed,
  type EventsEvent,
} from './messages.js'
import {
  decideCancel,
  decideCreate,
  decideDelete,
  decideRegister,
  decideUpdate,
  evolve,
  type ActiveRegistration,
  type EventRow,
  type EventState,
} from './rules.js'

// Given: callers, a fixed clock and id, and the event's states written out as values.

const olga: Caller = { id: 'olga', roles: ['organizer'] }
const otto: Caller = { id: 'otto', roles: ['organizer'] }
const ada: Caller = { id: 'ada', roles: ['admin'] }
const ann: Caller = { id: 'ann', roles: [] }
const bob: Caller = { id: 'bob', roles: [] }

const now = new Date('2031-03-01T09:00:00.000Z')
const at = now.toISOString()
const newId = '0190a0d0-0000-7000-8000-0000000000ff'
const eventId = '0190a0d0-0000-7000-8000-000000000001'
const startsAt = '2031-04-01T18:00:00.000Z'
const endsAt = '2031-04-01T21:00:00.000Z'
/** Every command below is decided at `now`, creating `newId`, by its spec's caller unless it says. */
const sent = { now, newId }

function row(overrides: Partial<EventRow> = {}): EventRow {
  return {
    eventId,
    organizerId: 'olga',
    title: 'Tandem meetup',
    description: 'Talks and pizza',
    venue: 'Hall A',
    startsAt,
    endsAt,
    capacity: 3,
    confirmedCount: 1,
    waitlistCount: 0,
    nextSeq: 2,
    version: 2,
    createdAt: '2031-02-01T08:00:00.000Z',
    updatedAt: '2031-02-01T08:00:00.000Z',
    ...overrides,
  }
}

const absent: EventState = { status: 'absent' }
const scheduled = (overrides: Partial<EventRow> = {}): EventState => ({
  status: 'scheduled',
  ...row(overrides),
})
const deleted = (overrides: Partial<EventRow> = {}): EventState => ({ status: 'deleted', ...row(overrides) })
const full = (overrides: Partial<EventRow> = {}) =>
  scheduled({ capacity: 2, confirmedCount: 2, waitlistCount: 3, nextSeq: 6, ...overrides })

const confirmedReg = (participantId: string, seq = 1): ActiveRegistration => ({
  registrationId: `0190a0d0-0000-7000-8000-0000000001${String(seq).padStart(2, '0')}`,
  participantId,
  status: 'confirmed',
  seq,
})
const waitlistedReg = (participantId: string, seq: number): ActiveRegistration => ({
  ...confirmedReg(participantId, seq),
  status: 'waitlisted',
})
const waitlist = [waitlistedReg('wil', 3), waitlistedReg('wim', 4), waitlistedReg('wes', 5)]
const [wil, wim] = waitlist as [ActiveRegistration, ActiveRegistration, ActiveRegistration]

const promoted = (r: ActiveRegistration) =>
  WaitlistedParticipantConfirmed.create({
    registrationId: r.registrationId,
    eventId,
    participantId: r.participantId,
    confirmedAt: at,
  })
const updated = (changes: Parameters<typeof EventUpdated.create>[0]['changes']) =>
  EventUpdated.create({ eventId, changes, updatedAt: at })

describe('decideCreate', () => {
  const given = deciderSpec(decideCreate, { command: createEvent, ...sent, caller: olga })
  const create = {
    title: 'Tandem meetup',
    startsAt: '2031-04-01T20:00:00+02:00',
    endsAt: '2031-04-01T23:00:00+02:00',
    capacity: 50,
  }
  const created = (data: Partial<Parameters<typeof EventCreated.create>[0]> = {}) =>
    EventCreated.create({
      eventId,
      organizerId: 'olga',
      title: 'Tandem meetup',
      description: null,
      venue: null,
      startsAt,
      endsAt,
      capacity: 50,
      createdAt: at,
      ...data,
    })

  describe('when no event has the id', () => {
    it('creates it with the caller as organizer, the client id kept and times in UTC', () => {
      given(absent)
        .when({ ...create, eventId })
        .then(created())
    })

    it('takes the new id from the metadata when the client gives none, and keeps description and venue', () => {
      given(absent)
        .when({ ...create, description: 'Talks', venue: 'Hall A' }, { caller: ada })
        .then(created({ eventId: newId, organizerId: 'ada', description: 'Talks', venue: 'Hall A' }))
    })

    it('refuses an end that is not after the start (400 VALIDATION_FAILED)', () => {
      const refusal = { status: 400, errors: [{ path: '/endsAt' }] }
      given(absent)
        .when({ ...create, endsAt: create.startsAt })
        .thenRefused('VALIDATION_FAILED', refusal)
      given(absent)
        .when({ ...create, endsAt: '2031-04-01T19:59:59+02:00' })
        .thenRefused('VALIDATION_FAILED', refusal)
      // Later only past the millisecond, which times count to: the message says why.
      given(absent)
        .when({ ...create, startsAt: '2031-04-01T20:00:00.1234Z', endsAt: '2031-04-01T20:00:00.1235Z' })
        .thenRefused('VALIDATION_FAILED', {
          status: 400,
          errors: [
            {
              path: '/endsAt',
              message: 'must be at least 1 ms after startsAt (times count to the millisecond)',
            },
          ],
        })
    })

    it('compares the period in UTC, not as the text the client sent', () => {
      // As text the end sorts after the start; as instants it is three hours before.
      given(absent)
        .when({ ...create, startsAt: '2031-04-01T10:00:00-05:00', endsAt: '2031-04-01T12:00:00Z' })
        .thenRefused('VALIDATION_FAILED')
    })

    it('refuses a start before now with 409 EVENT_STARTS_IN_PAST, and takes a start at now', () => {
      given(absent)
        .when({ ...create, startsAt: '2031-03-01T08:59:59.999Z' })
        .thenRefused('EVENT_STARTS_IN_PAST')
      given(absent)
        .when({ ...create, startsAt: '2020-01-01T00:00:00Z' })
        .thenRefused('EVENT_STARTS_IN_PAST')
      given(absent)
        .when({ ...create, startsAt: at })
        .then(created({ eventId: newId, startsAt: at }))
    })

    it('takes a start far ahead, up to the year 9999', () => {
      given(absent)
        .when({ ...create, startsAt: '9999-12-31T20:00:00Z', endsAt: '9999-12-31T23:59:59.999Z' })
        .then(
          created({
            eventId: newId,
            startsAt: '9999-12-31T20:00:00.000Z',
            endsAt: '9999-12-31T23:59:59.999Z',
          }),
        )
    })

    it('refuses a time before 1970 with a 400 naming the field', () => {
      given(absent)
        .when({ ...create, startsAt: '1969-12-31T23:00:00Z' })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/startsAt' }] })
    })

    it('refuses a time the schema lets through but that names no instant (a leap second) with a 400', () => {
      given(absent)
        .when({ ...create, endsAt: '2031-06-30T23:59:60Z' })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/endsAt' }] })
    })
  })

  describe('when an event with the id exists', () => {
    it('refuses with 409 EVENT_ALREADY_EXISTS, bad times with 400 as for a new id', () => {
      given(scheduled())
        .when({ ...create, eventId })
        .thenRefused('EVENT_ALREADY_EXISTS', { status: 409 })
      given(scheduled())
        .when({ ...create, eventId, endsAt: '2031-06-30T23:59:60Z' })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/endsAt' }] })
    })
  })

  describe('when an event with the id was deleted', () => {
    it('still refuses the id with 409 EVENT_ALREADY_EXISTS', () => {
      given(deleted())
        .when({ ...create, eventId })
        .thenRefused('EVENT_ALREADY_EXISTS')
    })
  })
})

describe('decideUpdate', () => {
  const given = deciderSpec(decideUpdate, { command: updateEvent, ...sent, caller: olga })
  /** The event, and the first of its waitlist: what `load` reads for an update. */
  const event = (state: EventState, queue: readonly ActiveRegistration[] = []) => ({
    event: state,
    waitlist: queue,
  })

  describe('when the event is scheduled', () => {
    it('lets its organizer change fields, clearing a nullable one with null', () => {
      given(event(scheduled()))
        .when({ eventId, title: 'Tandem night', venue: null })
        .then(updated({ title: 'Tandem night', venue: null }))
    })

    it('lets an admin change it', () => {
      given(event(scheduled()))
        .when({ eventId, capacity: 10 }, { caller: ada })
        .then(updated({ capacity: 10 }))
    })

    it('normalizes new times to UTC', () => {
      given(event(scheduled()))
        .when({ eventId, startsAt: '2031-04-01T19:00:00+02:00' })
        .then(updated({ startsAt: '2031-04-01T17:00:00.000Z' }))
    })

    it('refuses anyone else with 403 FORBIDDEN, another organizer included', () => {
      for (const caller of [ann, otto, undefined]) {
        given(event(scheduled())).when({ eventId, title: 'Mine' }, { caller }).thenRefused('FORBIDDEN')
      }
    })

    it('refuses a command that names no field with 400 VALIDATION_FAILED', () => {
      given(event(scheduled())).when({ eventId }).thenRefused('VALIDATION_FAILED')
    })

    it('records nothing when every value is the one it already has', () => {
      given(event(scheduled()))
        .when({
          eventId,
          title: 'Tandem meetup',
          description: 'Talks and pizza',
          startsAt: '2031-04-01T20:00:00+02:00', // the same instant, written another way
          capacity: 3,
        })
        .then([])
    })

    it('refuses a start moved past the end with 400 VALIDATION_FAILED', () => {
      given(event(scheduled()))
        .when({ eventId, startsAt: '2031-04-01T22:00:00.000Z' })
        .thenRefused('VALIDATION_FAILED')
    })

    it('refuses a start moved to before now with 409 EVENT_STARTS_IN_PAST', () => {
      given(event(scheduled()))
        .when({ eventId, startsAt: '2031-02-28T18:00:00.000Z' })
        .thenRefused('EVENT_STARTS_IN_PAST')
    })

    it('lets an event that has started change its other fields, its start left as it is', () => {
      given(event(scheduled({ startsAt: '2031-02-28T18:00:00.000Z' })))
        .when({ eventId, title: 'Renamed', startsAt: '2031-02-28T19:00:00+01:00' })
        .then(updated({ title: 'Renamed' }))
    })

    it('refuses a capacity below the confirmed count with 409 CAPACITY_BELOW_REGISTRATIONS', () => {
      given(event(scheduled({ capacity: 5, confirmedCount: 4 })))
        .when({ eventId, capacity: 3 })
        .thenRefused('CAPACITY_BELOW_REGISTRATIONS')
    })

    it('accepts a capacity equal to the confirmed count', () => {
      given(event(scheduled({ capacity: 5, confirmedCount: 4 })))
        .when({ eventId, capacity: 4 })
        .then(updated({ capacity: 4 }))
    })
  })

  describe('when the event is full with people waiting', () => {
    it('confirms the first waitlisted, in order, and only as many as seats freed', () => {
      given(event(full(), waitlist))
        .when({ eventId, capacity: 4 })
        .then([updated({ capacity: 4 }), promoted(wil), promoted(wim)])
    })

    it('confirms everyone waiting when more seats are freed than people wait', () => {
      given(event(full(), waitlist))
        .when({ eventId, capacity: 10 })
        .then([updated({ capacity: 10 }), ...waitlist.map(promoted)])
    })

    it('confirms nobody when the capacity does not change', () => {
      given(event(full(), waitlist))
        .when({ eventId, title: 'Renamed' })
        .then(updated({ title: 'Renamed' }))
    })
  })

  describe('when the event is deleted or absent', () => {
    it('refuses with 404 EVENT_NOT_FOUND', () => {
      for (const state of [deleted(), absent]) {
        given(event(state)).when({ eventId, title: 'X' }).thenRefused('EVENT_NOT_FOUND', { status: 404 })
      }
    })
  })
})

describe('decideDelete', () => {
  const given = deciderSpec(decideDelete, { command: deleteEvent, ...sent, caller: olga })

  describe('when the event is scheduled', () => {
    it('deletes it for its organizer and for an admin', () => {
      for (const caller of [olga, ada]) {
        given(scheduled())
          .when({ eventId }, { caller })
          .then(EventDeleted.create({ eventId, deletedAt: at }))
      }
    })

    it('refuses anyone else with 403 FORBIDDEN', () => {
      for (const caller of [ann, otto, undefined]) {
        given(scheduled()).when({ eventId }, { caller }).thenRefused('FORBIDDEN', { status: 403 })
      }
    })
  })

  describe('when the event is deleted or absent', () => {
    it('refuses with 404 EVENT_NOT_FOUND', () => {
      for (const state of [deleted(), absent]) {
        given(state).when({ eventId }).thenRefused('EVENT_NOT_FOUND')
      }
    })
  })
})

describe('decideRegister', () => {
  const given = deciderSpec(decideRegister, { command: registerParticipant, ...sent, caller: ann })
  /** The event, and the participant's active registration: what `load` reads for a registration. */
  const event = (state: EventState, active?: ActiveRegistration) => ({ event: state, active })
  const registration = (participantId: string, seq: number) => ({
    registrationId: newId,
    eventId,
    participantId,
    name: null,
    email: null,
    seq,
    registeredAt: at,
  })

  describe('when the event has a free seat', () => {
    it('confirms the caller, with the seq taken from nextSeq', () => {
      given(event(scheduled({ capacity: 3, confirmedCount: 2, nextSeq: 7 })))
        .when({ eventId })
        .then(ParticipantRegistered.create(registration('ann', 7)))
    })

    it('keeps the name and email given', () => {
      given(event(scheduled()))
        .when({ eventId, name: 'Ann', email: 'ann@example.org' })
        .then(
          ParticipantRegistered.create({ ...registration('ann', 2), name: 'Ann', email: 'ann@example.org' }),
        )
    })

    it('confirms rather than waitlists when the caller offers to wait', () => {
      given(event(scheduled()))
        .when({ eventId, waitlist: true })
        .then(ParticipantRegistered.create(registration('ann', 2)))
    })

    it('lets the organizer or an admin register someone else', () => {
      for (const caller of [olga, ada]) {
        given(event(scheduled()))
          .when({ eventId, participantId: 'bob' }, { caller })
          .then(ParticipantRegistered.create(registration('bob', 2)))
      }
    })

    it('refuses to let anyone else register another person (403 FORBIDDEN)', () => {
      for (const caller of [ann, otto]) {
        given(event(scheduled())).when({ eventId, participantId: 'bob' }, { caller }).thenRefused('FORBIDDEN')
      }
    })
  })

  describe('when the event is full', () => {
    it('waitlists the caller who offers to wait, with the seq taken from nextSeq', () => {
      given(event(full()))
        .when({ eventId, waitlist: true })
        .then(ParticipantWaitlisted.create(registration('ann', 6)))
    })

    it('refuses a caller who does not offer to wait with 409 EVENT_FULL', () => {
      for (const input of [{ eventId }, { eventId, waitlist: false }]) {
        given(event(full({ waitlistCount: 0 })))
          .when(input)
          .thenRefused('EVENT_FULL', { status: 409 })
      }
    })
  })

  describe('when the participant already holds a registration', () => {
    it('refuses a second one with 409 ALREADY_REGISTERED, confirmed or waitlisted', () => {
      for (const active of [confirmedReg('ann'), waitlistedReg('ann', 4)]) {
        given(event(full(), active)).when({ eventId, waitlist: true }).thenRefused('ALREADY_REGISTERED')
      }
    })
  })

  describe('when the event has started', () => {
    it('refuses with 409 REGISTRATION_CLOSED, from the start time on', () => {
      for (const clock of [startsAt, '2031-04-01T19:00:00.000Z']) {
        given(event(scheduled())).when({ eventId }, { now: clock }).thenRefused('REGISTRATION_CLOSED')
      }
    })

    it('still accepts a registration a millisecond before the start', () => {
      const clock = new Date(Date.parse(startsAt) - 1)
      given(event(scheduled()))
        .when({ eventId }, { now: clock })
        .then(ParticipantRegistered.create({ ...registration('ann', 2), registeredAt: clock.toISOString() }))
    })
  })

  describe('when the event is deleted or absent', () => {
    it('refuses with 404 EVENT_NOT_FOUND', () => {
      for (const state of [deleted(), absent]) {
        given(event(state)).when({ eventId }).thenRefused('EVENT_NOT_FOUND')
      }
    })
  })
})

describe('decideCancel', () => {
  const given = deciderSpec(decideCancel, { command: cancelRegistration, ...sent, caller: bob })
  /** The event, the participant's registration and the first waitlisted: what `load` reads for a cancellation. */
  const event = (state: EventState, active?: ActiveRegistration, nextWaitlisted?: ActiveRegistration) => ({
    event: state,
    active,
    nextWaitlisted,
  })
  const cancelled = (r: ActiveRegistration) =>
    RegistrationCancelled.create({
      registrationId: r.registrationId,
      eventId,
      participantId: r.participantId,
      previousStatus: r.status,
      cancelledAt: at,
    })

  describe('when the participant holds a confirmed seat and nobody waits', () => {
    const bobs = confirmedReg('bob')

    it('cancels it for the participant', () => {
      given(event(scheduled(), bobs)).when({ eventId }).then(cancelled(bobs))
    })

    it("cancels it for the event's organizer and for an admin", () => {
      for (const caller of [olga, ada]) {
        given(event(scheduled(), bobs))
          .when({ eventId, participantId: 'bob' }, { caller })
          .then(cancelled(bobs))
      }
    })

    it('refuses anyone else with 403 FORBIDDEN', () => {
      for (const caller of [ann, otto]) {
        given(event(scheduled(), bobs))
          .when({ eventId, participantId: 'bob' }, { caller })
          .thenRefused('FORBIDDEN')
      }
    })
  })

  describe('when the event is full with people waiting', () => {
    it('gives the freed seat of a confirmed cancellation to the first waitlisted', () => {
      const bobs = confirmedReg('bob')
      given(event(full(), bobs, wil))
        .when({ eventId })
        .then([cancelled(bobs), promoted(wil)])
    })

    it('cancels after the start too, and the freed seat goes to the first waitlisted: one who comes late may still come', () => {
      const bobs = confirmedReg('bob')
      const later = '2031-04-01T19:00:00.000Z'
      given(event(full(), bobs, wil))
        .when({ eventId }, { now: later })
        .then([
          RegistrationCancelled.create({ ...cancelled(bobs).data, cancelledAt: later }),
          WaitlistedParticipantConfirmed.create({ ...promoted(wil).data, confirmedAt: later }),
        ])
    })

    it('promotes nobody when a waitlisted registration is cancelled', () => {
      given(event(full(), wim, wil))
        .when({ eventId }, { caller: { id: 'wim', roles: [] } })
        .then(cancelled(wim))
    })
  })

  describe('when the participant holds no active registration', () => {
    it('refuses with 404 REGISTRATION_NOT_FOUND, for the participant and for the organizer', () => {
      given(event(scheduled())).when({ eventId }).thenRefused('REGISTRATION_NOT_FOUND', { status: 404 })
      given(event(scheduled()))
        .when({ eventId, participantId: 'bob' }, { caller: olga })
        .thenRefused('REGISTRATION_NOT_FOUND')
    })
  })

  describe('when the event is deleted', () => {
    it('refuses with 404 REGISTRATION_NOT_FOUND, whatever registration is passed in', () => {
      given(event(deleted(), confirmedReg('bob')))
        .when({ eventId })
        .thenRefused('REGISTRATION_NOT_FOUND')
    })
  })

  describe('when the event is absent', () => {
    it('refuses the participant with 404 REGISTRATION_NOT_FOUND', () => {
      given(event(absent)).when({ eventId }).thenRefused('REGISTRATION_NOT_FOUND')
    })

    it('refuses an admin cancelling for someone else with 404, not 403: an admin may cancel anything', () => {
      given(event(absent))
        .when({ eventId, participantId: 'bob' }, { caller: ada })
        .thenRefused('REGISTRATION_NOT_FOUND')
    })
  })
})

describe('evolve', () => {
  const blank: EventRow = row({
    eventId: '',
    organizerId: '',
    title: '',
    description: null,
    venue: null,
    startsAt: '',
    endsAt: '',
    capacity: 1,
    confirmedCount: 0,
    nextSeq: 1,
    version: 0,
    createdAt: '',
    updatedAt: '',
  })
  const reg = (participantId: string, seq: number) => ({
    registrationId: confirmedReg(participantId, seq).registrationId,
    eventId,
    participantId,
    name: null,
    email: null,
    seq,
    registeredAt: at,
  })
  const cancel = (participantId: string, seq: number, previousStatus: 'confirmed' | 'waitlisted') =>
    RegistrationCancelled.create({
      registrationId: reg(participantId, seq).registrationId,
      eventId,
      participantId,
      previousStatus,
      cancelledAt: at,
    })
  const created = EventCreated.create({
    eventId,
    organizerId: 'olga',
    title: 'Tandem meetup',
    description: null,
    venue: 'Hall A',
    startsAt,
    endsAt,
    capacity: 1,
    createdAt: '2031-02-01T08:00:00.000Z',
  })

  it('starts a created event with no registrations, seq 1 and version 1', () => {
    expect(evolve(blank, created)).toEqual({
      ...created.data,
      confirmedCount: 0,
      waitlistCount: 0,
      nextSeq: 1,
      version: 1,
      updatedAt: '2031-02-01T08:00:00.000Z',
    })
  })

  it('counts registrations, hands out seqs in order and adds one to the version per event', () => {
    const history: EventsEvent[] = [
      created,
      ParticipantRegistered.create(reg('ann', 1)),
      ParticipantWaitlisted.create(reg('bob', 2)),
      ParticipantWaitlisted.create(reg('cat', 3)),
    ]
    const after = history.reduce(evolve, blank)
    expect(after).toMatchObject({ confirmedCount: 1, waitlistCount: 2, nextSeq: 4, version: 4 })
    const cancelAnn = cancel('ann', 1, 'confirmed')
    expect(evolve(after, cancelAnn)).toMatchObject({
      confirmedCount: 0,
      waitlistCount: 2,
      nextSeq: 4,
      version: 5,
    })
    const end = [cancelAnn, promoted(confirmedReg('bob', 2)), cancel('cat', 3, 'waitlisted')].reduce(
      evolve,
      after,
    )
    expect(end).toMatchObject({ confirmedCount: 1, waitlistCount: 0, nextSeq: 4, version: 7 })
  })

  it('applies an update’s changes and time keeping the counts; a deletion’s time, counting no one (its registrations are cancelled)', () => {
    const before = row({ confirmedCount: 2, waitlistCount: 1, nextSeq: 4, version: 9 })
    const update = updated({ title: 'Renamed', venue: null, capacity: 5 })
    expect(evolve(before, update)).toEqual({
      ...before,
      title: 'Renamed',
      venue: null,
      capacity: 5,
      version: 10,
      updatedAt: at,
    })
    const deletion = EventDeleted.create({ eventId, deletedAt: '2031-03-02T00:00:00.000Z' })
    expect(evolve(before, deletion)).toEqual({
      ...before,
      confirmedCount: 0,
      waitlistCount: 0,
      version: 10,
      updatedAt: '2031-03-02T00:00:00.000Z',
    })
  })
})
