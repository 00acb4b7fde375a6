import {
  atTurn,
  defineCommand,
  signedIn,
  stateStored,
  type CommandHandler,
  type CommandMeta,
  type Memory,
} from '../../kernel/index.js'
import {
  decideCancelAutoPayment,
  decideRegisterAutoPayment,
  decideSubmitAutoPayment,
} from './auto-payment-rules.js'
import {
  AuthorizeTransactionInput,
  AutoPaymentIdResult,
  AutoPaymentResult,
  BlockCardInput,
  CancelAutoPaymentInput,
  CardIdInput,
  CardIdResult,
  CardStatusResult,
  ChangeCreditLimitInput,
  CreditLimitResult,
  DecisionResult,
  ExpireHoldInput,
  IssueCardInput,
  MarkTransactionFailedInput,
  RegisterAutoPaymentInput,
  SubmitAutoPaymentInput,
  SubmittedResult,
  TransactionResult,
  UpdateTransactionInput,
  type CardsEvent,
} from './messages.js'
import {
  available,
  cardAfter,
  cardNotFound,
  decideAuthorize,
  decideBlock,
  decideChangeLimit,
  decideIssue,
  decideReportLost,
  decideUnblock,
  type AuthorizeState,
  type Card,
  type CardPolicy,
  type CardState,
  type RegisterAutoPaymentState,
  type TransactionCommandState,
} from './rules.js'
import { decideExpireHold, decideFail, decideUpdate } from './transaction-rules.js'
import {
  cardStream,
  loadCard,
  loadCardAnd,
  loadForAutoPayment,
  loadForSubmit,
  loadForTransaction,
  persist,
} from './write-model.js'
import * as ex from './examples.js'

const domain = 'cards'
const agents = ['agent', 'admin'] as const
const holdKey = (transactionId: string) => `cards:hold:${transactionId}`
const autoPaymentKey = (autoPaymentId: string) => `cards:auto-payment:${autoPaymentId}`

const streamOf = (card: CardState) => ({ id: cardStream(card.cardId), expectedVersion: card.version })

/**
 * Every command that names its card keeps the card's row as its events leave it, so the next
 * command on the card in this process can decide without reading (core/stream-memory.ts). Only
 * authorizations recall it: they need nothing but the row, whose version the append checks.
 */
function cardMemory<I extends { cardId: string }, S>(
  cardOf: (state: S) => CardState,
  recall?: (card: CardState) => S,
): Memory<I, S, CardsEvent, CardState> {
  return {
    streamId: (cmd) => cardStream(cmd.cardId),
    keep: (state, events) => cardAfter(cardOf(state), events),
    ...(recall ? { recall: (kept: CardState) => recall(kept) } : {}),
  }
}

/** A decision at its card's turn (the kernel's `atTurn`): its moment never before the card's last change. */
function turnOf(meta: CommandMeta, card: CardState): CommandMeta {
  return atTurn(meta, card.status === 'absent' ? undefined : card.updatedAt)
}

/** `decide` at its card's turn (`turnOf`), for a command whose state holds its card. */
function inTurn<I, S extends { card: CardState }>(
  decide: (cmd: I, state: S, meta: CommandMeta) => CardsEvent[],
): (cmd: I, state: S, meta: CommandMeta) => CardsEvent[] {
  return (cmd, state, meta) => decide(cmd, state, turnOf(meta, state.card))
}

/** The shell of a command on a card named by its input: load and lock it, decide, persist, answer. */
function onCard<I extends { cardId: string }, R>(
  decide: (cmd: I, state: CardState, meta: CommandMeta) => readonly CardsEvent[],
  answer: (card: Card) => R,
): CommandHandler<I, R> {
  return stateStored({
    load: (tx, cmd: I) => loadCard(tx, cmd.cardId),
    decide: (cmd: I, state: CardState, meta: CommandMeta) => decide(cmd, state, turnOf(meta, state)),
    stream: (_cmd, state) => streamOf(state),
    persist: (events, state) => persist(events, state),
    result: (events, _cmd, state) => {
      const card = cardAfter(state, events)
      if (card.status === 'absent') throw cardNotFound() // decided before: an unknown card is refused
      return answer(card)
    },
    memory: cardMemory((state: CardState) => state),
  })
}

const statusOf = (card: Card) => ({ cardId: card.cardId, status: card.status })

/** What a decision asks of the scheduler (the kernel's TimerIntent). */
type TimerIntent =
  { schedule: { key: string; command: string; input: unknown; at: Date } } | { cancel: string }

/** The hold's expiry timer, set with each authorization and cancelled once the hold is settled. */
function holdTimers(events: readonly CardsEvent[]): TimerIntent[] {
  return events.flatMap((e): TimerIntent[] => {
    if (e.type === 'TransactionAuthorized') {
      const { cardId, transactionId, holdExpiresAt } = e.data
      const input = { cardId, transactionId }
      return [
        {
          schedule: {
            key: holdKey(transactionId),
            command: 'cards/expire-hold',
            input,
            at: new Date(holdExpiresAt),
          },
        },
      ]
    }
    // A hold released by another command (an auto-payment's, past the hold's expiry) needs its timer no more.
    const settled = [
      'TransactionCaptured',
      'TransactionReversed',
      'TransactionFailed',
      'HoldExpired',
    ].includes(e.type)
    return settled && 'transactionId' in e.data ? [{ cancel: holdKey(e.data.transactionId) }] : []
  })
}

/** The auto-payment's monthly timer: set at registration and after each payment, removed on cancel. */
function autoPaymentTimers(events: readonly CardsEvent[]): TimerIntent[] {
  return events.flatMap((e): TimerIntent[] => {
    if (e.type === 'AutoPaymentRegistered' || e.type === 'AutoPaymentSubmitted') {
      const { autoPaymentId, nextDueAt } = e.data
      const input = { autoPaymentId, dueAt: nextDueAt }
      const at = new Date(nextDueAt)
      return [
        { schedule: { key: autoPaymentKey(autoPaymentId), command: 'cards/submit-auto-payment', input, at } },
      ]
    }
    return e.type === 'AutoPaymentCancelled' ? [{ cancel: autoPaymentKey(e.data.autoPaymentId) }] : []
  })
}

const transactionStream = (state: TransactionCommandState) => streamOf(state.card)

/** What a command on a transaction answers: the transaction as its events leave it. */
function transactionResult(events: readonly CardsEvent[], state: TransactionCommandState, id: string) {
  const t = state.transaction
  let result = {
    transactionId: id,
    status: t?.status ?? 'declined',
    hold: t?.hold ?? 0,
    posted: t?.posted ?? 0,
  }
  for (const e of events) {
    if (e.type === 'TransactionCaptured')
      result = { ...result, status: 'captured', hold: 0, posted: e.data.capturedAmount }
    if (e.type === 'TransactionReversed') result = { ...result, status: 'reversed', hold: 0 }
    if (e.type === 'HoldExpired') result = { ...result, status: 'expired', hold: 0 }
    if (e.type === 'TransactionAdjusted') result = { ...result, hold: e.data.authorizedAmount }
    if (e.type === 'TransactionFailed') result = { ...result, status: 'failed', hold: 0, posted: 0 }
  }
  return result
}

/**
 * A command on one transaction: its card locked and the transaction read (`loadForTransaction`), the
 * events on the card's stream, the answer the transaction as they leave it. `withHoldTimers`: the
 * decision may set or cancel a hold's expiry.
 */
function onTransaction<I extends { transactionId: string }>(
  decide: (cmd: I, state: TransactionCommandState, meta: CommandMeta) => CardsEvent[],
  withHoldTimers: boolean,
): CommandHandler<I, ReturnType<typeof transactionResult>> {
  const decideInTurn = inTurn(decide)
  return stateStored({
    load: (tx, cmd: I) => loadForTransaction(tx, cmd.transactionId),
    decide: decideInTurn,
    stream: (_cmd, state) => transactionStream(state),
    persist: (events, state) => persist(events, state.card),
    result: (events, cmd, state) => transactionResult(events, state, cmd.transactionId),
    ...(withHoldTimers ? { timers: (events: readonly CardsEvent[]) => holdTimers(events) } : {}),
  })
}

/** The commands of the cards domain, with the rules' settings (index.ts reads them from the environment). */
export function defineCardCommands(policy: CardPolicy) {
  const inTurns = {
    authorize: inTurn(decideAuthorize(policy)),
    register: inTurn(decideRegisterAutoPayment(policy)),
    cancel: inTurn(decideCancelAutoPayment),
    submit: inTurn(decideSubmitAutoPayment(policy)),
  }
  const issueCard = defineCommand({
    domain,
    name: 'issue-card',
    summary: 'Issue a card to a customer, with its product, credit limit, currency and expiry',
    input: IssueCardInput,
    output: CardIdResult,
    access: signedIn(...agents),
    refusals: { 409: ['CARD_ID_TAKEN'] },
    examples: ex.issueCard,
    handle: stateStored({
      load: (tx, cmd, meta) => loadCard(tx, cmd.cardId ?? meta.newId),
      decide: decideIssue,
      stream: (_cmd, state) => streamOf(state),
      persist: (events, state) => persist(events, state),
      result: (_events, _cmd, state) => ({ cardId: state.cardId }),
      memory: {
        streamId: (cmd, meta) => cardStream(cmd.cardId ?? meta.newId),
        keep: (state, events) => cardAfter(state, events),
      },
    }),
  })

  const reportCardLost = defineCommand({
    domain,
    name: 'report-card-lost',
    summary: "Report a card lost: it is blocked for good (the card's customer, or an agent)",
    input: CardIdInput,
    output: CardStatusResult,
    access: signedIn('customer', ...agents),
    refusals: { 404: ['CARD_NOT_FOUND'] },
    examples: ex.reportCardLost,
    handle: onCard(decideReportLost, statusOf),
  })

  const blockCard = defineCommand({
    domain,
    name: 'block-card',
    summary: 'Block a card: its authorizations are declined until it is unblocked',
    input: BlockCardInput,
    output: CardStatusResult,
    access: signedIn(...agents),
    refusals: { 404: ['CARD_NOT_FOUND'], 409: ['CARD_LOST'] },
    examples: ex.blockCard,
    handle: onCard(decideBlock, statusOf),
  })

  const unblockCard = defineCommand({
    domain,
    name: 'unblock-card',
    summary: 'Unblock a blocked card (a card reported lost stays blocked)',
    input: CardIdInput,
    output: CardStatusResult,
    access: signedIn(...agents),
    refusals: { 404: ['CARD_NOT_FOUND'], 409: ['CARD_LOST'] },
    examples: ex.unblockCard,
    handle: onCard(decideUnblock, statusOf),
  })

  const changeCreditLimit = defineCommand({
    domain,
    name: 'change-credit-limit',
    summary: 'Change a card’s credit limit, never below what is outstanding on it',
    input: ChangeCreditLimitInput,
    output: CreditLimitResult,
    access: signedIn(...agents),
    refusals: { 404: ['CARD_NOT_FOUND'], 409: ['LIMIT_BELOW_OUTSTANDING'] },
    examples: ex.changeCreditLimit,
    handle: onCard(decideChangeLimit, (card) => ({
      cardId: card.cardId,
      creditLimit: card.creditLimit,
      available: available(card),
    })),
  })

  const authorizeTransaction = defineCommand({
    domain,
    name: 'authorize-transaction',
    summary: 'Decide a payment: approved (a hold on the card) or declined with a reason, recorded either way',
    description:
      'Always answers a decision, never a refusal for the card’s state: reasons INSUFFICIENT_CREDIT, CARD_LOST, ' +
      'CARD_BLOCKED, CARD_EXPIRED, AMOUNT_LIMIT, CURRENCY_MISMATCH, CARD_NOT_FOUND. A network retries with the ' +
      'same Idempotency-Key and gets the first decision again.',
    input: AuthorizeTransactionInput,
    output: DecisionResult,
    access: signedIn('network'),
    refusals: { 409: ['TRANSACTION_ID_TAKEN'] },
    examples: ex.authorizeTransaction,
    handle: stateStored({
      load: async (tx, cmd): Promise<AuthorizeState> => {
        const { card, taken } = await loadCardAnd(tx, cmd.cardId, {
          table: 'card_transaction',
          id: cmd.transactionId,
        })
        return { card, transactionIdTaken: taken }
      },
      decide: inTurns.authorize,
      stream: (_cmd, state) => streamOf(state.card),
      persist: (events, state) => persist(events, state.card),
      result: (events) => {
        const [decided] = events
        if (decided?.type === 'TransactionAuthorized') {
          return { transactionId: decided.data.transactionId, decision: 'approved' as const }
        }
        if (decided?.type === 'TransactionDeclined') {
          const { transactionId, reason } = decided.data
          return { transactionId, decision: 'declined' as const, reason }
        }
        throw new Error('An authorization records its decision')
      },
      // A remembered card is all a decision needs; a transaction id the network chose that is
      // taken is refused by the primary key, and the command runs again, reading.
      memory: cardMemory(
        (state: AuthorizeState) => state.card,
        (card) => ({ card, transactionIdTaken: false }),
      ),
      timers: (events) => holdTimers(events),
    }),
  })

  const updateTransaction = defineCommand({
    domain,
    name: 'update-transaction',
    summary: 'Capture (all or part, the rest released), reverse or adjust an authorized hold',
    input: UpdateTransactionInput,
    output: TransactionResult,
    access: signedIn('network', ...agents),
    refusals: {
      404: ['TRANSACTION_NOT_FOUND'],
      409: [
        'INVALID_TRANSITION',
        'CAPTURE_EXCEEDS_HOLD',
        'INSUFFICIENT_CREDIT',
        'AMOUNT_LIMIT',
        'CARD_LOST',
        'CARD_BLOCKED',
        'CARD_EXPIRED',
      ],
    },
    examples: ex.updateTransaction,
    handle: onTransaction(decideUpdate(policy), true),
  })

  const markTransactionFailed = defineCommand({
    domain,
    name: 'mark-transaction-failed',
    summary: 'Mark an authorized or captured transaction failed: what it held is released',
    input: MarkTransactionFailedInput,
    output: TransactionResult,
    access: signedIn('network', ...agents),
    refusals: { 404: ['TRANSACTION_NOT_FOUND'], 409: ['INVALID_TRANSITION'] },
    examples: ex.markTransactionFailed,
    handle: onTransaction(decideFail, true),
  })

  const expireHold = defineCommand({
    domain,
    name: 'expire-hold',
    summary: 'Release a hold not captured in time (its timer sends it, as `system`)',
    input: ExpireHoldInput,
    output: TransactionResult,
    access: signedIn('system'),
    refusals: { 404: ['TRANSACTION_NOT_FOUND'] },
    examples: ex.expireHold,
    handle: onTransaction(decideExpireHold, false),
  })

  const registerAutoPayment = defineCommand({
    domain,
    name: 'register-auto-payment',
    summary: 'Pay a merchant a fixed amount on a day of each month (1–28), from a card',
    input: RegisterAutoPaymentInput,
    output: AutoPaymentIdResult,
    access: signedIn('customer', ...agents),
    refusals: {
      404: ['CARD_NOT_FOUND'],
      409: ['CARD_LOST', 'CARD_EXPIRED', 'AMOUNT_LIMIT', 'AUTO_PAYMENT_ID_TAKEN'],
    },
    examples: ex.registerAutoPayment,
    handle: stateStored({
      load: async (tx, cmd) => {
        const { card, taken } = await loadCardAnd(tx, cmd.cardId, {
          table: 'auto_payment',
          id: cmd.autoPaymentId,
        })
        return { card, autoPaymentIdTaken: taken }
      },
      decide: inTurns.register,
      stream: (_cmd, state) => streamOf(state.card),
      persist: (events, state) => persist(events, state.card),
      result: (events, cmd, _state, meta) => {
        const [registered] = events
        return {
          autoPaymentId:
            registered?.type === 'AutoPaymentRegistered'
              ? registered.data.autoPaymentId
              : (cmd.autoPaymentId ?? meta.newId),
        }
      },
      memory: cardMemory((state: RegisterAutoPaymentState) => state.card),
      timers: (events) => autoPaymentTimers(events),
    }),
  })

  const cancelAutoPayment = defineCommand({
    domain,
    name: 'cancel-auto-payment',
    summary: 'Cancel an auto-payment: no later payment is submitted',
    input: CancelAutoPaymentInput,
    output: AutoPaymentResult,
    access: signedIn('customer', ...agents),
    refusals: { 404: ['AUTO_PAYMENT_NOT_FOUND'] },
    examples: ex.cancelAutoPayment,
    handle: stateStored({
      load: (tx, cmd) => loadForAutoPayment(tx, cmd.autoPaymentId),
      decide: inTurns.cancel,
      stream: (_cmd, state) => streamOf(state.card),
      persist: (events, state) => persist(events, state.card),
      result: (_events, cmd) => ({
        autoPaymentId: cmd.autoPaymentId,
        status: 'cancelled' as const,
        nextDueAt: null,
      }),
      timers: (events) => autoPaymentTimers(events),
    }),
  })

  const submitAutoPayment = defineCommand({
    domain,
    name: 'submit-auto-payment',
    summary: 'Submit the payment of an auto-payment due now (its monthly timer sends it, as `system`)',
    input: SubmitAutoPaymentInput,
    output: SubmittedResult,
    access: signedIn('system'),
    refusals: { 404: ['AUTO_PAYMENT_NOT_FOUND'] },
    examples: ex.submitAutoPayment,
    handle: stateStored({
      load: (tx, cmd, meta) => loadForSubmit(tx, cmd.autoPaymentId, meta.now),
      decide: inTurns.submit,
      stream: (_cmd, state) => streamOf(state.card),
      persist: (events, state) => persist(events, state.card),
      result: (events, cmd) => {
        const submitted = events.find((e) => e.type === 'AutoPaymentSubmitted')
        return submitted?.type === 'AutoPaymentSubmitted'
          ? {
              autoPaymentId: cmd.autoPaymentId,
              submitted: true,
              transactionId: submitted.data.transactionId,
              decision: submitted.data.decision,
            }
          : { autoPaymentId: cmd.autoPaymentId, submitted: false, transactionId: null, decision: null }
      },
      timers: (events) => [...holdTimers(events), ...autoPaymentTimers(events)],
    }),
  })

  /** In the order their examples make a story: cards, their payments, then auto-payments. */
  return {
    issueCard,
    reportCardLost,
    blockCard,
    unblockCard,
    changeCreditLimit,
    authorizeTransaction,
    updateTransaction,
    markTransactionFailed,
    expireHold,
    registerAutoPayment,
    cancelAutoPayment,
    submitAutoPayment,
  }
}

export type CardCommands = ReturnType<typeof defineCardCommands>
