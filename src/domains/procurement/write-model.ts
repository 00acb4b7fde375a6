import { type Migration, type SqlClient, type Statement } from '../../kernel/index.js'
import type { BudgetMove, PolicyTier } from './messages.js'

/**
 * The write model beside the request streams: one budget row per department and fiscal year, and
 * the approval policy. Every request event that moves money updates its budget row in the commit
 * that appends it; the CHECKs hold the budget identity whatever code runs.
 */
export const migrations: readonly Migration[] = [
  {
    id: 'procurement/001-write-model',
    sql: `
      CREATE SCHEMA procurement;
      CREATE TABLE procurement.budgets (
        department text NOT NULL CHECK (length(department) <= 40
          AND department ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$'),
        fiscal_year integer NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 9999),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        amount bigint NOT NULL CHECK (amount >= 0),
        reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
        committed bigint NOT NULL DEFAULT 0 CHECK (committed >= 0),
        spent bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
        -- The number of DepartmentBudgetSet events: the version of the budget's own stream.
        version integer NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (department, fiscal_year),
        -- The budget identity: available = amount - reserved - committed - spent, never below zero.
        CONSTRAINT budget_identity CHECK (amount - reserved - committed - spent >= 0)
      ) WITH (fillfactor = 70); -- every request command rewrites its budget's row (HOT updates)
      CREATE TABLE procurement.approval_policy (
        policy_id smallint PRIMARY KEY CHECK (policy_id = 1),
        tiers jsonb NOT NULL,
        version integer NOT NULL,
        updated_by text NOT NULL,
        updated_at timestamptz NOT NULL
      )`,
  },
]

export interface Budget {
  department: string
  fiscalYear: number
  currency: string
  amount: number
  reserved: number
  committed: number
  spent: number
  version: number
}

export const available = (b: Budget) => b.amount - b.reserved - b.committed - b.spent

type RawBudget = Omit<Budget, 'amount' | 'reserved' | 'committed' | 'spent'> & {
  amount: string
  reserved: string
  committed: string
  spent: string
}

/**
 * Reads a department-year's budget and locks its row until the commit: the commands that move it
 * take turns. Each request command locks one budget row (its own department and year), so no two
 * commands can wait on each other's rows. Amounts are capped far below 2^53: read exactly as numbers.
 */
export async function loadBudget(
  tx: SqlClient,
  department: string,
  fiscalYear: number,
): Promise<Budget | undefined> {
  const [raw] = await tx.query<RawBudget>(
    `SELECT department, fiscal_year AS "fiscalYear", currency, amount::text, reserved::text,
       committed::text, spent::text, version
     FROM procurement.budgets WHERE department = $1 AND fiscal_year = $2 FOR UPDATE`,
    [department, fiscalYear],
  )
  if (!raw) return undefined
  const { amount, reserved, committed, spent, ...rest } = raw
  return {
    ...rest,
    amount: Number(amount),
    reserved: Number(reserved),
    committed: Number(committed),
    spent: Number(spent),
  }
}

/** The approval policy's tiers and version (version 0 and no tiers: none was ever set). */
export async function loadPolicy(
  tx: SqlClient,
  options: { lock?: boolean } = {},
): Promise<{ tiers: PolicyTier[] | undefined; version: number }> {
  const [row] = await tx.query<{ tiers: PolicyTier[] | string; version: number }>(
    `SELECT tiers, version FROM procurement.approval_policy WHERE policy_id = 1${options.lock ? ' FOR UPDATE' : ''}`,
  )
  if (!row) return { tiers: undefined, version: 0 }
  return {
    tiers: typeof row.tiers === 'string' ? (JSON.parse(row.tiers) as PolicyTier[]) : row.tiers,
    version: row.version,
  }
}

/** The budget row's change for the events' moves, summed; none when they move nothing. */
export function moveBudget(
  department: string,
  fiscalYear: number,
  moves: readonly BudgetMove[],
  at: Date,
): Statement[] {
  const sum = moves.reduce(
    (s, m) => ({
      reserved: s.reserved + m.reserved,
      committed: s.committed + m.committed,
      spent: s.spent + m.spent,
    }),
    { reserved: 0, committed: 0, spent: 0 },
  )
  if (sum.reserved === 0 && sum.committed === 0 && sum.spent === 0) return []
  return [
    {
      text: `UPDATE procurement.budgets SET reserved = reserved + $3, committed = committed + $4,
               spent = spent + $5, updated_at = $6 WHERE department = $1 AND fiscal_year = $2`,
      params: [department, fiscalYear, sum.reserved, sum.committed, sum.spent, at],
    },
  ]
}

/** Sets a budget's amount and currency, creating the row; the CHECKs refuse an amount below what it holds. */
export function setBudget(
  b: { department: string; fiscalYear: number; currency: string; amount: number },
  at: Date,
): Statement {
  return {
    text: `INSERT INTO procurement.budgets (department, fiscal_year, currency, amount, version, updated_at)
           VALUES ($1, $2, $3, $4, 1, $5)
           ON CONFLICT (department, fiscal_year) DO UPDATE SET currency = excluded.currency,
             amount = excluded.amount, version = procurement.budgets.version + 1, updated_at = excluded.updated_at`,
    params: [b.department, b.fiscalYear, b.currency, b.amount, at],
  }
}

export function setPolicy(tiers: readonly PolicyTier[], actorId: string, at: Date): Statement {
  return {
    text: `INSERT INTO procurement.approval_policy (policy_id, tiers, version, updated_by, updated_at)
           VALUES (1, $1::jsonb, 1, $2, $3)
           ON CONFLICT (policy_id) DO UPDATE SET tiers = excluded.tiers,
             version = procurement.approval_policy.version + 1, updated_by = excluded.updated_by,
             updated_at = excluded.updated_at`,
    params: [JSON.stringify(tiers), actorId, at],
  }
}
