import { CurrencyCode, defineEvent, Id, Name, Text, UserId } from '../../kernel/index.js'
import Type, { type Static, type TSchema } from 'typebox'

/**
 * Schemas of the cards domain's commands, results and events: one definition each. Amounts are
 * integers in minor units of the card's `currency`. The caps keep a card's limit, holds and posted
 * sums far inside JavaScript's safe integers (2^53 ≈ 9.007e15) and PostgreSQL's bigint.
 */

/** A card's credit limit, at most 10^12 minor units. */
export const MAX_CREDIT_LIMIT = 1_000_000_000_000
/** One transaction's amount, at most 10^12 minor units (the product's own limit is usually far lower). */
export const MAX_AMOUNT = 1_000_000_000_000

const strict = { additionalProperties: false } as const
const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time (UTC)' })
const Amount = Type.Integer({ minimum: 1, maximum: MAX_AMOUNT, description: 'Minor units, > 0' })
/** A sum on a card (limit, holds, posted, available), never negative. */
const Sum = Type.Integer({ minimum: 0, maximum: MAX_CREDIT_LIMIT, description: 'Minor units' })
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. KRW' })
/** Any two capitals: what events carry (those recorded before `CountryCode` keep reading). */
export const Country = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2 code, e.g. KR' })
/**
 * The codes ISO 3166-1 alpha-2 assigns, and XK (Kosovo, user-assigned, which card networks use):
 * what a command accepts. `ZZ` or `XX` is no country's, and a 400.
 */
const countryCodes = [
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ',
  'BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM',
  'DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS',
  'GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN',
  'KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ',
  'MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM',
  'PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV',
  'SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI',
  'VN VU WF WS XK YE YT ZA ZM ZW',
].flatMap((line) => line.split(' '))
export const CountryCode = Type.Enum(countryCodes, { description: 'ISO 3166-1 alpha-2 code, e.g. KR' })
export const Mcc = Type.String({ pattern: '^[0-9]{4}$', description: 'Merchant category code, 4 digits' })
/** A merchant's id as the network sends it: letters, digits, hyphens; any case, lower-cased. */
export const MerchantId = Name(64, 'A merchant id (letters, digits, hyphens; any case, lower-cased)')
const MerchantName = Text(200)
const City = Text(100)
/** A user id as events and the processor carry it (issued cards' customers: `UserId` at issue). */
const CustomerOf = Text(200, 'A user id (the JWT `sub`)')
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const products = ['classic', 'gold', 'platinum'] as const
export const Product = Type.Enum(products)
export type Product = Static<typeof Product>

export const CardStatus = Type.Enum(['active', 'blocked', 'lost'])
export type CardStatus = Static<typeof CardStatus>

export const declineReasons = [
  'CARD_NOT_FOUND',
  'CARD_LOST',
  'CARD_BLOCKED',
  'CARD_EXPIRED',
  'CURRENCY_MISMATCH',
  'AMOUNT_LIMIT',
  'INSUFFICIENT_CREDIT',
] as const
export const DeclineReason = Type.Enum(declineReasons)
export type DeclineReason = Static<typeof DeclineReason>

export const TransactionStatus = Type.Enum([
  'authorized',
  'captured',
  'reversed',
  'expired',
  'failed',
  'declined',
])
export type TransactionStatus = Static<typeof TransactionStatus>

/** Who sent a transaction: the card network, or the card's own auto-payment timer. */
export const TransactionSource = Type.Enum(['network', 'auto-payment'])
export type TransactionSource = Static<typeof TransactionSource>

// Commands.

export const IssueCardInput = Type.Object(
  {
    cardId: Type.Optional(Id()),
    customerId: UserId(),
    product: Product,
    creditLimit: Type.Integer({ minimum: 0, maximum: MAX_CREDIT_LIMIT, description: 'Minor units' }),
    currency: CurrencyCode,
    expiresAt: Time,
  },
  strict,
)
export const CardIdInput = Type.Object({ cardId: Id() }, strict)
export const BlockCardInput = Type.Object({ cardId: Id(), reason: Type.Optional(Text(500)) }, strict)
export const ChangeCreditLimitInput = Type.Object(
  {
    cardId: Id(),
    creditLimit: Type.Integer({ minimum: 0, maximum: MAX_CREDIT_LIMIT, description: 'Minor units' }),
  },
  strict,
)
export const AuthorizeTransactionInput = Type.Object(
  {
    /** The network's own id for it, if it has one (taken: 409 TRANSACTION_ID_TAKEN); default: a new id. */
    transactionId: Type.Optional(Id()),
    cardId: Id(),
    amount: Amount,
    currency: CurrencyCode,
    merchantId: MerchantId,
    merchantName: MerchantName,
    mcc: Mcc,
    country: CountryCode,
    city: Type.Optional(City),
    /** When the cardholder paid, as the network saw it; default: when the authorization arrives. */
    occurredAt: Type.Optional(Time),
  },
  strict,
)
export const UpdateTransactionInput = Type.Object(
  {
    transactionId: Id(),
    action: Type.Enum(['capture', 'reverse', 'adjust']),
    /** capture: what to post (default: the whole hold); adjust: the new hold; reverse: none. */
    amount: Type.Optional(Amount),
  },
  strict,
)
export const MarkTransactionFailedInput = Type.Object({ transactionId: Id(), reason: Text(500) }, strict)
/** Sent by a hold's expiry timer (role `system`). */
export const ExpireHoldInput = Type.Object({ cardId: Id(), transactionId: Id() }, strict)
export const RegisterAutoPaymentInput = Type.Object(
  {
    /** Default: a new id (taken: 409 AUTO_PAYMENT_ID_TAKEN). */
    autoPaymentId: Type.Optional(Id()),
    cardId: Id(),
    merchantId: MerchantId,
    amount: Amount,
    dayOfMonth: Type.Integer({ minimum: 1, maximum: 28 }),
    /** Default: `Auto-payment`. */
    merchantName: Type.Optional(MerchantName),
    /** Default: 5968 (continuity and subscription merchants). */
    mcc: Type.Optional(Mcc),
    /** Default: KR. */
    country: Type.Optional(CountryCode),
  },
  strict,
)
export const CancelAutoPaymentInput = Type.Object({ autoPaymentId: Id() }, strict)
/** Sent by an auto-payment's monthly timer (role `system`): the payment due at `dueAt`. */
export const SubmitAutoPaymentInput = Type.Object({ autoPaymentId: Id(), dueAt: Time }, strict)

export type IssueCard = Static<typeof IssueCardInput>
export type CardIdCommand = Static<typeof CardIdInput>
export type BlockCard = Static<typeof BlockCardInput>
export type ChangeCreditLimit = Static<typeof ChangeCreditLimitInput>
export type AuthorizeTransaction = Static<typeof AuthorizeTransactionInput>
export type UpdateTransaction = Static<typeof UpdateTransactionInput>
export type MarkTransactionFailed = Static<typeof MarkTransactionFailedInput>
export type ExpireHold = Static<typeof ExpireHoldInput>
export type RegisterAutoPayment = Static<typeof RegisterAutoPaymentInput>
export type CancelAutoPayment = Static<typeof CancelAutoPaymentInput>
export type SubmitAutoPayment = Static<typeof SubmitAutoPaymentInput>

// Results.

export const CardIdResult = Type.Object({ cardId: Id() })
export const CardStatusResult = Type.Object({ cardId: Id(), status: CardStatus })
export const CreditLimitResult = Type.Object({
  cardId: Id(),
  creditLimit: Sum,
  available: Sum,
})
export const DecisionResult = Type.Object({
  transactionId: Id(),
  decision: Type.Enum(['approved', 'declined']),
  reason: Type.Optional(DeclineReason),
})
export const TransactionResult = Type.Object({
  transactionId: Id(),
  status: TransactionStatus,
  /** What it holds on the card now. */
  hold: Sum,
  /** What it posted. */
  posted: Sum,
})
export const AutoPaymentIdResult = Type.Object({ autoPaymentId: Id() })
export const AutoPaymentResult = Type.Object({
  autoPaymentId: Id(),
  status: Type.Enum(['active', 'cancelled']),
  nextDueAt: Nullable(Time),
})
export const SubmittedResult = Type.Object({
  autoPaymentId: Id(),
  /** False when the payment of `dueAt` was already submitted or the auto-payment was cancelled. */
  submitted: Type.Boolean(),
  transactionId: Nullable(Id()),
  decision: Nullable(Type.Enum(['approved', 'declined'])),
})

// Events. Every event is on the card's stream, `card-<cardId>` (a decline for an unknown card too:
// see docs/cards.md), and names the card, its customer and product, who acted (`actor`) and when (`at`).
// Transaction events carry the whole transaction (merchant, category, place, amounts) and the card's
// figures after the event (`balance`), so read models and the anomaly detector need nothing else.

/** The card's figures after the event: available = creditLimit − holds − posted, never negative. */
export const Balance = Type.Object({ creditLimit: Sum, holds: Sum, posted: Sum, available: Sum })
export type Balance = Static<typeof Balance>

const CardRef = {
  cardId: Id(),
  customerId: Type.String(),
  product: Product,
  currency: Currency,
  /** The caller's id (`system:timers` for what a timer sent). */
  actor: Type.String(),
  at: Time,
}

export const CardIssued = defineEvent(
  'CardIssued',
  Type.Object({ ...CardRef, creditLimit: Sum, expiresAt: Time, balance: Balance }),
)
export const CardReportedLost = defineEvent(
  'CardReportedLost',
  Type.Object({ ...CardRef, previousStatus: CardStatus }),
)
export const CardBlocked = defineEvent(
  'CardBlocked',
  Type.Object({ ...CardRef, reason: Nullable(Type.String()) }),
)
export const CardUnblocked = defineEvent('CardUnblocked', Type.Object(CardRef))
export const CreditLimitChanged = defineEvent(
  'CreditLimitChanged',
  Type.Object({ ...CardRef, previousLimit: Sum, creditLimit: Sum, balance: Balance }),
)

/** The transaction as the network described it, repeated on each of its events. */
const TransactionRef = {
  ...CardRef,
  transactionId: Id(),
  merchantId: Type.String(),
  merchantName: Type.String(),
  mcc: Mcc,
  country: Country,
  city: Nullable(Type.String()),
  /** When the cardholder paid, as the network said (or when the authorization arrived). */
  occurredAt: Time,
  source: TransactionSource,
  /** The auto-payment that submitted it, when `source` is `auto-payment`. */
  autoPaymentId: Nullable(Id()),
}

/** A hold of `amount` on the card, until captured, reversed, failed or expired (at `holdExpiresAt`). */
export const TransactionAuthorized = defineEvent(
  'TransactionAuthorized',
  Type.Object({
    ...TransactionRef,
    decision: Type.Literal('approved'),
    amount: Amount,
    holdExpiresAt: Time,
    balance: Balance,
  }),
)
/**
 * A refused authorization: a result, not an error. For CARD_NOT_FOUND the card is unknown, so
 * `customerId` is null, `product` null, `currency` the one asked for and `balance` null.
 */
export const TransactionDeclined = defineEvent(
  'TransactionDeclined',
  Type.Object({
    ...TransactionRef,
    customerId: Nullable(Type.String()),
    product: Nullable(Product),
    decision: Type.Literal('declined'),
    reason: DeclineReason,
    amount: Amount,
    balance: Nullable(Balance),
  }),
)
/** Posts `capturedAmount` (all or part of the hold); the rest of the hold, `releasedAmount`, is released. */
export const TransactionCaptured = defineEvent(
  'TransactionCaptured',
  Type.Object({
    ...TransactionRef,
    authorizedAmount: Amount,
    capturedAmount: Amount,
    releasedAmount: Sum,
    balance: Balance,
  }),
)
/** The whole hold released, nothing posted. */
export const TransactionReversed = defineEvent(
  'TransactionReversed',
  Type.Object({ ...TransactionRef, authorizedAmount: Amount, releasedAmount: Amount, balance: Balance }),
)
/** The hold changed from `previousAmount` to `authorizedAmount` (up or down), still uncaptured. */
export const TransactionAdjusted = defineEvent(
  'TransactionAdjusted',
  Type.Object({ ...TransactionRef, previousAmount: Amount, authorizedAmount: Amount, balance: Balance }),
)
/**
 * The transaction failed: what it held (the hold of an authorized one, the posted amount of a
 * captured one) is released.
 */
export const TransactionFailed = defineEvent(
  'TransactionFailed',
  Type.Object({
    ...TransactionRef,
    previousStatus: Type.Enum(['authorized', 'captured']),
    authorizedAmount: Amount,
    capturedAmount: Sum,
    releasedAmount: Amount,
    reason: Type.String(),
    balance: Balance,
  }),
)
/** Not captured in time: the hold is released by its timer. */
export const HoldExpired = defineEvent(
  'HoldExpired',
  Type.Object({ ...TransactionRef, authorizedAmount: Amount, releasedAmount: Amount, balance: Balance }),
)

const AutoPaymentRef = {
  ...CardRef,
  autoPaymentId: Id(),
  merchantId: Type.String(),
  merchantName: Type.String(),
  mcc: Mcc,
  country: Country,
  amount: Amount,
  dayOfMonth: Type.Integer({ minimum: 1, maximum: 28 }),
}

/** Submitted on `dayOfMonth` each month (00:00 UTC), the first time at `nextDueAt`. */
export const AutoPaymentRegistered = defineEvent(
  'AutoPaymentRegistered',
  Type.Object({ ...AutoPaymentRef, nextDueAt: Time }),
)
export const AutoPaymentCancelled = defineEvent('AutoPaymentCancelled', Type.Object(AutoPaymentRef))
/**
 * The payment due at `dueAt` was submitted as `transactionId` (its TransactionAuthorized or
 * TransactionDeclined is the event before this one); the next is due at `nextDueAt`.
 */
export const AutoPaymentSubmitted = defineEvent(
  'AutoPaymentSubmitted',
  Type.Object({
    ...AutoPaymentRef,
    dueAt: Time,
    transactionId: Id(),
    decision: Type.Enum(['approved', 'declined']),
    reason: Nullable(DeclineReason),
    nextDueAt: Time,
  }),
)

// Anomaly detection (anomaly/): an alert per rule that fires on a transaction, on its own stream
// `cards-alert-<alertId>`, its id made from the rule and the transaction (the same evidence, the same alert).

export const AnomalyRule = Type.Enum(['velocity', 'amount', 'travel', 'card-testing', 'risky-mcc'])
export const AlertResolution = Type.Enum(['fraud', 'legitimate'])
/** What made a rule fire: a line to read, the transactions (oldest first, the trigger last), the figures. */
export const AlertEvidence = Type.Object({
  summary: Type.String(),
  transactionIds: Type.Array(Id()),
  figures: Type.Record(Type.String(), Type.Union([Type.Number(), Type.String()])),
})

/** Sent by the anomaly processor only: the transaction as its event told it. */
export const DetectAnomaliesInput = Type.Object(
  {
    transactionId: Id(),
    cardId: Id(),
    customerId: CustomerOf,
    decision: Type.Enum(['approved', 'declined']),
    amount: Amount,
    currency: Currency,
    mcc: Mcc,
    country: Country,
    occurredAt: Time,
    /** When the authorization was decided: the history is what was decided by then. */
    decidedAt: Time,
  },
  strict,
)
export const DetectedResult = Type.Object({
  transactionId: Id(),
  /** Each rule that fired, and whether this command raised its alert (false: it was raised before). */
  alerts: Type.Array(Type.Object({ alertId: Id(), rule: AnomalyRule, raised: Type.Boolean() })),
})
export const ResolveAlertInput = Type.Object(
  { alertId: Id(), resolution: AlertResolution, note: Type.Optional(Text(1000)) },
  strict,
)
export const ResolvedResult = Type.Object({
  alertId: Id(),
  status: Type.Literal('resolved'),
  resolution: AlertResolution,
})
export type DetectAnomalies = Static<typeof DetectAnomaliesInput>
export type ResolveAlert = Static<typeof ResolveAlertInput>

export const AnomalyDetected = defineEvent(
  'AnomalyDetected',
  Type.Object({
    alertId: Id(),
    cardId: Id(),
    customerId: Type.String(),
    rule: AnomalyRule,
    score: Type.Integer({ minimum: 1, maximum: 100 }),
    evidence: AlertEvidence,
    /** The transaction that made the rule fire. */
    transactionId: Id(),
    detectedAt: Time,
  }),
)
export const AlertResolved = defineEvent(
  'AlertResolved',
  Type.Object({
    alertId: Id(),
    cardId: Id(),
    customerId: Type.String(),
    rule: AnomalyRule,
    transactionId: Id(),
    resolution: AlertResolution,
    note: Nullable(Type.String()),
    resolvedBy: Type.String(),
    resolvedAt: Time,
  }),
)

/** A transaction's events, from its decision on: what the read side's transaction models follow. */
export const transactionEvents = [
  TransactionAuthorized,
  TransactionDeclined,
  TransactionCaptured,
  TransactionReversed,
  TransactionAdjusted,
  TransactionFailed,
  HoldExpired,
] as const

/** The card's own events: what its write model and deciders know (CardsEvent). */
export const cardEvents = [
  CardIssued,
  CardReportedLost,
  CardBlocked,
  CardUnblocked,
  CreditLimitChanged,
  ...transactionEvents,
  AutoPaymentRegistered,
  AutoPaymentCancelled,
  AutoPaymentSubmitted,
] as const

/** Every event the domain declares: the card's, and anomaly detection's alerts. */
export const allEvents = [...cardEvents, AnomalyDetected, AlertResolved]

export type CardsEvent = ReturnType<(typeof cardEvents)[number]['create']>
export type TransactionEvent = Extract<
  CardsEvent,
  {
    type:
      | 'TransactionAuthorized'
      | 'TransactionDeclined'
      | 'TransactionCaptured'
      | 'TransactionReversed'
      | 'TransactionAdjusted'
      | 'TransactionFailed'
      | 'HoldExpired'
  }
>
