import {
  timeFrom,
  unreachable,
  ConflictError,
  NotFoundError,
  ValidationError,
  type CommandMeta,
} from '../../kernel/index.js'
import {
  StudyGoalCreated,
  StudyGoalMet,
  StudyProgressUpdated,
  SubjectCreated,
  SubjectUpdated,
  SummaryFailed,
  SummaryGenerated,
  SummaryRequested,
  type CreateStudyGoal,
  type CreateSubject,
  type Difficulty,
  type ExpireSummary,
  type GenerateSummary,
  type RecordSummary,
  type StudyEvent,
  type UpdateStudyProgress,
  type UpdateSubject,
} from './messages.js'

/**
 * The study domain's rules: pure functions from (command, state) to events. A learner (the caller)
 * owns their subjects, goals and summaries; another's are answered as not found, never as forbidden,
 * so that nobody learns what someone else studies.
 */

export interface SubjectRow {
  subjectId: string
  learnerId: string
  name: string
  description: string | null
  category: string
  difficultyLevel: Difficulty
  progressPercent: number
  totalMinutes: number
  /** In order of completion. */
  completedTopics: readonly string[]
  version: number
  createdAt: string
  updatedAt: string
}

export type SubjectState = { status: 'absent' } | ({ status: 'active' } & SubjectRow)

/** An open goal a progress update counts towards: its subject's, or one naming no subject. */
export interface OpenGoal {
  goalId: string
  subjectId: string | null
  targetMinutes: number | null
  targetDate: string | null
  minutesDone: number
  /** When it was set (UTC ISO): minutes studied before then do not count towards it. */
  createdAt: string
}

/** Whether minutes studied at `studiedAt` count towards `goal`: studied once it was set. */
export const countsTowards = (goal: Pick<OpenGoal, 'createdAt'>, studiedAt: string) =>
  studiedAt >= goal.createdAt

export type SummaryState =
  | { status: 'absent' }
  | { status: 'pending' | 'ready' | 'failed'; summaryId: string; subjectId: string; learnerId: string }

/** How long a summary may stay pending before its deadline timer fails it. */
export const summaryDeadlineMs = 10 * 60_000
export const summaryTimerKey = (summaryId: string) => `study-summary:${summaryId}:deadline`
/** The most completed topics a subject keeps. */
export const maxTopics = 1000

export const subjectNotFound = () => new NotFoundError('SUBJECT_NOT_FOUND', 'Subject not found')
export const summaryNotFound = () => new NotFoundError('SUMMARY_NOT_FOUND', 'Summary not found')

/** The caller's own subject; anyone else's is not found. */
export function ownSubject(state: SubjectState, meta: CommandMeta): SubjectRow {
  if (state.status !== 'active' || state.learnerId !== meta.caller?.id) throw subjectNotFound()
  return state
}

/** An ISO time in UTC with milliseconds, so stored times sort as text (core/keyset.ts `timeFrom`). */
export const utc = timeFrom(2000)

/** Whether `day` is a real calendar day, YYYY-MM-DD, in 2000..9999 (2031-02-30 is not). */
export function isCalendarDay(day: string): boolean {
  const parsed = new Date(`${day}T00:00:00.000Z`)
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === day && day >= '2000'
}

/** What is wrong with a field that is not a calendar day (`isCalendarDay`). */
export const notCalendarDay = (path: string) => ({
  path,
  message: 'must be a calendar day (YYYY-MM-DD) from 2000 on',
})

/** `day` if it is a calendar day (`isCalendarDay`); else a 400 naming `path`. */
export function calendarDay(day: string, path: string): string {
  if (!isCalendarDay(day)) throw new ValidationError([notCalendarDay(path)])
  return day
}

export const dayOf = (iso: string) => iso.slice(0, 10)

export function decideCreateSubject(
  cmd: CreateSubject,
  state: SubjectState,
  meta: CommandMeta,
): StudyEvent[] {
  if (state.status !== 'absent') {
    throw new ConflictError('SUBJECT_ALREADY_EXISTS', 'Subject already exists', `Subject ${cmd.subjectId}`)
  }
  return [
    SubjectCreated.create({
      subjectId: cmd.subjectId ?? meta.newId,
      learnerId: meta.caller?.id ?? '',
      name: cmd.name,
      description: cmd.description ?? null,
      category: cmd.category,
      difficultyLevel: cmd.difficultyLevel,
      createdAt: meta.now.toISOString(),
    }),
  ]
}

export function decideUpdateSubject(
  cmd: UpdateSubject,
  state: SubjectState,
  meta: CommandMeta,
): StudyEvent[] {
  const subject = ownSubject(state, meta)
  const { subjectId: _, ...fields } = cmd
  if (Object.keys(fields).length === 0) {
    throw new ValidationError([{ path: '', message: 'names no field to change' }])
  }
  const changes = Object.fromEntries(
    Object.entries(fields).filter(([key, value]) => subject[key as keyof typeof fields] !== value),
  )
  if (Object.keys(changes).length === 0) return []
  return [
    SubjectUpdated.create({
      subjectId: subject.subjectId,
      learnerId: subject.learnerId,
      changes,
      updatedAt: meta.now.toISOString(),
    }),
  ]
}

export interface SummaryRequestState {
  subject: SubjectState
  /** A summary with the command's id exists already. */
  taken: boolean
}

export function decideGenerateSummary(
  cmd: GenerateSummary,
  state: SummaryRequestState,
  meta: CommandMeta,
): StudyEvent[] {
  const subject = ownSubject(state.subject, meta)
  if (state.taken) {
    throw new ConflictError('SUMMARY_ALREADY_EXISTS', 'Summary already exists', `Summary ${cmd.summaryId}`)
  }
  return [
    SummaryRequested.create({
      summaryId: cmd.summaryId ?? meta.newId,
      subjectId: subject.subjectId,
      learnerId: subject.learnerId,
      style: cmd.style ?? 'brief',
      content: cmd.content,
      requestedAt: meta.now.toISOString(),
    }),
  ]
}

/** The first outcome recorded wins; a later one (a retry, the deadline) changes nothing. */
export function decideRecordSummary(
  cmd: RecordSummary,
  state: SummaryState,
  meta: CommandMeta,
): StudyEvent[] {
  // The input first: one that lacks what its outcome needs is a 400 whatever the summary's state.
  const report = reported(cmd)
  if (state.status === 'absent') throw summaryNotFound()
  if (state.status !== 'pending') return []
  const at = meta.now.toISOString()
  const about = { summaryId: state.summaryId, subjectId: state.subjectId, learnerId: state.learnerId }
  return report.outcome === 'ready'
    ? [
        SummaryGenerated.create({
          ...about,
          summary: report.summary,
          provider: report.provider,
          generatedAt: at,
        }),
      ]
    : [SummaryFailed.create({ ...about, reason: report.reason, failedAt: at })]
}

/** What the summarizer reports, checked: a ready summary's text and provider, or a failure's reason. */
function reported(cmd: RecordSummary) {
  if (cmd.outcome === 'ready') {
    if (cmd.summary === undefined || cmd.provider === undefined)
      throw new ValidationError([
        { path: '/summary', message: 'a ready summary gives its text and provider' },
      ])
    return { outcome: 'ready', summary: cmd.summary, provider: cmd.provider } as const
  }
  if (cmd.reason === undefined)
    throw new ValidationError([{ path: '/reason', message: 'a failure gives its reason' }])
  return { outcome: 'failed', reason: cmd.reason } as const
}

export function decideExpireSummary(
  cmd: ExpireSummary,
  state: SummaryState,
  meta: CommandMeta,
): StudyEvent[] {
  const minutes = summaryDeadlineMs / 60_000
  return decideRecordSummary(
    {
      summaryId: cmd.summaryId,
      outcome: 'failed',
      reason: `timed out: no summary within ${minutes} minutes`,
    },
    state,
    meta,
  )
}

export interface ProgressState {
  subject: SubjectState
  /** The learner's open goals on this subject or on none, locked. */
  goals: readonly OpenGoal[]
}

export function decideUpdateProgress(
  cmd: UpdateStudyProgress,
  state: ProgressState,
  meta: CommandMeta,
): StudyEvent[] {
  const subject = ownSubject(state.subject, meta)
  const recordedAt = meta.now.toISOString()
  const studiedAt = cmd.studiedAt === undefined ? recordedAt : utc(cmd.studiedAt, '/studiedAt')
  if (studiedAt > recordedAt) {
    throw new ValidationError([{ path: '/studiedAt', message: 'must not be in the future' }])
  }
  const reset = cmd.reset === true
  if (cmd.progressPercent < subject.progressPercent && !reset) {
    throw new ConflictError(
      'PROGRESS_DECREASE',
      'Progress cannot go down',
      `Progress is ${subject.progressPercent}%; send reset: true to set it to ${cmd.progressPercent}%`,
    )
  }
  const given = [...new Set(cmd.completedTopics ?? [])]
  const completedTopics = reset
    ? given
    : [...subject.completedTopics, ...given.filter((t) => !subject.completedTopics.includes(t))]
  if (completedTopics.length > maxTopics) {
    throw new ConflictError(
      'TOO_MANY_TOPICS',
      'Too many topics',
      `A subject keeps at most ${maxTopics} topics`,
    )
  }
  const totalMinutes = subject.totalMinutes + cmd.minutesStudied
  const progress = StudyProgressUpdated.create({
    subjectId: subject.subjectId,
    learnerId: subject.learnerId,
    sessionId: meta.newId,
    minutesStudied: cmd.minutesStudied,
    day: dayOf(studiedAt),
    studiedAt,
    progressPercent: cmd.progressPercent,
    previousPercent: subject.progressPercent,
    totalMinutes,
    completedTopics,
    reset,
    recordedAt,
  })
  const met = state.goals.flatMap((goal) => {
    if (!countsTowards(goal, studiedAt)) return []
    const minutesDone = goal.minutesDone + cmd.minutesStudied
    if (!goalMet(goal, minutesDone, cmd.progressPercent, dayOf(recordedAt))) return []
    const { goalId, subjectId } = goal
    return [
      StudyGoalMet.create({
        goalId,
        learnerId: subject.learnerId,
        subjectId,
        minutesDone,
        metAt: recordedAt,
      }),
    ]
  })
  return [progress, ...met]
}

/**
 * A goal is met when its minutes are studied (counted from when it was set), or, for a goal with
 * only a date, when its subject reaches 100%; in both cases by the end of its date, if it has one.
 */
export function goalMet(goal: OpenGoal, minutesDone: number, percent: number, today: string): boolean {
  if (goal.targetDate !== null && today > goal.targetDate) return false
  if (goal.targetMinutes !== null) return minutesDone >= goal.targetMinutes
  return goal.subjectId !== null && percent >= 100
}

export interface GoalState {
  /** The goal's subject, when it names one. */
  subject: SubjectState | undefined
  /** A goal with the command's id exists already. */
  taken: boolean
}

export function decideCreateGoal(cmd: CreateStudyGoal, state: GoalState, meta: CommandMeta): StudyEvent[] {
  const subject = state.subject === undefined ? undefined : ownSubject(state.subject, meta)
  if (cmd.targetMinutes === undefined && cmd.targetDate === undefined) {
    throw new ValidationError([
      { path: '/targetMinutes', message: 'a goal needs targetMinutes or targetDate' },
    ])
  }
  if (cmd.targetMinutes === undefined && subject === undefined) {
    throw new ValidationError([
      { path: '/subjectId', message: 'a goal with only a targetDate names a subject' },
    ])
  }
  const targetDate = cmd.targetDate === undefined ? null : calendarDay(cmd.targetDate, '/targetDate')
  const today = dayOf(meta.now.toISOString())
  if (targetDate !== null && targetDate < today) {
    throw new ConflictError(
      'GOAL_DATE_IN_PAST',
      'Goal date in the past',
      `${targetDate} is before today (${today})`,
    )
  }
  if (state.taken) throw new ConflictError('GOAL_ALREADY_EXISTS', 'Goal already exists', `Goal ${cmd.goalId}`)
  return [
    StudyGoalCreated.create({
      goalId: cmd.goalId ?? meta.newId,
      learnerId: meta.caller?.id ?? '',
      subjectId: subject?.subjectId ?? null,
      title: cmd.title,
      targetMinutes: cmd.targetMinutes ?? null,
      targetDate,
      createdAt: meta.now.toISOString(),
    }),
  ]
}

/** The subject row after an event on its stream: what the write model stores. */
export function evolveSubject(row: SubjectRow, event: StudyEvent): SubjectRow {
  const version = row.version + 1
  switch (event.type) {
    case 'SubjectCreated': {
      const { createdAt, ...d } = event.data
      return {
        ...d,
        progressPercent: 0,
        totalMinutes: 0,
        completedTopics: [],
        version,
        createdAt,
        updatedAt: createdAt,
      }
    }
    case 'SubjectUpdated':
      return { ...row, ...event.data.changes, version, updatedAt: event.data.updatedAt }
    case 'StudyProgressUpdated': {
      const { progressPercent, totalMinutes, completedTopics, recordedAt } = event.data
      return { ...row, progressPercent, totalMinutes, completedTopics, version, updatedAt: recordedAt }
    }
    case 'StudyGoalMet':
      return { ...row, version }
    case 'StudyGoalCreated':
    case 'SummaryRequested':
    case 'SummaryGenerated':
    case 'SummaryFailed':
      return row
    default:
      return unreachable(event)
  }
}

/**
 * A learner's subjects and open goals: the consistency boundary of the study commands (a goal with
 * no subject counts every subject's minutes, so one subject alone cannot decide which goals it
 * meets). Every command that changes them appends to the learner's stream, and the stream memory
 * keeps this state between them, so a progress update needs no read.
 */
export interface LearnerState {
  learnerId: string
  /** The version of the learner's stream. */
  version: number
  subjects: Readonly<Record<string, SubjectRow>>
  /** Open goals on one of the subjects or on none, by goal id. */
  goals: readonly OpenGoal[]
}

export function subjectOf(learner: LearnerState, subjectId: string): SubjectState {
  const row = learner.subjects[subjectId]
  return row ? { status: 'active', ...row } : { status: 'absent' }
}

/** The open goals a subject's minutes count towards: its own and those on no subject. */
export const goalsFor = (learner: LearnerState, subjectId: string): OpenGoal[] =>
  learner.goals.filter((g) => g.subjectId === subjectId || g.subjectId === null)

/** A subject row before its first event (the state `SubjectCreated` evolves from). */
export const blankRow: SubjectRow = {
  subjectId: '',
  learnerId: '',
  name: '',
  description: null,
  category: '',
  difficultyLevel: 'beginner',
  progressPercent: 0,
  totalMinutes: 0,
  completedTopics: [],
  version: 0,
  createdAt: '',
  updatedAt: '',
}

/** The learner's state after events on their stream, as the write model stores it. */
export function evolveLearner(learner: LearnerState, events: readonly StudyEvent[]): LearnerState {
  const subjects: Record<string, SubjectRow> = { ...learner.subjects }
  let goals = [...learner.goals]
  /** The subject a command's events are about: its row counts each of them (as `persistSubject` does). */
  let current: string | undefined
  for (const event of events) {
    switch (event.type) {
      case 'SubjectCreated':
        current = event.data.subjectId
        subjects[current] = evolveSubject(blankRow, event)
        break
      case 'SubjectUpdated':
      case 'StudyProgressUpdated': {
        const { subjectId } = event.data
        current = subjectId
        const row = subjects[subjectId]
        if (row) subjects[subjectId] = evolveSubject(row, event)
        if (event.type === 'StudyProgressUpdated') {
          const { minutesStudied: minutes, studiedAt } = event.data
          goals = goals.map((g) =>
            (g.subjectId === subjectId || g.subjectId === null) && countsTowards(g, studiedAt)
              ? { ...g, minutesDone: g.minutesDone + minutes }
              : g,
          )
        }
        break
      }
      case 'StudyGoalCreated': {
        const { goalId, subjectId, targetMinutes, targetDate, createdAt } = event.data
        goals = [...goals, { goalId, subjectId, targetMinutes, targetDate, minutesDone: 0, createdAt }].sort(
          (a, b) => (a.goalId < b.goalId ? -1 : a.goalId > b.goalId ? 1 : 0),
        )
        break
      }
      case 'StudyGoalMet': {
        const { goalId } = event.data
        goals = goals.filter((g) => g.goalId !== goalId)
        const row = current === undefined ? undefined : subjects[current]
        if (row && current !== undefined) subjects[current] = evolveSubject(row, event)
        break
      }
      case 'SummaryRequested':
      case 'SummaryGenerated':
      case 'SummaryFailed':
        break
      default:
        unreachable(event)
    }
  }
  return { ...learner, version: learner.version + events.length, subjects, goals }
}
