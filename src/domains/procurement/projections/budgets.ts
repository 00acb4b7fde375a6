import { defineQuery, defineSqlProjection, signedIn, unreachable } from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { Currency, Department, DepartmentBudgetSet, FiscalYear, requestEvents } from '../messages.js'
import { departmentAsked } from './access.js'

/**
 * The budgets read model: one row per department and fiscal year, the budget from
 * DepartmentBudgetSet and reserved, committed and spent as the sums of every request event's
 * `budget` move (the write side's budget row moves by the same amounts in the same commit, so the
 * two agree once the projection has caught up). The runner applies each event once (its writes
 * commit with its checkpoint), and the moves are sums, so their order does not matter: the log is
 * read by (transaction, position), and requests of other streams, which move one row without a lock
 * taken in position order, may come in either order. (A guard on the row's last position dropped
 * the lower one; the spec below keeps it counted.)
 */

export const budgetsModel = 'procurement-budgets'

export const budgetsProjection = defineSqlProjection({
  domain: 'procurement',
  name: budgetsModel,
  version: 2,
  events: [...requestEvents, DepartmentBudgetSet],
  tables: ['budgets'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('budgets')} (
      department text NOT NULL, fiscal_year integer NOT NULL, currency text NOT NULL,
      budget bigint NOT NULL DEFAULT 0, reserved bigint NOT NULL DEFAULT 0, committed bigint NOT NULL DEFAULT 0,
      spent bigint NOT NULL DEFAULT 0, last_position bigint NOT NULL, PRIMARY KEY (department, fiscal_year))`,
  tags: ({ data }) => [
    `budget:${data.department}:${data.fiscalYear}`,
    `budgets:dept:${data.department}`,
    'budgets:all',
  ],
  // A batch's moves added up per budget row (the last budget set in it wins), one statement for all.
  async applyBatch(events, tx, t) {
    const rows = new Map<string, BudgetRow>()
    for (const event of events) {
      const d = event.data
      const key = `${d.department}\u0000${d.fiscalYear}`
      const row = rows.get(key) ?? {
        department: d.department,
        fiscal_year: d.fiscalYear,
        currency: d.currency,
        budget: null,
        reserved: 0,
        committed: 0,
        spent: 0,
        last_position: event.position,
      }
      rows.set(key, row)
      row.last_position = event.position
      switch (event.type) {
        case 'DepartmentBudgetSet':
          row.budget = event.data.amount
          row.currency = event.data.currency
          break
        case 'RequestCreated':
        case 'RequestUpdated':
        case 'StepApproved':
        case 'RequestApproved':
        case 'RequestRejected':
        case 'RequestCancelled':
        case 'RequestPaid':
          row.reserved += event.data.budget.reserved
          row.committed += event.data.budget.committed
          row.spent += event.data.budget.spent
          break
        default:
          unreachable(event)
      }
    }
    const all = [...rows.values()]
    tx.write({
      text: `INSERT INTO ${t('budgets')} AS b (department, fiscal_year, currency, reserved, committed, spent,
               last_position)
             SELECT department, fiscal_year, currency, reserved, committed, spent, last_position
             FROM jsonb_to_recordset($1::jsonb) AS x(department text, fiscal_year integer, currency text,
               reserved bigint, committed bigint, spent bigint, last_position bigint)
             ON CONFLICT (department, fiscal_year) DO UPDATE SET
               reserved = b.reserved + excluded.reserved, committed = b.committed + excluded.committed,
               spent = b.spent + excluded.spent, last_position = greatest(b.last_position, excluded.last_position)`,
      params: [JSON.stringify(all)],
    })
    const set = all.filter((row) => row.budget !== null)
    if (set.length === 0) return
    tx.write({
      text: `UPDATE ${t('budgets')} AS b SET budget = x.budget, currency = x.currency
             FROM jsonb_to_recordset($1::jsonb) AS x(department text, fiscal_year integer, currency text,
               budget bigint)
             WHERE b.department = x.department AND b.fiscal_year = x.fiscal_year`,
      params: [JSON.stringify(set)],
    })
  },
})

interface BudgetRow {
  department: string
  fiscal_year: number
  currency: string
  /** Set in the batch: the last amount set; else null (the row's budget stays). */
  budget: number | null
  reserved: number
  committed: number
  spent: number
  last_position: string
}

const Money = Type.Integer({ description: 'Minor units' })
export const BudgetSummary = Type.Object({
  department: Type.String(),
  fiscalYear: FiscalYear,
  currency: Currency,
  budget: Money,
  reserved: Money,
  committed: Money,
  spent: Money,
  /** budget − reserved − committed − spent: what new requests may still reserve. */
  available: Money,
})

export const getBudgetSummary = defineQuery({
  domain: 'procurement',
  name: 'get-budget-summary',
  summary:
    "Budget, reserved, committed, spent and available by department and fiscal year (a manager: their department's; finance and admin: any, or all)",
  input: Type.Object(
    { department: Type.Optional(Department), fiscalYear: Type.Optional(FiscalYear) },
    { additionalProperties: false },
  ),
  output: Type.Object({ items: Type.Array(BudgetSummary, { description: 'By department, then year' }) }),
  access: signedIn('manager', 'finance', 'admin'),
  readModels: [budgetsModel],
  examples: [{ department: 'engineering', fiscalYear: 2026 }],
  cache: {
    ttlMs: 30_000,
    tags: (q, _answer, caller) => {
      const department = caller ? departmentAsked(caller, q.department) : q.department
      if (department === undefined) return ['budgets:all']
      return [
        q.fiscalYear === undefined ? `budgets:dept:${department}` : `budget:${department}:${q.fiscalYear}`,
      ]
    },
  },
  async handle(q, { caller, stores }) {
    const department = caller ? departmentAsked(caller, q.department) : undefined
    const { sql, table } = stores.sql(budgetsModel)
    const items = await sql.query<Static<typeof BudgetSummary>>(
      `SELECT department, fiscal_year AS "fiscalYear", currency, budget::float8 AS budget,
         reserved::float8 AS reserved, committed::float8 AS committed, spent::float8 AS spent,
         (budget - reserved - committed - spent)::float8 AS available
       FROM ${table('budgets')}
       WHERE ($1::text IS NULL OR department = $1) AND ($2::int IS NULL OR fiscal_year = $2)
       ORDER BY department, fiscal_year`,
      [department ?? null, q.fiscalYear ?? null],
    )
    return { items }
  },
})
