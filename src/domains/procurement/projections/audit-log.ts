import {
  UserId,
  AuditRecordSchema,
  cursorOf,
  cursorParts,
  defineQuery,
  Limit,
  Page,
  signedIn,
  storedTime,
} from '../../../kernel/index.js'
import Type from 'typebox'
import { Cursor, refuseBackwardRanges, Time } from './access.js'

/**
 * The procurement domain's audit log (core/audit.ts): every command with who sent it, when, its input
 * in short and its outcome, refusals included, and every read of another person's data that the
 * queries report (lists and history show requesters' requests to approvers). Kept by the kernel in
 * the write database, not a projection: a command's entry commits with the command. Newest first,
 * keyset pages over (time, id). Not cached: entries are not events, so no tag would drop an answer.
 */

export const getAuditLog = defineQuery({
  domain: 'procurement',
  name: 'get-audit-log',
  summary:
    "Who did what and when in procurement: every command (outcome and refusals included) and every read of another person's data, newest first (admin)",
  input: Type.Object(
    {
      actorId: Type.Optional(UserId('Whose commands and reads')),
      from: Type.Optional(Time),
      to: Type.Optional(Time),
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Cursor),
    },
    { additionalProperties: false },
  ),
  output: Page(AuditRecordSchema),
  access: signedIn('admin'),
  readModels: [],
  paged: true,
  examples: [{ limit: 20 }],
  audit: (q) =>
    q.actorId === undefined ? [] : [{ subjectId: q.actorId, details: { auditTrailOf: q.actorId } }],
  async handle(q, { auditLog }) {
    refuseBackwardRanges(q)
    const limit = q.limit ?? 20
    const [time, id] = cursorParts(q.cursor, 'audit', ['time', 'uuid']) ?? []
    const rows = await auditLog.read({
      domain: 'procurement',
      limit: limit + 1,
      ...(q.actorId === undefined ? {} : { actorId: q.actorId }),
      ...(q.from ? { from: storedTime(q.from, '/from', 'ceil') } : {}),
      ...(q.to ? { to: storedTime(q.to, '/to', 'ceil') } : {}),
      ...(time !== undefined && id !== undefined ? { before: { time, id } } : {}),
    })
    const items = rows.slice(0, limit)
    const last = items.at(-1)
    const nextCursor = rows.length > limit && last ? cursorOf('audit', last.at, last.id) : null
    return { items, nextCursor }
  },
})
