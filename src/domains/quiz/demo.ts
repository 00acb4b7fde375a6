import { type Caller, type CommandBus, type DemoExample, type QueryBus } from '../../kernel/index.js'
import { attemptQuiz, createQuiz, createQuizSession } from './commands.js'
import { getQuizDetail, getQuizzes } from './projections/quizzes.js'
import { getQuizSessions } from './projections/sessions.js'

const teacher: Caller = { id: 'demo-teacher', roles: [] }
const learner: Caller = { id: 'demo-learner', roles: [] }

export const demoCallers: readonly (Caller & { label: string })[] = [
  { label: 'teacher', ...teacher },
  { label: 'learner', ...learner },
]

const quizzes = [
  {
    title: 'CQRS 기초 (CQRS basics)',
    questions: [
      { text: 'Which side of CQRS changes state?', choices: ['Queries', 'Commands'], answer: 1, points: 10 },
      {
        text: 'What does a projection build?',
        choices: ['A read model', 'A migration', 'An index'],
        answer: 0,
        points: 10,
      },
      {
        text: 'An event is named in the…',
        choices: ['imperative', 'future tense', 'past tense'],
        answer: 2,
        points: 20,
      },
    ],
  },
  {
    title: 'PostgreSQL locks',
    questions: [
      {
        text: 'Which lock lets many readers hold a row?',
        choices: ['FOR UPDATE', 'FOR SHARE'],
        answer: 1,
        points: 10,
      },
      { text: 'SKIP LOCKED is made for…', choices: ['queues', 'joins', 'views'], answer: 0, points: 10 },
    ],
  },
  {
    title: 'TypeScript types',
    questions: [
      {
        text: 'A union ends its switch with…',
        choices: ['default: break', 'an exhaustiveness check'],
        answer: 1,
        points: 5,
      },
    ],
  },
]

async function run<R>(
  done: Promise<{ status: 'succeeded'; result: R } | { status: 'failed'; error: Error }>,
) {
  const outcome = await done
  if (outcome.status === 'failed') throw outcome.error
  return outcome.result
}

/**
 * Three public quizzes by the demo teacher; the demo learner has attempted the first, has a session
 * holding the third, and has not seen the second's answers (the banner's example).
 */
export async function seedDemo(commands: CommandBus): Promise<void> {
  const ids: string[] = []
  for (const quiz of quizzes) {
    const { quizId } = await run(commands.execute(createQuiz, { ...quiz, public: true }, { caller: teacher }))
    ids.push(quizId)
  }
  await run(commands.execute(attemptQuiz, { quizId: ids[0] ?? '', answers: [1, 0, 1] }, { caller: learner }))
  await run(
    commands.execute(createQuizSession, { quizIds: ids.slice(2), timeLimitMinutes: 60 }, { caller: learner }),
  )
}

/** The banner's examples, on a public quiz found in the read model so they work as printed. */
export async function demoExamples(queries: QueryBus): Promise<DemoExample[]> {
  const examples: DemoExample[] = [
    {
      title: 'Quizzes the learner can take',
      method: 'GET',
      path: '/api/queries/quiz/get-quizzes',
      as: 'learner',
    },
  ]
  const [listing, sessions] = await Promise.all([
    queries.ask(getQuizzes, { limit: 100 }, { caller: learner }),
    queries.ask(getQuizSessions, { status: 'open', limit: 100 }, { caller: learner }),
  ])
  // Not one in the learner's open session: it is attempted only there while the session is open.
  const inSession = new Set(
    sessions.status === 'succeeded' ? sessions.data.items.flatMap((x) => x.quizIds) : [],
  )
  // Nor one the learner attempted: its answers would show.
  const candidates =
    listing.status === 'succeeded'
      ? listing.data.items.filter((q) => q.public && !inSession.has(q.quizId))
      : []
  const details = await Promise.all(
    candidates.map((q) => queries.ask(getQuizDetail, { quizId: q.quizId }, { caller: learner })),
  )
  const quiz = candidates.find((_, i) => {
    const detail = details[i]
    return detail?.status === 'succeeded' && !detail.data.answersShown
  })
  if (quiz) {
    examples.push(
      {
        title: `"${quiz.title}" without its answers`,
        method: 'GET',
        path: `/api/queries/quiz/get-quiz-detail?quizId=${quiz.quizId}`,
        as: 'learner',
      },
      {
        title: 'Attempt it (scored on the server)',
        method: 'POST',
        path: '/api/commands/quiz/attempt-quiz',
        body: { quizId: quiz.quizId, answers: Array.from({ length: quiz.questionCount }, () => 0) },
        as: 'learner',
      },
      {
        title: 'Its statistics, hardest question first',
        method: 'GET',
        path: `/api/queries/quiz/get-quiz-statistics?quizId=${quiz.quizId}`,
        as: 'learner',
      },
    )
  }
  examples.push({
    title: "The learner's sessions",
    method: 'GET',
    path: '/api/queries/quiz/get-quiz-sessions',
    as: 'learner',
  })
  return examples
}
