import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { AnyCommand, AnyQuery, Caller } from '../../kernel/index.js'
import { benchMixStatuses, modes, startTestTandem, type TestTandem } from '../../kernel/testing.js'
import {
  attemptQuiz,
  commands,
  completeQuizSession,
  createQuiz,
  createQuizSession,
  expireQuizSession,
  updateQuiz,
} from './commands.js'
import { quizDomain } from './index.js'
import { getQuizAttempts, getQuizStatistics } from './projections/attempts.js'
import { getQuizDetail, getQuizzes } from './projections/quizzes.js'
import { getQuizSessions } from './projections/sessions.js'

const author: Caller = { id: 'author', roles: [] }
const ann: Caller = { id: 'ann', roles: [] }
const bob: Caller = { id: 'bob', roles: [] }
/** As `tandem test-commands` sends them: one caller holding every role the domain names. */
const examples: Caller = { id: 'examples', roles: ['system'] }
const minute = 60_000
const subjectId = '0190c0d0-0000-7000-8000-000000000001'
const questions = [
  { text: 'One?', choices: ['a', 'b'], answer: 0, points: 10 },
  { text: 'Two?', choices: ['a', 'b', 'c'], answer: 2, points: 20 },
  { text: 'Three?', choices: ['a', 'b', 'c', 'd'], answer: 1, points: 30 },
]

describe.each(modes)('the quiz domain through the buses (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [quizDomain] })
  })
  afterAll(async () => t.dispose())
  afterEach(() => t.shiftClock(0))

  async function run(command: AnyCommand, input: object, caller: Caller, idempotencyKey?: string) {
    const done = await t.commands.execute(command, input, {
      caller,
      ...(idempotencyKey ? { idempotencyKey } : {}),
    })
    return done
  }
  async function ok<R = Record<string, unknown>>(
    command: AnyCommand,
    input: object,
    caller: Caller,
  ): Promise<R> {
    const done = await run(command, input, caller)
    if (done.status === 'failed') throw done.error
    return done.result as R
  }
  async function refused(command: AnyCommand, input: object, caller: Caller) {
    const done = await run(command, input, caller)
    return done.status === 'failed' ? `${done.error.status} ${done.error.code}` : 'succeeded'
  }
  async function ask<R = Record<string, unknown>>(
    query: AnyQuery,
    input: object,
    caller: Caller,
  ): Promise<R> {
    await t.projections.caughtUp()
    const done = await t.queries.ask(query, input, { caller })
    if (done.status === 'failed') throw done.error
    return done.data as R
  }
  async function askRefused(query: AnyQuery, input: object, caller: Caller) {
    await t.projections.caughtUp()
    const done = await t.queries.ask(query, input, { caller })
    return done.status === 'failed' ? `${done.error.status} ${done.error.code}` : 'succeeded'
  }
  const newQuiz = async (fields: object = {}, by = author) =>
    (await ok<{ quizId: string }>(createQuiz, { title: 'Quiz', public: true, questions, ...fields }, by))
      .quizId

  it('runs every example of every command and query, in order', async () => {
    for (const command of commands) {
      for (const input of command.examples ?? [])
        expect(await refused(command, input as object, examples)).toBe('succeeded')
    }
    for (const query of quizDomain.queries) {
      for (const input of query.examples ?? [])
        expect(await askRefused(query, input as object, examples)).toBe('succeeded')
    }
  })

  it('seeds its demo data, whose banner examples then work as printed, and prepares its bench mix', async () => {
    await quizDomain.seedDemo?.(t.commands)
    await t.projections.caughtUp()
    const examples = (await quizDomain.demoExamples?.(t.queries)) ?? []
    expect(examples.map((e) => e.method)).toEqual(['GET', 'GET', 'POST', 'GET', 'GET'])
    const attempt = examples.find((e) => e.method === 'POST')
    const learner = quizDomain.demoCallers?.find((c) => c.label === attempt?.as)
    expect(learner).toBeDefined()
    // "Without its answers", as its title says: a quiz the learner has not attempted.
    const [, quizId] = examples[1]?.path.match(/quizId=([0-9a-f-]+)/) ?? []
    const detail = await t.queries.ask(getQuizDetail, { quizId }, { caller: learner })
    expect(detail.status === 'succeeded' && detail.data).toMatchObject({ answersShown: false })
    const done = await t.commands.execute(attempt?.path.split('/').slice(-2).join('/') ?? '', attempt?.body, {
      caller: learner,
    })
    expect(done.status).toBe('succeeded')
    expect(await benchMixStatuses(quizDomain, t, 5)).toEqual(Array(10).fill('succeeded'))
  })

  it('scores an attempt on the server and hides answers until the caller attempts', async () => {
    const quizId = await newQuiz({ subjectId })
    type Detail = { answersShown: boolean; questions: { answer?: number }[] }
    const before = await ask<Detail>(getQuizDetail, { quizId }, ann)
    expect(before.answersShown).toBe(false)
    expect(before.questions.every((q) => !('answer' in q))).toBe(true)
    expect((await ask<Detail>(getQuizDetail, { quizId }, author)).questions.map((q) => q.answer)).toEqual([
      0, 2, 1,
    ])

    const result = await ok(attemptQuiz, { quizId: quizId.toUpperCase(), answers: [0, 1, null] }, ann)
    expect(result).toMatchObject({ score: 10, maxScore: 60, correct: [true, false, false] })
    const after = await ask<Detail>(getQuizDetail, { quizId }, ann)
    expect(after).toMatchObject({
      answersShown: true,
      questions: [{ answer: 0 }, { answer: 2 }, { answer: 1 }],
    })
    // Bob has not attempted it: still hidden from him (each caller's answer is cached apart).
    expect((await ask<Detail>(getQuizDetail, { quizId }, bob)).answersShown).toBe(false)

    await ok(attemptQuiz, { quizId, answers: [0, 2, 1] }, bob)
    await ok(attemptQuiz, { quizId, answers: [1, 2, 0] }, bob)
    const stats = await ask(getQuizStatistics, { quizId }, ann)
    expect(stats).toMatchObject({ attempts: 3, maxScore: 60, bestScore: 60, averageScore: 30 })
    const hardest = (stats as { questions: { position: number; correct: number }[] }).questions
    expect(hardest.map((q) => [q.position, q.correct])).toEqual([
      [2, 1],
      [0, 2],
      [1, 2],
    ])
    const mine = await ask<{ items: { score: number }[] }>(getQuizAttempts, { quizId }, ann)
    expect(mine.items.map((a) => a.score)).toEqual([10])
    const bobs = await ask<{ items: { score: number }[] }>(getQuizAttempts, { quizId, limit: 1 }, bob)
    expect(bobs.items.map((a) => a.score)).toEqual([20])
    expect(await ask(getQuizAttempts, { quizId }, author)).toMatchObject({ items: [] })
  })

  it("keeps another learner's private quiz out of reach: 404 everywhere, absent from lists", async () => {
    const quizId = await newQuiz({ public: false, title: 'Secret' }, bob)
    for (const query of [getQuizDetail, getQuizStatistics, getQuizAttempts]) {
      expect(await askRefused(query, { quizId }, ann)).toBe('404 QUIZ_NOT_FOUND')
    }
    expect(await refused(attemptQuiz, { quizId, answers: [0, 0, 0] }, ann)).toBe('404 QUIZ_NOT_FOUND')
    expect(await refused(updateQuiz, { quizId, title: 'Mine' }, ann)).toBe('404 QUIZ_NOT_FOUND')
    expect(await refused(createQuizSession, { quizIds: [quizId], timeLimitMinutes: 5 }, ann)).toBe(
      '404 QUIZ_NOT_FOUND',
    )
    const list = await ask<{ items: { quizId: string }[] }>(getQuizzes, { limit: 100 }, ann)
    expect(list.items.map((q) => q.quizId)).not.toContain(quizId)
    const bobsList = await ask<{ items: { quizId: string }[] }>(getQuizzes, { limit: 100 }, bob)
    expect(bobsList.items.map((q) => q.quizId)).toContain(quizId)
  })

  it('lists by subject, newest first, page by page', async () => {
    const subject = '0190c0d0-0000-7000-8000-0000000000aa'
    const ids = []
    for (let i = 0; i < 5; i++) {
      t.shiftClock(i * 1000)
      ids.push(await newQuiz({ subjectId: subject, public: i % 2 === 0 }, i % 2 === 0 ? author : ann))
    }
    t.shiftClock(0)
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page: { items: { quizId: string }[]; nextCursor: string | null } = await ask(
        getQuizzes,
        { subjectId: subject.toUpperCase(), limit: 2, ...(cursor ? { cursor } : {}) },
        ann,
      )
      seen.push(...page.items.map((q) => q.quizId))
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    expect(seen).toEqual([...ids].reverse())
    expect(await askRefused(getQuizzes, { cursor: 'bm90LWEta2V5' }, ann)).toBe('400 VALIDATION_FAILED')
  })

  it('lets only the author change a quiz, and locks its questions after the first attempt', async () => {
    const quizId = await newQuiz({ public: true })
    expect(await refused(updateQuiz, { quizId, title: 'Mine' }, ann)).toBe('403 FORBIDDEN')
    await ok(updateQuiz, { quizId, questions: questions.slice(0, 2) }, author)
    await ok(attemptQuiz, { quizId, answers: [0, 2] }, ann)
    expect(await refused(updateQuiz, { quizId, questions }, author)).toBe('409 QUIZ_LOCKED')
    await ok(updateQuiz, { quizId, title: 'Renamed', public: false, subjectId: null }, author)
    expect(await askRefused(getQuizDetail, { quizId }, ann)).toBe('404 QUIZ_NOT_FOUND')
    // Ann keeps her own attempt of a quiz that turned private.
    expect(await ask(getQuizAttempts, { quizId }, ann)).toMatchObject({ items: [{ score: 30 }] })
    const [row] = await t.sql.query<{ title: string; n: number }>(
      'SELECT title, (SELECT count(*) FROM quiz.question q WHERE q.quiz_id = z.quiz_id)::int AS n FROM quiz.quiz z WHERE quiz_id = $1',
      [quizId],
    )
    expect(row).toEqual({ title: 'Renamed', n: 2 })
  })

  it('locks a quiz’s questions once a session holds it; made private, it stays attemptable in that session', async () => {
    const cy: Caller = { id: 'cy', roles: [] }
    const [first, second] = [await newQuiz({ public: true }), await newQuiz({ public: true })]
    const { sessionId } = await ok<{ sessionId: string }>(
      createQuizSession,
      { quizIds: [first, second], timeLimitMinutes: 30 },
      cy,
    )
    const changed = [{ text: 'Other?', choices: ['x', 'y', 'z'], answer: 2, points: 100 }]
    expect(await refused(updateQuiz, { quizId: second, questions: changed }, author)).toBe('409 QUIZ_LOCKED')
    await ok(updateQuiz, { quizId: second, public: false }, author)
    // Outside cy's session the quiz is another's private one; in it, theirs to read (without the
    // answers) and to attempt, until the session closes.
    expect(await refused(attemptQuiz, { quizId: second, answers: [0, 2, 1] }, bob)).toBe('404 QUIZ_NOT_FOUND')
    expect(await askRefused(getQuizDetail, { quizId: second }, bob)).toBe('404 QUIZ_NOT_FOUND')
    const held = await ask<{ questions: { answer?: number }[] }>(getQuizDetail, { quizId: second }, cy)
    expect(held).toMatchObject({ quizId: second, answersShown: false })
    expect(held.questions.map((question) => question.answer)).toEqual([undefined, undefined, undefined])
    // As are its statistics, and the learner's attempts of it (none yet), which others are refused.
    expect(await ask(getQuizStatistics, { quizId: second }, cy)).toMatchObject({ attempts: 0 })
    expect(await ask(getQuizAttempts, { quizId: second }, cy)).toMatchObject({ items: [] })
    expect(await askRefused(getQuizStatistics, { quizId: second }, bob)).toBe('404 QUIZ_NOT_FOUND')
    await ok(attemptQuiz, { quizId: first, answers: [0, 2, 1], sessionId }, cy)
    await ok(attemptQuiz, { quizId: second, answers: [0, 2, 1], sessionId }, cy)
    expect(await ok(completeQuizSession, { sessionId }, cy)).toMatchObject({
      score: 120,
      maxScore: 120,
      attempted: 2,
    })
    // Closed, the session holds it no more: another's private quiz again (cy's attempts stay listed).
    expect(await askRefused(getQuizDetail, { quizId: second }, cy)).toBe('404 QUIZ_NOT_FOUND')
    expect(await askRefused(getQuizStatistics, { quizId: second }, cy)).toBe('404 QUIZ_NOT_FOUND')
  })

  it('refuses answers that do not fit the quiz, writing nothing', async () => {
    const quizId = await newQuiz()
    const count = async () =>
      (
        await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM quiz.attempt WHERE quiz_id = $1', [
          quizId,
        ])
      )[0]?.n
    for (const answers of [
      [0, 1],
      [0, 1, 2, 3],
      [2, 0, 0],
      [0, 3, 0],
      [0, 0, 4],
      [-1, 0, 0],
      [0, 0, 10],
    ]) {
      expect(await refused(attemptQuiz, { quizId, answers }, ann)).toBe('400 VALIDATION_FAILED')
    }
    expect(await count()).toBe(0)
    const bad = [
      { title: ' ', questions },
      { title: 'x'.repeat(201), questions },
      { title: 'Q', questions: [] },
      { title: 'Q', questions: Array.from({ length: 101 }, () => questions[0]) },
      { title: 'Q', questions: [{ ...questions[0], choices: ['only'] }] },
      { title: 'Q', questions: [{ ...questions[0], answer: 2 }] },
      { title: 'Q', questions: [{ ...questions[0], choices: ['same', ' same'] }] },
      { title: 'Q', questions: [{ ...questions[0], points: 0 }] },
      { title: 'Q', questions: [{ ...questions[0], points: 101 }] },
      { title: 'Q', questions: [{ ...questions[0], text: '\u200b' }] },
      { title: 'Q\u0000', questions },
    ]
    for (const input of bad) expect(await refused(createQuiz, input, author)).toBe('400 VALIDATION_FAILED')
  })

  it('replays a retried attempt with the same idempotency key: recorded once', async () => {
    const quizId = await newQuiz()
    const input = { quizId, answers: [0, 2, 1] }
    const first = await run(attemptQuiz, input, ann, 'retry-1')
    const second = await run(attemptQuiz, input, ann, 'retry-1')
    expect(second).toMatchObject({ status: 'succeeded', replayed: true })
    if (first.status === 'failed' || second.status === 'failed') throw new Error('refused')
    expect(second.result).toEqual(first.result)
    expect(await refused(attemptQuiz, { ...input, answers: [0, 0, 0] }, ann)).toBe('succeeded')
    const reused = await run(attemptQuiz, { ...input, answers: [1, 1, 1] }, ann, 'retry-1')
    expect(reused.status === 'failed' && reused.error.code).toBe('IDEMPOTENCY_KEY_REUSED')
    const [row] = await t.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM quiz.attempt WHERE quiz_id = $1 AND user_id = $2',
      [quizId, ann.id],
    )
    expect(row?.n).toBe(2)
  })

  describe('sessions', () => {
    it('scores attempts made in a session and completes it once', async () => {
      const [q1, q2] = [await newQuiz(), await newQuiz({ questions: questions.slice(0, 1) })]
      const { sessionId, endsAt } = await ok<{ sessionId: string; endsAt: string }>(
        createQuizSession,
        { quizIds: [q1, q2], timeLimitMinutes: 10 },
        ann,
      )
      expect(Date.parse(endsAt) - Date.now()).toBeGreaterThan(9 * minute)
      await ok(attemptQuiz, { quizId: q1, answers: [0, 2, 0], sessionId: sessionId.toUpperCase() }, ann)
      expect(await refused(attemptQuiz, { quizId: q1, answers: [0, 2, 1], sessionId }, ann)).toBe(
        '409 ALREADY_ATTEMPTED',
      )
      expect(await refused(attemptQuiz, { quizId: q2, answers: [0], sessionId }, bob)).toBe(
        '404 SESSION_NOT_FOUND',
      )
      const q3 = await newQuiz()
      expect(await refused(attemptQuiz, { quizId: q3, answers: [0, 2, 1], sessionId }, ann)).toBe(
        '409 QUIZ_NOT_IN_SESSION',
      )
      expect(await refused(completeQuizSession, { sessionId }, bob)).toBe('404 SESSION_NOT_FOUND')
      const done = await ok(completeQuizSession, { sessionId }, ann)
      expect(done).toEqual({
        sessionId,
        status: 'completed',
        late: false,
        score: 30,
        maxScore: 70,
        attempted: 1,
      })
      expect(await refused(completeQuizSession, { sessionId }, ann)).toBe('409 SESSION_COMPLETED')
      expect(await refused(attemptQuiz, { quizId: q2, answers: [0], sessionId }, ann)).toBe(
        '409 SESSION_COMPLETED',
      )
      const listed = await ask(getQuizSessions, { status: 'completed' }, ann)
      expect(listed).toMatchObject({
        items: [{ sessionId, status: 'completed', score: 30, maxScore: 70, attempted: 1 }],
      })
      expect(await ask(getQuizSessions, {}, bob)).toMatchObject({ items: [] })
      // Its deadline timer went with the completion.
      const timers = await t.sql.query('SELECT key FROM tandem.timers WHERE key LIKE $1', [`%${sessionId}%`])
      expect(timers).toEqual([])
    })

    it('refuses an attempt outside an open session of the quiz: it would show the answers that score the session', async () => {
      const quizId = await newQuiz()
      const { sessionId } = await ok<{ sessionId: string }>(
        createQuizSession,
        { quizIds: [quizId], timeLimitMinutes: 10 },
        ann,
      )
      expect(
        await refused(attemptQuiz, { quizId: quizId.toUpperCase(), answers: [null, null, null] }, ann),
      ).toBe('409 QUIZ_IN_OPEN_SESSION')
      // Others may, and so may the learner once the session's time is up, or it is completed.
      await ok(attemptQuiz, { quizId, answers: [null, null, null] }, bob)
      t.shiftClock(10 * minute)
      await ok(attemptQuiz, { quizId, answers: [null, null, null] }, ann)
      t.shiftClock(0)
      const other = await newQuiz()
      const second = await ok<{ sessionId: string }>(
        createQuizSession,
        { quizIds: [other], timeLimitMinutes: 10 },
        ann,
      )
      expect(await refused(attemptQuiz, { quizId: other, answers: [0, 2, 0] }, ann)).toBe(
        '409 QUIZ_IN_OPEN_SESSION',
      )
      // Nor in a second session of theirs: a blank attempt in one would have scored the other in full.
      expect(
        await refused(createQuizSession, { quizIds: [other.toUpperCase()], timeLimitMinutes: 10 }, ann),
      ).toBe('409 QUIZ_IN_OPEN_SESSION')
      await ok(completeQuizSession, { sessionId: second.sessionId }, ann)
      await ok(attemptQuiz, { quizId: other, answers: [0, 2, 0] }, ann)
      await ok(createQuizSession, { quizIds: [other], timeLimitMinutes: 10 }, ann)
      await ok(completeQuizSession, { sessionId }, ann)
    })

    it('expires a session nobody completed when its timer fires, at its end and not before', async () => {
      const quizId = await newQuiz()
      const { sessionId } = await ok<{ sessionId: string }>(
        createQuizSession,
        { quizIds: [quizId], timeLimitMinutes: 1 },
        bob,
      )
      await ok(attemptQuiz, { quizId, answers: [0, 2, 1], sessionId }, bob)
      t.shiftClock(59_000)
      await t.timers.runDue()
      expect(await ask(getQuizSessions, { status: 'open' }, bob)).toMatchObject({ items: [{ sessionId }] })
      // Past its end, before the timer: too late to attempt.
      t.shiftClock(61_000)
      expect(await refused(attemptQuiz, { quizId, answers: [0, 2, 1], sessionId }, bob)).toBe(
        '409 SESSION_ENDED',
      )
      await t.timers.runDue()
      await t.timers.runDue()
      t.shiftClock(0)
      const listed = await ask(getQuizSessions, { status: 'expired' }, bob)
      expect(listed).toMatchObject({
        items: [{ sessionId, status: 'expired', score: 60, maxScore: 60, late: false }],
      })
      expect(await refused(completeQuizSession, { sessionId }, bob)).toBe('409 SESSION_EXPIRED')
      const log = await t.sql.query<{ type: string }>(
        'SELECT type FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version',
        [`quiz-session-${sessionId}`],
      )
      expect(log.map((e) => e.type)).toEqual(['QuizSessionCreated', 'QuizSessionExpired'])
    })

    it('records a completion after the end as late; the timer then finds nothing to do', async () => {
      const quizId = await newQuiz()
      const { sessionId } = await ok<{ sessionId: string }>(
        createQuizSession,
        { quizIds: [quizId], timeLimitMinutes: 600 },
        ann,
      )
      t.shiftClock(600 * minute + 1)
      expect(await ok(completeQuizSession, { sessionId }, ann)).toMatchObject({
        status: 'completed',
        late: true,
      })
      await t.timers.runDue()
      t.shiftClock(0)
      const log = await t.sql.query<{ type: string }>(
        'SELECT type FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version',
        [`quiz-session-${sessionId}`],
      )
      expect(log.map((e) => e.type)).toEqual(['QuizSessionCreated', 'QuizSessionCompleted'])
      const listed = await ask<{ items: object[] }>(getQuizSessions, { status: 'completed' }, ann)
      expect(listed.items[0]).toMatchObject({ sessionId, late: true })
    })

    it('fires a timer overdue by years once; the system command alone may expire, and early does nothing', async () => {
      const quizId = await newQuiz()
      const { sessionId } = await ok<{ sessionId: string }>(
        createQuizSession,
        { quizIds: [quizId], timeLimitMinutes: 5 },
        ann,
      )
      expect(await refused(expireQuizSession, { sessionId }, ann)).toBe('403 FORBIDDEN')
      const system: Caller = { id: 'ops', roles: ['system'] }
      expect(await ok(expireQuizSession, { sessionId }, system)).toMatchObject({ status: 'open' })
      t.shiftClock(5 * 365 * 24 * 60 * minute)
      expect((await t.timers.runDue()).fired).toBeGreaterThanOrEqual(1) // other tests' sessions are due too
      expect(await t.timers.runDue()).toMatchObject({ fired: 0 })
      t.shiftClock(0)
      const [row] = await t.sql.query<{ status: string }>(
        'SELECT status FROM quiz.session WHERE session_id = $1',
        [sessionId],
      )
      expect(row?.status).toBe('expired')
    })

    it('refuses sessions that do not fit: duplicates, too many quizzes, limits out of range', async () => {
      const quizId = await newQuiz()
      const cases = [
        { quizIds: [quizId, quizId.toUpperCase()], timeLimitMinutes: 5 },
        { quizIds: [], timeLimitMinutes: 5 },
        { quizIds: Array.from({ length: 21 }, () => quizId), timeLimitMinutes: 5 },
        { quizIds: [quizId], timeLimitMinutes: 0 },
        { quizIds: [quizId], timeLimitMinutes: 601 },
        { quizIds: ['not-a-uuid'], timeLimitMinutes: 5 },
      ]
      for (const input of cases)
        expect(await refused(createQuizSession, input, ann)).toBe('400 VALIDATION_FAILED')
      expect(
        await refused(
          createQuizSession,
          { quizIds: ['0190c0d0-0000-7000-8000-00000000ffff'], timeLimitMinutes: 5 },
          ann,
        ),
      ).toBe('404 QUIZ_NOT_FOUND')
    })
  })
})
