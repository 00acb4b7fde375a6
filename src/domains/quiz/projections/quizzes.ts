import {
  type Caller,
  defineQuery,
  defineSqlProjection,
  Id,
  indexName,
  keyAfter,
  Limit,
  Page,
  pageOf,
  type ReadStores,
  signedIn,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { QuizCreated, QuizUpdated, type Question } from '../messages.js'
import { maxScoreOf, quizNotFound } from '../rules.js'

/** The attempts and sessions read models' names (projections/attempts.ts imports this file). */
const attemptsModel = 'quiz-attempts'
const sessionsModel = 'quiz-sessions'

/**
 * The quizzes read model: each quiz with its questions (answers included: the queries decide whom
 * to show them to), listed newest first. Times are ISO text in UTC, so they sort as text.
 */

export const quizzesModel = 'quiz-catalog'

export const quizzesProjection = defineSqlProjection({
  domain: 'quiz',
  name: quizzesModel,
  version: 1,
  events: [QuizCreated, QuizUpdated],
  tables: ['quizzes', 'questions'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('quizzes')} (
      quiz_id uuid PRIMARY KEY, author_id text NOT NULL, subject_id uuid, title text NOT NULL,
      public boolean NOT NULL, question_count integer NOT NULL, max_score integer NOT NULL,
      created_at text COLLATE "C" NOT NULL, updated_at text NOT NULL);
    CREATE INDEX IF NOT EXISTS ${indexName(t('quizzes'), 'by_author')} ON ${t('quizzes')} (author_id, created_at, quiz_id);
    CREATE INDEX IF NOT EXISTS ${indexName(t('quizzes'), 'public')} ON ${t('quizzes')} (created_at, quiz_id) WHERE public;
    CREATE TABLE IF NOT EXISTS ${t('questions')} (
      quiz_id uuid NOT NULL, position integer NOT NULL, text text NOT NULL, choices jsonb NOT NULL,
      answer integer NOT NULL, points integer NOT NULL, PRIMARY KEY (quiz_id, position))`,
  tags: (event) => [`quiz:${event.data.quizId}`, 'quizzes'],
  async apply(event, tx, t) {
    const questions = (quizId: string, list: readonly Question[]) => [
      { text: `DELETE FROM ${t('questions')} WHERE quiz_id = $1`, params: [quizId] },
      {
        text: `INSERT INTO ${t('questions')} (quiz_id, position, text, choices, answer, points)
               SELECT $1, e.n - 1, e.q->>'text', e.q->'choices', (e.q->>'answer')::int, (e.q->>'points')::int
               FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(q, n)`,
        params: [quizId, JSON.stringify(list)],
      },
    ]
    const d = event.data
    if (event.type === 'QuizCreated') {
      const c = event.data
      tx.write(
        {
          text: `INSERT INTO ${t('quizzes')} (quiz_id, author_id, subject_id, title, public, question_count, max_score,
                   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (quiz_id) DO NOTHING`,
          params: [
            c.quizId,
            c.authorId,
            c.subjectId,
            c.title,
            c.public,
            c.questions.length,
            maxScoreOf(c.questions),
            c.createdAt,
          ],
        },
        ...questions(c.quizId, c.questions),
      )
      return
    }
    const changes = event.data.changes
    const list = changes.questions
    tx.write({
      text: `UPDATE ${t('quizzes')} SET title = coalesce($2, title), public = coalesce($3, public),
               subject_id = CASE WHEN $4::boolean THEN $5::uuid ELSE subject_id END,
               question_count = coalesce($6, question_count), max_score = coalesce($7, max_score), updated_at = $8
             WHERE quiz_id = $1`,
      params: [
        d.quizId,
        changes.title ?? null,
        changes.public ?? null,
        changes.subjectId !== undefined,
        changes.subjectId ?? null,
        list?.length ?? null,
        list ? maxScoreOf(list) : null,
        event.data.updatedAt,
      ],
    })
    if (list) tx.write(...questions(d.quizId, list))
  },
})

const Time = Type.String({ format: 'date-time' })
export const QuizSummary = Type.Object({
  quizId: Id(),
  authorId: Type.String(),
  subjectId: Type.Union([Id(), Type.Null()]),
  title: Type.String(),
  public: Type.Boolean(),
  questionCount: Type.Integer(),
  maxScore: Type.Integer(),
  createdAt: Time,
  updatedAt: Time,
})
export type QuizSummary = Static<typeof QuizSummary>

const summaryColumns = `quiz_id::text AS "quizId", author_id AS "authorId", subject_id::text AS "subjectId", title,
  public, question_count AS "questionCount", max_score AS "maxScore", created_at AS "createdAt", updated_at AS "updatedAt"`

/**
 * The quiz if the caller may see it: public, theirs, or held by an open session of theirs (it turned
 * private after the session began: theirs to read and attempt there). A query calling this reads
 * `visibilityModels` and is cached under `visibilityTags`.
 */
export async function visibleQuiz(stores: ReadStores, quizId: string, caller: Caller | undefined) {
  const quiz = await quizOf(stores, quizId)
  if (!quiz) return undefined
  if (quiz.public || quiz.authorId === caller?.id) return quiz
  return (await inOpenSession(stores, quizId, caller?.id ?? '')) ? quiz : undefined
}

/** The read models `visibleQuiz` reads. */
export const visibilityModels = [quizzesModel, sessionsModel]

/** What changes what `visibleQuiz` says: the quiz, and the caller's sessions. */
export const visibilityTags = (quizId: string, caller: Caller | undefined) => [
  `quiz:${quizId}`,
  `sessions:${caller?.id ?? ''}`,
]

async function quizOf(stores: ReadStores, quizId: string): Promise<QuizSummary | undefined> {
  const { sql, table } = stores.sql(quizzesModel)
  const [quiz] = await sql.query<QuizSummary>(
    `SELECT ${summaryColumns} FROM ${table('quizzes')} WHERE quiz_id = $1`,
    [quizId],
  )
  return quiz
}

/** Whether an open session of the user holds the quiz (made private since, it is theirs to attempt there). */
async function inOpenSession(stores: ReadStores, quizId: string, userId: string): Promise<boolean> {
  const { sql, table } = stores.sql(sessionsModel)
  const [row] = await sql.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${table('sessions')}
       WHERE user_id = $1 AND status = 'open' AND quiz_ids @> jsonb_build_array($2::text)) AS found`,
    [userId, quizId],
  )
  return row?.found === true
}

export async function questionsOf(stores: ReadStores, quizId: string): Promise<Question[]> {
  const { sql, table } = stores.sql(quizzesModel)
  return sql.query<Question>(
    `SELECT text, choices, answer, points FROM ${table('questions')} WHERE quiz_id = $1 ORDER BY position`,
    [quizId],
  )
}

const Cursor = Type.String({ maxLength: 200 })

export const getQuizzes = defineQuery({
  domain: 'quiz',
  name: 'get-quizzes',
  summary: "The caller's own quizzes and every public one, newest first (optionally of one subject)",
  input: Type.Object(
    { subjectId: Type.Optional(Id()), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
    { additionalProperties: false },
  ),
  output: Page(QuizSummary),
  access: signedIn(),
  readModels: [quizzesModel],
  paged: true,
  examples: [{ limit: 10 }],
  cache: { ttlMs: 30_000, tags: () => ['quizzes'] },
  async handle(q, { caller, stores }) {
    const { sql, table } = stores.sql(quizzesModel)
    const limit = q.limit ?? 20
    const after = keyAfter(q.cursor, 'get-quizzes')
    const rows = await sql.query<QuizSummary>(
      `SELECT ${summaryColumns} FROM ${table('quizzes')}
       WHERE (public OR author_id = $1) AND ($2::uuid IS NULL OR subject_id = $2::uuid)
         AND ($3::text IS NULL OR (created_at, quiz_id) < ($3::text, $4::uuid))
       ORDER BY created_at DESC, quiz_id DESC LIMIT $5`,
      [caller?.id ?? '', q.subjectId ?? null, after?.time ?? null, after?.id ?? null, limit + 1],
    )
    return pageOf(rows, limit, (r) => ({ time: r.createdAt, id: r.quizId }), 'get-quizzes')
  },
})

export const QuizDetail = Type.Object({
  ...QuizSummary.properties,
  answersShown: Type.Boolean({ description: 'True for its author, and once the caller has attempted it' }),
  questions: Type.Array(
    Type.Object({
      text: Type.String(),
      choices: Type.Array(Type.String()),
      points: Type.Integer(),
      answer: Type.Optional(Type.Integer({ description: 'Only when `answersShown`' })),
    }),
  ),
})

export const getQuizDetail = defineQuery({
  domain: 'quiz',
  name: 'get-quiz-detail',
  summary:
    'A quiz and its questions; the right answers only for its author or once the caller has attempted it',
  description:
    "Another's private quiz is 404, unless an open session of the caller holds it (it turned private after the session began).",
  input: Type.Object({ quizId: Id() }, { additionalProperties: false }),
  output: QuizDetail,
  access: signedIn(),
  readModels: [...visibilityModels, attemptsModel],
  notFound: 'QUIZ_NOT_FOUND',
  examples: [{ quizId: '0190b0d0-1a2b-7c3d-8e4f-5a6b7c8d9e01' }],
  cache: {
    ttlMs: 60_000,
    tags: (q, _answer, caller) => [
      ...visibilityTags(q.quizId, caller),
      `attempts:${q.quizId}:${caller?.id ?? ''}`,
    ],
  },
  async handle(q, { caller, stores }) {
    const quiz = await visibleQuiz(stores, q.quizId, caller)
    if (!quiz) throw quizNotFound()
    const questions = await questionsOf(stores, q.quizId)
    const shown = quiz.authorId === caller?.id || (await hasAttempted(stores, q.quizId, caller?.id ?? ''))
    return {
      ...quiz,
      answersShown: shown,
      questions: questions.map(({ answer, ...rest }) => (shown ? { ...rest, answer } : rest)),
    }
  },
})

/** Whether the user has an attempt of the quiz in the attempts read model. */
async function hasAttempted(stores: ReadStores, quizId: string, userId: string): Promise<boolean> {
  const { sql, table } = stores.sql(attemptsModel)
  const [row] = await sql.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${table('attempts')} WHERE quiz_id = $1 AND user_id = $2) AS found`,
    [quizId, userId],
  )
  return row?.found === true
}
