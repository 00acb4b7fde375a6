import {
  defineQuery,
  defineSqlProjection,
  fold,
  Id,
  NotFoundError,
  signedIn,
  storedTime,
} from '../../../kernel/index.js'
import Type from 'typebox'
import {
  Currency,
  FiscalYear,
  Item,
  requestEvents,
  RequestStatus,
  Role,
  Step,
  type RequestEvent,
} from '../messages.js'
import { requestView } from '../queries.js'
import { approvedAtOf, evolve, initial, sees, type RequestState } from '../rules.js'
import { Time } from './access.js'

/**
 * The history read model: every event of every request, in log order, with who acted and when
 * (the event's `actorId` and `at`, the command's moment), and the requester and department beside
 * each, so a question about one request is one primary-key range and its scope is checked on the
 * rows it reads. The state as of a moment is the fold of the events up to it with the aggregate's
 * own `evolve` (rules.ts): the same function the write side decides on, so the past state shown is
 * the one it had.
 */

export const historyModel = 'procurement-history'

export const historyProjection = defineSqlProjection({
  domain: 'procurement',
  name: historyModel,
  version: 1,
  events: requestEvents,
  tables: ['request_events'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('request_events')} (
      request_id uuid NOT NULL, position bigint NOT NULL, type text NOT NULL, at text COLLATE "C" NOT NULL,
      actor_id text NOT NULL, status text NOT NULL, requester_id text NOT NULL, department text NOT NULL,
      data jsonb NOT NULL, PRIMARY KEY (request_id, position))`,
  tags: ({ data }) => [`history:${data.requestId}`],
  // A batch in one statement, its rows as a JSON array.
  async applyBatch(events, tx, t) {
    const rows = events.map(({ data: d, type, position }) => ({
      request_id: d.requestId,
      position,
      type,
      at: d.at,
      actor_id: d.actorId,
      status: d.status,
      requester_id: d.requesterId,
      department: d.department,
      data: d,
    }))
    tx.write({
      text: `INSERT INTO ${t('request_events')} (request_id, position, type, at, actor_id, status, requester_id,
               department, data)
             SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(request_id uuid, position bigint, type text,
               at text, actor_id text, status text, requester_id text, department text, data jsonb)
             ON CONFLICT (request_id, position) DO NOTHING`,
      params: [JSON.stringify(rows)],
    })
  },
})

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

/** A request's state as the aggregate folds it, every status's own fields null where they do not apply. */
export const RequestStateView = Type.Object({
  requestId: Id(),
  requesterId: Type.String(),
  department: Type.String(),
  fiscalYear: FiscalYear,
  currency: Currency,
  title: Type.String(),
  items: Type.Array(Item),
  total: Type.Integer(),
  justification: Nullable(Type.String()),
  neededBy: Nullable(Type.String()),
  status: RequestStatus,
  steps: Type.Array(Step),
  approvals: Type.Array(
    Type.Object({
      step: Step,
      approverId: Type.String(),
      actedAs: Role,
      comment: Nullable(Type.String()),
      at: Type.String(),
    }),
  ),
  currentStep: Nullable(Step),
  approvedAt: Nullable(Type.String()),
  rejectedBy: Nullable(Type.String()),
  rejectionReason: Nullable(Type.String()),
  paidAmount: Nullable(Type.Integer()),
  paymentReference: Nullable(Type.String()),
  paidAt: Nullable(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  version: Type.Integer({ description: 'How many events the request had then (as get-request shows it)' }),
})

const HistoryEvent = Type.Object({
  position: Type.String({ description: 'Its place in the event log' }),
  type: Type.String(),
  at: Type.String({ format: 'date-time' }),
  actorId: Type.String(),
  status: RequestStatus,
  data: Type.Record(Type.String(), Type.Unknown()),
})

export const getRequestHistory = defineQuery({
  domain: 'procurement',
  name: 'get-request-history',
  summary:
    "A purchase request's every event with who acted and when; with `at`, its events up to then and its state as of then",
  input: Type.Object({ requestId: Id(), at: Type.Optional(Time) }, { additionalProperties: false }),
  output: Type.Object({
    requestId: Id(),
    requesterId: Type.String(),
    asOf: Nullable(Type.String({ format: 'date-time' })),
    events: Type.Array(HistoryEvent),
    state: Nullable(RequestStateView),
  }),
  access: signedIn(),
  readModels: [historyModel],
  notFound: 'REQUEST_NOT_FOUND',
  examples: [{ requestId: '0190b000-0000-7000-8000-000000000001' }],
  cache: { ttlMs: 60_000, tags: (q) => [`history:${q.requestId}`] },
  audit: (_q, answer) => [{ subjectId: answer.requesterId, details: { requestId: answer.requestId } }],
  async handle(q, { caller, stores }) {
    const asOf = q.at === undefined ? undefined : storedTime(q.at, '/at')
    const { sql, table } = stores.sql(historyModel)
    const rows = await sql.query<{
      position: string
      type: string
      at: string
      actorId: string
      status: RequestStatus
      requesterId: string
      department: string
      data: Record<string, unknown>
    }>(
      // `e.position`: a bare `position` in ORDER BY is the text output column (1002 before 998).
      `SELECT e.position::text, type, at, actor_id AS "actorId", status, requester_id AS "requesterId", department, data
       FROM ${table('request_events')} e WHERE request_id = $1 ORDER BY e.position`,
      [q.requestId],
    )
    const first = rows[0]
    // Out of scope is answered as absent: a request's existence is not told to those who may not see it.
    if (!first || !caller || !sees(caller, first))
      throw new NotFoundError('REQUEST_NOT_FOUND', 'Purchase request not found')
    const shown = asOf === undefined ? rows : rows.filter((r) => r.at <= asOf)
    const state = fold(
      { initial, evolve },
      shown.map((r) => ({ type: r.type, data: r.data }) as RequestEvent),
    )
    return {
      requestId: q.requestId,
      requesterId: first.requesterId,
      asOf: asOf ?? null,
      events: shown.map(({ requesterId: _r, department: _d, ...event }) => event),
      state: viewOf(state),
    }
  },
})

function viewOf(state: RequestState) {
  if (state.status === 'absent') return null
  return {
    ...requestView(state),
    version: state.version,
    approvedAt: approvedAtOf(state) ?? null,
    rejectedBy: state.status === 'rejected' ? state.rejectedBy : null,
    paidAt: state.status === 'paid' ? state.paidAt : null,
  }
}
