import { defineCommand, signedIn, stateStored, type CommandMeta } from '../../kernel/index.js'
import {
  AttemptQuizInput,
  AttemptResult,
  CreateQuizInput,
  CreateQuizSessionInput,
  QuizIdResult,
  SessionClosedResult,
  SessionCreatedResult,
  SessionIdInput,
  UpdateQuizInput,
  type SessionClosed,
  type SessionCommand,
  type SessionEvent,
} from './messages.js'
import { decideAttempt, decideCreate, decideUpdate, type QuizState } from './rules.js'
import {
  deadlineKey,
  decideComplete,
  decideCreateSession,
  decideExpire,
  expireCommand,
  type CloseState,
} from './session-rules.js'
import {
  attemptedInSession,
  loadForClosing,
  loadQuiz,
  loadSession,
  loadSessionQuizzes,
  lockUserSessions,
  openSessionWith,
  persistQuiz,
  persistSession,
} from './write-model.js'

const domain = 'quiz'
/**
 * The ids the examples create: the first quiz is changed and attempted; the second goes in a session
 * and is attempted in it (a quiz in an open session is attempted only there).
 */
export const exampleQuizId = '0190b0d0-1a2b-7c3d-8e4f-5a6b7c8d9e01'
export const examplePrivateQuizId = '0190b0d0-1a2b-7c3d-8e4f-5a6b7c8d9e02'
export const exampleSessionId = '0190b0d0-1a2b-7c3d-8e4f-5a6b7c8d9e10'

/** The stream of a quiz, of a session: the turn a command on it takes before it locks its row. */
const quizTurn = (quizId: string) => `quiz-${quizId}`
const sessionTurn = (sessionId: string) => `quiz-session-${sessionId}`
const quizStream = (quizId: string, state: QuizState) => ({
  id: quizTurn(quizId),
  expectedVersion: state.status === 'absent' ? 0 : state.version,
})
const sessionStream = (sessionId: string, version: number) => ({
  id: sessionTurn(sessionId),
  expectedVersion: version,
})
const newQuizId = (cmd: { quizId?: string }, meta: CommandMeta) => cmd.quizId ?? meta.newId
const newSessionId = (cmd: { sessionId?: string }, meta: CommandMeta) => cmd.sessionId ?? meta.newId

const cqrsQuestions = [
  { text: 'Which side of CQRS changes state?', choices: ['Queries', 'Commands'], answer: 1, points: 10 },
  {
    text: 'What does a projection build?',
    choices: ['A read model', 'A write model', 'A migration'],
    answer: 0,
    points: 10,
  },
  {
    text: 'An event is named in the…',
    choices: ['imperative', 'future tense', 'past tense'],
    answer: 2,
    points: 20,
  },
]

export const createQuiz = defineCommand({
  domain,
  name: 'create-quiz',
  summary: 'Create a quiz; the caller becomes its author (private unless `public` is true)',
  description:
    'Questions 1–100, each with 2–10 distinct choices, the index of the right one (`answer`) and its points (1–100).',
  input: CreateQuizInput,
  output: QuizIdResult,
  access: signedIn(),
  refusals: { 409: ['QUIZ_ALREADY_EXISTS'] },
  examples: [
    { quizId: exampleQuizId, title: 'CQRS basics', public: true, questions: cqrsQuestions },
    {
      quizId: examplePrivateQuizId,
      title: 'My flash cards',
      questions: [{ text: '2 + 2 = ?', choices: ['3', '4', '5'], answer: 1, points: 5 }],
    },
  ],
  handle: stateStored({
    load: (tx, cmd, meta) => loadQuiz(tx, newQuizId(cmd, meta), 'NO KEY UPDATE'),
    decide: decideCreate,
    stream: (cmd, _state, meta) => quizStream(newQuizId(cmd, meta), { status: 'absent' }),
    persist: persistQuiz,
    result: (_events, cmd, _state, meta) => ({ quizId: newQuizId(cmd, meta) }),
  }),
})

export const updateQuiz = defineCommand({
  domain,
  name: 'update-quiz',
  summary:
    'Change a quiz (its author only); its questions are locked once it is attempted or put in a session',
  input: UpdateQuizInput,
  output: QuizIdResult,
  access: signedIn(),
  refusals: { 404: ['QUIZ_NOT_FOUND'], 409: ['QUIZ_LOCKED'] },
  examples: [{ quizId: exampleQuizId, title: 'CQRS basics, revised', questions: cqrsQuestions.slice(0, 2) }],
  handle: stateStored({
    turn: (cmd) => quizTurn(cmd.quizId),
    load: (tx, cmd) => loadQuiz(tx, cmd.quizId, 'NO KEY UPDATE'),
    decide: decideUpdate,
    stream: (cmd, state) => quizStream(cmd.quizId, state),
    persist: persistQuiz,
    result: (_events, cmd) => ({ quizId: cmd.quizId }),
  }),
})

export const attemptQuiz = defineCommand({
  domain,
  name: 'attempt-quiz',
  summary: 'Answer a quiz (within a session, if named); it is scored on the server',
  description:
    '`answers` holds one entry per question, in order: the index of the chosen choice, or null for a question left blank.',
  input: AttemptQuizInput,
  output: AttemptResult,
  access: signedIn(),
  refusals: {
    404: ['QUIZ_NOT_FOUND', 'SESSION_NOT_FOUND'],
    409: [
      'SESSION_COMPLETED',
      'SESSION_EXPIRED',
      'SESSION_ENDED',
      'QUIZ_NOT_IN_SESSION',
      'ALREADY_ATTEMPTED',
      'QUIZ_IN_OPEN_SESSION',
    ],
  },
  examples: [
    { quizId: exampleQuizId, answers: [1, 2] },
    { quizId: examplePrivateQuizId, answers: [1], sessionId: exampleSessionId },
  ],
  handle: stateStored({
    async load(tx, cmd, meta) {
      const { sessionId } = cmd
      const userId = meta.caller?.id ?? ''
      // Outside a session: sent after the user's lock, so the check sees a session started meanwhile.
      const outside = async () => {
        await lockUserSessions(tx, userId)
        return openSessionWith(tx, userId, [cmd.quizId], meta.now)
      }
      const [quiz, session, attempted, openSession] = await Promise.all([
        loadQuiz(tx, cmd.quizId, 'SHARE'),
        sessionId === undefined ? undefined : loadSession(tx, sessionId, 'SHARE'),
        sessionId === undefined ? false : attemptedInSession(tx, sessionId, cmd.quizId),
        sessionId === undefined ? outside() : undefined,
      ])
      return { quiz, session, attemptedInSession: attempted, openSession }
    },
    decide: decideAttempt,
    // Each attempt is a stream of its own: attempts of one quiz never wait for each other.
    stream: (_cmd, _state, meta) => ({ id: `quiz-attempt-${meta.newId}`, expectedVersion: 0 }),
    persist: (events, state) => persistQuiz(events, state.quiz),
    result(events) {
      const [attempted] = events
      if (attempted?.type !== 'QuizAttempted') throw new Error('An attempt records QuizAttempted')
      const { attemptId, score, maxScore, correct } = attempted.data
      return { attemptId, score, maxScore, correct }
    },
  }),
})

export const createQuizSession = defineCommand({
  domain,
  name: 'create-quiz-session',
  summary: 'Start a timed session over 1–20 quizzes; it expires at `endsAt` unless completed first',
  input: CreateQuizSessionInput,
  output: SessionCreatedResult,
  access: signedIn(),
  refusals: { 404: ['QUIZ_NOT_FOUND'], 409: ['SESSION_ALREADY_EXISTS', 'QUIZ_IN_OPEN_SESSION'] },
  examples: [{ sessionId: exampleSessionId, quizIds: [examplePrivateQuizId], timeLimitMinutes: 30 }],
  handle: stateStored({
    load: async (tx, cmd, meta) => {
      // Held to the commit: an attempt outside a session, or another session's start, waits for it
      // and then sees this session.
      const userId = meta.caller?.id ?? ''
      await lockUserSessions(tx, userId)
      return {
        session: await loadSession(tx, newSessionId(cmd, meta), 'SHARE'),
        quizzes: await loadSessionQuizzes(tx, cmd.quizIds),
        openSession: await openSessionWith(tx, userId, cmd.quizIds, meta.now),
      }
    },
    decide: decideCreateSession,
    stream: (cmd, _state, meta) => sessionStream(newSessionId(cmd, meta), 0),
    persist: persistSession,
    result: (events) => {
      const [created] = events
      if (created?.type !== 'QuizSessionCreated') throw new Error('A new session records QuizSessionCreated')
      return { sessionId: created.data.sessionId, endsAt: created.data.endsAt }
    },
    timers: (events) =>
      events.flatMap((e) =>
        e.type === 'QuizSessionCreated'
          ? [
              {
                schedule: {
                  key: deadlineKey(e.data.sessionId),
                  command: expireCommand,
                  input: { sessionId: e.data.sessionId },
                  at: new Date(e.data.endsAt),
                },
              },
            ]
          : [],
      ),
  }),
})

/** What a closing command answers: the session as the events leave it (or as it was, for nothing to do). */
function closed(events: readonly SessionEvent[], state: CloseState): SessionClosed {
  const [event] = events
  const session = state.session
  const sessionId = session.status === 'absent' ? '' : session.sessionId
  if (event?.type === 'QuizSessionCompleted') {
    const { score, maxScore, attempted, late } = event.data
    return { sessionId, status: 'completed', late, score, maxScore, attempted }
  }
  const status =
    event?.type === 'QuizSessionExpired' ? 'expired' : session.status === 'absent' ? 'open' : session.status
  return { sessionId, status, late: false, ...state.tally }
}

const closing = {
  turn: (cmd: { sessionId: string }) => sessionTurn(cmd.sessionId),
  load: (tx: Parameters<typeof loadForClosing>[0], cmd: { sessionId: string }) =>
    loadForClosing(tx, cmd.sessionId),
  stream: (cmd: { sessionId: string }, state: CloseState) =>
    sessionStream(cmd.sessionId, state.session.status === 'absent' ? 0 : state.session.version),
  persist: persistSession,
  result: (events: readonly SessionEvent[], _cmd: SessionCommand, state: CloseState) => closed(events, state),
}

export const completeQuizSession = defineCommand({
  domain,
  name: 'complete-quiz-session',
  summary: 'Complete a session (once); after its end it is recorded as late',
  input: SessionIdInput,
  output: SessionClosedResult,
  access: signedIn(),
  refusals: { 404: ['SESSION_NOT_FOUND'], 409: ['SESSION_COMPLETED', 'SESSION_EXPIRED'] },
  examples: [{ sessionId: exampleSessionId }],
  handle: stateStored({
    ...closing,
    decide: decideComplete,
    timers: (_events, cmd) => [{ cancel: deadlineKey(cmd.sessionId) }],
  }),
})

/** Sent by the session's deadline timer (role `system`), not by learners. */
export const expireQuizSession = defineCommand({
  domain,
  name: 'expire-quiz-session',
  summary: "Expire a session still open at its end (the session's deadline timer sends it)",
  input: SessionIdInput,
  output: SessionClosedResult,
  access: signedIn('system'),
  refusals: { 404: ['SESSION_NOT_FOUND'] },
  examples: [{ sessionId: exampleSessionId }],
  handle: stateStored({ ...closing, decide: decideExpire }),
})

/** In the order their examples make a story: create, change, a session, attempts, its completion. */
export const commands = [
  createQuiz,
  updateQuiz,
  createQuizSession,
  attemptQuiz,
  completeQuizSession,
  expireQuizSession,
]
