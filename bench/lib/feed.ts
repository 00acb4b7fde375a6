import type { Auth } from '../../src/app/auth.js'
import type { RequestSpec } from './load.js'

/** Items made ahead of a measurement, so the load generator does not make them while it measures. */
export interface Feed<T> {
  next(): T
  /** Items handed out so far. */
  readonly used: number
  /** Items that had to be made during the measurement because the prepared ones ran out. */
  readonly late: number
}

export function prepare<T>(count: number, make: (i: number) => T): Feed<T> {
  const items = Array.from({ length: count }, (_, i) => make(i))
  let used = 0
  let late = 0
  return {
    next() {
      const i = used++
      if (i < items.length) return items[i] as T
      late++
      return make(i)
    },
    get used() {
      return used
    },
    get late() {
      return late
    },
  }
}

/**
 * Pre-signed tokens, each for a participant never used before in this run: every registration is a
 * new person registering themselves (a distinct JWT `sub`), as in production, so no token is
 * served from the server's verification cache and no request is refused as ALREADY_REGISTERED.
 */
export function participants(auth: Auth, prefix: string): (count: number) => Feed<string> {
  let issued = 0
  return (count) => {
    const first = issued
    issued += count
    return prepare(count, (i) => {
      // Past the prepared ones, continue after every batch issued so far (still never reused).
      const n = i < count ? first + i : issued++
      return `Bearer ${auth.sign({ sub: `${prefix}-${n}`, roles: [] }, { expiresInSeconds: 3600 })}`
    })
  }
}

export const registerPath = '/api/commands/events/register-participant'
export const detailsPath = (eventId: string) => `/api/queries/events/get-event-details?eventId=${eventId}`
export const upcomingPath = '/api/queries/events/list-upcoming-events?limit=20'

export function registerRequest(authorization: string, eventId: string): RequestSpec {
  return {
    method: 'POST',
    path: registerPath,
    headers: { authorization },
    body: `{"eventId":"${eventId}"}`,
  }
}

/** Requests for a registration load: distinct participants, events chosen by `pick`. */
export function registrations(
  tokens: (count: number) => Feed<string>,
  count: number,
  pick: (i: number) => string,
): Feed<RequestSpec> {
  const feed = tokens(count)
  let i = 0
  return {
    next: () => registerRequest(feed.next(), pick(i++)),
    get used() {
      return feed.used
    },
    get late() {
      return feed.late
    },
  }
}

export const randomOf =
  <T>(list: readonly T[]) =>
  () =>
    list[Math.floor(Math.random() * list.length)] as T
