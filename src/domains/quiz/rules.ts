import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
  unreachable,
  type Caller,
  type CommandMeta,
  type FieldError,
} from '../../kernel/index.js'
import {
  QuizAttempted,
  QuizCreated,
  QuizUpdated,
  type AttemptQuiz,
  type CreateQuiz,
  type Question,
  type QuizEvent,
  type UpdateQuiz,
} from './messages.js'
import {
  checkSessionAttempt,
  refuseInOpenSession,
  type OpenSession,
  type SessionState,
} from './session-rules.js'

/** The business rules of quizzes: pure functions from (command, state) to events. */

export interface QuizRow {
  quizId: string
  authorId: string
  subjectId: string | null
  title: string
  public: boolean
  questions: Question[]
  version: number
  createdAt: string
  updatedAt: string
}

/**
 * A quiz is `open` until its first attempt or its first session, then `locked`: its questions can no
 * longer change, so every attempt of a quiz was scored against the same questions, and a session's
 * maximum score is the one it started with (update-quiz answers QUIZ_LOCKED).
 */
export type QuizState = { status: 'absent' } | ({ status: 'open' | 'locked' } & QuizRow)

export const quizNotFound = () => new NotFoundError('QUIZ_NOT_FOUND', 'Quiz not found')

/** A learner sees their own quizzes and public ones; another's private quiz does not exist for them. */
export function canSee(quiz: { authorId: string; public: boolean }, caller: Caller | undefined): boolean {
  return quiz.public || (caller !== undefined && quiz.authorId === caller.id)
}

function visible(state: QuizState, caller: Caller | undefined): { status: 'open' | 'locked' } & QuizRow {
  if (state.status === 'absent' || !canSee(state, caller)) throw quizNotFound()
  return state
}

/**
 * A choice as a reader sees it: compatibility forms folded (NFKC), characters shown as nothing
 * dropped (format characters such as zero-width spaces and soft hyphens, and the other default
 * ignorables, Hangul fillers among them), blanks (the braille blank among them) run together and
 * trimmed. Two choices that look the same are one: a learner could not tell which is right. Kept:
 * the joiners and the variation selectors, which change the glyphs around them (Persian and Indic
 * words written with a zero-width non-joiner, emoji sequences, a text or emoji heart, a CJK
 * character's variant).
 */
const lookOf = (choice: string) =>
  choice
    .normalize('NFKC')
    .replace(shownAsNothing, '')
    .replace(/[\s\u2800]+/gu, ' ')
    .trim()
const shownAsNothing = /(?!\u200C|\u200D|\p{Variation_Selector})[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu

/** What the schema cannot say: the answer is one of the question's choices, and choices differ. */
export function checkQuestions(questions: readonly Question[]): void {
  const errors: FieldError[] = []
  questions.forEach((q, i) => {
    if (q.answer >= q.choices.length) {
      errors.push({
        path: `/questions/${i}/answer`,
        message: `must be below ${q.choices.length}, the number of choices`,
      })
    }
    const normalized = q.choices.map(lookOf)
    if (new Set(normalized).size !== normalized.length) {
      errors.push({ path: `/questions/${i}/choices`, message: 'must all differ' })
    }
  })
  if (errors.length > 0) throw new ValidationError(errors)
}

export const maxScoreOf = (questions: readonly Question[]) => questions.reduce((sum, q) => sum + q.points, 0)

export function decideCreate(cmd: CreateQuiz, state: QuizState, meta: CommandMeta): QuizEvent[] {
  if (state.status !== 'absent') {
    throw new ConflictError('QUIZ_ALREADY_EXISTS', 'Quiz already exists', `Quiz ${cmd.quizId} exists`)
  }
  checkQuestions(cmd.questions)
  return [
    QuizCreated.create({
      quizId: cmd.quizId ?? meta.newId,
      authorId: meta.caller?.id ?? '',
      subjectId: cmd.subjectId ?? null,
      title: cmd.title,
      public: cmd.public ?? false,
      questions: cmd.questions,
      createdAt: meta.now.toISOString(),
    }),
  ]
}

export function decideUpdate(cmd: UpdateQuiz, state: QuizState, meta: CommandMeta): QuizEvent[] {
  const quiz = visible(state, meta.caller)
  if (quiz.authorId !== meta.caller?.id) throw new ForbiddenError('Only its author may change a quiz')
  const { quizId: _, ...fields } = cmd
  if (Object.keys(fields).length === 0)
    throw new ValidationError([{ path: '', message: 'names no field to change' }])
  const changes: Partial<Pick<QuizRow, 'subjectId' | 'title' | 'public' | 'questions'>> = {}
  if (cmd.title !== undefined && cmd.title !== quiz.title) changes.title = cmd.title
  if (cmd.public !== undefined && cmd.public !== quiz.public) changes.public = cmd.public
  if (cmd.subjectId !== undefined && cmd.subjectId !== quiz.subjectId) changes.subjectId = cmd.subjectId
  if (cmd.questions !== undefined && JSON.stringify(cmd.questions) !== JSON.stringify(quiz.questions)) {
    if (quiz.status === 'locked') {
      throw new ConflictError(
        'QUIZ_LOCKED',
        'Quiz locked',
        'The quiz has been attempted or put in a session: its questions can no longer change (create a new quiz instead)',
      )
    }
    checkQuestions(cmd.questions)
    changes.questions = cmd.questions
  }
  if (Object.keys(changes).length === 0) return []
  return [
    QuizUpdated.create({
      quizId: quiz.quizId,
      changes,
      version: quiz.version + 1,
      updatedAt: meta.now.toISOString(),
    }),
  ]
}

export interface AttemptState {
  quiz: QuizState
  /** The session named by the command, if it names one. */
  session: SessionState | undefined
  /** Whether the caller already attempted this quiz within that session. */
  attemptedInSession: boolean
  /** For an attempt outside a session: the caller's open session that holds the quiz, if any. */
  openSession?: OpenSession
}

/** Scores the answers on the server: a question counts its points when its answer is the right choice. */
export function score(questions: readonly Question[], answers: readonly (number | null)[]) {
  const correct = questions.map((q, i) => answers[i] === q.answer)
  const points = questions.reduce((sum, q, i) => sum + (correct[i] ? q.points : 0), 0)
  return { correct, score: points, maxScore: maxScoreOf(questions) }
}

function checkAnswers(questions: readonly Question[], answers: readonly (number | null)[]): void {
  if (answers.length !== questions.length) {
    throw new ValidationError([
      {
        path: '/answers',
        message: `must hold ${questions.length} answers, one per question (null: left blank)`,
      },
    ])
  }
  const errors = answers.flatMap((a, i): FieldError[] => {
    const choices = questions[i]?.choices.length ?? 0
    return a !== null && a >= choices ? [{ path: `/answers/${i}`, message: `must be below ${choices}` }] : []
  })
  if (errors.length > 0) throw new ValidationError(errors)
}

export function decideAttempt(cmd: AttemptQuiz, state: AttemptState, meta: CommandMeta): QuizEvent[] {
  // A quiz in the caller's own session stays theirs to attempt there, though its author made it
  // private since: it was visible when the session began, and its points count in the session.
  const { session } = state
  const held =
    session !== undefined &&
    session.status !== 'absent' &&
    session.userId === meta.caller?.id &&
    session.quizIds.includes(cmd.quizId)
  const quiz = held && state.quiz.status !== 'absent' ? state.quiz : visible(state.quiz, meta.caller)
  checkAnswers(quiz.questions, cmd.answers)
  if (cmd.sessionId !== undefined)
    checkSessionAttempt(quiz.quizId, state.session, state.attemptedInSession, meta)
  else if (state.openSession !== undefined) refuseInOpenSession(state.openSession)
  return [
    QuizAttempted.create({
      attemptId: meta.newId,
      quizId: quiz.quizId,
      userId: meta.caller?.id ?? '',
      sessionId: cmd.sessionId ?? null,
      answers: cmd.answers,
      ...score(quiz.questions, cmd.answers),
      attemptedAt: meta.now.toISOString(),
    }),
  ]
}

/** The quiz row after an event: what the write model stores. An attempt locks the questions. */
export function evolve(state: QuizState, event: QuizEvent): QuizState {
  switch (event.type) {
    case 'QuizCreated': {
      const { createdAt, ...d } = event.data
      return { status: 'open', ...d, version: 1, createdAt, updatedAt: createdAt }
    }
    case 'QuizUpdated':
      if (state.status === 'absent') return state
      return { ...state, ...event.data.changes, version: event.data.version, updatedAt: event.data.updatedAt }
    case 'QuizAttempted':
      return state.status === 'absent' ? state : { ...state, status: 'locked' }
    default:
      return unreachable(event)
  }
}
