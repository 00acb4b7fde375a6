import { describe, expect, it } from 'vitest'
import type { Caller, CommandMeta } from '../../core/messages.js'
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

function meta(caller: Caller | undefined, overrides: Partial<CommandMeta> = {}): CommandMeta {
  return { commandId: 'command-1', correlationId: 'correlation-1', caller, now, newId, ...overrides }
}

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

const promoted = (r: ActiveRegistration) =>
  WaitlistedParticipantConfirmed.create({
    registrationId: r.registrationId,
    eventId,
    participantId: r.participantId,
    confirmedAt: at,
  })

/** The thrown refusal's code and status (errors are told apart by code, not class). */
function refusal(decide: () => unknown): { code: string; status: number } {
  try {
    decide()
  } catch (error) {
    const { code, status } = error as { code: string; status: number }
    return { code, status }
  }
  throw new Error('The command was not refused')
}

const create = {
  title: 'Tandem meetup',
  startsAt: '2031-04-01T20:00:00+02:00',
  endsAt: '2031-04-01T23:00:00+02:00',
  capacity: 50,
}

describe('decideCreate', () => {
  describe('when no event has the id', () => {
    it('creates it with the caller as organizer, the client id kept and times in UTC', () => {
      expect(decideCreate({ ...create, eventId }, absent, meta(olga))).toEqual([
        EventCreated.create({
          eventId,
          organizerId: 'olga',
          title: 'Tandem meetup',
          description: null,
          venue: null,
          startsAt: '2031-04-01T18:00:00.000Z',
          endsAt: '2031-04-01T21:00:00.000Z',
          capacity: 50,
          createdAt: at,
        }),
      ])
    })

    it('takes the new id from the metadata when the client gives none, and keeps description and venue', () => {
      const events = decideCreate({ ...create, description: 'Talks', venue: 'Hall A' }, absent, meta(ada))
      expect(events).toEqual([
        EventCreated.create({
          eventId: newId,
          organizerId: 'ada',
          title: 'Tandem meetup',
          description: 'Talks',
          venue: 'Hall A',
          startsAt: '2031-04-01T18:00:00.000Z',
          endsAt: '2031-04-01T21:00:00.000Z',
          capacity: 50,
          createdAt: at,
        }),
      ])
    })

    it('refuses an end that is not after the start (400 VALIDATION_FAILED)', () => {
      const same = { ...create, endsAt: create.startsAt }
      const before = { ...create, endsAt: '2031-04-01T19:59:59+02:00' }
      expect(refusal(() => decideCreate(same, absent, meta(olga)))).toEqual({
        code: 'VALIDATION_FAILED',
        status: 400,
      })
      expect(refusal(() => decideCreate(before, absent, meta(olga)))).toEqual({
        code: 'VALIDATION_FAILED',
        status: 400,
      })
    })

    it('compares the period in UTC, not as the text the client sent', () => {
      // As text the end sorts after the start; as instants it is three hours before.
      const cmd = { ...create, startsAt: '2031-04-01T10:00:00-05:00', endsAt: '2031-04-01T12:00:00Z' }
      expect(refusal(() => decideCreate(cmd, absent, meta(olga)))).toEqual({
        code: 'VALIDATION_FAILED',
        status: 400,
      })
    })

    it('refuses a start before now with 409 EVENT_STARTS_IN_PAST, and takes a start at now', () => {
      const past = { ...create, startsAt: '2031-03-01T08:59:59.999Z' }
      expect(refusal(() => decideCreate(past, absent, meta(olga)))).toEqual({
        code: 'EVENT_STARTS_IN_PAST',
        status: 409,
      })
      const longAgo = { ...create, startsAt: '2020-01-01T00:00:00Z' }
      expect(refusal(() => decideCreate(longAgo, absent, meta(olga))).code).toBe('EVENT_STARTS_IN_PAST')
      expect(decideCreate({ ...create, startsAt: at }, absent, meta(olga))).toHaveLength(1)
    })

    it('takes a start far ahead, up to the year 9999', () => {
      const far = { ...create, startsAt: '9999-12-31T20:00:00Z', endsAt: '9999-12-31T23:59:59.999Z' }
      expect(decideCreate(far, absent, meta(olga))).toHaveLength(1)
    })

    it('refuses a time before 1970 with a 400 naming the field', () => {
      const cmd = { ...create, startsAt: '1969-12-31T23:00:00Z' }
      expect(() => decideCreate(cmd, absent, meta(olga))).toThrow(
        expect.objectContaining({
          code: 'VALIDATION_FAILED',
          errors: [expect.objectContaining({ path: '/startsAt' })],
        }),
      )
    })

    it('refuses a time the schema lets through but that names no instant (a leap second) with a 400', () => {
      const cmd = { ...create, endsAt: '2031-06-30T23:59:60Z' }
      expect(() => decideCreate(cmd, absent, meta(olga))).toThrow(
        expect.objectContaining({
          code: 'VALIDATION_FAILED',
          errors: [expect.objectContaining({ path: '/endsAt' })],
        }),
      )
    })
  })

  describe('when an event with the id exists', () => {
    it('refuses with 409 EVENT_ALREADY_EXISTS', () => {
      expect(refusal(() => decideCreate({ ...create, eventId }, scheduled(), meta(olga)))).toEqual({
        code: 'EVENT_ALREADY_EXISTS',
        status: 409,
      })
    })
  })

  describe('when an event with the id was deleted', () => {
    it('still refuses the id with 409 EVENT_ALREADY_EXISTS', () => {
      expect(refusal(() => decideCreate({ ...create, eventId }, deleted(), meta(olga)))).toEqual({
        code: 'EVENT_ALREADY_EXISTS',
        status: 409,
      })
    })
  })
})

describe('decideUpdate', () => {
  const given = (event: EventState, queue: readonly ActiveRegistration[] = []) => ({ event, waitlist: queue })

  describe('when the event is scheduled', () => {
    it('lets its organizer change fields, clearing a nullable one with null', () => {
      const events = decideUpdate(
        { eventId, title: 'Tandem night', venue: null },
        given(scheduled()),
        meta(olga),
      )
      expect(events).toEqual([
        EventUpdated.create({ eventId, changes: { title: 'Tandem night', venue: null }, updatedAt: at }),
      ])
    })

    it('lets an admin change it', () => {
      expect(decideUpdate({ eventId, capacity: 10 }, given(scheduled()), meta(ada))).toEqual([
        EventUpdated.create({ eventId, changes: { capacity: 10 }, updatedAt: at }),
      ])
    })

    it('normalizes new times to UTC', () => {
      const cmd = { eventId, startsAt: '2031-04-01T19:00:00+02:00' }
      expect(decideUpdate(cmd, given(scheduled()), meta(olga))).toEqual([
        EventUpdated.create({ eventId, changes: { startsAt: '2031-04-01T17:00:00.000Z' }, updatedAt: at }),
      ])
    })

    it('refuses anyone else with 403 FORBIDDEN, another organizer included', () => {
      for (const caller of [ann, otto, undefined]) {
        expect(
          refusal(() => decideUpdate({ eventId, title: 'Mine' }, given(scheduled()), meta(caller))),
        ).toEqual({ code: 'FORBIDDEN', status: 403 })
      }
    })

    it('refuses a command that names no field with 400 VALIDATION_FAILED', () => {
      expect(refusal(() => decideUpdate({ eventId }, given(scheduled()), meta(olga)))).toEqual({
        code: 'VALIDATION_FAILED',
        status: 400,
      })
    })

    it('records nothing when every value is the one it already has', () => {
      const cmd = {
        eventId,
        title: 'Tandem meetup',
        description: 'Talks and pizza',
        startsAt: '2031-04-01T20:00:00+02:00', // the same instant, written another way
        capacity: 3,
      }
      expect(decideUpdate(cmd, given(scheduled()), meta(olga))).toEqual([])
    })

    it('refuses a start moved past the end with 400 VALIDATION_FAILED', () => {
      const cmd = { eventId, startsAt: '2031-04-01T22:00:00.000Z' }
      expect(refusal(() => decideUpdate(cmd, given(scheduled()), meta(olga)))).toEqual({
        code: 'VALIDATION_FAILED',
        status: 400,
      })
    })

    it('refuses a start moved to before now with 409 EVENT_STARTS_IN_PAST', () => {
      const cmd = { eventId, startsAt: '2031-02-28T18:00:00.000Z' }
      expect(refusal(() => decideUpdate(cmd, given(scheduled()), meta(olga)))).toEqual({
        code: 'EVENT_STARTS_IN_PAST',
        status: 409,
      })
    })

    it('lets an event that has started change its other fields, its start left as it is', () => {
      const started = given(scheduled({ startsAt: '2031-02-28T18:00:00.000Z' }))
      const cmd = { eventId, title: 'Renamed', startsAt: '2031-02-28T19:00:00+01:00' }
      expect(decideUpdate(cmd, started, meta(olga))).toEqual([
        EventUpdated.create({ eventId, changes: { title: 'Renamed' }, updatedAt: at }),
      ])
    })

    it('refuses a capacity below the confirmed count with 409 CAPACITY_BELOW_REGISTRATIONS', () => {
      const state = given(scheduled({ capacity: 5, confirmedCount: 4 }))
      expect(refusal(() => decideUpdate({ eventId, capacity: 3 }, state, meta(olga)))).toEqual({
        code: 'CAPACITY_BELOW_REGISTRATIONS',
        status: 409,
      })
    })

    it('accepts a capacity equal to the confirmed count', () => {
      const state = given(scheduled({ capacity: 5, confirmedCount: 4 }))
      expect(decideUpdate({ eventId, capacity: 4 }, state, meta(olga))).toEqual([
        EventUpdated.create({ eventId, changes: { capacity: 4 }, updatedAt: at }),
      ])
    })
  })

  describe('when the event is full with people waiting', () => {
    it('confirms the first waitlisted, in order, and only as many as seats freed', () => {
      const events = decideUpdate({ eventId, capacity: 4 }, given(full(), waitlist), meta(olga))
      expect(events).toEqual([
        EventUpdated.create({ eventId, changes: { capacity: 4 }, updatedAt: at }),
        promoted(waitlist[0] as ActiveRegistration),
        promoted(waitlist[1] as ActiveRegistration),
      ])
    })

    it('confirms everyone waiting when more seats are freed than people wait', () => {
      const events = decideUpdate({ eventId, capacity: 10 }, given(full(), waitlist), meta(olga))
      expect(events).toEqual([
        EventUpdated.create({ eventId, changes: { capacity: 10 }, updatedAt: at }),
        ...waitlist.map(promoted),
      ])
    })

    it('confirms nobody when the capacity does not change', () => {
      const events = decideUpdate({ eventId, title: 'Renamed' }, given(full(), waitlist), meta(olga))
      expect(events).toEqual([EventUpdated.create({ eventId, changes: { title: 'Renamed' }, updatedAt: at })])
    })
  })

  describe('when the event is deleted or absent', () => {
    it('refuses with 404 EVENT_NOT_FOUND', () => {
      for (const event of [deleted(), absent]) {
        expect(refusal(() => decideUpdate({ eventId, title: 'X' }, given(event), meta(olga)))).toEqual({
          code: 'EVENT_NOT_FOUND',
          status: 404,
        })
      }
    })
  })
})

describe('decideDelete', () => {
  describe('when the event is scheduled', () => {
    it('deletes it for its organizer and for an admin', () => {
      for (const caller of [olga, ada]) {
        expect(decideDelete({ eventId }, scheduled(), meta(caller))).toEqual([
          EventDeleted.create({ eventId, deletedAt: at }),
        ])
      }
    })

    it('refuses anyone else with 403 FORBIDDEN', () => {
      for (const caller of [ann, otto, undefined]) {
        expect(refusal(() => decideDelete({ eventId }, scheduled(), meta(caller)))).toEqual({
          code: 'FORBIDDEN',
          status: 403,
        })
      }
    })
  })

  describe('when the event is deleted or absent', () => {
    it('refuses with 404 EVENT_NOT_FOUND', () => {
      for (const event of [deleted(), absent]) {
        expect(refusal(() => decideDelete({ eventId }, event, meta(olga)))).toEqual({
          code: 'EVENT_NOT_FOUND',
          status: 404,
        })
      }
    })
  })
})

describe('decideRegister', () => {
  const given = (event: EventState, active?: ActiveRegistration) => ({ event, active })
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
      const state = given(scheduled({ capacity: 3, confirmedCount: 2, nextSeq: 7 }))
      expect(decideRegister({ eventId }, state, meta(ann))).toEqual([
        ParticipantRegistered.create(registration('ann', 7)),
      ])
    })

    it('keeps the name and email given', () => {
      const cmd = { eventId, name: 'Ann', email: 'ann@example.org' }
      expect(decideRegister(cmd, given(scheduled()), meta(ann))).toEqual([
        ParticipantRegistered.create({ ...registration('ann', 2), name: 'Ann', email: 'ann@example.org' }),
      ])
    })

    it('confirms rather than waitlists when the caller offers to wait', () => {
      expect(decideRegister({ eventId, waitlist: true }, given(scheduled()), meta(ann))).toEqual([
        ParticipantRegistered.create(registration('ann', 2)),
      ])
    })

    it('lets the organizer or an admin register someone else', () => {
      for (const caller of [olga, ada]) {
        expect(decideRegister({ eventId, participantId: 'bob' }, given(scheduled()), meta(caller))).toEqual([
          ParticipantRegistered.create(registration('bob', 2)),
        ])
      }
    })

    it('refuses to let anyone else register another person (403 FORBIDDEN)', () => {
      for (const caller of [ann, otto]) {
        const cmd = { eventId, participantId: 'bob' }
        expect(refusal(() => decideRegister(cmd, given(scheduled()), meta(caller)))).toEqual({
          code: 'FORBIDDEN',
          status: 403,
        })
      }
    })
  })

  describe('when the event is full', () => {
    it('waitlists the caller who offers to wait, with the seq taken from nextSeq', () => {
      expect(decideRegister({ eventId, waitlist: true }, given(full()), meta(ann))).toEqual([
        ParticipantWaitlisted.create(registration('ann', 6)),
      ])
    })

    it('refuses a caller who does not offer to wait with 409 EVENT_FULL', () => {
      for (const cmd of [{ eventId }, { eventId, waitlist: false }]) {
        expect(refusal(() => decideRegister(cmd, given(full({ waitlistCount: 0 })), meta(ann)))).toEqual({
          code: 'EVENT_FULL',
          status: 409,
        })
      }
    })
  })

  describe('when the participant already holds a registration', () => {
    it('refuses a second one with 409 ALREADY_REGISTERED, confirmed or waitlisted', () => {
      for (const active of [confirmedReg('ann'), waitlistedReg('ann', 4)]) {
        expect(
          refusal(() => decideRegister({ eventId, waitlist: true }, given(full(), active), meta(ann))),
        ).toEqual({ code: 'ALREADY_REGISTERED', status: 409 })
      }
    })
  })

  describe('when the event has started', () => {
    it('refuses with 409 REGISTRATION_CLOSED, from the start time on', () => {
      for (const clock of [new Date(startsAt), new Date('2031-04-01T19:00:00.000Z')]) {
        expect(
          refusal(() => decideRegister({ eventId }, given(scheduled()), meta(ann, { now: clock }))),
        ).toEqual({
          code: 'REGISTRATION_CLOSED',
          status: 409,
        })
      }
    })

    it('still accepts a registration a millisecond before the start', () => {
      const clock = new Date(Date.parse(startsAt) - 1)
      expect(decideRegister({ eventId }, given(scheduled()), meta(ann, { now: clock }))).toEqual([
        ParticipantRegistered.create({ ...registration('ann', 2), registeredAt: clock.toISOString() }),
      ])
    })
  })

  describe('when the event is deleted or absent', () => {
    it('refuses with 404 EVENT_NOT_FOUND', () => {
      for (const event of [deleted(), absent]) {
        expect(refusal(() => decideRegister({ eventId }, given(event), meta(ann)))).toEqual({
          code: 'EVENT_NOT_FOUND',
          status: 404,
        })
      }
    })
  })
})

describe('decideCancel', () => {
  const given = (event: EventState, active?: ActiveRegistration, nextWaitlisted?: ActiveRegistration) => ({
    event,
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
      expect(decideCancel({ eventId }, given(scheduled(), bobs), meta(bob))).toEqual([cancelled(bobs)])
    })

    it("cancels it for the event's organizer and for an admin", () => {
      for (const caller of [olga, ada]) {
        expect(
          decideCancel({ eventId, participantId: 'bob' }, given(scheduled(), bobs), meta(caller)),
        ).toEqual([cancelled(bobs)])
      }
    })

    it('refuses anyone else with 403 FORBIDDEN', () => {
      for (const caller of [ann, otto]) {
        const cmd = { eventId, participantId: 'bob' }
        expect(refusal(() => decideCancel(cmd, given(scheduled(), bobs), meta(caller)))).toEqual({
          code: 'FORBIDDEN',
          status: 403,
        })
      }
    })
  })

  describe('when the event is full with people waiting', () => {
    const first = waitlist[0] as ActiveRegistration

    it('gives the freed seat of a confirmed cancellation to the first waitlisted', () => {
      const bobs = confirmedReg('bob')
      expect(decideCancel({ eventId }, given(full(), bobs, first), meta(bob))).toEqual([
        cancelled(bobs),
        promoted(first),
      ])
    })

    it('promotes nobody when a waitlisted registration is cancelled', () => {
      const wims = waitlist[1] as ActiveRegistration
      const caller = { id: 'wim', roles: [] }
      expect(decideCancel({ eventId }, given(full(), wims, first), meta(caller))).toEqual([cancelled(wims)])
    })
  })

  describe('when the participant holds no active registration', () => {
    it('refuses with 404 REGISTRATION_NOT_FOUND, for the participant and for the organizer', () => {
      expect(refusal(() => decideCancel({ eventId }, given(scheduled()), meta(bob)))).toEqual({
        code: 'REGISTRATION_NOT_FOUND',
        status: 404,
      })
      const cmd = { eventId, participantId: 'bob' }
      expect(refusal(() => decideCancel(cmd, given(scheduled()), meta(olga)))).toEqual({
        code: 'REGISTRATION_NOT_FOUND',
        status: 404,
      })
    })
  })

  describe('when the event is deleted', () => {
    it('refuses with 404 REGISTRATION_NOT_FOUND, whatever registration is passed in', () => {
      expect(
        refusal(() => decideCancel({ eventId }, given(deleted(), confirmedReg('bob')), meta(bob))),
      ).toEqual({
        code: 'REGISTRATION_NOT_FOUND',
        status: 404,
      })
    })
  })

  describe('when the event is absent', () => {
    it('refuses the participant with 404 REGISTRATION_NOT_FOUND', () => {
      expect(refusal(() => decideCancel({ eventId }, given(absent), meta(bob)))).toEqual({
        code: 'REGISTRATION_NOT_FOUND',
        status: 404,
      })
    })

    it('refuses an admin cancelling for someone else with 404, not 403: an admin may cancel anything', () => {
      const cmd = { eventId, participantId: 'bob' }
      expect(refusal(() => decideCancel(cmd, given(absent), meta(ada)))).toEqual({
        code: 'REGISTRATION_NOT_FOUND',
        status: 404,
      })
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
      eventId,
      organizerId: 'olga',
      title: 'Tandem meetup',
      description: null,
      venue: 'Hall A',
      startsAt,
      endsAt,
      capacity: 1,
      confirmedCount: 0,
      waitlistCount: 0,
      nextSeq: 1,
      version: 1,
      createdAt: '2031-02-01T08:00:00.000Z',
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

    const cancelAnn = RegistrationCancelled.create({
      registrationId: reg('ann', 1).registrationId,
      eventId,
      participantId: 'ann',
      previousStatus: 'confirmed',
      cancelledAt: at,
    })
    const confirmBob = promoted(confirmedReg('bob', 2))
    const cancelCat = RegistrationCancelled.create({
      registrationId: reg('cat', 3).registrationId,
      eventId,
      participantId: 'cat',
      previousStatus: 'waitlisted',
      cancelledAt: at,
    })
    expect(evolve(after, cancelAnn)).toMatchObject({
      confirmedCount: 0,
      waitlistCount: 2,
      nextSeq: 4,
      version: 5,
    })
    const end = [cancelAnn, confirmBob, cancelCat].reduce(evolve, after)
    expect(end).toMatchObject({ confirmedCount: 1, waitlistCount: 0, nextSeq: 4, version: 7 })
  })

  it('applies an update’s changes and time, and a deletion’s time, keeping the counts', () => {
    const before = row({ confirmedCount: 2, waitlistCount: 1, nextSeq: 4, version: 9 })
    const update = EventUpdated.create({
      eventId,
      changes: { title: 'Renamed', venue: null, capacity: 5 },
      updatedAt: at,
    })
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
      version: 10,
      updatedAt: '2031-03-02T00:00:00.000Z',
    })
  })
})
