import { type Domain } from '../../kernel/index.js'
import { benchMix } from './bench.js'
import { commands } from './commands.js'
import { demoCallers, demoExamples, seedDemo } from './demo.js'
import { allEvents } from './messages.js'
import { attemptsProjection, getQuizAttempts, getQuizStatistics } from './projections/attempts.js'
import { getQuizDetail, getQuizzes, quizzesProjection } from './projections/quizzes.js'
import { getQuizSessions, sessionsProjection } from './projections/sessions.js'
import { migrations } from './write-model.js'

/**
 * Quizzes (the guide's StudyMate quiz app): quizzes scored on the server, answers hidden until the
 * learner's own attempt, timed sessions closed by a deadline timer. `subjectId` refers to the study
 * domain's subjects as an opaque id: this domain never reads another.
 */
export const quizDomain: Domain = {
  name: 'quiz',
  events: allEvents,
  commands,
  queries: [getQuizzes, getQuizDetail, getQuizAttempts, getQuizStatistics, getQuizSessions],
  projections: [quizzesProjection, attemptsProjection, sessionsProjection],
  migrations,
  demoCallers,
  seedDemo,
  demoExamples,
  benchMix,
}
