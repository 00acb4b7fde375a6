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
import { QuizAttempted } from '../messages.js'
import { quizNotFound } from '../rules.js'
import { questionsOf, visibilityModels, visibilityTags, visibleQuiz } from './quizzes.js'

/**
 * The attempts read model: every attempt (each learner reads only their own), and each quiz's
 * running statistics: attempts, total and best score, and per question how many got it right.
 * Every write is an insert or an increment, so a batch never needs to read what it wrote.
 */

export const attemptsModel = 'quiz-attempts'

export const attemptsProjection = defineSqlProjection({
  domain: 'quiz',
  name: attemptsModel,
  version: 1,
  events: [QuizAttempted],
  tables: ['attempts', 'quiz_stats', 'question_stats'],
  setup: (t) => `
    CREATE TABLE IF NOT EXISTS ${t('attempts')} (
      attempt_id uuid PRIMARY KEY, quiz_id uuid NOT NULL, user_id text NOT NULL, session_id uuid,
      answers jsonb NOT NULL, correct jsonb NOT NULL, score integer NOT NULL, max_score integer NOT NULL,
      attempted_at text COLLATE "C" NOT NULL);
    CREATE INDEX IF NOT EXISTS ${indexName(t('attempts'), 'mine')} ON ${t('attempts')} (quiz_id, user_id, attempted_at, attempt_id);
    CREATE TABLE IF NOT EXISTS ${t('quiz_stats')} (
      quiz_id uuid PRIMARY KEY, attempts integer NOT NULL, total_score bigint NOT NULL, best_score integer NOT NULL);
    CREATE TABLE IF NOT EXISTS ${t('question_stats')} (
      quiz_id uuid NOT NULL, position integer NOT NULL, correct integer NOT NULL, PRIMARY KEY (quiz_id, position))`,
  tags: ({ data }) => [`attempts:${data.quizId}:${data.userId}`, `stats:${data.quizId}`],
  async apply(event, tx, t) {
    const d = event.data
    tx.write(
      {
        text: `INSERT INTO ${t('attempts')} (attempt_id, quiz_id, user_id, session_id, answers, correct, score, max_score,
                 attempted_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)`,
        params: [
          d.attemptId,
          d.quizId,
          d.userId,
          d.sessionId,
          JSON.stringify(d.answers),
          JSON.stringify(d.correct),
          d.score,
          d.maxScore,
          d.attemptedAt,
        ],
      },
      {
        text: `INSERT INTO ${t('quiz_stats')} AS s (quiz_id, attempts, total_score, best_score) VALUES ($1, 1, $2::int, $2::int)
               ON CONFLICT (quiz_id) DO UPDATE SET attempts = s.attempts + 1, total_score = s.total_score + $2::int,
                 best_score = greatest(s.best_score, $2::int)`,
        params: [d.quizId, d.score],
      },
      {
        text: `INSERT INTO ${t('question_stats')} AS s (quiz_id, position, correct)
               SELECT $1, e.n - 1, CASE WHEN e.c::boolean THEN 1 ELSE 0 END
               FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS e(c, n)
               ON CONFLICT (quiz_id, position) DO UPDATE SET correct = s.correct + excluded.correct`,
        params: [d.quizId, JSON.stringify(d.correct)],
      },
    )
  },
})

const Time = Type.String({ format: 'date-time' })
export const Attempt = Type.Object({
  attemptId: Id(),
  quizId: Id(),
  sessionId: Type.Union([Id(), Type.Null()]),
  answers: Type.Array(Type.Union([Type.Integer(), Type.Null()])),
  correct: Type.Array(Type.Boolean()),
  score: Type.Integer(),
  maxScore: Type.Integer(),
  attemptedAt: Time,
})
type Attempt = Static<typeof Attempt>

export const getQuizAttempts = defineQuery({
  domain: 'quiz',
  name: 'get-quiz-attempts',
  summary: "The caller's own attempts of a quiz, newest first",
  input: Type.Object(
    { quizId: Id(), limit: Type.Optional(Limit), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
    { additionalProperties: false },
  ),
  output: Page(Attempt),
  access: signedIn(),
  readModels: [attemptsModel, ...visibilityModels],
  paged: true,
  notFound: 'QUIZ_NOT_FOUND',
  examples: [{ quizId: '0190b0d0-1a2b-7c3d-8e4f-5a6b7c8d9e01' }],
  cache: {
    ttlMs: 30_000,
    tags: (q, _answer, caller) => [
      `attempts:${q.quizId}:${caller?.id ?? ''}`,
      ...visibilityTags(q.quizId, caller),
    ],
  },
  async handle(q, { caller, stores }) {
    const { sql, table } = stores.sql(attemptsModel)
    const limit = q.limit ?? 20
    const before = keyAfter(q.cursor, 'get-quiz-attempts')
    const rows = await sql.query<Attempt>(
      `SELECT attempt_id::text AS "attemptId", quiz_id::text AS "quizId", session_id::text AS "sessionId", answers,
         correct, score, max_score AS "maxScore", attempted_at AS "attemptedAt"
       FROM ${table('attempts')} WHERE quiz_id = $1 AND user_id = $2
         AND ($3::text IS NULL OR (attempted_at, attempt_id) < ($3::text, $4::uuid))
       ORDER BY attempted_at DESC, attempt_id DESC LIMIT $5`,
      [q.quizId, caller?.id ?? '', before?.time ?? null, before?.id ?? null, limit + 1],
    )
    // Their own attempts stay theirs if the quiz turned private since; with none, a quiz they cannot see is not found.
    if (rows.length === 0 && before === undefined && !(await visibleQuiz(stores, q.quizId, caller)))
      throw quizNotFound()
    return pageOf(rows, limit, (r) => ({ time: r.attemptedAt, id: r.attemptId }), 'get-quiz-attempts')
  },
})

export const QuizStatistics = Type.Object({
  quizId: Id(),
  attempts: Type.Integer(),
  maxScore: Type.Integer(),
  averageScore: Type.Union([Type.Number(), Type.Null()], { description: 'Null before the first attempt' }),
  bestScore: Type.Union([Type.Integer(), Type.Null()]),
  questions: Type.Array(
    Type.Object({
      position: Type.Integer({ description: 'From 0, in the quiz' }),
      text: Type.String(),
      correct: Type.Integer({ description: 'Attempts that got it right' }),
      shareCorrect: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()]),
    }),
    { description: 'Hardest first: lowest share correct, then by position' },
  ),
})

export const getQuizStatistics = defineQuery({
  domain: 'quiz',
  name: 'get-quiz-statistics',
  summary:
    'Attempts of a quiz, their average and best score, and per question the share correct, hardest first',
  input: Type.Object({ quizId: Id() }, { additionalProperties: false }),
  output: QuizStatistics,
  access: signedIn(),
  readModels: [attemptsModel, ...visibilityModels],
  notFound: 'QUIZ_NOT_FOUND',
  examples: [{ quizId: '0190b0d0-1a2b-7c3d-8e4f-5a6b7c8d9e01' }],
  cache: {
    ttlMs: 30_000,
    tags: (q, _answer, caller) => [`stats:${q.quizId}`, ...visibilityTags(q.quizId, caller)],
  },
  async handle(q, { caller, stores }) {
    const quiz = await visibleQuiz(stores, q.quizId, caller)
    if (!quiz) throw quizNotFound()
    const { sql, table } = stores.sql(attemptsModel)
    const [[stats], counts, questions] = await Promise.all([
      sql.query<{ attempts: number; total: string; best: number }>(
        `SELECT attempts, total_score::text AS total, best_score AS best FROM ${table('quiz_stats')} WHERE quiz_id = $1`,
        [q.quizId],
      ),
      sql.query<{ position: number; correct: number }>(
        `SELECT position, correct FROM ${table('question_stats')} WHERE quiz_id = $1`,
        [q.quizId],
      ),
      questionsOf(stores, q.quizId),
    ])
    const attempts = stats?.attempts ?? 0
    const correctAt = new Map(counts.map((c) => [c.position, c.correct]))
    const perQuestion = questions.map((question, position) => {
      const correct = correctAt.get(position) ?? 0
      return {
        position,
        text: question.text,
        correct,
        shareCorrect: attempts === 0 ? null : correct / attempts,
      }
    })
    perQuestion.sort((a, b) => (a.shareCorrect ?? 0) - (b.shareCorrect ?? 0) || a.position - b.position)
    return {
      quizId: quiz.quizId,
      attempts,
      maxScore: quiz.maxScore,
      averageScore: stats ? Math.round((Number(stats.total) / attempts) * 100) / 100 : null,
      bestScore: stats ? stats.best : null,
      questions: perQuestion,
    }
  },
})
