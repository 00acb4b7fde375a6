import { type BenchMix, type Caller } from '../../kernel/index.js'
import { attemptQuiz, createQuiz } from './commands.js'
import { getQuizStatistics } from './projections/attempts.js'
import { getQuizDetail, getQuizzes } from './projections/quizzes.js'

const author: Caller = { id: 'bench-author', roles: [] }
const learner = (i: number): Caller => ({ id: `bench-learner-${i % 500}`, roles: [] })
const questions = Array.from({ length: 10 }, (_, i) => ({
  text: `Question ${i + 1}`,
  choices: ['A', 'B', 'C', 'D'],
  answer: i % 4,
  points: 10,
}))

/**
 * The quiz domain in the guide's benchmark: attempts (scored on the server) on 20 public quizzes of
 * 10 questions, and its reads: a quiz's detail 60%, the listing 20%, a quiz's statistics 20%.
 */
export const benchMix: BenchMix = {
  async prepare({ commands, queries }) {
    const quizIds: string[] = []
    let position = '0'
    for (let i = 0; i < 20; i++) {
      const done = await commands.execute(
        createQuiz,
        { title: `Benchmark quiz ${i}`, public: true, questions },
        { caller: author },
      )
      if (done.status === 'failed') throw done.error
      quizIds.push(done.result.quizId)
      position = done.position ?? position
    }
    // The reads start once the read models hold every quiz (read-your-writes on the last one).
    const caughtUp = await queries.ask(
      getQuizDetail,
      { quizId: quizIds.at(-1) ?? '' },
      { caller: author, minPosition: BigInt(position), maxWaitMs: 10_000 },
    )
    if (caughtUp.status === 'failed') throw caughtUp.error
    const pick = (r: number) => quizIds[Math.floor(r * quizIds.length)] ?? ''
    return {
      command: (i, r) =>
        commands.execute(
          attemptQuiz,
          { quizId: pick(r), answers: questions.map((_, q) => (i + q) % 4) },
          { caller: learner(i) },
        ),
      query: (i, r) =>
        r < 0.6
          ? queries.ask(getQuizDetail, { quizId: pick(r / 0.6) }, { caller: learner(i) })
          : r < 0.8
            ? queries.ask(getQuizzes, { limit: 20 }, { caller: learner(i) })
            : queries.ask(getQuizStatistics, { quizId: pick((r - 0.8) / 0.2) }, { caller: learner(i) }),
    }
  },
}
