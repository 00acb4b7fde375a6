import type { SqlClient } from '../../../kernel/index.js'
import type { DetectAnomalies } from '../messages.js'
import { historyLimit, historyWindowMs, type Attempt, type History } from './rules.js'
import type { AnomalyPolicy } from './settings.js'

/**
 * The history the rules need, read from the write model (`cards.card_transaction`, `cards.card`):
 * the rows commit with the events that record each decision, so every attempt decided before the
 * trigger is there when the detection runs, however late or how often it runs. What the rules see
 * is fixed by the trigger alone: attempts decided before it (`created_at` ≤ its `at`: a card's
 * decisions are stamped one after another, `atTurn`) that occurred within the rules' window of it,
 * before or after it (the network reports some late), so a later attempt on the card never changes
 * a redelivery's answer.
 * Only network attempts count: an auto-payment is the customer's own standing order, sent by our
 * timer, and shows neither where the card is nor who holds it. Plain reads, no locks: detection
 * never waits for an authorization, nor makes one wait.
 */
export async function loadHistory(
  tx: SqlClient,
  trigger: DetectAnomalies,
  policy: AnomalyPolicy,
): Promise<History> {
  const [history] = await loadHistories(tx, [trigger], policy)
  return history ?? { card: [], baseline: { count: 0, median: null } }
}

/** An attempt as the rules take it, with what orders attempts of one moment. */
const attempt = `transaction_id::text AS "transactionId", amount::float8 AS amount,
  status <> 'declined' AS approved, mcc, country, occurred_at AS "occurredAt", created_at AS "decidedAt",
  created_at, transaction_id`
/** The trigger's card's other network attempts decided before it. */
const decidedBefore = `card_id = q.card_id AND transaction_id <> q.own AND source = 'network'
  AND created_at <= q.decided`

/**
 * The histories of several triggers (a processor's batch), in the triggers' order, in two statements
 * whatever their number: each trigger's rows are read by a LATERAL subquery of its own, on its own
 * card, customer and times (the nearest `historyLimit` attempts before it in time and as many after it), so
 * each history is what `loadHistory` gives it alone.
 */
export async function loadHistories(
  tx: SqlClient,
  triggers: readonly DetectAnomalies[],
  policy: AnomalyPolicy,
): Promise<History[]> {
  if (triggers.length === 0) return []
  const window = historyWindowMs(policy)
  const limit = historyLimit(policy)
  const at = (ms: number) => new Date(ms).toISOString()
  const column = <T>(pick: (t: DetectAnomalies) => T) => triggers.map(pick)
  const [cards, baselines] = await Promise.all([
    tx.query<Attempt & { occurredAt: Date | string; decidedAt: Date | string; i: string | number }>(
      `SELECT q.i, h."transactionId", h.amount, h.approved, h.mcc, h.country, h."occurredAt", h."decidedAt"
       FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
                   $6::timestamptz[]) WITH ORDINALITY AS q(card_id, own, decided, occurred, since, until, i)
       CROSS JOIN LATERAL (
         (SELECT ${attempt} FROM cards.card_transaction
          WHERE ${decidedBefore} AND occurred_at <= q.occurred AND occurred_at > q.since
          ORDER BY occurred_at DESC, created_at DESC, transaction_id DESC LIMIT $7)
         UNION ALL
         (SELECT ${attempt} FROM cards.card_transaction
          WHERE ${decidedBefore} AND occurred_at > q.occurred AND occurred_at < q.until
          ORDER BY occurred_at, created_at, transaction_id LIMIT $7)) h
       ORDER BY q.i, h."occurredAt" DESC, h.created_at DESC, h.transaction_id DESC`,
      [
        column((t) => t.cardId),
        column((t) => t.transactionId),
        column((t) => t.decidedAt),
        column((t) => t.occurredAt),
        column((t) => at(Date.parse(t.occurredAt) - window)),
        column((t) => at(Date.parse(t.occurredAt) + window)),
        limit,
      ],
    ),
    policy.amount.on
      ? tx.query<{ i: string | number; count: number; median: number | null }>(
          `SELECT q.i, b.count, b.median
           FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                       $6::timestamptz[]) WITH ORDINALITY AS q(customer_id, own, currency, decided, occurred, since, i)
           CROSS JOIN LATERAL (
             SELECT count(*)::int AS count,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY amount)::float8 AS median
             FROM (SELECT t.amount FROM cards.card_transaction t JOIN cards.card c ON c.card_id = t.card_id
                   WHERE c.customer_id = q.customer_id AND t.transaction_id <> q.own AND t.source = 'network'
                     AND t.status <> 'declined' AND t.currency = q.currency AND t.created_at <= q.decided
                     AND t.occurred_at <= q.occurred AND t.occurred_at > q.since
                   ORDER BY t.occurred_at DESC LIMIT 100) recent) b`,
          [
            column((t) => t.customerId),
            column((t) => t.transactionId),
            column((t) => t.currency),
            column((t) => t.decidedAt),
            column((t) => t.occurredAt),
            column((t) => at(Date.parse(t.occurredAt) - policy.amount.lookbackDays * 86_400_000)),
          ],
        )
      : Promise.resolve([]),
  ])
  const attempts: Attempt[][] = triggers.map(() => [])
  for (const { i, ...a } of cards) {
    attempts[Number(i) - 1]?.push({
      transactionId: a.transactionId,
      amount: a.amount,
      approved: a.approved,
      mcc: a.mcc,
      country: a.country,
      occurredAt: new Date(a.occurredAt).toISOString(),
      decidedAt: new Date(a.decidedAt).toISOString(),
    })
  }
  const sums = new Map(baselines.map((b) => [Number(b.i) - 1, { count: b.count, median: b.median }]))
  const histories = attempts.map((card, k) => ({ card, baseline: sums.get(k) ?? { count: 0, median: null } }))
  return histories
}
