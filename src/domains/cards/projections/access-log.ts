import {
  cursorOf,
  cursorParts,
  defineQuery,
  laterTime,
  Page,
  signedIn,
  storedTime,
  type FieldError,
} from '../../../kernel/index.js'
import { refuse } from './access.js'
import { AccessRecord, GetAccessLogInput } from './schemas.js'

/**
 * Who read which customer's data, when: the platform's audit log (core/audit.ts), not a second
 * mechanism. Every query of this read side that shows a customer's data declares `audit` with that
 * customer as the subject; the kernel records each answer (a cached one too) to a caller who is not
 * that customer, buffered and written in batches off the query's path (storage/audit-log.ts). This
 * reads the `read` entries of the cards domain by subject (`customerId`, any of the people a read
 * showed) and reader (`agentId`) through the log's indexes, newest first.
 * Not cached, and no read model to wait for: entries are not events. An entry is there once its
 * batch is written (50 ms after the read by default), so a read just made may not be listed yet.
 */
export const getAccessLog = defineQuery({
  domain: 'cards',
  name: 'get-access-log',
  summary: "Who read which customer's card data, and when, newest first (admin)",
  input: GetAccessLogInput,
  output: Page(AccessRecord),
  access: signedIn('admin'),
  readModels: [],
  paged: true,
  examples: [{ customerId: 'demo-customer', limit: 20 }],
  async handle(q, { auditLog }) {
    const problems: FieldError[] = []
    const from = q.from === undefined ? undefined : storedTime(q.from, '/from', 'ceil')
    const to = q.to === undefined ? undefined : storedTime(q.to, '/to', 'ceil')
    if (q.from !== undefined && q.to !== undefined && laterTime(q.from, q.to))
      problems.push({ path: '/from', message: 'must not be after to' })
    refuse(problems)
    const limit = q.limit ?? 20
    const after = cursorParts(q.cursor, 'access', ['time', 'uuid'])
    const rows = await auditLog.read({
      domain: 'cards',
      kind: 'read',
      limit: limit + 1,
      ...(q.customerId === undefined ? {} : { subjectId: q.customerId }),
      ...(q.agentId === undefined ? {} : { actorId: q.agentId }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(after ? { before: { time: after[0] ?? '', id: after[1] ?? '' } } : {}),
    })
    // A read that showed several customers (a list of alerts) is one entry naming them all: asked
    // for one of them, it is listed as a read of that one, with what it showed of them.
    const items = rows.slice(0, limit).map((r) => {
      const customerId = q.customerId ?? r.subjectId ?? r.subjectIds[0] ?? ''
      const subjects = r.details.subjects as Record<string, Record<string, unknown>> | undefined
      return {
        id: r.id,
        at: r.at,
        agentId: r.actorId,
        agentRoles: r.actorRoles,
        customerId,
        customerIds: r.subjectIds,
        query: r.action,
        details: r.subjectId === null ? (subjects?.[customerId] ?? r.details) : r.details,
      }
    })
    const last = items.at(-1)
    return { items, nextCursor: rows.length > limit && last ? cursorOf('access', last.at, last.id) : null }
  },
})
