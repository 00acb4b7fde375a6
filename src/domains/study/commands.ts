import { defineCommand, signedIn, stateStored, type CommandMeta } from '../../kernel/index.js'
import {
  CreateStudyGoalInput,
  CreateSubjectInput,
  ExpireSummaryInput,
  GenerateSummaryInput,
  GoalIdResult,
  ProgressResult,
  RecordSummaryInput,
  SubjectIdResult,
  SummaryOutcomeResult,
  SummaryRequestedResult,
  UpdateStudyProgressInput,
  UpdateSubjectInput,
  type StudyEvent,
} from './messages.js'
import {
  decideCreateGoal,
  decideCreateSubject,
  decideExpireSummary,
  decideGenerateSummary,
  decideRecordSummary,
  decideUpdateProgress,
  decideUpdateSubject,
  summaryDeadlineMs,
  summaryTimerKey,
  type SubjectState,
  type SummaryState,
} from './rules.js'
import {
  goalExists,
  loadForProgress,
  loadSubject,
  loadSummary,
  persistSubject,
  rowsOf,
  subjectAfter,
  summaryExists,
} from './write-model.js'

const domain = 'study'
/** The ids the examples create, so later examples can name them. */
export const exampleSubjectId = '0190b0d0-5d6e-7a1b-8c2d-3e4f5a6b7c01'
export const exampleSummaryId = '0190b0d0-5d6e-7a1b-8c2d-3e4f5a6b7c02'
export const exampleGoalId = '0190b0d0-5d6e-7a1b-8c2d-3e4f5a6b7c03'

const subjectStream = (subjectId: string, state: SubjectState) => ({
  id: `study-subject-${subjectId}`,
  expectedVersion: state.status === 'absent' ? 0 : state.version,
})
const summaryStream = (summaryId: string, state: SummaryState) => ({
  id: `study-summary-${summaryId}`,
  expectedVersion: state.status === 'absent' ? 0 : 1,
})
const learnerOf = (meta: CommandMeta) => meta.caller?.id ?? ''
const created = (events: readonly StudyEvent[], type: StudyEvent['type'], key: string, fallback: string) => {
  const event = events.find((e) => e.type === type)
  return event ? String((event.data as Record<string, unknown>)[key]) : fallback
}

export const createSubject = defineCommand({
  domain,
  name: 'create-subject',
  summary: 'Create a subject to study; the caller is its learner',
  input: CreateSubjectInput,
  output: SubjectIdResult,
  access: signedIn(),
  refusals: ['SUBJECT_ALREADY_EXISTS'],
  examples: [
    {
      subjectId: exampleSubjectId,
      name: 'Python 프로그래밍',
      description: 'Python 기초부터 고급까지',
      category: 'programming',
      difficultyLevel: 'intermediate',
    },
  ],
  handle: stateStored({
    load: (tx, cmd, meta) => loadSubject(tx, cmd.subjectId ?? meta.newId),
    decide: decideCreateSubject,
    stream: (cmd, state, meta) => subjectStream(cmd.subjectId ?? meta.newId, state),
    persist: persistSubject,
    result: (events, _cmd, _state, meta) => ({
      subjectId: created(events, 'SubjectCreated', 'subjectId', meta.newId),
    }),
  }),
})

export const updateSubject = defineCommand({
  domain,
  name: 'update-subject',
  summary: "Change a subject's name, description, category or difficulty (its learner only)",
  input: UpdateSubjectInput,
  output: SubjectIdResult,
  access: signedIn(),
  refusals: ['SUBJECT_NOT_FOUND'],
  examples: [{ subjectId: exampleSubjectId, difficultyLevel: 'advanced', description: 'Python, 심화 과정' }],
  handle: stateStored({
    load: (tx, cmd) => loadSubject(tx, cmd.subjectId),
    decide: decideUpdateSubject,
    stream: (cmd, state) => subjectStream(cmd.subjectId, state),
    persist: persistSubject,
    result: (_events, cmd) => ({ subjectId: cmd.subjectId }),
  }),
})

export const createStudyGoal = defineCommand({
  domain,
  name: 'create-study-goal',
  summary: 'Set a goal: minutes to study (on a subject or on any), by a date if given',
  input: CreateStudyGoalInput,
  output: GoalIdResult,
  access: signedIn(),
  refusals: ['SUBJECT_NOT_FOUND', 'GOAL_DATE_IN_PAST', 'GOAL_ALREADY_EXISTS'],
  examples: [
    { goalId: exampleGoalId, subjectId: exampleSubjectId, title: '10시간 공부하기', targetMinutes: 600 },
  ],
  handle: stateStored({
    async load(tx, cmd, meta) {
      const [subject, taken] = await Promise.all([
        cmd.subjectId === undefined ? undefined : loadSubject(tx, cmd.subjectId),
        goalExists(tx, cmd.goalId ?? meta.newId),
      ])
      return { subject, taken }
    },
    decide: decideCreateGoal,
    stream: (cmd, _state, meta) => ({ id: `study-goal-${cmd.goalId ?? meta.newId}`, expectedVersion: 0 }),
    persist: (events) => events.flatMap(rowsOf),
    result: (events, _cmd, _state, meta) => ({
      goalId: created(events, 'StudyGoalCreated', 'goalId', meta.newId),
    }),
  }),
})

export const updateStudyProgress = defineCommand({
  domain,
  name: 'update-study-progress',
  summary: 'Record minutes studied and the progress reached (lower only with reset: true)',
  input: UpdateStudyProgressInput,
  output: ProgressResult,
  access: signedIn(),
  refusals: ['SUBJECT_NOT_FOUND', 'PROGRESS_DECREASE', 'TOO_MANY_TOPICS'],
  examples: [
    {
      subjectId: exampleSubjectId,
      minutesStudied: 45,
      progressPercent: 30,
      completedTopics: ['변수와 자료형', '조건문'],
    },
  ],
  handle: stateStored({
    load: (tx, cmd, meta) => loadForProgress(tx, cmd.subjectId, learnerOf(meta)),
    decide: decideUpdateProgress,
    stream: (cmd, state) => subjectStream(cmd.subjectId, state.subject),
    persist: (events, state) => persistSubject(events, state.subject),
    result: (events, cmd, state) => {
      const after = subjectAfter(events, state.subject)
      return {
        subjectId: cmd.subjectId,
        progressPercent: after.progressPercent,
        totalMinutes: after.totalMinutes,
        goalsMet: events.flatMap((e) => (e.type === 'StudyGoalMet' ? [e.data.goalId] : [])),
      }
    },
  }),
})

export const generateSummary = defineCommand({
  domain,
  name: 'generate-summary',
  summary: 'Ask for a summary of a text: answered pending at once, ready (or failed) once summarized',
  input: GenerateSummaryInput,
  output: SummaryRequestedResult,
  access: signedIn(),
  refusals: ['SUBJECT_NOT_FOUND', 'SUMMARY_ALREADY_EXISTS'],
  examples: [
    {
      summaryId: exampleSummaryId,
      subjectId: exampleSubjectId,
      content:
        'Python은 읽기 쉬운 문법을 가진 프로그래밍 언어입니다. 변수는 값을 담는 이름입니다. ' +
        '조건문은 상황에 따라 다른 코드를 실행합니다. 반복문은 같은 코드를 여러 번 실행합니다. ' +
        '함수는 코드를 재사용할 수 있게 해 줍니다.',
      style: 'brief',
    },
  ],
  handle: stateStored({
    async load(tx, cmd, meta) {
      const [subject, taken] = await Promise.all([
        loadSubject(tx, cmd.subjectId),
        summaryExists(tx, cmd.summaryId ?? meta.newId),
      ])
      return { subject, taken }
    },
    decide: decideGenerateSummary,
    stream: (cmd, _state, meta) => summaryStream(cmd.summaryId ?? meta.newId, { status: 'absent' }),
    persist: (events) => events.flatMap(rowsOf),
    result: (_events, cmd, _state, meta) => ({
      summaryId: cmd.summaryId ?? meta.newId,
      status: 'pending' as const,
    }),
    // A summary still pending at its deadline is failed by the timer: never pending forever.
    timers: (_events, cmd, _state, meta) => [
      {
        schedule: {
          key: summaryTimerKey(cmd.summaryId ?? meta.newId),
          command: `${domain}/expire-summary`,
          input: { summaryId: cmd.summaryId ?? meta.newId },
          at: new Date(meta.now.getTime() + summaryDeadlineMs),
        },
      },
    ],
  }),
})

const outcomeOf = (events: readonly StudyEvent[], state: SummaryState) =>
  events[0]?.type === 'SummaryGenerated'
    ? ('ready' as const)
    : events[0]?.type === 'SummaryFailed'
      ? ('failed' as const)
      : state.status === 'absent'
        ? ('failed' as const)
        : state.status

export const recordSummary = defineCommand({
  domain,
  name: 'record-summary',
  summary: "Record a summary's outcome (the summarizer processor; the first outcome wins)",
  input: RecordSummaryInput,
  output: SummaryOutcomeResult,
  access: signedIn('system'),
  refusals: ['SUMMARY_NOT_FOUND'],
  examples: [
    {
      summaryId: exampleSummaryId,
      outcome: 'ready',
      summary: 'Python은 읽기 쉬운 문법을 가진 프로그래밍 언어입니다.',
      provider: 'local-textrank',
    },
  ],
  handle: stateStored({
    load: (tx, cmd) => loadSummary(tx, cmd.summaryId),
    decide: decideRecordSummary,
    stream: (cmd, state) => summaryStream(cmd.summaryId, state),
    persist: (events) => events.flatMap(rowsOf),
    result: (events, cmd, state) => ({ summaryId: cmd.summaryId, status: outcomeOf(events, state) }),
    timers: (_events, cmd) => [{ cancel: summaryTimerKey(cmd.summaryId) }],
  }),
})

export const expireSummary = defineCommand({
  domain,
  name: 'expire-summary',
  summary: 'Fail a summary still pending at its deadline (its timer sends this)',
  input: ExpireSummaryInput,
  output: SummaryOutcomeResult,
  access: signedIn('system'),
  refusals: ['SUMMARY_NOT_FOUND'],
  examples: [{ summaryId: exampleSummaryId }],
  handle: stateStored({
    load: (tx, cmd) => loadSummary(tx, cmd.summaryId),
    decide: decideExpireSummary,
    stream: (cmd, state) => summaryStream(cmd.summaryId, state),
    persist: (events) => events.flatMap(rowsOf),
    result: (events, cmd, state) => ({ summaryId: cmd.summaryId, status: outcomeOf(events, state) }),
  }),
})

/** In the order their examples make a story. */
export const commands = [
  createSubject,
  updateSubject,
  createStudyGoal,
  updateStudyProgress,
  generateSummary,
  recordSummary,
  expireSummary,
]
