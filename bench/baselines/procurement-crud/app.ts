import Fastify, { type FastifyInstance } from 'fastify'
import type { Pool, PoolClient } from 'pg'
import type { TSchema } from 'typebox'
import { createAuth, callerFromHeader } from '../../../src/app/auth.js'
import { AppError, ConflictError, isAppError, UnauthenticatedError } from '../../../src/core/errors.js'
import type { AnyCommand, Caller, CommandMeta } from '../../../src/core/messages.js'
import { checkAccess } from '../../../src/core/middleware.js'
import { uuidv7 } from '../../../src/core/ids.js'
import { coerce, validInput } from '../../../src/core/validation.js'
import { problemOf } from '../../../src/http/problem.js'
import { decideApprove, decidePay, decideReject } from '../../../src/domains/procurement/approval-rules.js'
import { procurementDomain } from '../../../src/domains/procurement/index.js'
import * as m from '../../../src/domains/procurement/messages.js'
import {
  decideCancel,
  decideCreate,
  decideUpdate,
  requestedDepartment,
  fiscalYearOf,
} from '../../../src/domains/procurement/request-rules.js'
import { canonicalDepartment, type RequestState } from '../../../src/domains/procurement/rules.js'
import { decideSetBudget, decideSetPolicy } from '../../../src/domains/procurement/setup-rules.js'
import { crudQueries } from './queries.js'
import { crudDdl } from './schema.js'
import { loadBudget, loadPolicy, loadRequest, write } from './store.js'

/**
 * The procurement API as a monolith would build it, the baseline the CQRS domain is measured against
 * (docs/procurement-crud-vs-cqrs.md): the same routes, inputs, rules and refusal codes, on one
 * normalized schema (schema.ts) read and written in place. No event log, no projections, no cache:
 * a command is one transaction of row locks and UPDATEs; a query is a SELECT on the same tables.
 */

type Decide = (input: never, state: RequestState, meta: CommandMeta) => m.RequestEvent[]

interface RequestCommand {
  input: TSchema
  /** The request the command acts on; a create names a new one. */
  requestId: (input: never, meta: CommandMeta) => string
  /** Whether the command reads the request's budget and the policy (create, update). */
  budget?: (
    input: never,
    state: RequestState,
    meta: CommandMeta,
  ) => { department: string; fiscalYear: number } | undefined
  decide: Decide
  answer: (events: m.RequestEvent[], state: RequestState, requestId: string) => unknown
}

const requestAnswer = (events: m.RequestEvent[], state: RequestState, requestId: string) => {
  const last = events.at(-1)?.data
  const total = last && 'total' in last ? last.total : state.status === 'absent' ? 0 : state.total
  const status = last?.status ?? (state.status === 'absent' ? 'pending' : state.status)
  return { requestId, total, status }
}

const ownBudget = (state: RequestState) =>
  state.status === 'absent' ? undefined : { department: state.department, fiscalYear: state.fiscalYear }

const commands: Record<string, RequestCommand> = {
  'create-purchase-request': {
    input: m.CreatePurchaseRequestInput,
    requestId: (i: m.CreatePurchaseRequest, meta) => i.requestId ?? meta.newId,
    budget: (i: m.CreatePurchaseRequest, _s, meta) => {
      const department = requestedDepartment(i, meta)
      return department === undefined ? undefined : { department, fiscalYear: fiscalYearOf(meta.now) }
    },
    decide: decideCreate as unknown as Decide,
    answer: requestAnswer,
  },
  'update-request': {
    input: m.UpdateRequestInput,
    requestId: (i: m.UpdateRequest) => i.requestId,
    budget: (_i: m.UpdateRequest, state) => ownBudget(state),
    decide: decideUpdate as unknown as Decide,
    answer: requestAnswer,
  },
  'cancel-request': {
    input: m.CancelRequestInput,
    requestId: (i: m.CancelRequest) => i.requestId,
    decide: decideCancel,
    answer: requestAnswer,
  },
  'approve-request': {
    input: m.ApproveRequestInput,
    requestId: (i: m.ApproveRequest) => i.requestId,
    decide: decideApprove,
    answer: requestAnswer,
  },
  'reject-request': {
    input: m.RejectRequestInput,
    requestId: (i: m.RejectRequest) => i.requestId,
    decide: decideReject,
    answer: requestAnswer,
  },
  'mark-as-paid': {
    input: m.MarkAsPaidInput,
    requestId: (i: m.MarkAsPaid) => i.requestId,
    decide: decidePay,
    answer: requestAnswer,
  },
}

/** Runs `work` in a transaction, again on a deadlock or a serialization failure. */
async function inTransaction<T>(pool: Pool, work: (db: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const db = await pool.connect()
    try {
      await db.query('BEGIN')
      const out = await work(db)
      await db.query('COMMIT')
      return out
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined)
      const code = (error as { code?: string }).code
      if ((code === '40P01' || code === '40001') && attempt < 5) continue
      if (code === '23505') throw new ConflictError('REQUEST_ID_TAKEN', 'Request id taken')
      throw error
    } finally {
      db.release()
    }
  }
}

function metaOf(caller: Caller | undefined): CommandMeta {
  const commandId = uuidv7()
  return { commandId, correlationId: commandId, caller, now: new Date(), newId: uuidv7() }
}

/**
 * A command's answer as the domain's (API.md) has it, but for `position`: there is no log to have
 * one in. The same `commandId` and `executionTimeMs`, the same `result`.
 */
const answered = (meta: CommandMeta, start: number, result: unknown) => ({
  commandId: meta.commandId,
  status: 'succeeded',
  executionTimeMs: Math.round((performance.now() - start) * 1000) / 1000,
  result,
})

export interface CrudOptions {
  pool: Pool
  authSecret: string
}

/** Creates the schema if it is missing. */
export async function migrateCrud(pool: Pool): Promise<void> {
  await pool.query(crudDdl)
}

/** The domain's message of this name: the baseline lets in whom the domain's access rule lets in. */
function domainMessage(kind: 'commands' | 'queries', name: string): Pick<AnyCommand, 'access'> {
  const found = (procurementDomain[kind] as readonly { name: string; access: AnyCommand['access'] }[]).find(
    (d) => d.name === name,
  )
  if (!found) throw new Error(`The procurement domain has no ${kind.slice(0, -1)} ${name}`)
  return found
}

export function buildCrudApp({ pool, authSecret }: CrudOptions): FastifyInstance {
  const auth = createAuth(authSecret)
  const app = Fastify({ logger: false })
  /** The caller of a request, refused as the domain's `access` rule refuses it (401, 403). */
  const callerOf = (header: string | undefined, access: AnyCommand['access']) => {
    const caller = callerFromHeader(auth, header)
    checkAccess(access, caller)
    if (!caller) throw new UnauthenticatedError()
    return caller
  }

  app.setErrorHandler((error, _request, reply) => {
    const status = (error as { statusCode?: number }).statusCode
    const body = problemOf(
      isAppError(error) || status !== 400
        ? error
        : new AppError(400, 'VALIDATION_FAILED', 'Bad request', (error as Error).message),
    )
    void reply.status(body.status).type('application/problem+json').send(body)
  })

  for (const [name, command] of Object.entries(commands)) {
    const { access } = domainMessage('commands', name)
    app.post(`/api/commands/procurement/${name}`, async (request) => {
      const start = performance.now()
      const meta = metaOf(callerOf(request.headers.authorization, access))
      const input = validInput(command.input, request.body ?? {}) as never
      const requestId = command.requestId(input, meta)
      const result = await inTransaction(pool, async (db) => {
        const state = await loadRequest(db, requestId)
        const at = command.budget?.(input, state, meta)
        const rows = {
          budget: at ? await loadBudget(db, at.department, at.fiscalYear) : undefined,
          policy: command.budget ? await loadPolicy(db) : undefined,
        }
        const events = (
          command.decide as (i: never, s: RequestState, meta: CommandMeta, r: unknown) => m.RequestEvent[]
        )(input, state, meta, rows)
        for (const event of events) await write(db, event)
        return command.answer(events, state, requestId)
      })
      return answered(meta, start, result)
    })
  }

  const { access: budgetAccess } = domainMessage('commands', 'set-department-budget')
  app.post('/api/commands/procurement/set-department-budget', async (request) => {
    const start = performance.now()
    const caller = callerOf(request.headers.authorization, budgetAccess)
    const input = validInput(m.SetDepartmentBudgetInput, request.body ?? {}) as m.SetDepartmentBudget
    const fiscalYear = input.fiscalYear ?? fiscalYearOf(new Date())
    const meta = metaOf(caller)
    const result = await inTransaction(pool, async (db) => {
      const budget = await loadBudget(db, input.department, fiscalYear)
      // The domain's rule: never below what the budget holds, its currency fixed while it holds any.
      decideSetBudget({ ...input, fiscalYear }, budget, meta)
      await db.query(
        `INSERT INTO procurement_crud.budgets (department, fiscal_year, currency, amount) VALUES ($1, $2, $3, $4)
         ON CONFLICT (department, fiscal_year) DO UPDATE SET amount = EXCLUDED.amount, currency = EXCLUDED.currency`,
        [input.department, fiscalYear, input.currency, input.amount],
      )
      const held = budget ? budget.reserved + budget.committed + budget.spent : 0
      return { ...input, fiscalYear, available: input.amount - held }
    })
    return answered(meta, start, result)
  })

  const { access: policyAccess } = domainMessage('commands', 'set-approval-policy')
  app.post('/api/commands/procurement/set-approval-policy', async (request) => {
    const start = performance.now()
    const caller = callerOf(request.headers.authorization, policyAccess)
    const input = validInput(m.SetApprovalPolicyInput, request.body ?? {}) as m.SetApprovalPolicy
    // The domain's rule: tiers ascending, the last one open-ended.
    const meta = metaOf(caller)
    decideSetPolicy(input, undefined, meta)
    await inTransaction(pool, async (db) => {
      await db.query('DELETE FROM procurement_crud.policy_tiers')
      await db.query(
        `INSERT INTO procurement_crud.policy_tiers (position, up_to, roles)
         SELECT n, u, string_to_array(r, ',') FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS t(u, r, n)`,
        [input.tiers.map((t) => t.upTo), input.tiers.map((t) => t.steps.join(','))],
      )
    })
    return answered(meta, start, input)
  })

  for (const [name, query] of Object.entries(crudQueries)) {
    const { access } = domainMessage('queries', name)
    app.get(`/api/queries/procurement/${name}`, async (request) => {
      const caller = callerOf(request.headers.authorization, access)
      const input = validInput(query.input, coerce(query.input, request.query ?? {}))
      const scope = { caller, department: canonicalDepartment(caller.dept) }
      return query.answer(pool, input as never, scope)
    })
  }
  return app
}
