import type { PoolClient } from 'pg'
import type { Item, PolicyTier, RequestEvent, Role, Step } from '../../../src/domains/procurement/messages.js'
import type { Approval, RequestState } from '../../../src/domains/procurement/rules.js'
import type { Budget } from '../../../src/domains/procurement/write-model.js'
import { crudSchema as s } from './schema.js'

/**
 * Rows in, rows out: the CRUD baseline reads a request's rows (locked) into the state the domain's
 * pure rules decide on, and writes each decision back as updates in place. The rules are the same
 * functions the CQRS domain uses, so the two differ only in how they store and read; the decisions'
 * events are values here, turned into UPDATEs and then forgotten (there is no log).
 */

interface RequestRow {
  request_id: string
  requester_id: string
  department: string
  fiscal_year: number
  currency: string
  title: string
  justification: string | null
  needed_by: string | null
  total: string
  status: string
  created_at: Date
  updated_at: Date
  version: number
  approved_at: Date | null
  closed_by: string | null
  close_reason: string | null
  previous_status: string | null
  paid_amount: string | null
  payment_reference: string | null
}

/** The request (locked until the commit), as the rules see it. */
export async function loadRequest(db: PoolClient, requestId: string): Promise<RequestState> {
  const { rows } = await db.query<RequestRow>(
    `SELECT *, needed_by::text AS needed_by FROM ${s}.requests WHERE request_id = $1 FOR UPDATE`,
    [requestId],
  )
  const row = rows[0]
  if (!row) return { status: 'absent' }
  const [items, steps] = await Promise.all([
    db.query<{ description: string; quantity: string; unit_price: string }>(
      `SELECT description, quantity, unit_price FROM ${s}.request_items WHERE request_id = $1 ORDER BY line`,
      [requestId],
    ),
    db.query<{
      step_index: number
      role: Role
      department: string | null
      approver_id: string | null
      acted_as: Role | null
      comment: string | null
      decided_at: Date | null
    }>(`SELECT * FROM ${s}.request_steps WHERE request_id = $1 ORDER BY step_index`, [requestId]),
  ])
  const stepOf = (r: (typeof steps.rows)[number]): Step =>
    r.department === null
      ? { index: r.step_index, role: r.role }
      : { index: r.step_index, role: r.role, department: r.department }
  const approvals: Approval[] = steps.rows
    .filter((r) => r.approver_id !== null && r.acted_as !== null && r.decided_at !== null)
    .map((r) => ({
      step: stepOf(r),
      approverId: r.approver_id ?? '',
      actedAs: r.acted_as ?? 'admin',
      comment: r.comment,
      at: r.decided_at?.toISOString() ?? '',
    }))
  const info = {
    requestId: row.request_id,
    requesterId: row.requester_id,
    department: row.department,
    fiscalYear: row.fiscal_year,
    currency: row.currency,
    title: row.title,
    items: items.rows.map((i) => ({
      description: i.description,
      quantity: Number(i.quantity),
      unitPrice: Number(i.unit_price),
    })),
    total: Number(row.total),
    justification: row.justification,
    neededBy: row.needed_by,
    steps: steps.rows.map(stepOf),
    approvals,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    version: row.version,
  }
  const approvedAt = row.approved_at?.toISOString()
  switch (row.status) {
    case 'pending':
      return { ...info, status: 'pending' }
    case 'approved':
      return { ...info, status: 'approved', approvedAt: approvedAt ?? info.updatedAt }
    case 'rejected':
      return { ...info, status: 'rejected', rejectedBy: row.closed_by ?? '', reason: row.close_reason ?? '' }
    case 'cancelled':
      return {
        ...info,
        status: 'cancelled',
        previousStatus: row.previous_status === 'approved' ? 'approved' : 'pending',
        ...(approvedAt === undefined ? {} : { approvedAt }),
      }
    default:
      return {
        ...info,
        status: 'paid',
        approvedAt: approvedAt ?? info.updatedAt,
        paidAmount: Number(row.paid_amount ?? 0),
        paymentReference: row.payment_reference ?? '',
        paidAt: info.updatedAt,
      }
  }
}

/** The department-year's budget, locked until the commit. */
export async function loadBudget(
  db: PoolClient,
  department: string,
  fiscalYear: number,
): Promise<Budget | undefined> {
  const { rows } = await db.query<{
    currency: string
    amount: string
    reserved: string
    committed: string
    spent: string
  }>(
    `SELECT currency, amount, reserved, committed, spent FROM ${s}.budgets
     WHERE department = $1 AND fiscal_year = $2 FOR UPDATE`,
    [department, fiscalYear],
  )
  const row = rows[0]
  return (
    row && {
      department,
      fiscalYear,
      currency: row.currency,
      amount: Number(row.amount),
      reserved: Number(row.reserved),
      committed: Number(row.committed),
      spent: Number(row.spent),
      version: 0,
    }
  )
}

export async function loadPolicy(db: PoolClient): Promise<PolicyTier[] | undefined> {
  const { rows } = await db.query<{ up_to: string | null; roles: Role[] }>(
    `SELECT up_to, roles FROM ${s}.policy_tiers ORDER BY position`,
  )
  return rows.length === 0
    ? undefined
    : rows.map((r) => ({ upTo: r.up_to === null ? null : Number(r.up_to), steps: r.roles }))
}

async function writeContent(
  db: PoolClient,
  requestId: string,
  content: { items: readonly Item[]; steps: readonly Step[] },
) {
  const { items, steps } = content
  await db.query(
    `INSERT INTO ${s}.request_items (request_id, line, description, quantity, unit_price)
     SELECT $1, n, d, q, p FROM unnest($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS t(d, q, p, n)`,
    [requestId, items.map((i) => i.description), items.map((i) => i.quantity), items.map((i) => i.unitPrice)],
  )
  await db.query(
    `INSERT INTO ${s}.request_steps (request_id, step_index, role, department)
     SELECT $1, i, r, d FROM unnest($2::int[], $3::text[], $4::text[]) AS t(i, r, d)`,
    [requestId, steps.map((x) => x.index), steps.map((x) => x.role), steps.map((x) => x.department ?? null)],
  )
}

/** Writes a decision in place: the request's rows and its budget row. */
export async function write(db: PoolClient, event: RequestEvent): Promise<void> {
  const d = event.data
  const { reserved, committed, spent } = d.budget
  if (reserved !== 0 || committed !== 0 || spent !== 0) {
    await db.query(
      `UPDATE ${s}.budgets SET reserved = reserved + $3, committed = committed + $4, spent = spent + $5
       WHERE department = $1 AND fiscal_year = $2`,
      [d.department, d.fiscalYear, reserved, committed, spent],
    )
  }
  switch (event.type) {
    case 'RequestCreated': {
      const e = event.data
      await db.query(
        `INSERT INTO ${s}.requests (request_id, requester_id, department, fiscal_year, currency, title,
           justification, needed_by, total, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10)`,
        [
          e.requestId,
          e.requesterId,
          e.department,
          e.fiscalYear,
          e.currency,
          e.title,
          e.justification,
          e.neededBy,
          e.total,
          e.at,
        ],
      )
      return writeContent(db, e.requestId, e)
    }
    case 'RequestUpdated': {
      const e = event.data
      await db.query(
        `UPDATE ${s}.requests SET version = version + 1, title = $2, justification = $3, needed_by = $4, total = $5, updated_at = $6
         WHERE request_id = $1`,
        [e.requestId, e.title, e.justification, e.neededBy, e.total, e.at],
      )
      await db.query(`DELETE FROM ${s}.request_items WHERE request_id = $1`, [e.requestId])
      await db.query(`DELETE FROM ${s}.request_steps WHERE request_id = $1`, [e.requestId])
      return writeContent(db, e.requestId, e)
    }
    case 'StepApproved': {
      const e = event.data
      await db.query(
        `UPDATE ${s}.request_steps SET approver_id = $3, acted_as = $4, comment = $5, decided_at = $6
         WHERE request_id = $1 AND step_index = $2`,
        [e.requestId, e.step.index, e.actorId, e.actedAs, e.comment, e.at],
      )
      await db.query(
        `UPDATE ${s}.requests SET version = version + 1, updated_at = $2 WHERE request_id = $1`,
        [e.requestId, e.at],
      )
      return
    }
    case 'RequestApproved':
      await db.query(
        `UPDATE ${s}.requests SET version = version + 1, status = 'approved', approved_at = $2, updated_at = $2 WHERE request_id = $1`,
        [d.requestId, d.at],
      )
      return
    case 'RequestRejected':
      await db.query(
        `UPDATE ${s}.requests SET version = version + 1, status = 'rejected', closed_by = $2, close_reason = $3, updated_at = $4 WHERE request_id = $1`,
        [d.requestId, d.actorId, event.data.reason, d.at],
      )
      return
    case 'RequestCancelled':
      await db.query(
        `UPDATE ${s}.requests SET version = version + 1, status = 'cancelled', closed_by = $2, close_reason = $3, previous_status = $4,
           updated_at = $5 WHERE request_id = $1`,
        [d.requestId, d.actorId, event.data.reason, event.data.previousStatus, d.at],
      )
      return
    case 'RequestPaid':
      await db.query(
        `UPDATE ${s}.requests SET version = version + 1, status = 'paid', paid_amount = $2, payment_reference = $3, updated_at = $4
         WHERE request_id = $1`,
        [d.requestId, event.data.paidAmount, event.data.paymentReference, d.at],
      )
      return
  }
}
