import { CurrencyCode, defineEvent, Id, Name, Text } from '../../kernel/index.js'
import Type, { type Static } from 'typebox'

/**
 * Schemas of the procurement domain's commands, results and events: one definition each. Amounts are
 * integers in minor units of `currency`. The caps keep every total, budget and sum of them far inside
 * JavaScript's safe integers (2^53 ≈ 9.007e15) and PostgreSQL's bigint.
 */

/** Quantity of one line. */
export const MAX_QUANTITY = 1_000_000
/** Unit price of one line, in minor units. */
export const MAX_UNIT_PRICE = 1_000_000_000_000
/** A request's total, a budget, a payment, a policy threshold: at most 10^15 minor units. */
export const MAX_AMOUNT = 1_000_000_000_000_000
export const MAX_ITEMS = 100

const strict = { additionalProperties: false } as const
const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time (UTC)' })
const Amount = Type.Integer({ minimum: 0, maximum: MAX_AMOUNT, description: 'Minor units' })
/** A department: letters, digits and hyphens, any case, lower-cased on the way in (`Sales` is `sales`). */
export const Department = Name(40, 'A department (letters, digits, hyphens; any case, lower-cased)')
export const FiscalYear = Type.Integer({ minimum: 2000, maximum: 9999, description: 'A calendar year' })
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. KRW' })
const Title = Text(200)
const Justification = Text(2000)
const NeededBy = Type.String({ format: 'date', description: 'A calendar date, YYYY-MM-DD' })
const UserId = Type.String({ description: 'A user id (the JWT `sub`)' })

export const Role = Type.Enum(['manager', 'finance', 'admin'])
export type Role = Static<typeof Role>

export const Item = Type.Object(
  {
    description: Text(500),
    quantity: Type.Integer({ minimum: 1, maximum: MAX_QUANTITY }),
    unitPrice: Type.Integer({ minimum: 0, maximum: MAX_UNIT_PRICE, description: 'Minor units' }),
  },
  strict,
)
export type Item = Static<typeof Item>
const Items = Type.Array(Item, { minItems: 1, maxItems: MAX_ITEMS })

/** One approval step, captured on the request when it is created (or updated). */
export const Step = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  role: Role,
  /** For a manager step: the department whose manager approves. */
  department: Type.Optional(Type.String()),
})
export type Step = Static<typeof Step>

/** A tier of the approval policy: requests whose total is at most `upTo` (null: any above) need `steps`. */
export const PolicyTier = Type.Object(
  {
    upTo: Type.Union([Amount, Type.Null()]),
    steps: Type.Array(Role, { minItems: 1, maxItems: 3 }),
  },
  strict,
)
export type PolicyTier = Static<typeof PolicyTier>

// Commands.

export const CreatePurchaseRequestInput = Type.Object(
  {
    requestId: Type.Optional(Id()),
    title: Title,
    department: Type.Optional(Department),
    items: Items,
    currency: CurrencyCode,
    justification: Type.Optional(Justification),
    neededBy: Type.Optional(NeededBy),
  },
  strict,
)
export const UpdateRequestInput = Type.Object(
  {
    requestId: Id(),
    title: Type.Optional(Title),
    items: Type.Optional(Items),
    justification: Type.Optional(Type.Union([Justification, Type.Null()])),
    neededBy: Type.Optional(Type.Union([NeededBy, Type.Null()])),
  },
  strict,
)
export const CancelRequestInput = Type.Object({ requestId: Id(), reason: Type.Optional(Text(2000)) }, strict)
/** What the approver saw: if the request has changed since, nothing is decided. */
const ExpectedVersion = Type.Integer({
  minimum: 1,
  maximum: 2_147_483_647,
  description:
    "The request's version as the caller read it (get-request's `version`): if it has changed since, 409 REQUEST_CHANGED and nothing is decided",
})
export const ApproveRequestInput = Type.Object(
  { requestId: Id(), comment: Type.Optional(Text(2000)), expectedVersion: Type.Optional(ExpectedVersion) },
  strict,
)
export const RejectRequestInput = Type.Object(
  { requestId: Id(), reason: Text(2000), expectedVersion: Type.Optional(ExpectedVersion) },
  strict,
)
export const MarkAsPaidInput = Type.Object(
  { requestId: Id(), paidAmount: Amount, paymentReference: Text(200) },
  strict,
)
export const SetDepartmentBudgetInput = Type.Object(
  {
    department: Department,
    /** Default: the calendar year (UTC) now, the year new requests are counted in. */
    fiscalYear: Type.Optional(FiscalYear),
    amount: Amount,
    currency: CurrencyCode,
  },
  strict,
)
export const SetApprovalPolicyInput = Type.Object(
  { tiers: Type.Array(PolicyTier, { minItems: 1, maxItems: 10 }) },
  strict,
)

export type CreatePurchaseRequest = Static<typeof CreatePurchaseRequestInput>
export type UpdateRequest = Static<typeof UpdateRequestInput>
export type CancelRequest = Static<typeof CancelRequestInput>
export type ApproveRequest = Static<typeof ApproveRequestInput>
export type RejectRequest = Static<typeof RejectRequestInput>
export type MarkAsPaid = Static<typeof MarkAsPaidInput>
export type SetDepartmentBudget = Static<typeof SetDepartmentBudgetInput>
export type SetApprovalPolicy = Static<typeof SetApprovalPolicyInput>

export const RequestStatus = Type.Enum(['pending', 'approved', 'rejected', 'cancelled', 'paid'])
export type RequestStatus = Static<typeof RequestStatus>

export const RequestResult = Type.Object({ requestId: Id(), total: Amount, status: RequestStatus })
export const BudgetResult = Type.Object({
  department: Type.String(),
  fiscalYear: FiscalYear,
  currency: Currency,
  amount: Amount,
  available: Amount,
})
export const PolicyResult = Type.Object({ tiers: Type.Array(PolicyTier) })

// Events. Each request event names the request, its department and fiscal year, who acted and when,
// the status it leaves, and `budget`: what it moves on the department-year's budget row, so budget
// read models are sums of events.

/** What an event moves on its department-year budget: deltas of reserved, committed and spent. */
export const BudgetMove = Type.Object({
  reserved: Type.Integer(),
  committed: Type.Integer(),
  spent: Type.Integer(),
})
export type BudgetMove = Static<typeof BudgetMove>

const RequestRef = {
  requestId: Id(),
  department: Type.String(),
  fiscalYear: FiscalYear,
  currency: Currency,
  actorId: UserId,
  at: Time,
  status: RequestStatus,
  budget: BudgetMove,
}
const Content = {
  title: Type.String(),
  items: Type.Array(Item),
  total: Amount,
  justification: Type.Union([Type.String(), Type.Null()]),
  neededBy: Type.Union([Type.String(), Type.Null()]),
  /** The approval steps, in order: all of them must approve. */
  steps: Type.Array(Step),
}

export const RequestCreated = defineEvent(
  'RequestCreated',
  Type.Object({ ...RequestRef, requesterId: UserId, ...Content }),
)
/** The request's content as it is now (all of it), and the total before. Steps follow the new total. */
export const RequestUpdated = defineEvent(
  'RequestUpdated',
  Type.Object({ ...RequestRef, requesterId: UserId, ...Content, previousTotal: Amount }),
)
export const StepApproved = defineEvent(
  'StepApproved',
  Type.Object({
    ...RequestRef,
    requesterId: UserId,
    step: Step,
    /** The role the approver acted in (an admin may act on any step). */
    actedAs: Role,
    comment: Type.Union([Type.String(), Type.Null()]),
    /** The step that waits now; null after the last one. */
    nextStep: Type.Union([Step, Type.Null()]),
  }),
)
/** After the last StepApproved: the reserved total moves to committed. */
export const RequestApproved = defineEvent(
  'RequestApproved',
  Type.Object({ ...RequestRef, requesterId: UserId, total: Amount, committedAmount: Amount }),
)
export const RequestRejected = defineEvent(
  'RequestRejected',
  Type.Object({
    ...RequestRef,
    requesterId: UserId,
    step: Step,
    actedAs: Role,
    reason: Type.String(),
    releasedAmount: Amount,
  }),
)
export const RequestCancelled = defineEvent(
  'RequestCancelled',
  Type.Object({
    ...RequestRef,
    requesterId: UserId,
    reason: Type.Union([Type.String(), Type.Null()]),
    /** What the cancellation gave back, and from where: reserved while pending, committed once approved. */
    releasedAmount: Amount,
    releasedFrom: Type.Enum(['reserved', 'committed']),
    previousStatus: Type.Enum(['pending', 'approved']),
  }),
)
/** The committed total becomes spent as `paidAmount`; what was committed above it is released. */
export const RequestPaid = defineEvent(
  'RequestPaid',
  Type.Object({
    ...RequestRef,
    requesterId: UserId,
    total: Amount,
    paidAmount: Amount,
    paymentReference: Type.String(),
    releasedAmount: Amount,
  }),
)

export const DepartmentBudgetSet = defineEvent(
  'DepartmentBudgetSet',
  Type.Object({
    department: Type.String(),
    fiscalYear: FiscalYear,
    currency: Currency,
    amount: Amount,
    previousAmount: Type.Union([Amount, Type.Null()]),
    actorId: UserId,
    at: Time,
  }),
)
export const ApprovalPolicySet = defineEvent(
  'ApprovalPolicySet',
  Type.Object({ tiers: Type.Array(PolicyTier), actorId: UserId, at: Time }),
)

export const requestEvents = [
  RequestCreated,
  RequestUpdated,
  StepApproved,
  RequestApproved,
  RequestRejected,
  RequestCancelled,
  RequestPaid,
]
export const allEvents = [...requestEvents, DepartmentBudgetSet, ApprovalPolicySet]

export type RequestEvent = ReturnType<(typeof requestEvents)[number]['create']>
export type ProcurementEvent = ReturnType<(typeof allEvents)[number]['create']>
