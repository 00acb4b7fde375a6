import {
  defineQuery,
  defineSqlProjection,
  Id,
  indexName,
  keyAfter,
  Limit,
  Page,
  pageOf,
  signedIn,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import {
  QuizAttempted,
  QuizSessionCompleted,
  QuizSessionCreated,
  QuizSessionExpired,
  SessionStatus,
} from '../messages.js'

/**
 * The sessions read model: each learner's sessions, newest first, with their progress (attempts
 * made in them, the score so far) and how they closed.
 */

export const sessionsModel = 'quiz-sessions'

export const sessionsProjection = defineSqlProjection({
  domain: 'quiz',
  name: sessionsModel,
  version: 1,
  events: [QuizSessionCreated, QuizSessionCompleted, QuizSessionExpired, QuizAttempted],
  tables: ['sessions'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('sessions')} (
      session_id uuid PRIMARY KEY, user_id text NOT NULL, quiz_ids jsonb NOT NULL, time_limit_minutes integer NOT NULL,
      started_at text COLLATE "C" NOT NULL, ends_at text NOT NULL, status text NOT NULL, closed_at text, late boolean NOT NULL,
      score integer NOT NULL, max_score integer, attempted integer NOT NULL);
    CREATE INDEX IF NOT EXISTS ${indexName(t('sessions'), 'mine')} ON ${t('sessions')} (user_id, status, started_at, session_id);
    CREATE INDEX IF NOT EXISTS ${indexName(t('sessions'), 'all')} ON ${t('sessions')} (user_id, started_at, session_id)`,
  tags: ({ data }) => [`sessions:${data.userId}`],
  async apply(event, tx, t) {
    switch (event.type) {
      case 'QuizSessionCreated': {
        const d = event.data
        tx.write({
          text: `INSERT INTO ${t('sessions')} (session_id, user_id, quiz_ids, time_limit_minutes, started_at, ends_at,
                   status, late, score, attempted) VALUES ($1, $2, $3::jsonb, $4, $5, $6, 'open', false, 0, 0)
                 ON CONFLICT (session_id) DO NOTHING`,
          params: [
            d.sessionId,
            d.userId,
            JSON.stringify(d.quizIds),
            d.timeLimitMinutes,
            d.startedAt,
            d.endsAt,
          ],
        })
        return
      }
      case 'QuizAttempted':
        if (event.data.sessionId === null) return
        tx.write({
          text: `UPDATE ${t('sessions')} SET attempted = attempted + 1, score = score + $2 WHERE session_id = $1`,
          params: [event.data.sessionId, event.data.score],
        })
        return
      case 'QuizSessionCompleted':
      case 'QuizSessionExpired': {
        const d = event.data
        const completed = event.type === 'QuizSessionCompleted'
        tx.write({
          text: `UPDATE ${t('sessions')} SET status = $2, closed_at = $3, late = $4, score = $5, max_score = $6,
                   attempted = $7 WHERE session_id = $1`,
          params: [
            d.sessionId,
            completed ? 'completed' : 'expired',
            completed ? event.data.completedAt : event.data.expiredAt,
            completed ? event.data.late : false,
            d.score,
            d.maxScore,
            d.attempted,
          ],
        })
        return
      }
    }
  },
})

const Time = Type.String({ format: 'date-time' })
export const Session = Type.Object({
  sessionId: Id(),
  quizIds: Type.Array(Id()),
  timeLimitMinutes: Type.Integer(),
  startedAt: Time,
  endsAt: Time,
  status: SessionStatus,
  closedAt: Type.Union([Time, Type.Null()]),
  late: Type.Boolean(),
  score: Type.Integer({ description: 'So far, while open' }),
  maxScore: Type.Union([Type.Integer(), Type.Null()], { description: 'Once closed' }),
  attempted: Type.Integer(),
})
type Session = Static<typeof Session>

export const getQuizSessions = defineQuery({
  domain: 'quiz',
  name: 'get-quiz-sessions',
  summary: "The caller's quiz sessions, newest first, optionally of one status",
  description:
    'A session past its end stays `open` until its deadline timer expires it (moments later) or its learner completes it (late).',
  input: Type.Object(
    {
      status: Type.Optional(SessionStatus),
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  output: Page(Session),
  access: signedIn(),
  readModels: [sessionsModel],
  paged: true,
  examples: [{}, { status: 'completed', limit: 5 }],
  cache: { ttlMs: 30_000, tags: (_q, _answer, caller) => [`sessions:${caller?.id ?? ''}`] },
  async handle(q, { caller, stores }) {
    const { sql, table } = stores.sql(sessionsModel)
    const limit = q.limit ?? 20
    const before = keyAfter(q.cursor, 'get-quiz-sessions')
    const rows = await sql.query<Session>(
      `SELECT session_id::text AS "sessionId", quiz_ids AS "quizIds", time_limit_minutes AS "timeLimitMinutes",
         started_at AS "startedAt", ends_at AS "endsAt", status, closed_at AS "closedAt", late, score,
         max_score AS "maxScore", attempted
       FROM ${table('sessions')} WHERE user_id = $1 AND ($2::text IS NULL OR status = $2::text)
         AND ($3::text IS NULL OR (started_at, session_id) < ($3::text, $4::uuid))
       ORDER BY started_at DESC, session_id DESC LIMIT $5`,
      [caller?.id ?? '', q.status ?? null, before?.time ?? null, before?.id ?? null, limit + 1],
    )
    return pageOf(rows, limit, (r) => ({ time: r.startedAt, id: r.sessionId }), 'get-quiz-sessions')
  },
})
