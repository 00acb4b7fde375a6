import { describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { deciderSpec } from '../../kernel/testing.js'
import {
  createStudyGoal,
  createSubject,
  expireSummary,
  generateSummary,
  recordSummary,
  updateStudyProgress,
  updateSubject,
} from './commands.js'
import {
  StudyGoalCreated,
  StudyGoalMet,
  StudyProgressUpdated,
  SubjectCreated,
  SubjectUpdated,
  SummaryFailed,
  SummaryGenerated,
  SummaryRequested,
} from './messages.js'
import {
  decideCreateGoal,
  decideCreateSubject,
  decideExpireSummary,
  decideGenerateSummary,
  decideRecordSummary,
  decideUpdateProgress,
  decideUpdateSubject,
  calendarDay,
  goalMet,
  type OpenGoal,
  type SubjectState,
  type SummaryState,
} from './rules.js'

const minji: Caller = { id: 'minji', roles: [] }
const jun: Caller = { id: 'jun', roles: [] }
const system: Caller = { id: 'processor:study/summarizer', roles: ['system'] }
const now = '2031-03-01T09:00:00.000Z'
const newId = '0190b0d0-0000-7000-8000-0000000000ff'
const subjectId = '0190b0d0-0000-7000-8000-000000000001'
const summaryId = '0190b0d0-0000-7000-8000-000000000002'
const goalId = '0190b0d0-0000-7000-8000-000000000003'
const defaults = { caller: minji, now, newId }

const subject = (overrides: Partial<Extract<SubjectState, { status: 'active' }>> = {}): SubjectState => ({
  status: 'active',
  subjectId,
  learnerId: 'minji',
  name: 'Python',
  description: null,
  category: 'programming',
  difficultyLevel: 'beginner',
  progressPercent: 40,
  totalMinutes: 100,
  completedTopics: ['variables'],
  version: 3,
  createdAt: '2031-02-01T00:00:00.000Z',
  updatedAt: '2031-02-01T00:00:00.000Z',
  ...overrides,
})
const absent: SubjectState = { status: 'absent' }

describe('create-subject', () => {
  const given = deciderSpec(decideCreateSubject, { ...defaults, command: createSubject })
  const input = { name: 'Python', category: 'programming', difficultyLevel: 'beginner' as const }
  it('when the id is free: the caller’s subject is created', () => {
    given(absent)
      .when({ ...input, subjectId: subjectId.toUpperCase() })
      .then(
        SubjectCreated.create({ subjectId, learnerId: 'minji', ...input, description: null, createdAt: now }),
      )
  })
  it('when the id is taken (by anyone): refused', () => {
    given(subject({ learnerId: 'jun' }))
      .when({ ...input, subjectId })
      .thenRefused('SUBJECT_ALREADY_EXISTS', { status: 409 })
  })
})

describe('update-subject', () => {
  const given = deciderSpec(decideUpdateSubject, { ...defaults, command: updateSubject })
  it('when its learner changes fields: only what differs is recorded', () => {
    given(subject())
      .when({ subjectId, name: 'Python', category: 'languages', description: null })
      .then(
        SubjectUpdated.create({
          subjectId,
          learnerId: 'minji',
          changes: { category: 'languages' },
          updatedAt: now,
        }),
      )
  })
  it('when nothing differs: nothing is recorded', () => {
    given(subject()).when({ subjectId, name: 'Python' }).then([])
  })
  it('when no field is named: refused as invalid', () => {
    given(subject()).when({ subjectId }).thenRefused('VALIDATION_FAILED')
  })
  it('when the subject is another learner’s, or absent: not found', () => {
    given(subject())
      .when({ subjectId, name: 'Mine' }, { caller: jun })
      .thenRefused('SUBJECT_NOT_FOUND', { status: 404 })
    given(absent).when({ subjectId, name: 'Mine' }).thenRefused('SUBJECT_NOT_FOUND')
  })
})

describe('update-study-progress', () => {
  const given = deciderSpec(decideUpdateProgress, { ...defaults, command: updateStudyProgress })
  const progress = (overrides: Record<string, unknown> = {}) =>
    StudyProgressUpdated.create({
      subjectId,
      learnerId: 'minji',
      sessionId: newId,
      minutesStudied: 30,
      day: '2031-03-01',
      studiedAt: now,
      progressPercent: 50,
      previousPercent: 40,
      totalMinutes: 130,
      completedTopics: ['variables', 'loops'],
      reset: false,
      recordedAt: now,
      ...overrides,
    })
  const goal = (overrides: Partial<OpenGoal> = {}): OpenGoal => ({
    goalId,
    subjectId,
    targetMinutes: 120,
    targetDate: null,
    minutesDone: 100,
    createdAt: '2031-03-01T08:00:00.000Z',
    ...overrides,
  })
  it('when progress rises: minutes add up and topics merge, each once', () => {
    given({ subject: subject(), goals: [] })
      .when({
        subjectId,
        minutesStudied: 30,
        progressPercent: 50,
        completedTopics: ['loops', 'variables', 'loops'],
      })
      .then(progress())
  })
  it('counts a topic typed another way as the same topic: in NFC, trimmed', () => {
    given({ subject: subject({ completedTopics: ['Café'] }), goals: [] })
      .when({
        subjectId,
        minutesStudied: 30,
        progressPercent: 50,
        completedTopics: ['Cafe\u0301', ' Café ', 'loops', 'loops ', ' loops'],
      })
      .then(progress({ completedTopics: ['Café', 'loops'] }))
  })
  it('when progress would go down: PROGRESS_DECREASE', () => {
    given({ subject: subject(), goals: [] })
      .when({ subjectId, minutesStudied: 30, progressPercent: 39 })
      .thenRefused('PROGRESS_DECREASE', { status: 409 })
  })
  it('when progress goes down with reset: accepted, the topics replaced', () => {
    given({ subject: subject(), goals: [] })
      .when({ subjectId, minutesStudied: 30, progressPercent: 0, reset: true, completedTopics: ['intro'] })
      .then(progress({ progressPercent: 0, completedTopics: ['intro'], reset: true }))
  })
  it('when a goal’s minutes are reached: it is met', () => {
    given({ subject: subject(), goals: [goal(), goal({ goalId: newId, targetMinutes: 500 })] })
      .when({ subjectId, minutesStudied: 30, progressPercent: 50, completedTopics: ['loops'] })
      .then([
        progress(),
        StudyGoalMet.create({ goalId, learnerId: 'minji', subjectId, minutesDone: 130, metAt: now }),
      ])
  })
  it('when the minutes were studied before the goal was set: they count for the subject, not the goal', () => {
    const studied = (studiedAt: string) =>
      given({ subject: subject(), goals: [goal()] }).when({
        subjectId,
        minutesStudied: 30,
        progressPercent: 50,
        completedTopics: ['loops'],
        studiedAt,
      })
    const earlier = '2031-03-01T07:59:59.999Z'
    studied(earlier).then([progress({ studiedAt: earlier })])
    // Studied the moment it was set: they count.
    const set = '2031-03-01T08:00:00.000Z'
    studied(set).then([
      progress({ studiedAt: set }),
      StudyGoalMet.create({ goalId, learnerId: 'minji', subjectId, minutesDone: 130, metAt: now }),
    ])
  })
  it('when studiedAt is in the future or before 2000: invalid', () => {
    given({ subject: subject(), goals: [] })
      .when({ subjectId, minutesStudied: 30, progressPercent: 50, studiedAt: '2031-03-01T09:00:01Z' })
      .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/studiedAt' }] })
    given({ subject: subject(), goals: [] })
      .when({ subjectId, minutesStudied: 30, progressPercent: 50, studiedAt: '1999-12-31T23:00:00Z' })
      .thenRefused('VALIDATION_FAILED')
  })
  it('when studied earlier: the session counts on the day it was studied', () => {
    given({ subject: subject(), goals: [] })
      .when({
        subjectId,
        minutesStudied: 30,
        progressPercent: 50,
        studiedAt: '2031-02-27T23:30:00+09:00',
        completedTopics: ['loops'],
      })
      .then(progress({ day: '2031-02-27', studiedAt: '2031-02-27T14:30:00.000Z' }))
  })
  it('when a subject would keep more than 1,000 topics: TOO_MANY_TOPICS', () => {
    const many = Array.from({ length: 1000 }, (_, i) => `t${i}`)
    given({ subject: subject({ completedTopics: many }), goals: [] })
      .when({ subjectId, minutesStudied: 1, progressPercent: 50, completedTopics: ['one more'] })
      .thenRefused('TOO_MANY_TOPICS')
  })
  it('when the subject is another learner’s: not found', () => {
    given({ subject: subject(), goals: [] })
      .when({ subjectId, minutesStudied: 30, progressPercent: 50 }, { caller: jun })
      .thenRefused('SUBJECT_NOT_FOUND')
  })
})

describe('a goal is met', () => {
  const goal: OpenGoal = {
    goalId,
    subjectId,
    targetMinutes: 60,
    targetDate: '2031-03-01',
    minutesDone: 0,
    createdAt: '2031-02-01T00:00:00.000Z',
  }
  it('by its minutes, by the end of its date', () => {
    expect(goalMet(goal, 60, 0, '2031-03-01')).toBe(true)
    expect(goalMet(goal, 59, 0, '2031-03-01')).toBe(false)
    expect(goalMet(goal, 60, 0, '2031-03-02')).toBe(false)
  })
  it('with only a date: when its subject reaches 100%', () => {
    const dated = { ...goal, targetMinutes: null }
    expect(goalMet(dated, 0, 100, '2031-03-01')).toBe(true)
    expect(goalMet(dated, 999, 99, '2031-03-01')).toBe(false)
  })
})

describe('create-study-goal', () => {
  const given = deciderSpec(decideCreateGoal, { ...defaults, command: createStudyGoal })
  const created = (overrides: Record<string, unknown> = {}) =>
    StudyGoalCreated.create({
      goalId: newId,
      learnerId: 'minji',
      subjectId,
      title: 'Ten hours',
      targetMinutes: 600,
      targetDate: null,
      createdAt: now,
      ...overrides,
    })
  it('on the caller’s subject, or on none', () => {
    given({ subject: subject(), taken: false })
      .when({ subjectId, title: 'Ten hours', targetMinutes: 600 })
      .then(created())
    given({ subject: undefined, taken: false })
      .when({ title: 'Ten hours', targetMinutes: 600, targetDate: '2031-03-01' })
      .then(created({ subjectId: null, targetDate: '2031-03-01' }))
  })
  it('when it has neither minutes nor a date, or only a date and no subject: invalid', () => {
    given({ subject: subject(), taken: false })
      .when({ subjectId, title: 'Vague' })
      .thenRefused('VALIDATION_FAILED')
    given({ subject: undefined, taken: false })
      .when({ title: 'Vague', targetDate: '2031-04-01' })
      .thenRefused('VALIDATION_FAILED', {
        errors: [{ path: '/subjectId' }],
      })
  })
  it('when its date is gone: refused', () => {
    given({ subject: subject(), taken: false })
      .when({ subjectId, title: 'Late', targetDate: '2031-02-28' })
      .thenRefused('GOAL_DATE_IN_PAST', { status: 409 })
  })
  it('a day is a calendar day from 2000 on', () => {
    expect(calendarDay('2032-02-29', '/d')).toBe('2032-02-29')
    expect(() => calendarDay('2031-02-30', '/d')).toThrow()
    expect(() => calendarDay('1999-12-31', '/d')).toThrow()
  })
  it('when the subject is another learner’s: not found; when the id is taken: refused', () => {
    given({ subject: subject(), taken: false })
      .when({ subjectId, title: 'x', targetMinutes: 1 }, { caller: jun })
      .thenRefused('SUBJECT_NOT_FOUND')
    given({ subject: subject(), taken: true })
      .when({ goalId, subjectId, title: 'x', targetMinutes: 1 })
      .thenRefused('GOAL_ALREADY_EXISTS')
  })
})

describe('summaries', () => {
  const requested = deciderSpec(decideGenerateSummary, { ...defaults, command: generateSummary })
  it('a request on the caller’s subject is pending, brief by default', () => {
    requested({ subject: subject(), taken: false })
      .when({ subjectId, content: '텍스트입니다.' })
      .then(
        SummaryRequested.create({
          summaryId: newId,
          subjectId,
          learnerId: 'minji',
          style: 'brief',
          content: '텍스트입니다.',
          requestedAt: now,
        }),
      )
  })
  it('a request on another’s subject: not found; on a taken id: refused', () => {
    requested({ subject: subject(), taken: false })
      .when({ subjectId, content: 'x' }, { caller: jun })
      .thenRefused('SUBJECT_NOT_FOUND')
    requested({ subject: subject(), taken: true })
      .when({ summaryId, subjectId, content: 'x' })
      .thenRefused('SUMMARY_ALREADY_EXISTS')
  })

  const recorded = deciderSpec(decideRecordSummary, { ...defaults, caller: system, command: recordSummary })
  const pending: SummaryState = { status: 'pending', summaryId, subjectId, learnerId: 'minji' }
  const about = { summaryId, subjectId, learnerId: 'minji' }
  it('when pending: ready with its text, or failed with its reason', () => {
    recorded(pending)
      .when({ summaryId, outcome: 'ready', summary: 'Short.', provider: 'local-textrank' })
      .then(
        SummaryGenerated.create({
          ...about,
          summary: 'Short.',
          provider: 'local-textrank',
          generatedAt: now,
        }),
      )
    recorded(pending)
      .when({ summaryId, outcome: 'failed', reason: 'down' })
      .then(SummaryFailed.create({ ...about, reason: 'down', failedAt: now }))
  })
  it('when an outcome lacks its text or reason: invalid, whatever the summary’s state', () => {
    for (const state of [
      pending,
      { ...pending, status: 'ready' as const },
      { ...pending, status: 'failed' as const },
    ]) {
      recorded(state).when({ summaryId, outcome: 'ready' }).thenRefused('VALIDATION_FAILED')
      recorded(state).when({ summaryId, outcome: 'failed' }).thenRefused('VALIDATION_FAILED')
    }
    recorded({ status: 'absent' }).when({ summaryId, outcome: 'failed' }).thenRefused('VALIDATION_FAILED')
  })
  it('when already ready or failed: the first outcome stands', () => {
    recorded({ ...pending, status: 'failed' })
      .when({ summaryId, outcome: 'ready', summary: 'Late.', provider: 'p' })
      .then([])
  })
  it('when absent: not found', () => {
    recorded({ status: 'absent' })
      .when({ summaryId, outcome: 'failed', reason: 'x' })
      .thenRefused('SUMMARY_NOT_FOUND')
  })

  const expired = deciderSpec(decideExpireSummary, { ...defaults, caller: system, command: expireSummary })
  it('at the deadline: a pending summary fails, a finished one stays', () => {
    expired(pending)
      .when({ summaryId })
      .then(
        SummaryFailed.create({ ...about, reason: 'timed out: no summary within 10 minutes', failedAt: now }),
      )
    expired({ ...pending, status: 'ready' })
      .when({ summaryId })
      .then([])
  })
})
