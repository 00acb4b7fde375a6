import { ConflictError, ValidationError, type CommandMeta, type FieldError } from '../../kernel/index.js'
import {
  ApprovalPolicySet,
  DepartmentBudgetSet,
  type ProcurementEvent,
  type SetApprovalPolicy,
  type SetDepartmentBudget,
} from './messages.js'
import { actorOf, fiscalYearOf } from './request-rules.js'
import type { Budget } from './write-model.js'

/** The rules of the set-up commands: a department-year's budget, and the approval policy. Pure. */

/**
 * A budget is never set below what it holds (reserved + committed + spent): BUDGET_BELOW_COMMITMENTS.
 * Its currency changes only while it holds nothing (CURRENCY_MISMATCH otherwise). The same amount
 * and currency again is nothing to do.
 */
export function decideSetBudget(
  cmd: SetDepartmentBudget,
  budget: Budget | undefined,
  meta: CommandMeta,
): ProcurementEvent[] {
  const actorId = actorOf(meta)
  if (budget) {
    const held = budget.reserved + budget.committed + budget.spent
    if (budget.currency !== cmd.currency && held > 0)
      throw new ConflictError(
        'CURRENCY_MISMATCH',
        'Currency mismatch',
        `The budget holds ${held} ${budget.currency}: its currency cannot change`,
      )
    if (cmd.amount < held)
      throw new ConflictError(
        'BUDGET_BELOW_COMMITMENTS',
        'Budget below commitments',
        `${budget.reserved} reserved, ${budget.committed} committed and ${budget.spent} spent: at least ${held}`,
      )
    if (budget.amount === cmd.amount && budget.currency === cmd.currency) return []
  }
  return [
    DepartmentBudgetSet.create({
      department: cmd.department,
      fiscalYear: cmd.fiscalYear ?? fiscalYearOf(meta.now),
      currency: cmd.currency,
      amount: cmd.amount,
      previousAmount: budget?.amount ?? null,
      actorId,
      at: meta.now.toISOString(),
    }),
  ]
}

/**
 * A policy is tiers by ascending `upTo` (a total at most `upTo` takes the tier's steps); the last
 * tier, and only it, is open-ended (`upTo: null`); a tier names each role once.
 */
export function policyErrors(cmd: SetApprovalPolicy): FieldError[] {
  const errors: FieldError[] = []
  cmd.tiers.forEach((tier, i) => {
    const last = i === cmd.tiers.length - 1
    if (last && tier.upTo !== null)
      errors.push({ path: `/tiers/${i}/upTo`, message: 'must be null: the last tier is open-ended' })
    if (!last && tier.upTo === null)
      errors.push({ path: `/tiers/${i}/upTo`, message: 'only the last tier is open-ended' })
    const before = cmd.tiers[i - 1]?.upTo
    if (tier.upTo !== null && before !== undefined && before !== null && tier.upTo <= before)
      errors.push({ path: `/tiers/${i}/upTo`, message: 'must be greater than the tier before' })
    if (new Set(tier.steps).size !== tier.steps.length)
      errors.push({ path: `/tiers/${i}/steps`, message: 'must name each role once' })
  })
  return errors
}

export function decideSetPolicy(
  cmd: SetApprovalPolicy,
  _state: unknown,
  meta: CommandMeta,
): ProcurementEvent[] {
  const actorId = actorOf(meta)
  const errors = policyErrors(cmd)
  if (errors.length > 0) throw new ValidationError(errors, 'The approval policy is not well formed')
  return [ApprovalPolicySet.create({ tiers: cmd.tiers, actorId, at: meta.now.toISOString() })]
}
