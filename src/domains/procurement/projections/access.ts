import {
  decodeCursor,
  encodeCursor,
  ForbiddenError,
  isStoredTime,
  laterTime,
  ValidationError,
  type Caller,
  type FieldError,
} from '../../../kernel/index.js'
import Type from 'typebox'
import { MAX_AMOUNT } from '../messages.js'
import { hasRole, scopeOf } from '../rules.js'

/**
 * What the read side's queries share: who sees what (the scope a token gives), cursors that know
 * their query and sort, and times in the one form the read models store them in.
 */

/**
 * The department a department-wide question is about: the one asked (finance, admin: any; none
 * means all), or the manager's own (another is 403). An employee is refused: their own requests
 * are `list-my-requests`.
 */
export function departmentAsked(caller: Caller, asked: string | undefined): string | undefined {
  const scope = scopeOf(caller)
  if (scope.kind === 'all') return asked
  if (scope.kind === 'department') {
    if (asked === undefined || asked === scope.department) return scope.department
    throw new ForbiddenError(`A manager sees the requests of their own department (${scope.department})`)
  }
  // A manager whose token names no department (or one that is not a department's name) manages none.
  if (hasRole(caller, 'manager'))
    throw new ForbiddenError(
      'Your token names no department you manage: its `dept` claim is missing or not a department name (up to 40 letters and digits, hyphens between them)',
    )
  throw new ForbiddenError('Department-wide answers are for managers, finance and admin')
}

export const Cursor = Type.String({ maxLength: 200, description: 'Opaque: the nextCursor of a page' })
export const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time' })
/** A bound on requests' totals: compared in each request's own minor units, whatever its currency. */
export const Amount = Type.Integer({
  minimum: 0,
  maximum: MAX_AMOUNT,
  description:
    'Minor units of each request’s own currency: a range takes in requests of every currency (each names its own)',
})

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const amount = /^(0|[1-9]\d{0,15})$/

/** A cursor's key: a time (ISO, as stored) or an amount, and the request id that breaks ties. */
export interface Key {
  key: string
  id: string
}

/**
 * A keyset cursor names its query and sort (`<query>|<sort>|<key>|<id>`, base64url), so one from
 * another query or another sort is a 400, never a page of something else.
 */
export function cursorOf(query: string, sort: string, key: Key): string {
  return encodeCursor(`${query}|${sort}|${key.key}|${key.id}`)
}

export function keyOf(cursor: string | undefined, query: string, sort: string, kind: 'time' | 'amount') {
  if (cursor === undefined) return undefined
  const bad = (message: string) => new ValidationError([{ path: '/cursor', message }])
  const [from = '', by = '', key = '', id = '', ...rest] = decodeCursor(cursor).split('|')
  if (rest.length > 0 || !uuid.test(id)) throw bad('is not a valid cursor')
  if (from !== query || by !== sort) throw bad('belongs to another query or sort')
  const fits = kind === 'time' ? isStoredTime(key) : amount.test(key) && Number(key) <= MAX_AMOUNT
  if (!fits) throw bad('is not a valid cursor')
  return { key, id }
}

/** The page of rows fetched with one extra, and the cursor after it. */
export function pageAfter<R>(rows: readonly R[], limit: number, cursor: (row: R) => string) {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last !== undefined ? cursor(last) : null }
}

/** `from` after `to` (or min above max) is a 400 naming both fields. */
function checkRange(
  problems: FieldError[],
  low: { path: string; value: number | string | undefined },
  high: { path: string; value: number | string | undefined },
) {
  if (low.value === undefined || high.value === undefined) return
  const after =
    typeof low.value === 'string' ? laterTime(low.value, String(high.value)) : low.value > Number(high.value)
  if (after) problems.push({ path: low.path, message: `must not be after ${high.path.slice(1)}` })
}

function refuse(problems: readonly FieldError[]) {
  if (problems.length > 0) throw new ValidationError(problems)
}

/** A list's ranges, each low end at most its high end (400 naming the low end otherwise). */
export function refuseBackwardRanges(q: {
  minAmount?: number
  maxAmount?: number
  from?: string
  to?: string
}): void {
  const problems: FieldError[] = []
  checkRange(problems, { path: '/minAmount', value: q.minAmount }, { path: '/maxAmount', value: q.maxAmount })
  checkRange(problems, { path: '/from', value: q.from }, { path: '/to', value: q.to })
  refuse(problems)
}
