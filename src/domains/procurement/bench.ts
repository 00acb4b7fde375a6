import { type BenchMix, type Caller } from '../../kernel/index.js'
import { approveRequest, createPurchaseRequest, rejectRequest, setDepartmentBudget } from './commands.js'
import { getBudgetSummary } from './projections/budgets.js'
import { getPendingApprovals } from './projections/pending-approvals.js'
import { listDepartmentRequests, listMyRequests } from './projections/request-queries.js'

const departments = ['sales', 'engineering', 'marketing', 'operations', 'support']
const employees = 200
const finance: Caller = { id: 'bench-finance', roles: ['finance'] }
const department = (n: number) => departments[n % departments.length] ?? 'sales'
const employee = (n: number): Caller => ({
  id: `bench-employee-${n}`,
  roles: ['employee'],
  dept: department(n),
})
/** The manager of employee `n`'s department. */
const manager = (n: number): Caller => ({
  id: `bench-manager-${department(n)}`,
  roles: ['manager'],
  dept: department(n),
})
const day = 24 * 3600_000

/**
 * The procurement domain in the guide's benchmark: 200 employees in 5 departments, each with a budget
 * for 100,000 requests this year. Writes: a request (up to 1,000,000 KRW: the manager's step alone)
 * 80%, its manager's approval 15% or rejection 5%. Reads: a manager's department list 40%, a manager's
 * pending approvals 20%, an employee's own requests 30%, a department's budget 10%.
 */
export const benchMix: BenchMix = {
  async prepare({ commands, queries }, now) {
    const fiscalYear = now.getUTCFullYear()
    for (const name of departments) {
      const input = { department: name, fiscalYear, amount: 100_000_000_000, currency: 'KRW' }
      const done = await commands.execute(setDepartmentBudget, input, { caller: finance })
      if (done.status === 'failed') throw done.error
    }
    const neededBy = new Date(now.getTime() + 30 * day).toISOString().slice(0, 10)
    const pending: { requestId: string; manager: Caller }[] = []
    const pick = (r: number) => Math.floor(r * employees)
    return {
      async command(i, r) {
        const waiting = r < 0.2 ? pending.shift() : undefined
        if (waiting && r < 0.15)
          return commands.execute(
            approveRequest,
            { requestId: waiting.requestId },
            { caller: waiting.manager },
          )
        if (waiting)
          return commands.execute(
            rejectRequest,
            { requestId: waiting.requestId, reason: 'Not this quarter' },
            { caller: waiting.manager },
          )
        const n = pick(r)
        const items = [
          { description: `Item ${i}`, quantity: 1 + (i % 5), unitPrice: 10_000 * (1 + (i % 20)) },
        ]
        const done = await commands.execute(
          createPurchaseRequest,
          { title: `Request ${i}`, items, currency: 'KRW', neededBy },
          { caller: employee(n) },
        )
        if (done.status === 'succeeded') {
          pending.push({ requestId: done.result.requestId, manager: manager(n) })
          if (pending.length > 1000) pending.shift()
        }
        return done
      },
      query: (_i, r) =>
        r < 0.4
          ? queries.ask(listDepartmentRequests, { limit: 20 }, { caller: manager(pick(r / 0.4)) })
          : r < 0.6
            ? queries.ask(getPendingApprovals, { limit: 20 }, { caller: manager(pick((r - 0.4) / 0.2)) })
            : r < 0.9
              ? queries.ask(listMyRequests, { limit: 20 }, { caller: employee(pick((r - 0.6) / 0.3)) })
              : queries.ask(getBudgetSummary, { fiscalYear }, { caller: manager(pick((r - 0.9) / 0.1)) }),
    }
  },
}
