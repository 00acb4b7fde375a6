import type { Pool } from 'pg'
import Type, { type Static, type TSchema } from 'typebox'
import { NotFoundError, ValidationError } from '../../../src/core/errors.js'
import type { Caller } from '../../../src/core/messages.js'
import { Limit } from '../../../src/core/paging.js'
import { Id } from '../../../src/core/schemas.js'
import { Department, FiscalYear, RequestStatus } from '../../../src/domains/procurement/messages.js'
import { departmentAsked, refuseBackwardRanges } from '../../../src/domains/procurement/projections/access.js'
import { ListDepartmentRequestsInput } from '../../../src/domains/procurement/projections/request-queries.js'
import {
  statisticsOf,
  statisticsRowLimit,
  type StatisticsRow,
} from '../../../src/domains/procurement/projections/statistics.js'
import { maySee } from '../../../src/domains/procurement/queries.js'
import { hasRole, scopeOf } from '../../../src/domains/procurement/rules.js'
import { crudSchema as s } from './schema.js'

/**
 * The baseline's queries: SELECTs on the tables the commands write, scoped by role with the domain's
 * own checks (an employee sees their own requests, a manager their department, finance and admin
 * everything), refusing what the domain refuses with the same codes. Keyset paging on (sort value,
 * request id). `get-request` answers the request's row, not its items, steps and approvals (the
 * domain folds them from its events); the rest answer what the domain's do.
 */

interface Scope {
  caller: Caller
  department: string | undefined
}

interface CrudQuery<I extends TSchema> {
  input: I
  answer(pool: Pool, input: Static<I>, scope: Scope): Promise<unknown>
}

const defineCrudQuery = <I extends TSchema>(q: CrudQuery<I>) => q

const Time = Type.String({ format: 'date-time' })
const Cursor = Type.String({ maxLength: 200 })
type Sort = 'created' | '-created' | 'amount' | '-amount'
const strict = { additionalProperties: false } as const

const columns = `request_id AS "requestId", requester_id AS "requesterId", department, fiscal_year AS "fiscalYear",
  title, total::float8 AS total, currency, status, created_at AS "createdAt", updated_at AS "updatedAt"`

interface Row {
  requestId: string
  total: number
  createdAt: Date
}

const encode = (value: string | number, id: string) =>
  Buffer.from(JSON.stringify([value, id])).toString('base64url')

function decode(cursor: string | undefined): [string | number, string] | undefined {
  if (cursor === undefined) return undefined
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown
    if (Array.isArray(value) && value.length === 2 && typeof value[1] === 'string')
      return value as [string | number, string]
  } catch {
    // answered below
  }
  throw new ValidationError([{ path: '/cursor', message: 'is not a valid cursor' }])
}

/** One page of `where` (with its `params`), sorted, after the cursor; the SQL and its answer. */
async function page(
  pool: Pool,
  options: { where: string[]; params: unknown[]; sort: Sort; limit: number; cursor?: string },
) {
  const { where, params, sort, limit } = options
  const column = sort.endsWith('created') ? 'created_at' : 'total'
  const desc = sort.startsWith('-')
  const after = decode(options.cursor)
  if (after) {
    params.push(column === 'total' ? Number(after[0]) : after[0], after[1])
    where.push(`(${column}, request_id) ${desc ? '<' : '>'} ($${params.length - 1}, $${params.length})`)
  }
  params.push(limit + 1)
  const { rows } = await pool.query<Row>(
    // The table's columns (r.), not the output's float8 `total`, which no index is ordered by.
    `SELECT ${columns} FROM ${s}.requests AS r WHERE ${where.join(' AND ') || 'true'}
     ORDER BY r.${column} ${desc ? 'DESC' : 'ASC'}, r.request_id ${desc ? 'DESC' : 'ASC'} LIMIT $${params.length}`,
    params,
  )
  const last = rows[limit - 1]
  const next =
    rows.length > limit && last
      ? encode(column === 'total' ? last.total : last.createdAt.toISOString(), last.requestId)
      : null
  return { data: rows.slice(0, limit), nextCursor: next }
}

export const crudQueries = {
  'list-my-requests': defineCrudQuery({
    input: Type.Object(
      { status: Type.Optional(RequestStatus), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
      strict,
    ),
    answer: (pool, q, { caller }) => {
      const params: unknown[] = [caller.id]
      const where = ['requester_id = $1']
      if (q.status) where.push(`status = $${params.push(q.status)}`)
      return page(pool, {
        where,
        params,
        sort: '-created',
        limit: q.limit ?? 20,
        ...(q.cursor ? { cursor: q.cursor } : {}),
      })
    },
  }),
  'list-department-requests': defineCrudQuery({
    // The domain's own input: the same filters, limits and validation.
    input: ListDepartmentRequestsInput,
    answer: (pool, q, { caller }) => {
      refuseBackwardRanges(q)
      const department = departmentAsked(caller, q.department)
      const params: unknown[] = []
      const where: string[] = []
      const add = (sql: string, value: unknown) => where.push(sql.replace('?', `$${params.push(value)}`))
      if (department !== undefined) add('department = ?', department)
      if (q.status) add('status = ?', q.status)
      if (q.minAmount !== undefined) add('total >= ?', q.minAmount)
      if (q.maxAmount !== undefined) add('total <= ?', q.maxAmount)
      if (q.from) add('created_at >= ?', q.from)
      if (q.to) add('created_at < ?', q.to)
      if (q.requesterId) add('requester_id = ?', q.requesterId)
      if (q.q)
        add(
          `title ILIKE '%' || ? || '%'`,
          q.q.replace(/[\\%_]/g, (c) => `\\${c}`),
        )
      return page(pool, {
        where,
        params,
        sort: q.sort ?? '-created',
        limit: q.limit ?? 20,
        ...(q.cursor ? { cursor: q.cursor } : {}),
      })
    },
  }),
  'get-budget-summary': defineCrudQuery({
    input: Type.Object(
      { department: Type.Optional(Department), fiscalYear: Type.Optional(FiscalYear) },
      strict,
    ),
    answer: async (pool, q, { caller }) => {
      const department = departmentAsked(caller, q.department)
      const { rows } = await pool.query(
        `SELECT department, fiscal_year AS "fiscalYear", currency, amount::float8 AS budget, reserved::float8 AS reserved,
           committed::float8 AS committed, spent::float8 AS spent,
           (amount - reserved - committed - spent)::float8 AS available
         FROM ${s}.budgets WHERE ($1::text IS NULL OR department = $1) AND ($2::int IS NULL OR fiscal_year = $2)
         ORDER BY department, fiscal_year`,
        [department ?? null, q.fiscalYear ?? null],
      )
      return { data: { items: rows } }
    },
  }),
  'get-pending-approvals': defineCrudQuery({
    input: Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }, strict),
    answer: async (pool, q, { caller, department }) => {
      const limit = q.limit ?? 20
      const after = decode(q.cursor)
      // The step that waits is the first one nobody has approved yet.
      const { rows } = await pool.query<Row>(
        `SELECT ${columns.replaceAll('request_id', 'r.request_id').replaceAll(' department,', ' r.department,')},
           w.step_index AS "stepIndex", w.role AS "stepRole"
         FROM ${s}.requests r
         CROSS JOIN LATERAL (SELECT step_index, role, department FROM ${s}.request_steps
           WHERE request_id = r.request_id AND approver_id IS NULL ORDER BY step_index LIMIT 1) w
         WHERE r.status = 'pending' AND r.requester_id <> $1
           AND (($2 AND w.role = 'manager' AND w.department = $3) OR ($4 AND w.role = 'finance') OR $5)
           AND ($6::timestamptz IS NULL OR (r.created_at, r.request_id) < ($6, $7::uuid))
         ORDER BY r.created_at DESC, r.request_id DESC LIMIT $8`,
        [
          caller.id,
          hasRole(caller, 'manager') && department !== undefined,
          department ?? null,
          hasRole(caller, 'finance'),
          hasRole(caller, 'admin'),
          after?.[0] ?? null,
          after?.[1] ?? null,
          limit + 1,
        ],
      )
      const last = rows[limit - 1]
      return {
        data: rows.slice(0, limit),
        nextCursor: rows.length > limit && last ? encode(last.createdAt.toISOString(), last.requestId) : null,
      }
    },
  }),
  'get-request-statistics': defineCrudQuery({
    input: Type.Object(
      {
        department: Type.Optional(Department),
        from: Type.Optional(Time),
        to: Type.Optional(Time),
        bucket: Type.Optional(Type.Enum(['hour', 'day', 'month'])),
      },
      strict,
    ),
    answer: async (pool, q, { caller }) => {
      refuseBackwardRanges(q)
      // An employee's own requests (in one department if asked); a manager's department; any for the rest.
      const own = scopeOf(caller).kind === 'own'
      const department = own ? q.department : departmentAsked(caller, q.department)
      const bucket = q.bucket ?? 'day'
      const { rows } = await pool.query<StatisticsRow>(
        `SELECT to_char(date_trunc($1, created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS start,
           currency, status, count(*)::int AS count, sum(total)::text AS amount
         FROM ${s}.requests
         WHERE ($2::text IS NULL OR requester_id = $2) AND ($3::text IS NULL OR department = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT ${statisticsRowLimit}`,
        [bucket, own ? caller.id : null, department ?? null, q.from ?? null, q.to ?? null],
      )
      return { data: statisticsOf(bucket, rows) }
    },
  }),
  'get-request': defineCrudQuery({
    input: Type.Object({ requestId: Id() }, strict),
    answer: async (pool, q, { caller }) => {
      const { rows } = await pool.query<Row & { requesterId: string; department: string }>(
        `SELECT ${columns} FROM ${s}.requests WHERE request_id = $1`,
        [q.requestId],
      )
      const row = rows[0]
      // Out of scope is answered as absent, as the domain does: a request's existence is not told.
      if (!row || !maySee(row, caller))
        throw new NotFoundError('REQUEST_NOT_FOUND', 'Purchase request not found')
      return { data: row }
    },
  }),
}
