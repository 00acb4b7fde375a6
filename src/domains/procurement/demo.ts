import { type Caller, type CommandBus, type DemoExample, type QueryBus } from '../../kernel/index.js'
import {
  approveRequest,
  cancelRequest,
  createPurchaseRequest,
  markAsPaid,
  rejectRequest,
  setDepartmentBudget,
} from './commands.js'
import { getRequest } from './queries.js'

const employee: Caller = { id: 'demo-proc-employee', roles: ['employee'], dept: 'sales' }
const engineer: Caller = { id: 'demo-proc-engineer', roles: ['employee'], dept: 'engineering' }
const manager: Caller = { id: 'demo-proc-manager', roles: ['manager'], dept: 'sales' }
const engManager: Caller = { id: 'demo-proc-eng-manager', roles: ['manager'], dept: 'engineering' }
const finance: Caller = { id: 'demo-proc-finance', roles: ['finance'] }
const admin: Caller = { id: 'demo-proc-admin', roles: ['admin'] }

/** Labels are the banner's, shared by every domain: each names its own. */
export const demoCallers: readonly (Caller & { label: string })[] = [
  { label: 'proc-employee', ...employee },
  { label: 'proc-manager', ...manager },
  { label: 'proc-eng-mgr', ...engManager },
  { label: 'proc-finance', ...finance },
  { label: 'proc-admin', ...admin },
]

/** The seeded requests' ids, so the banner can tell what each waits for. */
const seeded = (n: number) => `0190c000-0000-7000-8000-00000000000${n}`
const waitsForManager = seeded(2)
const waitsForFinance = seeded(1)

type Outcome = { status: 'succeeded' } | { status: 'failed'; error: Error }
async function run(done: Promise<Outcome>) {
  const outcome = await done
  if (outcome.status === 'failed') throw outcome.error
}

const line = (description: string, quantity: number, unitPrice: number) => ({
  description,
  quantity,
  unitPrice,
})

/**
 * Budgets for sales and engineering this year, and requests in every state: waiting for the sales
 * manager, waiting for finance, waiting for an admin, paid, rejected and cancelled.
 */
export async function seedDemo(commands: CommandBus): Promise<void> {
  const budget = (department: string, amount: number) =>
    run(commands.execute(setDepartmentBudget, { department, amount, currency: 'KRW' }, { caller: finance }))
  await budget('sales', 100_000_000)
  await budget('engineering', 80_000_000)
  const create = (n: number, caller: Caller, title: string, items: ReturnType<typeof line>[]) =>
    run(
      commands.execute(
        createPurchaseRequest,
        { requestId: seeded(n), title, items, currency: 'KRW', justification: 'Demo data' },
        { caller },
      ),
    )
  const approve = (n: number, caller: Caller) =>
    run(commands.execute(approveRequest, { requestId: seeded(n), comment: 'OK' }, { caller }))
  await create(1, employee, 'Laptops for two new hires', [line('14-inch laptop', 2, 1_200_000)])
  await approve(1, manager)
  await create(2, employee, 'Team lunch', [line('Lunch for the sales team', 1, 300_000)])
  await create(3, employee, 'Monitors', [line('27-inch monitor', 3, 250_000)])
  await approve(3, manager)
  await run(
    commands.execute(
      markAsPaid,
      { requestId: seeded(3), paidAmount: 740_000, paymentReference: 'INV-DEMO-3' },
      { caller: finance },
    ),
  )
  await create(4, engineer, 'GPU server', [line('GPU server', 1, 15_000_000)])
  await approve(4, engManager)
  await approve(4, finance)
  await create(5, engineer, 'Books', [line('Domain-Driven Design', 4, 45_000)])
  await run(
    commands.execute(
      rejectRequest,
      { requestId: seeded(5), reason: 'Use the library' },
      { caller: engManager },
    ),
  )
  await create(6, employee, 'Whiteboard', [line('Whiteboard', 1, 120_000)])
  await run(commands.execute(cancelRequest, { requestId: seeded(6) }, { caller: employee }))
}

const commandPath = (name: string) => `/api/commands/procurement/${name}`

/** The banner's examples: a new request, and the approvals the seeded requests still wait for. */
export async function demoExamples(queries: QueryBus): Promise<DemoExample[]> {
  const examples: DemoExample[] = [
    {
      title: 'Request a purchase for your department (sales), reserving its budget',
      method: 'POST',
      path: commandPath('create-purchase-request'),
      body: { title: 'Printer paper', items: [line('A4 paper, 5 boxes', 5, 25_000)], currency: 'KRW' },
      as: 'proc-employee',
    },
  ]
  const waiting = async (requestId: string, role: string) => {
    const asked = await queries.ask(getRequest, { requestId }, { caller: admin })
    return asked.status === 'succeeded' && asked.data.currentStep?.role === role
  }
  if (await waiting(waitsForManager, 'manager'))
    examples.push({
      title: 'Approve the team lunch as the sales manager (it reserved 300,000 KRW)',
      method: 'POST',
      path: commandPath('approve-request'),
      body: { requestId: waitsForManager, comment: 'Enjoy' },
      as: 'proc-manager',
    })
  if (await waiting(waitsForFinance, 'finance'))
    examples.push({
      title: 'Approve the laptops as finance: the last step commits 2,400,000 KRW',
      method: 'POST',
      path: commandPath('approve-request'),
      body: { requestId: waitsForFinance },
      as: 'proc-finance',
    })
  examples.push({
    title: 'The laptops request, as its requester sees it',
    method: 'GET',
    path: `/api/queries/procurement/get-request?requestId=${waitsForFinance}`,
    as: 'proc-employee',
  })
  return examples
}
