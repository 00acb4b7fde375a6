import { defineEvent, Id, Text } from '../../kernel/index.js'
import Type, { type Static } from 'typebox'

/** Schemas of the quiz domain's commands, results and events: one definition each. */

const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time' })
const strict = { additionalProperties: false } as const

/**
 * A subject of the study domain, kept as an opaque reference: the quiz domain never reads the
 * study domain (no domain imports another), it only stores the id and filters by it.
 */
const SubjectId = Id('A study subject id (an opaque reference: not checked against the study domain)')
export const Title = Text(200)
export const QuestionInput = Type.Object(
  {
    text: Text(2000),
    choices: Type.Array(Text(500), { minItems: 2, maxItems: 10 }),
    answer: Type.Integer({ minimum: 0, maximum: 9, description: 'Index of the right choice, from 0' }),
    points: Type.Integer({ minimum: 1, maximum: 100 }),
  },
  strict,
)
export const Questions = Type.Array(QuestionInput, { minItems: 1, maxItems: 100 })
export type Question = Static<typeof QuestionInput>

export const CreateQuizInput = Type.Object(
  {
    quizId: Type.Optional(Id()),
    subjectId: Type.Optional(SubjectId),
    title: Title,
    public: Type.Optional(
      Type.Boolean({ description: 'Listed for every learner (default: only its author)' }),
    ),
    questions: Questions,
  },
  strict,
)
export const UpdateQuizInput = Type.Object(
  {
    quizId: Id(),
    subjectId: Type.Optional(Type.Union([SubjectId, Type.Null()])),
    title: Type.Optional(Title),
    public: Type.Optional(Type.Boolean()),
    questions: Type.Optional(Questions),
  },
  strict,
)
/** One answer per question, in order: a choice's index, or null for a question left blank. */
export const Answers = Type.Array(Type.Union([Type.Integer({ minimum: 0, maximum: 9 }), Type.Null()]), {
  minItems: 1,
  maxItems: 100,
})
export const AttemptQuizInput = Type.Object(
  {
    quizId: Id(),
    answers: Answers,
    sessionId: Type.Optional(Id('The session the attempt belongs to, if any')),
  },
  strict,
)
export const CreateQuizSessionInput = Type.Object(
  {
    sessionId: Type.Optional(Id()),
    quizIds: Type.Array(Id(), { minItems: 1, maxItems: 20 }),
    timeLimitMinutes: Type.Integer({ minimum: 1, maximum: 600 }),
  },
  strict,
)
export const SessionIdInput = Type.Object({ sessionId: Id() }, strict)

export const QuizIdResult = Type.Object({ quizId: Id() })
export const AttemptResult = Type.Object({
  attemptId: Id(),
  score: Type.Integer(),
  maxScore: Type.Integer(),
  correct: Type.Array(Type.Boolean(), { description: 'Per question, in order' }),
})
export const SessionStatus = Type.Enum(['open', 'completed', 'expired'])
export const SessionCreatedResult = Type.Object({ sessionId: Id(), endsAt: Time })
export const SessionClosedResult = Type.Object({
  sessionId: Id(),
  status: SessionStatus,
  late: Type.Boolean({ description: 'Completed after its end (before the timer closed it)' }),
  score: Type.Integer(),
  maxScore: Type.Integer(),
  attempted: Type.Integer({ description: 'Quizzes of the session attempted in it' }),
})

export type CreateQuiz = Static<typeof CreateQuizInput>
export type UpdateQuiz = Static<typeof UpdateQuizInput>
export type AttemptQuiz = Static<typeof AttemptQuizInput>
export type CreateQuizSession = Static<typeof CreateQuizSessionInput>
export type SessionCommand = Static<typeof SessionIdInput>
export type SessionClosed = Static<typeof SessionClosedResult>

const QuizFields = {
  subjectId: Type.Union([Type.String(), Type.Null()]),
  title: Type.String(),
  public: Type.Boolean(),
  questions: Type.Array(QuestionInput),
}

export const QuizCreated = defineEvent(
  'QuizCreated',
  Type.Object({ quizId: Id(), authorId: Type.String(), ...QuizFields, createdAt: Time }),
)
export const QuizUpdated = defineEvent(
  'QuizUpdated',
  Type.Object({
    quizId: Id(),
    changes: Type.Partial(Type.Object(QuizFields)),
    version: Type.Integer(),
    updatedAt: Time,
  }),
)
export const QuizAttempted = defineEvent(
  'QuizAttempted',
  Type.Object({
    attemptId: Id(),
    quizId: Id(),
    userId: Type.String(),
    sessionId: Type.Union([Id(), Type.Null()]),
    answers: Answers,
    correct: Type.Array(Type.Boolean()),
    score: Type.Integer(),
    maxScore: Type.Integer(),
    attemptedAt: Time,
  }),
)
export const QuizSessionCreated = defineEvent(
  'QuizSessionCreated',
  Type.Object({
    sessionId: Id(),
    userId: Type.String(),
    quizIds: Type.Array(Id()),
    timeLimitMinutes: Type.Integer(),
    startedAt: Time,
    endsAt: Time,
  }),
)
const Closed = {
  sessionId: Id(),
  userId: Type.String(),
  score: Type.Integer(),
  maxScore: Type.Integer(),
  attempted: Type.Integer(),
}
export const QuizSessionCompleted = defineEvent(
  'QuizSessionCompleted',
  Type.Object({ ...Closed, late: Type.Boolean(), completedAt: Time }),
)
export const QuizSessionExpired = defineEvent(
  'QuizSessionExpired',
  Type.Object({ ...Closed, expiredAt: Time }),
)

export const quizEvents = [QuizCreated, QuizUpdated, QuizAttempted] as const
export const sessionEvents = [QuizSessionCreated, QuizSessionCompleted, QuizSessionExpired] as const
export const allEvents = [...quizEvents, ...sessionEvents]

export type QuizEvent = ReturnType<(typeof quizEvents)[number]['create']>
export type SessionEvent = ReturnType<(typeof sessionEvents)[number]['create']>
