import {
  ConflictError,
  NotFoundError,
  ValidationError,
  type CommandMeta,
  unreachable,
} from '../../kernel/index.js'
import {
  QuizSessionCompleted,
  QuizSessionCreated,
  QuizSessionExpired,
  type CreateQuizSession,
  type SessionCommand,
  type SessionEvent,
} from './messages.js'

/**
 * The rules of quiz sessions: a learner takes up to 20 quizzes against a time limit. A session is
 * `open` until completed (by its learner: on time, or late when after its end) or expired (by the
 * deadline timer it set when it was created, if nobody completed it first).
 */

export interface SessionRow {
  sessionId: string
  userId: string
  quizIds: string[]
  timeLimitMinutes: number
  startedAt: string
  endsAt: string
  version: number
}

export type SessionState = { status: 'absent' } | ({ status: 'open' | 'completed' | 'expired' } & SessionRow)

/** The key of a session's deadline timer: one per session, cancelled by its completion. */
export const deadlineKey = (sessionId: string) => `quiz-session:${sessionId}:deadline`
export const expireCommand = 'quiz/expire-quiz-session'

export const sessionNotFound = () => new NotFoundError('SESSION_NOT_FOUND', 'Quiz session not found')

/** The session as its learner sees it: another learner's session does not exist for them. */
function own(state: SessionState, meta: CommandMeta): Exclude<SessionState, { status: 'absent' }> {
  if (state.status === 'absent' || state.userId !== meta.caller?.id) throw sessionNotFound()
  return state
}

function refuseClosed(session: { status: 'open' | 'completed' | 'expired'; sessionId: string }): void {
  if (session.status === 'completed') {
    throw new ConflictError(
      'SESSION_COMPLETED',
      'Session completed',
      `Session ${session.sessionId} is completed`,
    )
  }
  if (session.status === 'expired') {
    throw new ConflictError(
      'SESSION_EXPIRED',
      'Session expired',
      `Session ${session.sessionId} ran out of time`,
    )
  }
}

/** A quiz the session may include: it must be one the learner can see. */
export interface SessionQuiz {
  quizId: string
  authorId: string
  public: boolean
}

export interface CreateSessionState {
  /** The session of the client's id, if it gave one. */
  session: SessionState
  /** The quizzes it names that exist. */
  quizzes: readonly SessionQuiz[]
  /** The caller's open session, not yet at its end, that holds one of them, if any. */
  openSession?: OpenSession
}

/** An open session of the caller's that holds a quiz a command names. */
export interface OpenSession {
  sessionId: string
  quizId: string
  endsAt: string
}

/**
 * A quiz in an open session is attempted only there, until its end: an attempt shows the answers
 * (get-quiz-detail), so one elsewhere, outside a session or in a second one, would score it in full.
 */
export function refuseInOpenSession(open: OpenSession): never {
  throw new ConflictError(
    'QUIZ_IN_OPEN_SESSION',
    'Quiz in an open session',
    `Quiz ${open.quizId} is part of your session ${open.sessionId}, open until ${open.endsAt}: attempt it there (with its sessionId), or once the session has ended`,
  )
}

export function decideCreateSession(
  cmd: CreateQuizSession,
  state: CreateSessionState,
  meta: CommandMeta,
): SessionEvent[] {
  if (state.session.status !== 'absent') {
    throw new ConflictError(
      'SESSION_ALREADY_EXISTS',
      'Session already exists',
      `Session ${cmd.sessionId} exists`,
    )
  }
  if (new Set(cmd.quizIds).size !== cmd.quizIds.length) {
    throw new ValidationError([{ path: '/quizIds', message: 'must not name a quiz twice' }])
  }
  const caller = meta.caller?.id
  for (const quizId of cmd.quizIds) {
    const quiz = state.quizzes.find((q) => q.quizId === quizId)
    if (!quiz || !(quiz.public || quiz.authorId === caller)) {
      throw new NotFoundError(
        'QUIZ_NOT_FOUND',
        'Quiz not found',
        `No quiz has the id ${quizId}, or the caller may not see it`,
      )
    }
  }
  if (state.openSession) refuseInOpenSession(state.openSession)
  return [
    QuizSessionCreated.create({
      sessionId: cmd.sessionId ?? meta.newId,
      userId: caller ?? '',
      quizIds: cmd.quizIds,
      timeLimitMinutes: cmd.timeLimitMinutes,
      startedAt: meta.now.toISOString(),
      endsAt: new Date(meta.now.getTime() + cmd.timeLimitMinutes * 60_000).toISOString(),
    }),
  ]
}

/** A quiz attempted within a session: the learner's open session, before its end, once per quiz. */
export function checkSessionAttempt(
  quizId: string,
  state: SessionState | undefined,
  attemptedInSession: boolean,
  meta: CommandMeta,
): void {
  const session = own(state ?? { status: 'absent' }, meta)
  refuseClosed(session)
  if (!session.quizIds.includes(quizId)) {
    throw new ConflictError('QUIZ_NOT_IN_SESSION', 'Quiz not in session', `Quiz ${quizId} is not part of it`)
  }
  if (meta.now.toISOString() >= session.endsAt) {
    throw new ConflictError('SESSION_ENDED', 'Session ended', `Its time ran out at ${session.endsAt}`)
  }
  if (attemptedInSession) {
    throw new ConflictError(
      'ALREADY_ATTEMPTED',
      'Already attempted',
      `Quiz ${quizId} was attempted in this session`,
    )
  }
}

/** What a session's attempts add up to when it closes. */
export interface SessionTally {
  score: number
  maxScore: number
  attempted: number
}

export interface CloseState {
  session: SessionState
  tally: SessionTally
}

export function decideComplete(_cmd: SessionCommand, state: CloseState, meta: CommandMeta): SessionEvent[] {
  const session = own(state.session, meta)
  refuseClosed(session)
  const completedAt = meta.now.toISOString()
  return [
    QuizSessionCompleted.create({
      sessionId: session.sessionId,
      userId: session.userId,
      ...state.tally,
      late: completedAt > session.endsAt,
      completedAt,
    }),
  ]
}

/**
 * The deadline timer's command: it expires a session still open at its end. A session closed
 * first, or a timer fired early (another process's clock), is nothing to do.
 */
export function decideExpire(_cmd: SessionCommand, state: CloseState, meta: CommandMeta): SessionEvent[] {
  const session = state.session
  if (session.status === 'absent') throw sessionNotFound()
  if (session.status !== 'open' || meta.now.toISOString() < session.endsAt) return []
  return [
    QuizSessionExpired.create({
      sessionId: session.sessionId,
      userId: session.userId,
      ...state.tally,
      expiredAt: meta.now.toISOString(),
    }),
  ]
}

export function evolveSession(state: SessionState, event: SessionEvent): SessionState {
  switch (event.type) {
    case 'QuizSessionCreated':
      return { status: 'open', ...event.data, version: 1 }
    case 'QuizSessionCompleted':
      return state.status === 'absent' ? state : { ...state, status: 'completed', version: state.version + 1 }
    case 'QuizSessionExpired':
      return state.status === 'absent' ? state : { ...state, status: 'expired', version: state.version + 1 }
    default:
      return unreachable(event)
  }
}
