import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { modes, startTestTandem, type TestTandem } from '../../kernel/testing.js'
import { attemptQuiz, completeQuizSession, createQuiz, createQuizSession, updateQuiz } from './commands.js'
import { quizDomain } from './index.js'
import { getQuizStatistics } from './projections/attempts.js'
import { getQuizSessions } from './projections/sessions.js'

const author: Caller = { id: 'author', roles: [] }
const learner = (i: number): Caller => ({ id: `learner-${i}`, roles: [] })
const questions = [
  { text: 'One?', choices: ['a', 'b'], answer: 0, points: 10 },
  { text: 'Two?', choices: ['a', 'b', 'c'], answer: 2, points: 20 },
]

/** Races on one row, against real PostgreSQL (PGlite has one connection: nothing runs at once there). */
describe.runIf(modes.includes('server'))('quiz commands under concurrency (server)', () => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem('server', { domains: [quizDomain] })
  })
  afterAll(async () => t.dispose())

  async function newQuiz(): Promise<string> {
    const done = await t.commands.execute(
      createQuiz,
      { title: 'Race', public: true, questions },
      { caller: author },
    )
    if (done.status === 'failed') throw done.error
    return done.result.quizId
  }
  async function newSession(quizIds: string[], caller: Caller): Promise<string> {
    const done = await t.commands.execute(createQuizSession, { quizIds, timeLimitMinutes: 30 }, { caller })
    if (done.status === 'failed') throw done.error
    return done.result.sessionId
  }
  const codes = (outcomes: { status: string; error?: { code: string } }[]) =>
    outcomes.map((o) => (o.status === 'succeeded' ? 'ok' : (o.error?.code ?? '?'))).sort()
  /** One success and `refusals` refusals with `code`, in the order `codes` sorts them. */
  const oneOf = (refusals: number, code: string) =>
    ['ok', ...Array.from({ length: refusals }, () => code)].sort()

  it('completes a session exactly once when 30 completions race, with every attempt made before it counted', async () => {
    const quizIds = [await newQuiz(), await newQuiz()]
    const ann = learner(1)
    const sessionId = await newSession(quizIds, ann)
    const outcomes = await Promise.all([
      ...quizIds.map((quizId) =>
        t.commands.execute(attemptQuiz, { quizId, answers: [0, 2], sessionId }, { caller: ann }),
      ),
      ...Array.from({ length: 30 }, () =>
        t.commands.execute(completeQuizSession, { sessionId }, { caller: ann }),
      ),
    ])
    const completions = outcomes.slice(quizIds.length)
    expect(codes(completions)).toEqual(oneOf(29, 'SESSION_COMPLETED'))
    // Each attempt ran wholly before the completion (counted) or after it (refused): never lost.
    const attempts = outcomes.slice(0, quizIds.length).filter((o) => o.status === 'succeeded').length
    const done = completions.find((o) => o.status === 'succeeded')
    expect(done?.status === 'succeeded' && done.result).toMatchObject({
      attempted: attempts,
      score: 30 * attempts,
    })
    const log = await t.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM tandem.event_log WHERE stream_id = $1 AND type = 'QuizSessionCompleted'",
      [`quiz-session-${sessionId}`],
    )
    expect(log[0]?.n).toBe(1)
    await t.projections.caughtUp()
    const listed = await t.queries.ask(
      getQuizSessions,
      { status: 'completed' },
      { caller: ann, useCache: false },
    )
    expect(listed.status === 'succeeded' && listed.data.items).toMatchObject([
      { sessionId, attempted: attempts },
    ])
  })

  it('records every one of 100 parallel attempts of one quiz once, while a question change waits and is refused', async () => {
    const quizId = await newQuiz()
    const first = await t.commands.execute(attemptQuiz, { quizId, answers: [0, 0] }, { caller: learner(0) })
    expect(first.status).toBe('succeeded')
    const outcomes = await Promise.all([
      ...Array.from({ length: 100 }, (_, i) =>
        t.commands.execute(attemptQuiz, { quizId, answers: [i % 2, 2] }, { caller: learner(i) }),
      ),
      t.commands.execute(updateQuiz, { quizId, questions: questions.slice(0, 1) }, { caller: author }),
    ])
    expect(codes(outcomes.slice(0, 100))).toEqual(Array.from({ length: 100 }, () => 'ok'))
    expect(codes(outcomes.slice(100))).toEqual(['QUIZ_LOCKED'])
    const [row] = await t.sql.query<{ n: number; ids: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT attempt_id)::int AS ids FROM quiz.attempt WHERE quiz_id = $1',
      [quizId],
    )
    expect(row).toEqual({ n: 101, ids: 101 })
    await t.projections.caughtUp()
    const stats = await t.queries.ask(getQuizStatistics, { quizId }, { caller: author, useCache: false })
    expect(stats.status === 'succeeded' && stats.data).toMatchObject({
      attempts: 101,
      questions: [
        { position: 0, correct: 51 },
        { position: 1, correct: 100 },
      ],
    })
  })

  it('lets one of 20 parallel attempts of one quiz in one session through', async () => {
    const quizId = await newQuiz()
    const bob = learner(2)
    const sessionId = await newSession([quizId], bob)
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () =>
        t.commands.execute(attemptQuiz, { quizId, answers: [0, 2], sessionId }, { caller: bob }),
      ),
    )
    expect(codes(outcomes)).toEqual(oneOf(19, 'ALREADY_ATTEMPTED'))
    const [row] = await t.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM quiz.attempt WHERE session_id = $1',
      [sessionId],
    )
    expect(row?.n).toBe(1)
  })

  it('lets no attempt outside a session commit after the session that holds its quiz started', async () => {
    const quizId = await newQuiz()
    const cy = learner(3)
    const outside = () => t.commands.execute(attemptQuiz, { quizId, answers: [null, null] }, { caller: cy })
    // The session starts amid attempts outside it: each either commits before it, or is refused.
    const outcomes = await Promise.all([
      ...Array.from({ length: 10 }, outside),
      t.commands.execute(createQuizSession, { quizIds: [quizId], timeLimitMinutes: 30 }, { caller: cy }),
      ...Array.from({ length: 10 }, outside),
    ])
    const started = outcomes[10]
    if (started?.status !== 'succeeded') throw new Error('the session did not start')
    const attempts = [...outcomes.slice(0, 10), ...outcomes.slice(11)]
    expect(codes(attempts).filter((c) => c !== 'ok' && c !== 'QUIZ_IN_OPEN_SESSION')).toEqual([])
    const rows = await t.sql.query<{ type: string; position: string }>(
      `SELECT type, position::text FROM tandem.event_log
       WHERE (type = 'QuizAttempted' AND data->>'quizId' = $1) OR (type = 'QuizSessionCreated' AND data->>'sessionId' = $2)
       ORDER BY position`,
      [quizId, (started.result as { sessionId: string }).sessionId],
    )
    const kept = attempts.filter((o) => o.status === 'succeeded').length
    // Every attempt written comes before the session in the log; none after it.
    expect(rows.map((r) => r.type)).toEqual([
      ...Array.from({ length: kept }, () => 'QuizAttempted'),
      'QuizSessionCreated',
    ])
    expect(await t.commands.execute(attemptQuiz, { quizId, answers: [0, 2] }, { caller: cy })).toMatchObject({
      status: 'failed',
      error: { code: 'QUIZ_IN_OPEN_SESSION' },
    })
  })

  it('starts one of 10 parallel sessions of one learner over one quiz', async () => {
    const quizId = await newQuiz()
    const dee = learner(4)
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        t.commands.execute(createQuizSession, { quizIds: [quizId], timeLimitMinutes: 30 }, { caller: dee }),
      ),
    )
    expect(codes(outcomes)).toEqual(oneOf(9, 'QUIZ_IN_OPEN_SESSION'))
  })

  it('changes no quiz’s questions once a session holds it, when 30 sessions race 30 question changes', async () => {
    const quizIds = await Promise.all(Array.from({ length: 30 }, () => newQuiz()))
    const changed = [{ text: 'New?', choices: ['x', 'y'], answer: 1, points: 99 }]
    const outcomes = await Promise.all(
      quizIds.flatMap((quizId, i) => [
        t.commands.execute(
          createQuizSession,
          { quizIds: [quizId], timeLimitMinutes: 30 },
          { caller: learner(i) },
        ),
        t.commands.execute(updateQuiz, { quizId, questions: changed }, { caller: author }),
      ]),
    )
    const events = await t.sql.query<{ quizId: string; type: string; position: string }>(
      `SELECT coalesce(data->>'quizId', data->'quizIds'->>0) AS "quizId", type, position::text
       FROM tandem.event_log WHERE type IN ('QuizUpdated', 'QuizSessionCreated') AND
         coalesce(data->>'quizId', data->'quizIds'->>0) = ANY($1::text[])`,
      [quizIds],
    )
    for (const [i, quizId] of quizIds.entries()) {
      const [session, update] = [outcomes[2 * i], outcomes[2 * i + 1]]
      expect(session?.status).toBe('succeeded')
      if (update?.status === 'failed') {
        expect(update.error.code).toBe('QUIZ_LOCKED')
        continue
      }
      // Changed, so before the session began: the session holds the questions it started with.
      const at = (type: string) =>
        BigInt(events.find((e) => e.quizId === quizId && e.type === type)?.position ?? -1)
      expect(at('QuizUpdated')).toBeLessThan(at('QuizSessionCreated'))
    }
  })
})
