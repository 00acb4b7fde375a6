import {
  UserId,
  defineQuery,
  defineSqlProjection,
  ForbiddenError,
  Id,
  indexName,
  keyAfter,
  Limit,
  Page,
  pageOf,
  signedIn,
  unreachable,
  type AuditedRead,
  type Caller,
  timeIdKey,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { AlertEvidence, AlertResolution, AlertResolved, AnomalyDetected, AnomalyRule } from '../messages.js'

/**
 * The alerts read model: one row per alert, in the SQL store, newest first by `detected_at` (ISO text,
 * COLLATE "C": it sorts as time). Indexes, one per way in, each ending in the keyset order:
 * (customer_id, detected_at, alert_id) for a customer's alerts, (customer_id, status, detected_at,
 * alert_id) for their open or resolved ones, (status, detected_at, alert_id) for the agents' queue,
 * (detected_at, alert_id) for all; `rule` filters on top of these (five values). An alert is
 * inserted once (ON CONFLICT DO NOTHING) and resolved once (WHERE status = 'open'): a batch applied
 * again changes nothing.
 */
export const alertsModel = 'cards-alerts'

export const alertsProjection = defineSqlProjection({
  domain: 'cards',
  name: alertsModel,
  version: 2,
  events: [AnomalyDetected, AlertResolved],
  tables: ['alerts'],
  setup: (t) => {
    const a = t('alerts')
    const index = (suffix: string, on: string) =>
      `CREATE INDEX IF NOT EXISTS ${indexName(a, suffix)} ON ${a} ${on}`
    return `
    CREATE TABLE IF NOT EXISTS ${a} (
      alert_id uuid PRIMARY KEY, customer_id text NOT NULL, card_id uuid NOT NULL, rule text NOT NULL,
      score integer NOT NULL, evidence jsonb NOT NULL, transaction_id uuid NOT NULL,
      detected_at text COLLATE "C" NOT NULL, status text NOT NULL, resolution text, note text,
      resolved_by text, resolved_at text COLLATE "C", position bigint NOT NULL);
    ${index('customer', '(customer_id, detected_at, alert_id)')};
    ${index('customer_status', '(customer_id, status, detected_at, alert_id)')};
    ${index('status', '(status, detected_at, alert_id)')};
    ${index('detected', '(detected_at, alert_id)')}`
  },
  tags: ({ data }) => [`alert:${data.alertId}`, `alerts:customer:${data.customerId}`, 'alerts:all'],
  async apply(event, tx, t) {
    switch (event.type) {
      case 'AnomalyDetected': {
        const d = event.data
        tx.write({
          text: `INSERT INTO ${t('alerts')} (alert_id, customer_id, card_id, rule, score, evidence, transaction_id,
                   detected_at, status, position)
                 VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, 'open', $9::bigint) ON CONFLICT (alert_id) DO NOTHING`,
          params: [
            d.alertId,
            d.customerId,
            d.cardId,
            d.rule,
            d.score,
            JSON.stringify(d.evidence),
            d.transactionId,
            new Date(d.detectedAt).toISOString(),
            event.position,
          ],
        })
        return
      }
      case 'AlertResolved': {
        const d = event.data
        tx.write({
          text: `UPDATE ${t('alerts')} SET status = 'resolved', resolution = $2, note = $3, resolved_by = $4,
                   resolved_at = $5 WHERE alert_id = $1 AND status = 'open'`,
          params: [d.alertId, d.resolution, d.note, d.resolvedBy, new Date(d.resolvedAt).toISOString()],
        })
        return
      }
      default:
        unreachable(event)
    }
  },
})

export const Alert = Type.Object({
  alertId: Id(),
  cardId: Id(),
  customerId: Type.String(),
  rule: AnomalyRule,
  score: Type.Integer(),
  evidence: AlertEvidence,
  transactionId: Id(),
  detectedAt: Type.String({ format: 'date-time' }),
  status: Type.Enum(['open', 'resolved']),
  resolution: Type.Union([AlertResolution, Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]),
  /** Who resolved it: null to the customer, as `note` is (they see the resolution and when). */
  resolvedBy: Type.Union([Type.String(), Type.Null()]),
  resolvedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  position: Type.String({
    description: "The event log position of its `AnomalyDetected` (X-Read-Position's kind)",
  }),
})
export type Alert = Static<typeof Alert>

const agents = ['agent', 'admin']
const isAgent = (caller: Caller | undefined) => caller?.roles.some((r) => agents.includes(r)) ?? false

/**
 * Whose alerts a caller asks for: an agent or admin any customer's (none named: everyone's); anyone
 * else their own, and another customer's is 403 (never an empty page that would look like an answer).
 */
function customerAsked(caller: Caller | undefined, asked: string | undefined): string | undefined {
  if (isAgent(caller)) return asked
  if (asked !== undefined && asked !== caller?.id) {
    throw new ForbiddenError("A customer sees their own alerts only; another customer's are for agents")
  }
  return caller?.id ?? ''
}

/** The customers whose alerts a page shows: each read of another's is on the audit log. */
function customersShown(items: readonly Alert[]): AuditedRead[] {
  const byCustomer = new Map<string, string[]>()
  for (const item of items)
    byCustomer.set(item.customerId, [...(byCustomer.get(item.customerId) ?? []), item.alertId])
  return [...byCustomer].map(([subjectId, alertIds]) => ({ subjectId, details: { alertIds } }))
}

const columns = `alert_id::text AS "alertId", card_id::text AS "cardId", customer_id AS "customerId", rule, score,
  evidence, transaction_id::text AS "transactionId", detected_at AS "detectedAt", status, resolution, note,
  resolved_by AS "resolvedBy", resolved_at AS "resolvedAt", position::text AS position`

export const GetAnomalyAlertsInput = Type.Object(
  {
    customerId: Type.Optional(UserId("The customer (agents); default: the caller's own")),
    status: Type.Optional(Type.Enum(['open', 'resolved'])),
    rule: Type.Optional(AnomalyRule),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'Opaque: the nextCursor of a page' })),
  },
  { additionalProperties: false },
)

export const getAnomalyAlerts = defineQuery({
  domain: 'cards',
  name: 'get-anomaly-alerts',
  summary:
    "Anomaly alerts, newest first: a customer's own; agents any customer's, or all; /stream sends each new one",
  description:
    'Filters: customerId (agents and admin; a customer naming another is 403), status open|resolved, rule. ' +
    "Keyset pages by (detectedAt, alertId). An agent's read of a customer's alerts is on the audit log.",
  input: GetAnomalyAlertsInput,
  output: Page(Alert),
  access: signedIn('customer', ...agents),
  readModels: [alertsModel],
  paged: true,
  live: {
    itemKey: (item) => `${item.detectedAt}|${item.alertId}`,
    keyPattern: timeIdKey,
    itemPosition: (item) => item.position,
  },
  examples: [{ limit: 20 }],
  cache: {
    ttlMs: 30_000,
    tags: (q, _a, caller) => {
      const customer = customerAsked(caller, q.customerId)
      return [customer === undefined ? 'alerts:all' : `alerts:customer:${customer}`]
    },
  },
  audit: (_q, answer) => customersShown(answer.items),
  async handle(q, { caller, stores }) {
    const customer = customerAsked(caller, q.customerId)
    const after = keyAfter(q.cursor, 'get-anomaly-alerts')
    const limit = q.limit ?? 20
    const { sql, table } = stores.sql(alertsModel)
    const rows = await sql.query<Alert>(
      `SELECT ${columns} FROM ${table('alerts')}
       WHERE ($1::text IS NULL OR customer_id = $1) AND ($2::text IS NULL OR status = $2)
         AND ($3::text IS NULL OR rule = $3)
         AND ($4::text IS NULL OR (detected_at, alert_id) < ($4::text, $5::uuid))
       ORDER BY detected_at DESC, alert_id DESC LIMIT $6`,
      [customer ?? null, q.status ?? null, q.rule ?? null, after?.time ?? null, after?.id ?? null, limit + 1],
    )
    // The resolving agent's note and id are the bank's own: a customer sees the resolution alone.
    const shown = isAgent(caller) ? rows : rows.map((r) => Object.assign(r, { note: null, resolvedBy: null }))
    return pageOf(shown, limit, (r) => ({ time: r.detectedAt, id: r.alertId }), 'get-anomaly-alerts')
  },
})
