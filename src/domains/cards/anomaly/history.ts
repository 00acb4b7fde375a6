import type { SqlClient } from '../../../kernel/index.js'
import type { DetectAnomalies } from '../messages.js'
import { historyWindowMs, type Attempt, type History } from './rules.js'
import type { AnomalyPolicy } from './settings.js'

/**
 * The history the rules need, read from the write model (`cards.card_transaction`, `cards.card`):
 * the rows commit with the events that record each decision, so every attempt decided before the
 * trigger is there when the detection runs, however late or how often it runs. What the rules see
 * is fixed by the trigger alone: attempts decided no later than it (`created_at` ≤ its `at`) that
 * occurred no later than it, so a later attempt on the card never changes a redelivery's answer.
 * Only network attempts count: an auto-payment is the customer's own standing order, sent by our
 * timer, and shows neither where the card is nor who holds it. Plain reads, no locks: detection
 * never waits for an authorization, nor makes one wait.
 */
export async function loadHistory(
  tx: SqlClient,
  trigger: DetectAnomalies,
  policy: AnomalyPolicy,
): Promise<History> {
  const occurred = Date.parse(trigger.occurredAt)
  const since = new Date(occurred - historyWindowMs(policy)).toISOString()
  const lookback = new Date(occurred - policy.amount.lookbackDays * 86_400_000).toISOString()
  const [card, [baseline]] = await Promise.all([
    tx.query<Attempt & { occurredAt: Date | string }>(
      `SELECT transaction_id::text AS "transactionId", amount::float8 AS amount, status <> 'declined' AS approved,
              mcc, country, occurred_at AS "occurredAt"
       FROM cards.card_transaction
       WHERE card_id = $1 AND transaction_id <> $2 AND source = 'network' AND created_at <= $3
         AND occurred_at <= $4 AND occurred_at > $5
       ORDER BY occurred_at DESC, created_at DESC, transaction_id DESC LIMIT 1000`,
      [trigger.cardId, trigger.transactionId, trigger.decidedAt, trigger.occurredAt, since],
    ),
    policy.amount.on
      ? tx.query<{ count: number; median: number | null }>(
          `SELECT count(*)::int AS count, percentile_cont(0.5) WITHIN GROUP (ORDER BY amount)::float8 AS median
           FROM (SELECT t.amount FROM cards.card_transaction t JOIN cards.card c ON c.card_id = t.card_id
                 WHERE c.customer_id = $1 AND t.transaction_id <> $2 AND t.source = 'network'
                   AND t.status <> 'declined' AND t.currency = $3 AND t.created_at <= $4
                   AND t.occurred_at <= $5 AND t.occurred_at > $6
                 ORDER BY t.occurred_at DESC LIMIT 100) recent`,
          [
            trigger.customerId,
            trigger.transactionId,
            trigger.currency,
            trigger.decidedAt,
            trigger.occurredAt,
            lookback,
          ],
        )
      : Promise.resolve([{ count: 0, median: null }]),
  ])
  return {
    card: card.map((a) => ({ ...a, occurredAt: new Date(a.occurredAt).toISOString() })),
    baseline: baseline ?? { count: 0, median: null },
  }
}
