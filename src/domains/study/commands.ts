import { defineCommand, signedIn, stateStored, type CommandMeta, type Memory } from '../../kernel/index.js'
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
  type CreateStudyGoal,
  type CreateSubject,
  type StudyEvent,
  type UpdateStudyProgress,
  type UpdateSubject,
} from './messages.js'
import {
  decideCreateGoal,
  decideCreateSubject,
  decideExpireSummary,
  decideGenerateSummary,
  decideRecordSummary,
  decideUpdateProgress,
  decideUpdateSubject,
  evolveLearner,
  goalsFor,
  subjectOf,
  summaryDeadlineMs,
  summaryTimerKey,
  type LearnerState,
  type SubjectState,
  type SummaryState,
} from './rules.js'
import {
  goalExists,
  learnerStream,
  loadLearner,
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

/** A summary's stream: the turn a command on it takes before it locks its row. */
const summaryTurn = (summaryId: string) => `study-summary-${summaryId}`
const summaryStream = (summaryId: string, state: SummaryState) => ({
  id: summaryTurn(summaryId),
  expectedVersion: state.status === 'absent' ? 0 : 1,
})
const learnerOf = (meta: CommandMeta) => meta.caller?.id ?? ''

/** A command on the learner's subjects or goals decides on their whole state (rules.ts, LearnerState). */
interface OnLearner {
  learner: LearnerState
}
const absent: SubjectState = { status: 'absent' }
const onLearnerStream = (state: OnLearner) => ({
  id: learnerStream(state.learner.learnerId),
  expectedVersion: state.learner.version,
})

/**
 * What the learner's commands keep between them: their state as the events leave it, so the next
 * command of the learner in this process decides without reading. A row another command wrote
 * meanwhile (another process) moved the stream on: the append refuses, and the command runs again,
 * reading; a client-chosen id taken by another learner is refused by its row's key, the same way.
 */
function learnerMemory<I, S extends OnLearner>(
  recall: (learner: LearnerState, input: I) => S,
): Memory<I, S, StudyEvent, LearnerState> {
  return {
    streamId: (_input, meta) => learnerStream(learnerOf(meta)),
    keep: (state, events) => evolveLearner(state.learner, events),
    recall: (learner, input) => recall(learner, input),
  }
}
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
  refusals: { 409: ['SUBJECT_ALREADY_EXISTS'] },
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
    // A subject of that id may be another learner's: it is read (locked) wherever it is.
    async load(tx, cmd: CreateSubject, meta) {
      const [learner, subject] = await Promise.all([
        loadLearner(tx, learnerOf(meta)),
        loadSubject(tx, cmd.subjectId ?? meta.newId),
      ])
      return { learner, subject }
    },
    decide: (cmd: CreateSubject, state: OnLearner & { subject: SubjectState }, meta) =>
      decideCreateSubject(cmd, state.subject, meta),
    stream: (_cmd, state) => onLearnerStream(state),
    persist: (events, state) => persistSubject(events, state.subject),
    result: (events, _cmd, _state, meta) => ({
      subjectId: created(events, 'SubjectCreated', 'subjectId', meta.newId),
    }),
    memory: learnerMemory((learner, cmd: CreateSubject) => ({
      learner,
      subject: cmd.subjectId === undefined ? absent : subjectOf(learner, cmd.subjectId),
    })),
  }),
})

export const updateSubject = defineCommand({
  domain,
  name: 'update-subject',
  summary: "Change a subject's name, description, category or difficulty (its learner only)",
  input: UpdateSubjectInput,
  output: SubjectIdResult,
  access: signedIn(),
  refusals: { 404: ['SUBJECT_NOT_FOUND'] },
  examples: [{ subjectId: exampleSubjectId, difficultyLevel: 'advanced', description: 'Python, 심화 과정' }],
  handle: stateStored({
    load: async (tx, _cmd, meta) => ({ learner: await loadLearner(tx, learnerOf(meta)) }),
    decide: (cmd: UpdateSubject, state: OnLearner, meta) =>
      decideUpdateSubject(cmd, subjectOf(state.learner, cmd.subjectId), meta),
    stream: (_cmd, state) => onLearnerStream(state),
    persist: (events, state) =>
      persistSubject(events, subjectOf(state.learner, events[0]?.data.subjectId ?? '')),
    result: (_events, cmd: UpdateSubject) => ({ subjectId: cmd.subjectId }),
    memory: learnerMemory((learner) => ({ learner })),
  }),
})

export const createStudyGoal = defineCommand({
  domain,
  name: 'create-study-goal',
  summary: 'Set a goal: minutes to study (on a subject or on any), by a date if given',
  input: CreateStudyGoalInput,
  output: GoalIdResult,
  access: signedIn(),
  refusals: { 404: ['SUBJECT_NOT_FOUND'], 409: ['GOAL_DATE_IN_PAST', 'GOAL_ALREADY_EXISTS'] },
  examples: [
    { goalId: exampleGoalId, subjectId: exampleSubjectId, title: '10시간 공부하기', targetMinutes: 600 },
  ],
  handle: stateStored({
    async load(tx, cmd: CreateStudyGoal, meta) {
      const [learner, taken] = await Promise.all([
        loadLearner(tx, learnerOf(meta)),
        goalExists(tx, cmd.goalId ?? meta.newId),
      ])
      return { learner, taken }
    },
    decide: (cmd: CreateStudyGoal, state: OnLearner & { taken: boolean }, meta) =>
      decideCreateGoal(
        cmd,
        {
          subject: cmd.subjectId === undefined ? undefined : subjectOf(state.learner, cmd.subjectId),
          taken: state.taken,
        },
        meta,
      ),
    stream: (_cmd, state) => onLearnerStream(state),
    persist: (events) => events.flatMap(rowsOf),
    memory: learnerMemory((learner) => ({ learner, taken: false })),
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
  refusals: { 404: ['SUBJECT_NOT_FOUND'], 409: ['PROGRESS_DECREASE', 'TOO_MANY_TOPICS'] },
  examples: [
    {
      subjectId: exampleSubjectId,
      minutesStudied: 45,
      progressPercent: 30,
      completedTopics: ['변수와 자료형', '조건문'],
    },
  ],
  handle: stateStored({
    load: async (tx, _cmd, meta) => ({ learner: await loadLearner(tx, learnerOf(meta)) }),
    decide: (cmd: UpdateStudyProgress, state: OnLearner, meta) =>
      decideUpdateProgress(
        cmd,
        { subject: subjectOf(state.learner, cmd.subjectId), goals: goalsFor(state.learner, cmd.subjectId) },
        meta,
      ),
    stream: (_cmd, state) => onLearnerStream(state),
    persist: (events, state) =>
      persistSubject(events, subjectOf(state.learner, events[0]?.data.subjectId ?? '')),
    memory: learnerMemory((learner) => ({ learner })),
    result: (events, cmd: UpdateStudyProgress, state) => {
      const after = subjectAfter(events, subjectOf(state.learner, cmd.subjectId))
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
  refusals: { 404: ['SUBJECT_NOT_FOUND'], 409: ['SUMMARY_ALREADY_EXISTS'] },
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
  refusals: { 404: ['SUMMARY_NOT_FOUND'] },
  examples: [
    {
      summaryId: exampleSummaryId,
      outcome: 'ready',
      summary: 'Python은 읽기 쉬운 문법을 가진 프로그래밍 언어입니다.',
      provider: 'local-textrank',
    },
  ],
  handle: stateStored({
    turn: (cmd) => summaryTurn(cmd.summaryId),
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
  refusals: { 404: ['SUMMARY_NOT_FOUND'] },
  examples: [{ summaryId: exampleSummaryId }],
  handle: stateStored({
    turn: (cmd) => summaryTurn(cmd.summaryId),
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
