import { describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { deciderSpec } from '../../kernel/testing.js'
import {
  attemptQuiz,
  completeQuizSession,
  createQuiz,
  createQuizSession,
  expireQuizSession,
  updateQuiz,
} from './commands.js'
import {
  QuizAttempted,
  QuizCreated,
  QuizSessionCompleted,
  QuizSessionCreated,
  QuizSessionExpired,
  QuizUpdated,
} from './messages.js'
import {
  checkQuestions,
  decideAttempt,
  decideCreate,
  decideUpdate,
  type AttemptState,
  type QuizRow,
  type QuizState,
} from './rules.js'
import {
  decideComplete,
  decideCreateSession,
  decideExpire,
  type CloseState,
  type SessionRow,
  type SessionState,
} from './session-rules.js'

// Given: callers, a fixed clock and id, and the states written out as values.

const amy: Caller = { id: 'amy', roles: [] }
const ben: Caller = { id: 'ben', roles: [] }
const now = '2031-03-01T09:00:00.000Z'
const newId = '0190a0d0-0000-7000-8000-0000000000ff'
const quizId = '0190a0d0-0000-7000-8000-000000000001'
const sessionId = '0190a0d0-0000-7000-8000-000000000010'
const one = { text: 'One?', choices: ['a', 'b'], answer: 1, points: 10 }
const two = { text: 'Two?', choices: ['a', 'b', 'c'], answer: 0, points: 30 }
const questions = [one, two]
const row: QuizRow = {
  quizId,
  authorId: 'amy',
  subjectId: null,
  title: 'Basics',
  public: false,
  questions,
  version: 1,
  createdAt: '2031-02-01T00:00:00.000Z',
  updatedAt: '2031-02-01T00:00:00.000Z',
}
const absent: QuizState = { status: 'absent' }
const open = (o: Partial<QuizRow> = {}): QuizState => ({ status: 'open', ...row, ...o })
const locked = (o: Partial<QuizRow> = {}): QuizState => ({ status: 'locked', ...row, ...o })
const sessionRow: SessionRow = {
  sessionId,
  userId: 'ben',
  quizIds: [quizId],
  timeLimitMinutes: 30,
  startedAt: '2031-03-01T08:45:00.000Z',
  endsAt: '2031-03-01T09:15:00.000Z',
  version: 1,
}
const session = (status: 'open' | 'completed' | 'expired', o: Partial<SessionRow> = {}): SessionState => ({
  status,
  ...sessionRow,
  ...o,
})
const tally = { score: 30, maxScore: 40, attempted: 1 }

describe('create-quiz', () => {
  const given = deciderSpec(decideCreate, { command: createQuiz, now, newId, caller: amy })
  const input = { title: 'Basics', questions }

  describe('when no quiz has the id', () => {
    it('creates a private quiz authored by the caller, with a fresh id', () => {
      given(absent)
        .when(input)
        .then(
          QuizCreated.create({
            quizId: newId,
            authorId: 'amy',
            subjectId: null,
            title: 'Basics',
            public: false,
            questions,
            createdAt: now,
          }),
        )
    })
    it('keeps the client id and subject, lower-cased', () => {
      const subjectId = '0190A0D0-0000-7000-8000-00000000ABCD'
      given(absent)
        .when({ ...input, quizId: quizId.toUpperCase(), subjectId, public: true })
        .then(
          QuizCreated.create({
            quizId,
            authorId: 'amy',
            subjectId: subjectId.toLowerCase(),
            title: 'Basics',
            public: true,
            questions,
            createdAt: now,
          }),
        )
    })
    it('refuses an answer that is not one of the choices', () => {
      given(absent)
        .when({ ...input, questions: [{ ...one, answer: 2 }] })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/questions/0/answer' }] })
    })
    it('refuses choices that do not differ (spaces aside)', () => {
      given(absent)
        .when({ ...input, questions: [one, { ...two, choices: ['a', 'b', ' a'] }] })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/questions/1/choices' }] })
      // Nor invisible characters, soft hyphens or compatibility forms: the three look alike.
      for (const choices of [
        ['Paris', 'Paris\u200b', 'Lyon'],
        ['Paris', 'Pari\u00ads', 'Lyon'],
        ['Paris', '\uff30aris', 'Lyon'],
        ['New  York', 'New York', 'Lyon'],
        // Shown as nothing (a Hangul filler, a word joiner), or as a blank (the braille blank).
        ['Paris', 'Paris\u3164', 'Lyon'],
        ['Paris', 'Par\u2060is', 'Lyon'],
        ['New York', 'New\u2800York', 'Lyon'],
      ])
        given(absent)
          .when({ ...input, questions: [{ ...two, choices }] })
          .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/questions/0/choices' }] })
    })
    it('takes choices that a joiner or a variation selector makes look different', () => {
      for (const choices of [
        ['\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645', '\u0645\u06cc\u062e\u0648\u0627\u0647\u0645'], // Persian, with and without a ZWNJ
        ['\u0915\u094d\u0937', '\u0915\u094d\u200c\u0937'], // Devanagari: the conjunct, the half form
        ['\u2764', '\u2764\ufe0f'], // a text heart, an emoji heart
        ['\u{1f468}\u200d\u{1f469}', '\u{1f468}\u{1f469}'], // one joined glyph, two
        ['\u845b', '\u845b\u{e0100}'], // a CJK character and its variant
      ])
        expect(() => checkQuestions([{ text: 'Which?', choices, answer: 0, points: 1 }])).not.toThrow()
    })
  })

  describe('when the id is taken', () => {
    it('refuses with QUIZ_ALREADY_EXISTS', () => {
      given(open())
        .when({ ...input, quizId })
        .thenRefused('QUIZ_ALREADY_EXISTS', { status: 409 })
    })
  })
})

describe('update-quiz', () => {
  const given = deciderSpec(decideUpdate, { command: updateQuiz, now, newId, caller: amy })
  const changed = (changes: object, version = 2) =>
    QuizUpdated.create({ quizId, changes, version, updatedAt: now })

  describe('when the quiz has not been attempted', () => {
    it('records only what changes, questions included, at the next version', () => {
      const next = [two]
      given(open())
        .when({ quizId, title: 'Basics', public: true, questions: next })
        .then(changed({ public: true, questions: next }))
    })
    it('records nothing when nothing changes', () => {
      given(open()).when({ quizId, title: 'Basics', questions }).then([])
    })
    it('refuses a change that names no field', () => {
      given(open()).when({ quizId }).thenRefused('VALIDATION_FAILED')
    })
    it('refuses questions whose answer is out of range', () => {
      given(open())
        .when({ quizId, questions: [{ ...one, answer: 5 }] })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/questions/0/answer' }] })
    })
    it('refuses another learner: 404 for a private quiz, 403 for a public one', () => {
      given(open())
        .when({ quizId, title: 'Mine' }, { caller: ben })
        .thenRefused('QUIZ_NOT_FOUND', { status: 404 })
      given(open({ public: true }))
        .when({ quizId, title: 'Mine' }, { caller: ben })
        .thenRefused('FORBIDDEN')
    })
    it('refuses a quiz that does not exist', () => {
      given(absent).when({ quizId, title: 'X' }).thenRefused('QUIZ_NOT_FOUND')
    })
  })

  describe('when the quiz has been attempted (locked)', () => {
    it('refuses new questions with QUIZ_LOCKED', () => {
      given(locked())
        .when({ quizId, questions: [two] })
        .thenRefused('QUIZ_LOCKED', { status: 409 })
    })
    it('still changes its title, subject and visibility, which score nothing', () => {
      const subjectId = '0190a0d0-0000-7000-8000-00000000abcd'
      given(locked({ version: 4 }))
        .when({ quizId, title: 'Renamed', subjectId, public: true, questions })
        .then(changed({ title: 'Renamed', public: true, subjectId }, 5))
    })
  })
})

describe('attempt-quiz', () => {
  const given = deciderSpec(decideAttempt, { command: attemptQuiz, now, newId, caller: ben })
  const state = (o: Partial<AttemptState> = {}): AttemptState => ({
    quiz: open({ public: true }),
    session: undefined,
    attemptedInSession: false,
    ...o,
  })
  const attempted = (o: object) =>
    QuizAttempted.create({
      attemptId: newId,
      quizId,
      userId: 'ben',
      sessionId: null,
      answers: [1, 0],
      correct: [true, true],
      score: 40,
      maxScore: 40,
      attemptedAt: now,
      ...o,
    })

  describe('when the quiz is public', () => {
    it('scores the answers on the server', () => {
      given(state())
        .when({ quizId, answers: [1, 0] })
        .then(attempted({}))
      given(state())
        .when({ quizId, answers: [0, null] })
        .then(attempted({ answers: [0, null], correct: [false, false], score: 0 }))
    })
    it('refuses a wrong number of answers', () => {
      given(state())
        .when({ quizId, answers: [1] })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/answers' }] })
      given(state())
        .when({ quizId, answers: [1, 0, 0] })
        .thenRefused('VALIDATION_FAILED')
    })
    it('refuses an answer beyond its question’s choices', () => {
      given(state())
        .when({ quizId, answers: [2, 3] })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/answers/0' }, { path: '/answers/1' }] })
    })
  })

  describe('when the quiz is private', () => {
    it('is not found for another learner, and scored for its author', () => {
      given(state({ quiz: open() }))
        .when({ quizId, answers: [1, 0] })
        .thenRefused('QUIZ_NOT_FOUND')
      given(state({ quiz: open() }))
        .when({ quizId, answers: [1, 0] }, { caller: amy })
        .then(attempted({ userId: 'amy' }))
    })
    it('is not found when absent', () => {
      given(state({ quiz: absent }))
        .when({ quizId, answers: [1, 0] })
        .thenRefused('QUIZ_NOT_FOUND')
    })
  })

  describe('within a session', () => {
    const inSession = { quizId, answers: [1, 0], sessionId }
    it('records the attempt with its session while it is open and before its end', () => {
      given(state({ session: session('open') }))
        .when(inSession)
        .then(attempted({ sessionId }))
    })
    it('refuses a session of another learner, or none', () => {
      given(state({ session: session('open') }))
        .when(inSession, { caller: amy })
        .thenRefused('SESSION_NOT_FOUND')
      given(state({ session: { status: 'absent' } }))
        .when(inSession)
        .thenRefused('SESSION_NOT_FOUND')
    })
    it('refuses a closed session', () => {
      given(state({ session: session('completed') }))
        .when(inSession)
        .thenRefused('SESSION_COMPLETED')
      given(state({ session: session('expired') }))
        .when(inSession)
        .thenRefused('SESSION_EXPIRED')
    })
    it('refuses at and after its end, before the timer closed it', () => {
      given(state({ session: session('open', { endsAt: now }) }))
        .when(inSession)
        .thenRefused('SESSION_ENDED')
    })
    it('refuses a quiz the session does not hold', () => {
      given(state({ session: session('open', { quizIds: [newId] }) }))
        .when(inSession)
        .thenRefused('QUIZ_NOT_IN_SESSION')
    })
    it('refuses a second attempt of the quiz in the session', () => {
      given(state({ session: session('open'), attemptedInSession: true }))
        .when(inSession)
        .thenRefused('ALREADY_ATTEMPTED')
    })
    it('refuses an attempt outside a session while one of the caller’s open sessions holds the quiz', () => {
      const openSession = { sessionId: newId, quizId, endsAt: now }
      given(state({ openSession }))
        .when({ quizId, answers: [null, null] })
        .thenRefused('QUIZ_IN_OPEN_SESSION')
      given(state({ session: session('open'), openSession }))
        .when(inSession)
        .then(attempted({ sessionId }))
    })
  })
})

describe('create-quiz-session', () => {
  const given = deciderSpec(decideCreateSession, { command: createQuizSession, now, newId, caller: ben })
  const amysQuiz = { quizId, authorId: 'amy', public: true }
  const visible = [amysQuiz]
  it('refuses a quiz already in another open session of the caller’s: both could not be scored blind', () => {
    given({
      session: { status: 'absent' },
      quizzes: visible,
      openSession: { sessionId: newId, quizId, endsAt: now },
    })
      .when({ quizIds: [quizId], timeLimitMinutes: 10 })
      .thenRefused('QUIZ_IN_OPEN_SESSION')
  })
  it('starts a session ending after its time limit', () => {
    given({ session: { status: 'absent' }, quizzes: visible })
      .when({ quizIds: [quizId.toUpperCase()], timeLimitMinutes: 600 })
      .then(
        QuizSessionCreated.create({
          sessionId: newId,
          userId: 'ben',
          quizIds: [quizId],
          timeLimitMinutes: 600,
          startedAt: now,
          endsAt: '2031-03-01T19:00:00.000Z',
        }),
      )
  })
  it('refuses a quiz named twice, in any spelling', () => {
    given({ session: { status: 'absent' }, quizzes: visible })
      .when({ quizIds: [quizId, quizId.toUpperCase()], timeLimitMinutes: 5 })
      .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/quizIds' }] })
  })
  it('refuses a quiz that is absent or another learner’s private one', () => {
    given({ session: { status: 'absent' }, quizzes: [] })
      .when({ quizIds: [quizId], timeLimitMinutes: 5 })
      .thenRefused('QUIZ_NOT_FOUND')
    given({ session: { status: 'absent' }, quizzes: [{ ...amysQuiz, public: false }] })
      .when({ quizIds: [quizId], timeLimitMinutes: 5 })
      .thenRefused('QUIZ_NOT_FOUND')
  })
  it('refuses a client id already taken', () => {
    given({ session: session('open'), quizzes: visible })
      .when({ sessionId, quizIds: [quizId], timeLimitMinutes: 5 })
      .thenRefused('SESSION_ALREADY_EXISTS')
  })
})

describe('complete-quiz-session', () => {
  const given = deciderSpec(decideComplete, { command: completeQuizSession, now, newId, caller: ben })
  const completed = (late: boolean, at = now) =>
    QuizSessionCompleted.create({ sessionId, userId: 'ben', ...tally, late, completedAt: at })
  const close = (s: SessionState): CloseState => ({ session: s, tally })

  describe('when the session is open', () => {
    it('completes it on time with what its attempts add up to', () => {
      given(close(session('open')))
        .when({ sessionId })
        .then(completed(false))
    })
    it('records a completion after its end as late', () => {
      const later = '2031-03-01T09:15:00.001Z'
      given(close(session('open')))
        .when({ sessionId }, { now: later })
        .then(completed(true, later))
    })
    it('is not found for another learner', () => {
      given(close(session('open')))
        .when({ sessionId }, { caller: amy })
        .thenRefused('SESSION_NOT_FOUND')
    })
  })
  describe('when the session is closed', () => {
    it('refuses a second completion, and a completion after expiry', () => {
      given(close(session('completed')))
        .when({ sessionId })
        .thenRefused('SESSION_COMPLETED', { status: 409 })
      given(close(session('expired')))
        .when({ sessionId })
        .thenRefused('SESSION_EXPIRED', { status: 409 })
    })
  })
  it('refuses a session that does not exist', () => {
    given(close({ status: 'absent' }))
      .when({ sessionId })
      .thenRefused('SESSION_NOT_FOUND')
  })
})

describe('expire-quiz-session (the deadline timer)', () => {
  const system: Caller = { id: 'system:timers', roles: ['system'] }
  const given = deciderSpec(decideExpire, {
    command: expireQuizSession,
    now: sessionRow.endsAt,
    newId,
    caller: system,
  })
  const close = (s: SessionState): CloseState => ({ session: s, tally })
  it('expires a session still open at its end', () => {
    given(close(session('open')))
      .when({ sessionId })
      .then(QuizSessionExpired.create({ sessionId, userId: 'ben', ...tally, expiredAt: sessionRow.endsAt }))
  })
  it('does nothing before the end, or for a session already closed', () => {
    given(close(session('open')))
      .when({ sessionId }, { now })
      .then([])
    given(close(session('completed')))
      .when({ sessionId })
      .then([])
    given(close(session('expired')))
      .when({ sessionId })
      .then([])
  })
  it('refuses a session that does not exist', () => {
    given(close({ status: 'absent' }))
      .when({ sessionId })
      .thenRefused('SESSION_NOT_FOUND')
  })
})
