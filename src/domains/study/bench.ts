import { type BenchMix, type Caller } from '../../kernel/index.js'
import { createSubject, updateStudyProgress } from './commands.js'
import { getSubjectDetail, getSubjects } from './projections/subject-queries.js'

const learners = 50
const subjectsEach = 4
const learner = (n: number): Caller => ({ id: `bench-learner-${n}`, roles: [] })

/**
 * The guide's mix: the subject list and a subject's detail (half each), with the cache on, and
 * progress updates, over 50 learners with 4 subjects each. Updates keep the progress at 50% so
 * that parallel ones never refuse each other (PROGRESS_DECREASE).
 */
export const benchMix: BenchMix = {
  async prepare({ commands, queries }) {
    const subjects: { subjectId: string; caller: Caller }[] = []
    for (let n = 0; n < learners; n++) {
      for (let s = 0; s < subjectsEach; s++) {
        const caller = learner(n)
        const input = {
          name: `Subject ${s}`,
          category: s % 2 ? 'programming' : 'language',
          difficultyLevel: 'beginner',
        }
        const done = await commands.execute(createSubject, input, { caller })
        if (done.status === 'failed') throw done.error
        subjects.push({ subjectId: done.result.subjectId, caller })
      }
    }
    const pick = (r: number) => {
      const picked = subjects[Math.min(subjects.length - 1, Math.floor(r * subjects.length))]
      if (!picked) throw new Error('The study bench mix has no subjects')
      return picked
    }
    return {
      command: (_i, r) => {
        const { subjectId, caller } = pick(r)
        return commands.execute(
          updateStudyProgress,
          { subjectId, minutesStudied: 25, progressPercent: 50 },
          { caller },
        )
      },
      query: (_i, r) => {
        if (r < 0.5)
          return queries.ask(
            getSubjects,
            { limit: 20 },
            { caller: learner(Math.floor((r / 0.5) * learners)) },
          )
        const { subjectId, caller } = pick((r - 0.5) / 0.5)
        return queries.ask(getSubjectDetail, { subjectId }, { caller })
      },
    }
  },
}
