import { Id, Limit, UserId } from '../../../kernel/index.js'
import Type, { type Static, type TSchema } from 'typebox'
import { Country, Currency, DeclineReason, Mcc, MerchantId, Product, TransactionSource } from '../messages.js'
import { Category } from './categories.js'

/**
 * The read side's query inputs and answers: one definition each, shared by the queries and by every
 * engine that answers the analytics (the SQL rollups, or DuckDB: `engine=`).
 *
 * What "spending" counts (docs/cards-read-models.md): approved authorizations, net of what was
 * released. A transaction counts its hold while authorized (adjusted up or down), its captured
 * amount once captured (the rest released), and nothing once reversed, expired or failed (a
 * captured one that failed too). Declines are never spending; they are counted apart (`declined`).
 * Each transaction is bucketed by its `occurredAt` (when the cardholder paid, UTC), so a capture days
 * later moves the day and month the payment was made in. Amounts are per currency: never summed
 * across currencies.
 */

const strict = { additionalProperties: false } as const
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Count = Type.Integer({ minimum: 0 })
const Money = Type.Integer({ description: 'Minor units of `currency`' })

/** A customer id: the JWT `sub` of a customer (a customer asking for their own may leave it out). */
export const CustomerId = UserId('A customer id (JWT sub)')
export const Cursor = Type.String({ maxLength: 200, description: 'Opaque: the nextCursor of a page' })
export const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time (UTC)' })
/** A calendar month, UTC: `2031-03`; years 0001 to 9999, as times are (year 0000 is none to PostgreSQL). */
export const Month = Type.String({
  pattern: '^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])$',
  description: 'YYYY-MM (UTC)',
})
/** A calendar day, UTC: `2031-03-01`, years 0001 to 9999. Ranges of days include both ends. */
export const Day = Type.String({
  format: 'date',
  pattern: '^(?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2}$',
  description: 'YYYY-MM-DD (UTC); a range includes both ends',
})
/** A range's ends in a question: left out, the range is 30 days (from `to`, to `from`, or to today). */
const DayFrom = { ...Day, description: 'YYYY-MM-DD (UTC), included; default: 29 days before to' }
const DayTo = {
  ...Day,
  description: 'YYYY-MM-DD (UTC), included; default: 29 days after from, or today',
}
export const Bucket = Type.Enum(['day', 'month'], { description: 'Default day' })
export type Bucket = Static<typeof Bucket>

/**
 * The engines that may answer the analytics queries. `rollups` (the default) is the SQL store's
 * pre-aggregated rows; `duckdb` the analytical engine of src/domains/cards/analytics/, this
 * process's replica (CARDS_DUCKDB; where it keeps none, a 400 at /engine).
 */
export const engineNames = ['rollups', 'duckdb'] as const
export const EngineName = Type.Enum(engineNames, {
  description:
    'Which read model answers: rollups (the default: sums kept per customer-month, merchant-day, product-day) or duckdb (summed from the transactions at read time, by the DuckDB replica this process keeps; 400 where it keeps none)',
})
export type EngineName = Static<typeof EngineName>

/** Spending in one currency: what counts (posted + pending), how many payments, how many declines. */
export const Spending = Type.Object({
  currency: Currency,
  /** posted + pending: the net of approved authorizations (see above). */
  amount: Money,
  /** What captures posted (failed captures taken back). */
  posted: Money,
  /** Holds still authorized, not captured yet. */
  pending: Money,
  /** Approved payments not reversed, expired or failed. */
  count: Count,
  /** Declined authorizations (never in `amount`). */
  declined: Count,
})
export type Spending = Static<typeof Spending>

const withSpending = <P extends Record<string, TSchema>>(properties: P) =>
  Type.Object({ ...properties, ...Spending.properties })

// get-recent-transactions

export const GetRecentTransactionsInput = Type.Object(
  {
    /** One card's transactions; or */
    cardId: Type.Optional(Id()),
    /** every card of one customer (a customer: their own, the default). */
    customerId: Type.Optional(
      UserId(
        "Every card of this customer: a customer's own by default; an agent or admin gives it or cardId (a token with agent or admin beside customer is an agent's)",
      ),
    ),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  strict,
)
export type GetRecentTransactionsInput = Static<typeof GetRecentTransactionsInput>

export const RecentTransaction = Type.Object({
  transactionId: Id(),
  cardId: Id(),
  customerId: Type.String(),
  status: Type.Enum(['authorized', 'captured', 'reversed', 'expired', 'failed', 'declined']),
  /** Asked for (declined), held (authorized, after adjustments), or the hold before it was released. */
  amount: Money,
  /** What a capture posted (0 until captured, and after a captured one failed). */
  capturedAmount: Money,
  currency: Currency,
  merchantId: Type.String(),
  merchantName: Type.String(),
  mcc: Mcc,
  category: Category,
  country: Country,
  city: Nullable(Type.String()),
  occurredAt: Time,
  /** When its status last changed. */
  updatedAt: Time,
  source: TransactionSource,
  declineReason: Nullable(DeclineReason),
  failureReason: Nullable(Type.String()),
})
export type RecentTransaction = Static<typeof RecentTransaction>

// get-monthly-spending-summary

export const GetMonthlySpendingSummaryInput = Type.Object(
  {
    customerId: Type.Optional(
      UserId(
        "The customer: a customer's own by default; an agent or admin gives it (a token with agent or admin beside customer is an agent's)",
      ),
    ),
    month: Type.Optional({ ...Month, description: 'YYYY-MM (UTC); default: this month' }),
    /** How many months before `month` the trend compares with (default 6). */
    months: Type.Optional(Type.Integer({ minimum: 1, maximum: 24, description: 'Default 6' })),
    engine: Type.Optional(EngineName),
  },
  strict,
)
export type GetMonthlySpendingSummaryInput = Static<typeof GetMonthlySpendingSummaryInput>

export const MonthlySpendingSummary = Type.Object({
  customerId: Type.String(),
  month: Month,
  totals: Type.Array(Spending, { description: 'One per currency' }),
  byCategory: Type.Array(withSpending({ category: Category }), { description: 'Largest amount first' }),
  byCard: Type.Array(withSpending({ cardId: Id(), product: Product }), {
    description: 'Largest amount first',
  }),
  /** The previous `months` months and this one, oldest first; a month without payments is zeros. */
  trend: Type.Array(withSpending({ month: Month })),
  /** This month against the average of the previous months, per currency. */
  comparison: Type.Array(
    Type.Object({
      currency: Currency,
      amount: Money,
      previousAverage: Money,
      /** amount − previousAverage. */
      change: Money,
      /** change / previousAverage × 100, one decimal; null when the average is 0. */
      changePercent: Nullable(Type.Number()),
    }),
  ),
})
export type MonthlySpendingSummary = Static<typeof MonthlySpendingSummary>

// get-merchant-summary

export const GetMerchantSummaryInput = Type.Object(
  {
    merchantId: MerchantId,
    from: Type.Optional(DayFrom),
    to: Type.Optional(DayTo),
    bucket: Type.Optional(Bucket),
    engine: Type.Optional(EngineName),
  },
  strict,
)
export type GetMerchantSummaryInput = Static<typeof GetMerchantSummaryInput>

/** A bucket's first day (`YYYY-MM-DD`; a month's is its 1st), and what it holds. */
export const SpendingBucket = withSpending({ start: Day })

export const MerchantSummary = Type.Object({
  merchantId: Type.String(),
  /** The name its newest payment gave; null when it has none in the read model. */
  merchantName: Nullable(Type.String()),
  from: Day,
  to: Day,
  bucket: Bucket,
  totals: Type.Array(Spending, { description: 'The whole range, one per currency' }),
  buckets: Type.Array(SpendingBucket, {
    description: 'Oldest first; only buckets with payments or declines',
  }),
})
export type MerchantSummary = Static<typeof MerchantSummary>

// get-spending-by-date

export const GetSpendingByDateInput = Type.Object(
  {
    /** One customer's (a customer: their own, the default); agents and admins may leave it out: all. */
    customerId: Type.Optional(CustomerId),
    from: Type.Optional(DayFrom),
    to: Type.Optional(DayTo),
    bucket: Type.Optional(Bucket),
    engine: Type.Optional(EngineName),
  },
  strict,
)
export type GetSpendingByDateInput = Static<typeof GetSpendingByDateInput>

export const SpendingByDate = Type.Object({
  /** Null: every customer's. */
  customerId: Nullable(Type.String()),
  from: Day,
  to: Day,
  bucket: Bucket,
  totals: Type.Array(Spending),
  buckets: Type.Array(SpendingBucket, {
    description: 'Oldest first; only buckets with payments or declines',
  }),
})
export type SpendingByDate = Static<typeof SpendingByDate>

// get-spending-by-product

export const GetSpendingByProductInput = Type.Object(
  {
    /** One customer's (a customer: their own, the default); agents and admins may leave it out: all. */
    customerId: Type.Optional(CustomerId),
    from: Type.Optional({
      ...Month,
      description: 'YYYY-MM (UTC); default: 2 months before to (3 months covered)',
    }),
    /** Included. */
    to: Type.Optional({
      ...Month,
      description: 'YYYY-MM (UTC), included; default: 2 months after from, or this month',
    }),
    engine: Type.Optional(EngineName),
  },
  strict,
)
export type GetSpendingByProductInput = Static<typeof GetSpendingByProductInput>

export const SpendingByProduct = Type.Object({
  customerId: Nullable(Type.String()),
  from: Month,
  to: Month,
  products: Type.Array(withSpending({ product: Product }), { description: 'By product, then currency' }),
  byMonth: Type.Array(withSpending({ month: Month, product: Product }), { description: 'Oldest first' }),
})
export type SpendingByProduct = Static<typeof SpendingByProduct>

// get-card-history

export const GetCardHistoryInput = Type.Object(
  {
    cardId: Id(),
    /** As of this moment (default: now). */
    at: Type.Optional(Time),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  strict,
)
export type GetCardHistoryInput = Static<typeof GetCardHistoryInput>

export const CardHistoryEvent = Type.Object({
  position: Type.String({ description: 'Its place in the event log' }),
  type: Type.String(),
  at: Time,
  actor: Type.String(),
  transactionId: Nullable(Id()),
  data: Type.Record(Type.String(), Type.Unknown()),
})

export const CardStateView = Type.Object({
  status: Type.Enum(['active', 'blocked', 'lost']),
  product: Product,
  currency: Currency,
  creditLimit: Money,
  /** Authorized, uncaptured holds. */
  holds: Money,
  /** Posted by captures, unpaid. */
  posted: Money,
  /** holds + posted. */
  outstanding: Money,
  /** creditLimit − outstanding. */
  available: Money,
  expiresAt: Time,
})

// get-cards

export const GetCardsInput = Type.Object(
  {
    customerId: Type.Optional(CustomerId),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  strict,
)
export type GetCardsInput = Static<typeof GetCardsInput>

/** A card as it stands now: what `get-card-history` answers as its `state`, with its ids. */
export const CardSummary = Type.Object({
  cardId: Id(),
  customerId: Type.String(),
  issuedAt: Time,
  ...CardStateView.properties,
})
export type CardSummary = Static<typeof CardSummary>

export const CardHistory = Type.Object({
  cardId: Id(),
  customerId: Type.String(),
  /** The moment asked for; null: now. */
  asOf: Nullable(Time),
  /** The card as of then; null before it was issued. */
  state: Nullable(CardStateView),
  /** Its events up to then, newest first, `limit` of them. */
  events: Type.Array(CardHistoryEvent),
  /** The cursor of the older events; null when none. */
  nextCursor: Nullable(Type.String()),
})
export type CardHistory = Static<typeof CardHistory>

// get-access-log

export const GetAccessLogInput = Type.Object(
  {
    customerId: Type.Optional(CustomerId),
    agentId: Type.Optional(UserId('Who read')),
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  strict,
)
export type GetAccessLogInput = Static<typeof GetAccessLogInput>

/** One read of a customer's data, as the access log shows it. */
export const AccessRecord = Type.Object({
  id: Type.String({ format: 'uuid' }),
  at: Time,
  /** Who read (an agent, an admin). */
  agentId: Nullable(Type.String()),
  agentRoles: Type.Array(Type.String()),
  /** Whose data: the customer asked for, else the one (or first) the read showed. */
  customerId: Type.String(),
  /** Every customer the read showed (a list of alerts can show several). */
  customerIds: Type.Array(Type.String()),
  /** The query: `cards/get-recent-transactions`. */
  query: Type.String(),
  /** What the answer showed (ids, the month, …). */
  details: Type.Record(Type.String(), Type.Unknown()),
})
export type AccessRecord = Static<typeof AccessRecord>
