import {
  ForbiddenError,
  signedIn,
  ValidationError,
  type Caller,
  type FieldError,
} from '../../../kernel/index.js'

/**
 * Who reads what on the cards read side. A customer sees their own cards and spending only; an agent
 * or an admin any customer's (each such read is on the audit log: the queries declare `audit`); the
 * network, which sends authorizations, reads none of it (it decides nothing from the read side, and a
 * network token is not a person's).
 */
export const readers = signedIn('customer', 'agent', 'admin')

/** Agents and admins see every customer; anyone else only themselves. */
export const seesEveryone = (caller: Caller | undefined) =>
  caller !== undefined && (caller.roles.includes('agent') || caller.roles.includes('admin'))

/**
 * The customer a question is about: the one asked (agents, admins: any, and they must name one),
 * or the caller's own (a customer: another's is 403, the same for every other id, so nothing is told).
 */
export function customerAsked(caller: Caller | undefined, asked: string | undefined): string {
  if (seesEveryone(caller)) {
    if (asked === undefined) throw new ValidationError([{ path: '/customerId', message: 'is required' }])
    return asked
  }
  if (!caller || (asked !== undefined && asked !== caller.id))
    throw new ForbiddenError("A customer sees their own cards' data only")
  return caller.id
}

/** Like `customerAsked`, but an agent or admin who names none asks about everyone (null). */
export function customerOrAll(caller: Caller | undefined, asked: string | undefined): string | null {
  if (seesEveryone(caller)) return asked ?? null
  return customerAsked(caller, asked)
}

const dayMs = 24 * 3600_000

/** Days from 1970-01-01 of a `YYYY-MM-DD` (one that is no calendar day, 2031-02-30, is a 400). */
export function dayNumber(day: string, path: string, problems: FieldError[]): number {
  const ms = Date.parse(`${day}T00:00:00.000Z`)
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== day) {
    problems.push({ path, message: 'is not a calendar day' })
    return 0
  }
  return ms / dayMs
}

/** The `YYYY-MM-DD` of a number of days from 1970-01-01 (`dayNumber`'s inverse). */
export const dayOf = (n: number) => new Date(n * dayMs).toISOString().slice(0, 10)

/** Months from 0000-01 of a `YYYY-MM`. */
export const monthNumber = (month: string) => Number(month.slice(0, 4)) * 12 + Number(month.slice(5, 7)) - 1

export const monthOf = (n: number) =>
  `${String(Math.floor(n / 12)).padStart(4, '0')}-${String((n % 12) + 1).padStart(2, '0')}`

/** The last day of a month, `YYYY-MM-DD`. */
export const lastDayOf = (month: string) =>
  new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 0)).toISOString().slice(0, 10)

export function refuse(problems: readonly FieldError[]) {
  if (problems.length > 0) throw new ValidationError(problems)
}

/** Sorted-set members in the order the KV store keeps them (UTF-8 bytes; ASCII here: code units). */
export const compareEntries = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
