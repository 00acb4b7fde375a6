import { type Caller, type CommandBus, type DemoExample, type QueryBus } from '../../kernel/index.js'
import { createStudyGoal, createSubject, generateSummary, updateStudyProgress } from './commands.js'
import { getSubjects } from './projections/subject-queries.js'

const learner: Caller = { id: 'demo-learner', roles: [] }

export const demoCallers: readonly (Caller & { label: string })[] = [{ label: 'learner', ...learner }]

const subjects = [
  {
    name: 'Python 프로그래밍',
    description: 'Python 기초부터 고급까지',
    category: 'programming',
    difficultyLevel: 'intermediate',
  },
  { name: '자료구조와 알고리즘', category: 'programming', difficultyLevel: 'advanced' },
  {
    name: 'English reading',
    description: 'One article a day',
    category: 'language',
    difficultyLevel: 'beginner',
  },
] as const

const notes =
  'CQRS는 명령과 조회의 책임을 분리하는 아키텍처 패턴입니다. 명령은 시스템의 상태를 변경하고, 조회는 데이터를 읽어옵니다. ' +
  '읽기 모델은 조회에 맞게 만들어지므로 캐시가 잘 맞습니다. 쓰기 모델은 정규화된 테이블에 규칙을 지킵니다. ' +
  '명령이 실행되면 관련 캐시는 자동으로 무효화됩니다. 읽기와 쓰기는 각자 확장할 수 있습니다.'

async function ok(done: Promise<{ status: string; error?: unknown }>) {
  const outcome = await done
  if (outcome.status === 'failed') throw outcome.error
}

/** Three subjects, a week of study on the first (a streak), a goal, and a summary being written. */
export async function seedDemo(commands: CommandBus): Promise<void> {
  const as = { caller: learner }
  const ids: string[] = []
  for (const subject of subjects) {
    const done = await commands.execute(createSubject, subject, as)
    if (done.status === 'failed') throw done.error
    ids.push(done.result.subjectId)
  }
  const [python, algorithms] = ids as [string, string]
  await ok(
    commands.execute(createStudyGoal, { subjectId: python, title: '이번 주 5시간', targetMinutes: 300 }, as),
  )
  const day = 24 * 3600_000
  for (let i = 6; i >= 0; i--) {
    const studiedAt = new Date(Date.now() - i * day).toISOString()
    const input = { subjectId: python, minutesStudied: 30 + i * 5, progressPercent: 10 * (7 - i), studiedAt }
    await ok(commands.execute(updateStudyProgress, { ...input, completedTopics: [`Topic ${7 - i}`] }, as))
  }
  await ok(
    commands.execute(
      updateStudyProgress,
      { subjectId: algorithms, minutesStudied: 50, progressPercent: 15 },
      as,
    ),
  )
  await ok(commands.execute(generateSummary, { subjectId: python, content: notes, style: 'brief' }, as))
}

/** The guide's paths, with a subject of the demo learner's found in the read models. */
export async function demoExamples(queries: QueryBus): Promise<DemoExample[]> {
  const examples: DemoExample[] = [
    {
      title: "The demo learner's subjects (the guide's path)",
      method: 'GET',
      path: '/api/cqrs/subjects/',
      as: 'learner',
    },
  ]
  const mine = await queries.ask(getSubjects, { limit: 1 }, { caller: learner })
  const subject = mine.status === 'succeeded' ? mine.data.items[0] : undefined
  if (subject) {
    examples.push(
      {
        title: `"${subject.name}" in detail`,
        method: 'GET',
        path: `/api/cqrs/subjects/${subject.subjectId}/`,
        as: 'learner',
      },
      {
        title: 'Record 25 minutes of study on it',
        method: 'POST',
        path: '/api/cqrs/study-progress/update_progress/',
        body: {
          subject_id: subject.subjectId,
          minutes_studied: 25,
          progress_percent: subject.progressPercent,
        },
        as: 'learner',
      },
    )
  }
  examples.push({
    title: 'Minutes, goals met and streaks',
    method: 'GET',
    path: '/api/cqrs/study-analytics/',
    as: 'learner',
  })
  return examples
}
