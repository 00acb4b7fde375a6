import { describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import {
  expectInvalid,
  expectProblem,
  expectSucceeded,
  modes,
  useTestServer,
  type TestServer,
} from '../../kernel/testing.js'
import { quizDomain } from './index.js'

const ann: Caller = { id: 'ann', roles: [] }
const bob: Caller = { id: 'bob', roles: [] }
const command = (name: string) => `/api/commands/quiz/${name}`
const query = (name: string, params: Record<string, string | number> = {}) =>
  `/api/queries/quiz/${name}?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString()}`
const questions = [
  { text: 'One?', choices: ['a', 'b'], answer: 1, points: 10 },
  { text: 'Two?', choices: ['a', 'b', 'c'], answer: 2, points: 20 },
]
const minute = 60_000

describe.each(modes)('the quiz API over HTTP (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [quizDomain] })

  async function createQuiz(s: TestServer, body: object, caller: Caller) {
    return expectSucceeded<{ quizId: string }>(
      await s.post(command('create-quiz'), { title: 'Quiz', questions, ...body }, { caller }),
    )
  }
  /** A query sent once the read models have applied `position` (read-your-writes). */
  const after = (position: string, caller: Caller) => ({ caller, headers: { 'x-min-position': position } })

  it('answers ids in lower case, hides answers until the caller’s own attempt, and scores on the server', async () => {
    const s = server()
    const quizId = crypto.randomUUID().toUpperCase()
    const created = await createQuiz(s, { quizId, public: true }, ann)
    expect(created.result.quizId).toBe(quizId.toLowerCase())
    const hidden = await s.get(query('get-quiz-detail', { quizId }), after(created.position, bob))
    expect(hidden.statusCode).toBe(200)
    expect(hidden.body).not.toContain('"answer"')
    expect(hidden.json()).toMatchObject({ data: { quizId: quizId.toLowerCase(), answersShown: false } })

    const attempt = expectSucceeded(
      await s.post(command('attempt-quiz'), { quizId, answers: [1, 0] }, { caller: bob }),
    )
    expect(attempt.result).toMatchObject({ score: 10, maxScore: 30, correct: [true, false] })
    const shown = await s.get(query('get-quiz-detail', { quizId }), after(attempt.position, bob))
    expect(shown.json()).toMatchObject({
      data: { answersShown: true, questions: [{ answer: 1 }, { answer: 2 }] },
    })
    const stats = await s.get(query('get-quiz-statistics', { quizId }), after(attempt.position, ann))
    expect(stats.json()).toMatchObject({
      data: { attempts: 1, averageScore: 10, questions: [{ position: 1 }, { position: 0 }] },
    })
    const mine = await s.get(query('get-quiz-attempts', { quizId }), after(attempt.position, ann))
    expect(mine.json()).toMatchObject({ data: [], nextCursor: null })
  })

  it('answers a position applied already with X-Max-Wait-Ms 0, though the queried model does not read its event', async () => {
    const s = server()
    const { result } = await createQuiz(s, { public: true }, ann)
    const attempt = expectSucceeded(
      await s.post(command('attempt-quiz'), { quizId: result.quizId, answers: [1, 2] }, { caller: bob }),
    )
    await s.settle(attempt.position)
    // The quizzes' read model has nothing of an attempt's last event: it knows the position only by
    // its transaction, which a wait of 0 never looked up (503 READ_MODEL_LAGGING).
    const read = await s.get(query('get-quizzes'), {
      caller: ann,
      headers: { 'x-min-position': attempt.position, 'x-max-wait-ms': '0' },
    })
    expect(read.statusCode).toBe(200)
    expect(BigInt(String(read.headers['x-read-position']))).toBeGreaterThanOrEqual(BigInt(attempt.position))
  })

  it('refuses bad input with 400 and the field, writing nothing', async () => {
    const s = server()
    const cases: [object, string][] = [
      [{ title: '   ' }, '/title'],
      [{ title: 'x'.repeat(201) }, '/title'],
      [{ title: 'Nul \u0000' }, '/title'],
      [{ questions: [] }, '/questions'],
      [{ questions: Array.from({ length: 101 }, () => questions[0]) }, '/questions'],
      [{ questions: [{ ...questions[0], text: 'x'.repeat(2001) }] }, '/questions/0/text'],
      [
        { questions: [{ ...questions[0], choices: Array.from({ length: 11 }, (_, i) => `c${i}`) }] },
        '/questions/0/choices',
      ],
      [{ questions: [{ ...questions[0], answer: 2 }] }, '/questions/0/answer'],
      [{ questions: [{ ...questions[0], points: 101 }] }, '/questions/0/points'],
      [{ quizId: 'not-a-uuid' }, '/quizId'],
      [{ colour: 'red' }, ''],
    ]
    for (const [fields, path] of cases) {
      const response = await s.post(
        command('create-quiz'),
        { title: 'Quiz', questions, ...fields },
        { caller: ann },
      )
      if (path === '') expectProblem(response, 400, 'VALIDATION_FAILED')
      else expectInvalid(response, path)
    }
    const { result } = await createQuiz(s, { public: true }, ann)
    for (const [answers, path] of [
      [[1], '/answers'],
      [[1, 3], '/answers/1'],
      [[1, 10], '/answers/1'],
      [[1, -1], '/answers/1'],
      [[1, '0'], '/answers/1'],
    ] as const) {
      expectInvalid(
        await s.post(command('attempt-quiz'), { quizId: result.quizId, answers }, { caller: bob }),
        path,
      )
    }
    const [row] = await s.tandem.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM quiz.attempt WHERE quiz_id = $1',
      [result.quizId],
    )
    expect(row?.n).toBe(0)
  })

  it("answers 404 for another learner's private quiz and leaves it out of their list", async () => {
    const s = server()
    const { result, position } = await createQuiz(s, { title: 'Private' }, bob)
    const { quizId } = result
    for (const name of ['get-quiz-detail', 'get-quiz-statistics', 'get-quiz-attempts']) {
      expectProblem(await s.get(query(name, { quizId }), after(position, ann)), 404, 'QUIZ_NOT_FOUND')
    }
    expectProblem(
      await s.post(command('attempt-quiz'), { quizId, answers: [1, 2] }, { caller: ann }),
      404,
      'QUIZ_NOT_FOUND',
    )
    const list = await s.get(query('get-quizzes', { limit: 100 }), after(position, ann))
    expect(list.json<{ data: { quizId: string }[] }>().data.map((q) => q.quizId)).not.toContain(quizId)
    expectProblem(await s.get(query('get-quizzes')), 401, 'UNAUTHENTICATED')
    expectInvalid(await s.get(query('get-quizzes', { limit: 101 }), { caller: ann }), '/limit')
  })

  it('replays a retried attempt sent with the same Idempotency-Key: one attempt recorded', async () => {
    const s = server()
    const { result } = await createQuiz(s, { public: true }, ann)
    const send = (answers: number[]) =>
      s.post(
        command('attempt-quiz'),
        { quizId: result.quizId, answers },
        {
          caller: bob,
          headers: { 'idempotency-key': 'attempt-once' },
        },
      )
    const first = expectSucceeded(await send([1, 2]))
    const again = await send([1, 2])
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(expectSucceeded(again).result).toEqual(first.result)
    expectProblem(await send([0, 0]), 422, 'IDEMPOTENCY_KEY_REUSED')
    const [row] = await s.tandem.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM quiz.attempt WHERE quiz_id = $1',
      [result.quizId],
    )
    expect(row?.n).toBe(1)
  })

  it('runs a session: limits checked, completed once, late after its end, the timer command kept from learners', async () => {
    const s = server()
    const { result } = await createQuiz(s, { public: true }, ann)
    const quizIds = [result.quizId]
    expectInvalid(
      await s.post(command('create-quiz-session'), { quizIds, timeLimitMinutes: 601 }, { caller: bob }),
      '/timeLimitMinutes',
    )
    expectInvalid(
      await s.post(command('create-quiz-session'), { quizIds: [], timeLimitMinutes: 5 }, { caller: bob }),
      '/quizIds',
    )
    const created = expectSucceeded<{ sessionId: string; endsAt: string }>(
      await s.post(command('create-quiz-session'), { quizIds, timeLimitMinutes: 1 }, { caller: bob }),
    )
    const { sessionId } = created.result
    expectProblem(
      await s.post(command('expire-quiz-session'), { sessionId }, { caller: bob }),
      403,
      'FORBIDDEN',
    )
    expectProblem(
      await s.post(command('complete-quiz-session'), { sessionId }, { caller: ann }),
      404,
      'SESSION_NOT_FOUND',
    )
    s.tandem.shiftClock(10 * 365 * 24 * 60 * minute) // ten years on, before the timer has fired
    try {
      const done = expectSucceeded(
        await s.post(
          command('complete-quiz-session'),
          { sessionId: sessionId.toUpperCase() },
          { caller: bob },
        ),
      )
      expect(done.result).toMatchObject({ status: 'completed', late: true })
      expectProblem(
        await s.post(command('complete-quiz-session'), { sessionId }, { caller: bob }),
        409,
        'SESSION_COMPLETED',
      )
      expect(await s.tandem.timers.runDue()).toMatchObject({ fired: 0 })
      const sessions = await s.get(
        query('get-quiz-sessions', { status: 'completed' }),
        after(done.position, bob),
      )
      expect(sessions.json()).toMatchObject({ data: [{ sessionId, late: true, status: 'completed' }] })
    } finally {
      s.tandem.shiftClock(0)
    }
  })
})
