import {
  timeFrom,
  unreachable,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
  type Caller,
  type CommandMeta,
} from '../../kernel/index.js'
import {
  EventCreated,
  EventDeleted,
  EventUpdated,
  ParticipantRegistered,
  ParticipantWaitlisted,
  RegistrationCancelled,
  WaitlistedParticipantConfirmed,
  type CancelRegistration,
  type CreateEvent,
  type DeleteEvent,
  type EventsEvent,
  type RegisterParticipant,
  type UpdateEvent,
} from './messages.js'

/** The business rules of event registration: pure functions from (command, state) to events. */

export interface EventRow {
  eventId: string
  organizerId: string
  title: string
  description: string | null
  venue: string | null
  startsAt: string
  endsAt: string
  capacity: number
  confirmedCount: number
  waitlistCount: number
  /** The next registration's place in the order of arrival. */
  nextSeq: number
  version: number
  createdAt: string
  updatedAt: string
}

export type EventState = { status: 'absent' } | ({ status: 'scheduled' | 'deleted' } & EventRow)

export interface ActiveRegistration {
  registrationId: string
  participantId: string
  status: 'confirmed' | 'waitlisted'
  seq: number
}

export const notFound = () => new NotFoundError('EVENT_NOT_FOUND', 'Event not found')

const isAdmin = (caller: Caller | undefined) => caller?.roles.includes('admin') === true

function canManage(event: EventRow, caller: Caller | undefined): boolean {
  return isAdmin(caller) || (caller !== undefined && caller.id === event.organizerId)
}

function scheduled(state: EventState): EventRow {
  if (state.status !== 'scheduled') throw notFound()
  return state
}

/** An ISO time in UTC with milliseconds, so stored times sort as text (core/keyset.ts `timeFrom`). */
export const utc = timeFrom(1970)

function checkPeriod(startsAt: string, endsAt: string): void {
  // Times count to the millisecond (digits past it are dropped): the message says so.
  if (endsAt <= startsAt)
    throw new ValidationError([
      { path: '/endsAt', message: 'must be at least 1 ms after startsAt (times count to the millisecond)' },
    ])
}

/** An event is planned ahead: its start is never set to a moment already gone. */
function checkStartAhead(startsAt: string, meta: CommandMeta): void {
  if (startsAt < meta.now.toISOString()) {
    throw new ConflictError(
      'EVENT_STARTS_IN_PAST',
      'Start in the past',
      `The start ${startsAt} is before now (${meta.now.toISOString()})`,
    )
  }
}

export function decideCreate(cmd: CreateEvent, state: EventState, meta: CommandMeta): EventsEvent[] {
  // The input first: bad times are 400 whether or not the id is taken.
  const startsAt = utc(cmd.startsAt, '/startsAt')
  const endsAt = utc(cmd.endsAt, '/endsAt')
  checkPeriod(startsAt, endsAt)
  if (state.status !== 'absent') {
    throw new ConflictError('EVENT_ALREADY_EXISTS', 'Event already exists', `Event ${cmd.eventId} exists`)
  }
  checkStartAhead(startsAt, meta)
  return [
    EventCreated.create({
      eventId: cmd.eventId ?? meta.newId,
      organizerId: meta.caller?.id ?? '',
      title: cmd.title,
      description: cmd.description ?? null,
      venue: cmd.venue ?? null,
      startsAt,
      endsAt,
      capacity: cmd.capacity,
      createdAt: meta.now.toISOString(),
    }),
  ]
}

export interface UpdateState {
  event: EventState
  /** The first waitlisted registrations, in order: those a raised capacity would confirm. */
  waitlist: readonly ActiveRegistration[]
}

export function decideUpdate(cmd: UpdateEvent, state: UpdateState, meta: CommandMeta): EventsEvent[] {
  const event = scheduled(state.event)
  if (!canManage(event, meta.caller))
    throw new ForbiddenError('Only its organizer or an admin may change an event')
  const { eventId: _, ...fields } = cmd
  if (Object.keys(fields).length === 0) {
    throw new ValidationError([{ path: '', message: 'names no field to change' }])
  }
  const next = {
    title: cmd.title ?? event.title,
    description: cmd.description === undefined ? event.description : cmd.description,
    venue: cmd.venue === undefined ? event.venue : cmd.venue,
    startsAt: cmd.startsAt === undefined ? event.startsAt : utc(cmd.startsAt, '/startsAt'),
    endsAt: cmd.endsAt === undefined ? event.endsAt : utc(cmd.endsAt, '/endsAt'),
    capacity: cmd.capacity ?? event.capacity,
  }
  checkPeriod(next.startsAt, next.endsAt)
  if (next.startsAt !== event.startsAt) checkStartAhead(next.startsAt, meta)
  if (next.capacity < event.confirmedCount) {
    throw new ConflictError(
      'CAPACITY_BELOW_REGISTRATIONS',
      'Capacity below registrations',
      `${event.confirmedCount} people are confirmed; the capacity cannot go below that`,
    )
  }
  const changes = Object.fromEntries(
    Object.entries(next).filter(([key, value]) => event[key as keyof typeof next] !== value),
  )
  if (Object.keys(changes).length === 0) return []
  const at = meta.now.toISOString()
  const promoted = state.waitlist
    .slice(0, Math.max(0, next.capacity - event.confirmedCount))
    .map((r) => promote(r, event.eventId, at))
  return [EventUpdated.create({ eventId: event.eventId, changes, updatedAt: at }), ...promoted]
}

export function decideDelete(_cmd: DeleteEvent, state: EventState, meta: CommandMeta): EventsEvent[] {
  const event = scheduled(state)
  if (!canManage(event, meta.caller))
    throw new ForbiddenError('Only its organizer or an admin may delete an event')
  return [EventDeleted.create({ eventId: event.eventId, deletedAt: meta.now.toISOString() })]
}

export interface RegistrationState {
  event: EventState
  /** The participant's confirmed or waitlisted registration for the event, if any. */
  active: ActiveRegistration | undefined
}

/** Who a registration is for: the caller, or someone else when the caller manages the event. */
export function participantOf(cmd: { participantId?: string }, meta: CommandMeta): string {
  return cmd.participantId ?? meta.caller?.id ?? ''
}

export function decideRegister(
  cmd: RegisterParticipant,
  state: RegistrationState,
  meta: CommandMeta,
): EventsEvent[] {
  const event = scheduled(state.event)
  const participantId = participantOf(cmd, meta)
  if (participantId !== meta.caller?.id && !canManage(event, meta.caller)) {
    throw new ForbiddenError('Only its organizer or an admin may register someone else')
  }
  if (meta.now.toISOString() >= event.startsAt) {
    throw new ConflictError('REGISTRATION_CLOSED', 'Registration closed', 'The event has started')
  }
  if (state.active) {
    throw new ConflictError(
      'ALREADY_REGISTERED',
      'Already registered',
      `Registration ${state.active.registrationId}`,
    )
  }
  const registration = {
    registrationId: meta.newId,
    eventId: event.eventId,
    participantId,
    name: cmd.name ?? null,
    email: cmd.email ?? null,
    seq: event.nextSeq,
    registeredAt: meta.now.toISOString(),
  }
  if (event.confirmedCount < event.capacity) return [ParticipantRegistered.create(registration)]
  if (cmd.waitlist) return [ParticipantWaitlisted.create(registration)]
  throw new ConflictError('EVENT_FULL', 'Event is full', `All ${event.capacity} seats are taken`)
}

export interface CancellationState extends RegistrationState {
  /** The first person on the waitlist, who takes a freed seat. */
  nextWaitlisted: ActiveRegistration | undefined
}

export function decideCancel(
  cmd: CancelRegistration,
  state: CancellationState,
  meta: CommandMeta,
): EventsEvent[] {
  const participantId = participantOf(cmd, meta)
  const event = state.event.status === 'absent' ? undefined : state.event
  const allowed =
    participantId === meta.caller?.id ||
    isAdmin(meta.caller) ||
    (event !== undefined && canManage(event, meta.caller))
  if (!allowed) throw new ForbiddenError("Only the participant, the event's organizer or an admin may cancel")
  const active = state.event.status === 'scheduled' ? state.active : undefined
  if (!active || !event)
    throw new NotFoundError(
      'REGISTRATION_NOT_FOUND',
      'Registration not found',
      'The participant holds no registration for this event',
    )
  const at = meta.now.toISOString()
  const cancelled = RegistrationCancelled.create({
    registrationId: active.registrationId,
    eventId: event.eventId,
    participantId,
    previousStatus: active.status,
    cancelledAt: at,
  })
  const next = state.nextWaitlisted
  const freesSeat = active.status === 'confirmed' && next !== undefined
  return freesSeat ? [cancelled, promote(next, event.eventId, at)] : [cancelled]
}

function promote(r: ActiveRegistration, eventId: string, at: string): EventsEvent {
  return WaitlistedParticipantConfirmed.create({
    registrationId: r.registrationId,
    eventId,
    participantId: r.participantId,
    confirmedAt: at,
  })
}

/** The event row after an event: what the write model stores. */
export function evolve(row: EventRow, event: EventsEvent): EventRow {
  const version = row.version + 1
  switch (event.type) {
    case 'EventCreated':
      return {
        ...event.data,
        confirmedCount: 0,
        waitlistCount: 0,
        nextSeq: 1,
        version,
        updatedAt: event.data.createdAt,
      }
    case 'EventUpdated':
      return { ...row, ...event.data.changes, version, updatedAt: event.data.updatedAt }
    case 'EventDeleted':
      // Its registrations are all cancelled with it (write-model.ts): none is counted any more.
      return { ...row, confirmedCount: 0, waitlistCount: 0, version, updatedAt: event.data.deletedAt }
    case 'ParticipantRegistered':
      return { ...row, confirmedCount: row.confirmedCount + 1, nextSeq: row.nextSeq + 1, version }
    case 'ParticipantWaitlisted':
      return { ...row, waitlistCount: row.waitlistCount + 1, nextSeq: row.nextSeq + 1, version }
    case 'RegistrationCancelled':
      return event.data.previousStatus === 'confirmed'
        ? { ...row, confirmedCount: row.confirmedCount - 1, version }
        : { ...row, waitlistCount: row.waitlistCount - 1, version }
    case 'WaitlistedParticipantConfirmed':
      return { ...row, confirmedCount: row.confirmedCount + 1, waitlistCount: row.waitlistCount - 1, version }
    default:
      return unreachable(event)
  }
}
