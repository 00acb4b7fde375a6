import { randomUUID } from 'node:crypto'
import type { Statement } from '../../src/core/sql.js'
import type { RequestEvent } from '../../src/domains/procurement/messages.js'
import { requestStream } from '../../src/domains/procurement/commands.js'
import { decideSetBudget } from '../../src/domains/procurement/setup-rules.js'
import { appendStatement } from '../../src/storage/event-log.js'
import { crudSchema } from '../baselines/procurement-crud/schema.js'
import { adminOf, plannedRequest, type PlannedRequest, type ProcurementPlan } from './procurement-plan.js'
import type { Budget } from '../../src/domains/procurement/write-model.js'

/** Runs statements in one transaction, in a server's process. */
export type Commit = (statements: Statement[]) => Promise<void>

/** Requests per transaction: about 12,500 events for the log, 5,000 rows a table for the baseline. */
const requestsPerTx = 5_000

export interface Loaded {
  requests: number
  events: number
  /** Seconds each side's commits took (the plan's own work, shared, not counted). */
  logSeconds: number
  crudSeconds: number
}

/**
 * Loads the plan into both sides in one pass, a chunk of requests at a time: each request is taken
 * through the deciders once, its events go to the log and its final rows to the baseline.
 */
export async function loadBoth(
  plan: ProcurementPlan,
  budgets: Map<string, Budget>,
  commits: { log: Commit; crud: Commit },
): Promise<Loaded> {
  let logSeconds = 0
  let crudSeconds = 0
  const timed = async (commit: Commit, statements: Statement[]) => {
    const started = performance.now()
    await commit(statements)
    return (performance.now() - started) / 1000
  }
  logSeconds += await timed(commits.log, budgetLog(plan, budgets))
  crudSeconds += await timed(commits.crud, [budgetRows(budgets)])
  let events = 0
  for (let from = 0; from < plan.requests; from += requestsPerTx) {
    const chunk = requestsIn(plan, from)
    const log = eventsStatement(chunk)
    events += log.count
    logSeconds += await timed(commits.log, [log.statement])
    crudSeconds += await timed(commits.crud, requestRows(chunk))
  }
  return { requests: plan.requests, events, logSeconds, crudSeconds }
}

const commandOf: Record<RequestEvent['type'], string> = {
  RequestCreated: 'create-purchase-request',
  RequestUpdated: 'update-request',
  StepApproved: 'approve-request',
  RequestApproved: 'approve-request',
  RequestRejected: 'reject-request',
  RequestCancelled: 'cancel-request',
  RequestPaid: 'mark-as-paid',
}

/**
 * The CQRS side's set-up: each department's budget row (with what the plan holds of it) and its
 * DepartmentBudgetSet. Every request's events then go into its stream, many streams per INSERT into
 * the log (the columns the log's append statement writes); the read models are built by the
 * projections from the log, as a rebuild would build them.
 */
function budgetLog(plan: ProcurementPlan, budgets: Map<string, Budget>): Statement[] {
  const admin = adminOf(plan)
  const at = new Date(plan.base - 86_400_000)
  const setUp: Statement[] = []
  for (const b of budgets.values()) {
    const meta = {
      commandId: randomUUID(),
      correlationId: randomUUID(),
      caller: admin,
      now: at,
      newId: randomUUID(),
    }
    const events = decideSetBudget(
      { department: b.department, fiscalYear: b.fiscalYear, amount: b.amount, currency: b.currency },
      undefined,
      meta,
    )
    setUp.push(
      {
        text: `INSERT INTO procurement.budgets (department, fiscal_year, currency, amount, reserved, committed, spent, version, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)`,
        params: [b.department, b.fiscalYear, b.currency, b.amount, b.reserved, b.committed, b.spent, at],
      },
      appendStatement(
        { id: `procurement-budget-${b.department}-${b.fiscalYear}`, expectedVersion: 0 },
        events,
        {
          commandId: meta.commandId,
          correlationId: meta.correlationId,
          command: 'procurement/set-department-budget',
          userId: admin.id,
        },
      ),
    )
  }
  return setUp
}

/** Every event of the chunk's requests, in their streams: one INSERT. */
function eventsStatement(chunk: readonly PlannedRequest[]): { statement: Statement; count: number } {
  const rows = chunk.flatMap((r) =>
    r.events.map((e, v) => {
      const commandId = randomUUID()
      return {
        stream: requestStream(r.requestId),
        version: v + 1,
        type: e.type,
        data: JSON.stringify(e.data),
        metadata: JSON.stringify({
          commandId,
          correlationId: commandId,
          command: `procurement/${commandOf[e.type]}`,
          userId: e.data.actorId,
        }),
      }
    }),
  )
  return {
    count: rows.length,
    statement: {
      text: `INSERT INTO tandem.event_log (stream_id, stream_version, type, data, metadata)
               SELECT s, v, t, d::jsonb, m::jsonb
               FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[]) AS e(s, v, t, d, m)`,
      params: [
        rows.map((r) => r.stream),
        rows.map((r) => r.version),
        rows.map((r) => r.type),
        rows.map((r) => r.data),
        rows.map((r) => r.metadata),
      ],
    },
  }
}

const requestsIn = (plan: ProcurementPlan, from: number): PlannedRequest[] =>
  Array.from({ length: Math.min(requestsPerTx, plan.requests - from) }, (_, k) =>
    plannedRequest(plan, from + k),
  )

/** Rows as JSON in one parameter. */
const json = (text: string, rows: readonly object[]): Statement => ({ text, params: [JSON.stringify(rows)] })

const s = crudSchema

/** The CRUD baseline's budgets, as rows. */
function budgetRows(budgets: Map<string, Budget>): Statement {
  return json(
    `INSERT INTO ${s}.budgets (department, fiscal_year, currency, amount, reserved, committed, spent)
     SELECT department, "fiscalYear", currency, amount, reserved, committed, spent
     FROM json_to_recordset($1::json) AS b(department text, "fiscalYear" int, currency text, amount bigint,
       reserved bigint, committed bigint, spent bigint)`,
    [...budgets.values()],
  )
}

/** The chunk's requests as the baseline keeps them: where its commands would have put them. */
function requestRows(chunk: readonly PlannedRequest[]): Statement[] {
  const states = chunk.flatMap((r) => (r.state.status === 'absent' ? [] : [r.state]))
  const requests = states.map((r) => ({
    id: r.requestId,
    requester: r.requesterId,
    department: r.department,
    year: r.fiscalYear,
    currency: r.currency,
    title: r.title,
    total: r.total,
    status: r.status,
    created: r.createdAt,
    updated: r.updatedAt,
    approved: r.status === 'approved' ? r.approvedAt : null,
    closedBy: r.status === 'rejected' ? r.rejectedBy : null,
    reason: r.status === 'rejected' ? r.reason : null,
    previous: r.status === 'cancelled' ? r.previousStatus : null,
    paid: r.status === 'paid' ? r.paidAmount : null,
    reference: r.status === 'paid' ? r.paymentReference : null,
  }))
  const items = states.flatMap((r) =>
    r.items.map((item, line) => ({ id: r.requestId, line: line + 1, ...item })),
  )
  const steps = states.flatMap((r) =>
    r.steps.map((step) => {
      const approval = r.approvals.find((a) => a.step.index === step.index)
      return {
        id: r.requestId,
        index: step.index,
        role: step.role,
        department: step.department ?? null,
        approver: approval?.approverId ?? null,
        actedAs: approval?.actedAs ?? null,
        comment: approval?.comment ?? null,
        at: approval?.at ?? null,
      }
    }),
  )
  return [
    json(
      `INSERT INTO ${s}.requests (request_id, requester_id, department, fiscal_year, currency, title, total, status,
           created_at, updated_at, approved_at, closed_by, close_reason, previous_status, paid_amount, payment_reference)
         SELECT id, requester, department, year, currency, title, total, status, created, updated, approved,
           "closedBy", reason, previous, paid, reference
         FROM json_to_recordset($1::json) AS r(id uuid, requester text, department text, year int, currency text,
           title text, total bigint, status text, created timestamptz, updated timestamptz, approved timestamptz,
           "closedBy" text, reason text, previous text, paid bigint, reference text)`,
      requests,
    ),
    json(
      `INSERT INTO ${s}.request_items (request_id, line, description, quantity, unit_price)
         SELECT id, line, description, quantity, "unitPrice"
         FROM json_to_recordset($1::json) AS i(id uuid, line int, description text, quantity bigint, "unitPrice" bigint)`,
      items,
    ),
    json(
      `INSERT INTO ${s}.request_steps (request_id, step_index, role, department, approver_id, acted_as, comment, decided_at)
         SELECT id, index, role, department, approver, "actedAs", comment, at
         FROM json_to_recordset($1::json) AS t(id uuid, index int, role text, department text, approver text,
           "actedAs" text, comment text, at timestamptz)`,
      steps,
    ),
  ]
}
