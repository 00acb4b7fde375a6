import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnyQuery, Caller } from '../../kernel/index.js'
import { commandProcess, modes, startTestTandem, type TestTandem } from '../../kernel/testing.js'
import {
  createStudyGoal,
  createSubject,
  generateSummary,
  updateStudyProgress,
  updateSubject,
} from './commands.js'
import { createStudyDomain } from './index.js'
import { getStudyAnalytics } from './projections/analytics.js'
import {
  getStudyGoals,
  getStudyProgress,
  getSubjectDetail,
  getSubjects,
} from './projections/subject-queries.js'
import { getStudySummaries } from './projections/summaries.js'
import { summarizerFor, type Summarizer } from './summarizer.js'

const minji: Caller = { id: 'minji', roles: [] }
const jun: Caller = { id: 'jun', roles: [] }
const local = summarizerFor('local')

/**
 * Local summaries, except: `FAIL…` throws; `HOLD…` waits until the test lets it go; `BROKEN…` gives
 * half an emoji, and `BLANK…` spaces, which the summary's record refuses.
 */
let release: () => void = () => undefined
/** Set anew by the test that holds a summary (one per mode). */
let gate = Promise.resolve()
const summarizer: Summarizer = {
  name: 'local-textrank',
  async summarize(request) {
    if (request.content.startsWith('FAIL')) throw new Error('the provider is down')
    if (request.content.startsWith('BROKEN')) return 'Half an emoji: \ud83d'
    if (request.content.startsWith('BLANK')) return ' \n\u200b '
    if (request.content.startsWith('HOLD')) await gate
    return local.summarize(request)
  },
}

async function until(done: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe.each(modes)('study domain through the buses (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [createStudyDomain(summarizer)], pollMs: 20 })
  })
  afterAll(async () => {
    release()
    await t.dispose()
  })

  async function send<O>(
    result: Promise<{ status: string; error?: unknown; result?: O; position?: string | null }>,
  ) {
    const done = await result
    if (done.status === 'failed') throw done.error
    return done as { result: O; position: string | null }
  }
  type Asked<O> =
    { status: 'succeeded'; data: O; cacheHit: boolean } | { status: 'failed'; error: { code: string } }
  async function ask<O = unknown>(
    query: AnyQuery,
    input: unknown,
    caller: Caller,
    position?: string | null,
  ): Promise<Asked<O>> {
    const answer = await t.queries.ask(query, input, {
      caller,
      ...(position ? { minPosition: BigInt(position) } : {}),
    })
    return answer as Asked<O>
  }
  const subjectFor = async (caller: Caller, fields: Record<string, unknown> = {}) =>
    (
      await send<{ subjectId: string }>(
        t.commands.execute(
          createSubject,
          { name: 'Python', category: 'programming', difficultyLevel: 'beginner', ...fields },
          { caller },
        ),
      )
    ).result.subjectId

  it('lists a learner’s own subjects, newest first, by category and difficulty, page by page', async () => {
    const learner: Caller = { id: `${mode}-lister`, roles: [] }
    const ids: string[] = []
    for (const [i, category] of ['programming', 'language', 'programming'].entries()) {
      t.shiftClock(i * 1000)
      ids.push(
        await subjectFor(learner, {
          name: `S${i}`,
          category,
          difficultyLevel: i === 2 ? 'advanced' : 'beginner',
        }),
      )
    }
    t.shiftClock(0)
    const last = await send(
      t.commands.execute(updateSubject, { subjectId: ids[0], category: 'language' }, { caller: learner }),
    )
    const page1 = await ask<{ items: { subjectId: string }[]; nextCursor: string | null }>(
      getSubjects,
      { limit: 2 },
      learner,
      last.position,
    )
    if (page1.status !== 'succeeded') throw new Error('failed')
    expect(page1.data.items.map((s) => s.subjectId)).toEqual([ids[2], ids[1]])
    const page2 = await ask<{ items: { subjectId: string }[]; nextCursor: string | null }>(
      getSubjects,
      { limit: 2, cursor: page1.data.nextCursor },
      learner,
    )
    expect(page2.status === 'succeeded' && page2.data.items.map((s) => s.subjectId)).toEqual([ids[0]])
    expect(page2.status === 'succeeded' && page2.data.nextCursor).toBe(null)
    // A cursor names its list: made up, or another list's, it is a 400, not a page from nowhere.
    for (const [query, cursor] of [
      [getSubjects, 'aGVsbG8'],
      [getStudySummaries, page1.data.nextCursor],
    ] as const) {
      const refused = await ask(query, { cursor }, learner)
      expect(refused.status === 'failed' && refused.error.code).toBe('VALIDATION_FAILED')
    }
    const language = await ask<{ items: { subjectId: string }[] }>(
      getSubjects,
      { category: 'language' },
      learner,
    )
    expect(language.status === 'succeeded' && language.data.items.map((s) => s.subjectId)).toEqual([
      ids[1],
      ids[0],
    ])
    const both = await ask<{ items: { subjectId: string }[] }>(
      getSubjects,
      { category: 'programming', difficultyLevel: 'advanced' },
      learner,
    )
    expect(both.status === 'succeeded' && both.data.items.map((s) => s.subjectId)).toEqual([ids[2]])
    // A category is one label in any of its spellings: composed or with a combining accent, padded.
    const cafe = await subjectFor(learner, {
      name: 'C',
      category: ' Cafe\u0301 ',
      difficultyLevel: 'beginner',
    })
    for (const category of ['Caf\u00e9', 'Cafe\u0301', '  Caf\u00e9']) {
      const found = await ask<{ items: { subjectId: string; category: string }[] }>(
        getSubjects,
        { category },
        learner,
      )
      expect(found.status === 'succeeded' && found.data.items).toEqual([
        expect.objectContaining({ subjectId: cafe, category: 'Caf\u00e9' }),
      ])
    }
    const others = await ask<{ items: unknown[] }>(getSubjects, {}, { id: `${mode}-nobody`, roles: [] })
    expect(others.status === 'succeeded' && others.data.items).toEqual([])
  })

  it('keeps progress, minutes, topics and goals; refuses a decrease unless reset', async () => {
    const learner: Caller = { id: `${mode}-progress`, roles: [] }
    const subjectId = await subjectFor(learner)
    const goal = await send<{ goalId: string }>(
      t.commands.execute(
        createStudyGoal,
        { subjectId, title: 'Two hours', targetMinutes: 120 },
        { caller: learner },
      ),
    )
    const first = await send<{ goalsMet: string[] }>(
      t.commands.execute(
        updateStudyProgress,
        { subjectId, minutesStudied: 60, progressPercent: 40, completedTopics: ['a', 'b'] },
        { caller: learner },
      ),
    )
    expect(first.result.goalsMet).toEqual([])
    const lower = await t.commands.execute(
      updateStudyProgress,
      { subjectId, minutesStudied: 10, progressPercent: 30 },
      { caller: learner },
    )
    expect(lower.status === 'failed' && lower.error.code).toBe('PROGRESS_DECREASE')
    const second = await send<{ goalsMet: string[]; totalMinutes: number }>(
      t.commands.execute(
        updateStudyProgress,
        { subjectId, minutesStudied: 60, progressPercent: 40, completedTopics: ['b', 'c'] },
        { caller: learner },
      ),
    )
    expect(second.result).toMatchObject({ goalsMet: [goal.result.goalId], totalMinutes: 120 })
    const reset = await send(
      t.commands.execute(
        updateStudyProgress,
        { subjectId, minutesStudied: 5, progressPercent: 0, reset: true, completedTopics: ['z'] },
        { caller: learner },
      ),
    )
    const detail = await ask<Record<string, unknown>>(
      getSubjectDetail,
      { subjectId: subjectId.toUpperCase() },
      learner,
      reset.position,
    )
    expect(detail.status === 'succeeded' && detail.data).toMatchObject({
      progressPercent: 0,
      totalMinutes: 125,
      completedTopics: ['z'],
      summaryCount: 0,
      goals: [{ goalId: goal.result.goalId, status: 'met', minutesDone: 120 }],
    })
    const [row] = await t.sql.query<{ topics: string[] }>(
      `SELECT array_agg(topic ORDER BY position) AS topics FROM study.completed_topic WHERE subject_id = $1`,
      [subjectId],
    )
    expect(row?.topics).toEqual(['z'])
  })

  it('lists a learner’s goals, those on no subject among them, newest first, open or met, page by page', async () => {
    const learner: Caller = { id: `${mode}-goals`, roles: [] }
    const subjectId = await subjectFor(learner)
    const goal = async (fields: Record<string, unknown>) =>
      (
        await send<{ goalId: string }>(
          t.commands.execute(createStudyGoal, { targetMinutes: 30, ...fields }, { caller: learner }),
        )
      ).result.goalId
    // On no subject: no subject's detail lists it.
    const anywhere = await goal({ title: 'Half an hour of anything' })
    const onSubject = await goal({ subjectId, title: 'Half an hour of Python' })
    const longer = await goal({ title: 'Ten hours of anything', targetMinutes: 600 })
    const met = await send<{ goalsMet: string[] }>(
      t.commands.execute(
        updateStudyProgress,
        { subjectId, minutesStudied: 40, progressPercent: 10 },
        { caller: learner },
      ),
    )
    expect(met.result.goalsMet.toSorted()).toEqual([anywhere, onSubject].toSorted())
    const ids = (answer: Asked<{ items: { goalId: string }[] }>) =>
      answer.status === 'succeeded' ? answer.data.items.map((g) => g.goalId) : answer.error.code
    const all = await ask<{ items: { goalId: string }[] }>(getStudyGoals, {}, learner, met.position)
    expect(ids(all)).toEqual([longer, onSubject, anywhere])
    expect(all.status === 'succeeded' && all.data.items[2]).toMatchObject({
      subjectId: null,
      title: 'Half an hour of anything',
      minutesDone: 40,
      status: 'met',
    })
    expect(all.status === 'succeeded' && all.data.items[0]).toMatchObject({ minutesDone: 40, status: 'open' })
    expect(ids(await ask(getStudyGoals, { status: 'open' }, learner))).toEqual([longer])
    expect(ids(await ask(getStudyGoals, { status: 'met' }, learner))).toEqual([onSubject, anywhere])
    const first = await ask<{ items: { goalId: string }[]; nextCursor: string }>(
      getStudyGoals,
      { limit: 2 },
      learner,
    )
    expect(ids(first)).toEqual([longer, onSubject])
    const cursor = first.status === 'succeeded' ? first.data.nextCursor : ''
    expect(ids(await ask(getStudyGoals, { limit: 2, cursor }, learner))).toEqual([anywhere])
    // Another learner's goals are absent.
    expect(ids(await ask(getStudyGoals, {}, jun))).toEqual([])
  })

  it('shows a learner nothing of another’s: not found, or absent', async () => {
    const subjectId = await subjectFor(minji)
    for (const [command, input] of [
      [updateSubject, { subjectId, name: 'Mine now' }],
      [updateStudyProgress, { subjectId, minutesStudied: 10, progressPercent: 10 }],
      [generateSummary, { subjectId, content: 'Some text.' }],
      [createStudyGoal, { subjectId, title: 'Steal', targetMinutes: 10 }],
    ] as const) {
      const done = await t.commands.execute(command as typeof updateSubject, input, { caller: jun })
      expect(done.status === 'failed' && done.error.code).toBe('SUBJECT_NOT_FOUND')
    }
    const detail = await ask(getSubjectDetail, { subjectId }, jun)
    expect(detail.status === 'failed' && detail.error.code).toBe('SUBJECT_NOT_FOUND')
    const progress = await ask(getStudyProgress, { subjectId }, jun)
    expect(progress.status === 'failed' && progress.error.code).toBe('SUBJECT_NOT_FOUND')
    const summaries = await ask<{ items: unknown[] }>(getStudySummaries, { subjectId }, jun)
    expect(summaries.status === 'succeeded' && summaries.data.items).toEqual([])
  })

  it('writes a summary: pending at once, then ready, the same for the same text; a provider failure is recorded', async () => {
    const learner: Caller = { id: `${mode}-summaries`, roles: [] }
    const subjectId = await subjectFor(learner)
    const content =
      'CQRS separates commands from queries. Commands change state. Queries read data. Caches serve reads.'
    const a = await send<{ summaryId: string; status: string }>(
      t.commands.execute(generateSummary, { subjectId, content }, { caller: learner }),
    )
    const b = await send<{ summaryId: string }>(
      t.commands.execute(generateSummary, { subjectId, content }, { caller: learner }),
    )
    const c = await send<{ summaryId: string }>(
      t.commands.execute(generateSummary, { subjectId, content: 'FAIL please' }, { caller: learner }),
    )
    expect(a.result.status).toBe('pending')
    type Item = { summaryId: string; status: string; summary: string | null; reason: string | null }
    const list = async () => {
      const answer = await ask<{ items: Item[] }>(getStudySummaries, { subjectId }, learner)
      return answer.status === 'succeeded' ? answer.data.items : []
    }
    await until(
      async () => (await list()).every((s) => s.status !== 'pending') && (await list()).length === 3,
    )
    const items = await list()
    const byId = new Map(items.map((s) => [s.summaryId, s]))
    expect(byId.get(a.result.summaryId)).toMatchObject({ status: 'ready' })
    expect(byId.get(b.result.summaryId)?.summary).toBe(byId.get(a.result.summaryId)?.summary)
    expect(byId.get(c.result.summaryId)).toMatchObject({
      status: 'failed',
      reason: 'local-textrank: the provider is down',
    })
    const detail = await ask<{ summaryCount: number }>(getSubjectDetail, { subjectId }, learner)
    expect(detail.status === 'succeeded' && detail.data.summaryCount).toBe(3)
  })

  it('records a summary its record refuses as failed, and goes on with the next (it retried, then parked it)', async () => {
    const learner: Caller = { id: `${mode}-broken`, roles: [] }
    const subjectId = await subjectFor(learner)
    const broken = await send<{ summaryId: string }>(
      t.commands.execute(generateSummary, { subjectId, content: 'BROKEN text.' }, { caller: learner }),
    )
    const blank = await send<{ summaryId: string }>(
      t.commands.execute(generateSummary, { subjectId, content: 'BLANK text.' }, { caller: learner }),
    )
    const next = await send<{ summaryId: string }>(
      t.commands.execute(
        generateSummary,
        { subjectId, content: 'A fine text. It has sentences.' },
        { caller: learner },
      ),
    )
    type Item = { summaryId: string; status: string; reason: string | null }
    const list = async () => {
      const answer = await ask<{ items: Item[] }>(getStudySummaries, { subjectId }, learner)
      return answer.status === 'succeeded' ? answer.data.items : []
    }
    await until(async () => {
      const items = await list()
      return items.length === 3 && items.every((s) => s.status !== 'pending')
    })
    const byId = new Map((await list()).map((s) => [s.summaryId, s]))
    expect(byId.get(broken.result.summaryId)).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('local-textrank: the summary was refused') as unknown,
    })
    expect(byId.get(blank.result.summaryId)).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('/summary must not be blank') as unknown,
    })
    expect(byId.get(next.result.summaryId)).toMatchObject({ status: 'ready' })
  })

  it('fails a summary still pending at its deadline; the late result changes nothing', async () => {
    const learner: Caller = { id: `${mode}-deadline`, roles: [] }
    const subjectId = await subjectFor(learner)
    gate = new Promise<void>((resolve) => (release = resolve))
    const held = await send<{ summaryId: string }>(
      t.commands.execute(
        generateSummary,
        { subjectId, content: 'HOLD this text. It waits.' },
        { caller: learner },
      ),
    )
    t.shiftClock(11 * 60_000)
    await t.timers.runDue()
    t.shiftClock(0)
    const status = async () => {
      const [row] = await t.sql.query<{ status: string; reason: string | null }>(
        'SELECT status, reason FROM study.summary WHERE summary_id = $1',
        [held.result.summaryId],
      )
      return row
    }
    expect(await status()).toEqual({ status: 'failed', reason: 'timed out: no summary within 10 minutes' })
    release()
    await until(async () => {
      const events = await t.sql.query(`SELECT 1 FROM tandem.event_log WHERE stream_id = $1`, [
        `study-summary-${held.result.summaryId}`,
      ])
      return (
        events.length === 2 &&
        (await t.processors.status()).every((p) => p.behind === 0 && p.deadLetters === 0)
      )
    })
    expect(await status()).toEqual({ status: 'failed', reason: 'timed out: no summary within 10 minutes' })
  })

  it('counts towards a goal only the minutes studied once it was set, in the write model and the read model', async () => {
    const learner: Caller = { id: `${mode}-late-goal`, roles: [] }
    const subjectId = await subjectFor(learner, { name: 'Go' })
    const goal = await send<{ goalId: string }>(
      t.commands.execute(
        createStudyGoal,
        { subjectId, title: '50 minutes', targetMinutes: 50 },
        { caller: learner },
      ),
    )
    const yesterday = new Date(Date.now() - 86_400_000).toISOString()
    const early = await send<{ goalsMet: string[] }>(
      t.commands.execute(
        updateStudyProgress,
        { subjectId, minutesStudied: 60, progressPercent: 10, studiedAt: yesterday },
        { caller: learner },
      ),
    )
    expect(early.result.goalsMet).toEqual([])
    const [row] = await t.sql.query<{ minutes: number }>(
      'SELECT minutes_done::int AS minutes FROM study.goal WHERE goal_id = $1',
      [goal.result.goalId],
    )
    expect(row?.minutes).toBe(0)
    const late = await send<{ goalsMet: string[] }>(
      t.commands.execute(
        updateStudyProgress,
        { subjectId, minutesStudied: 50, progressPercent: 20 },
        { caller: learner },
      ),
    )
    expect(late.result.goalsMet).toEqual([goal.result.goalId])
    const detail = await ask(getSubjectDetail, { subjectId }, learner, late.position)
    expect(detail.status === 'succeeded' && detail.data).toMatchObject({
      totalMinutes: 110,
      goals: [{ goalId: goal.result.goalId, status: 'met', minutesDone: 50 }],
    })
  })

  it('counts minutes per day and subject, goals met, and streaks between from and to', async () => {
    const learner: Caller = { id: `${mode}-analytics`, roles: [] }
    const python = await subjectFor(learner, { name: 'Python' })
    const english = await subjectFor(learner, { name: 'English' })
    // Set a week ago: the minutes studied since count towards it.
    t.shiftClock(-7 * 86_400_000)
    await send(
      t.commands.execute(
        createStudyGoal,
        { title: 'Any 100 minutes', targetMinutes: 100 },
        { caller: learner },
      ),
    ).finally(() => t.shiftClock(0))
    const today = new Date().toISOString().slice(0, 10)
    const day = (n: number) => new Date(Date.parse(`${today}T12:00:00Z`) - n * 86_400_000).toISOString()
    let position: string | null = null
    // Studied 5, 4, 3 days ago (a run of 3), then yesterday and today (the current run of 2).
    for (const [n, subjectId, minutes] of [
      [5, python, 30],
      [4, english, 20],
      [3, python, 25],
      [1, python, 15],
      [0, english, 40],
    ] as const) {
      const studiedAt = n === 0 ? undefined : day(n)
      const done = await send(
        t.commands.execute(
          updateStudyProgress,
          { subjectId, minutesStudied: minutes, progressPercent: 10, ...(studiedAt ? { studiedAt } : {}) },
          { caller: learner },
        ),
      )
      position = done.position
    }
    const answer = await ask<Record<string, unknown>>(getStudyAnalytics, {}, learner, position)
    if (answer.status !== 'succeeded') throw new Error(answer.error.code)
    expect(answer.data).toMatchObject({
      to: today,
      totalMinutes: 130,
      goalsMet: 1,
      studyDays: 5,
      currentStreak: 2,
      longestStreak: 3,
      minutesPerSubject: [
        { subjectId: python, name: 'Python', minutes: 70 },
        { subjectId: english, name: 'English', minutes: 60 },
      ],
    })
    expect((answer.data.minutesPerDay as unknown[]).length).toBe(30)
    const window = await ask<Record<string, unknown>>(
      getStudyAnalytics,
      { from: day(4).slice(0, 10), to: day(3).slice(0, 10) },
      learner,
    )
    expect(window.status === 'succeeded' && window.data).toMatchObject({
      totalMinutes: 45,
      currentStreak: 2,
      longestStreak: 2,
    })
    const tooLong = await ask(getStudyAnalytics, { from: '2020-01-01', to: '2025-01-01' }, learner)
    expect(tooLong.status === 'failed' && tooLong.error.code).toBe('VALIDATION_FAILED')
    // Without `to` (today), the range is too long because of `from`: the error names it, not `to`.
    const fromOnly = await ask(getStudyAnalytics, { from: '2000-01-01' }, learner)
    expect(fromOnly.status === 'failed' && fromOnly.error).toMatchObject({
      errors: [{ path: '/from', message: expect.stringContaining('days before to (today') as unknown }],
    })
    // 366 days at most, counted as days: up to the calendar's last day too.
    const range = async (from: string | undefined, to: string) => {
      const answer = await ask<{ from: string; minutesPerDay: unknown[] }>(
        getStudyAnalytics,
        from === undefined ? { to } : { from, to },
        learner,
      )
      return answer.status === 'succeeded'
        ? [answer.data.from, answer.data.minutesPerDay.length]
        : answer.error.code
    }
    expect(await range('9999-12-30', '9999-12-31')).toEqual(['9999-12-30', 2])
    expect(await range('9999-01-01', '9999-12-31')).toEqual(['9999-01-01', 365])
    expect(await range('2024-01-01', '2024-12-31')).toEqual(['2024-01-01', 366])
    expect(await range('2024-01-01', '2025-01-01')).toBe('VALIDATION_FAILED')
    // The message says what the check counts: 2025-01-01 is 366 days after 2024-01-01, one too many.
    const past = await ask(getStudyAnalytics, { from: '2024-01-01', to: '2025-01-01' }, learner)
    expect(past.status === 'failed' && past.error).toMatchObject({
      errors: [
        {
          path: '/to',
          message: 'must be at most 365 days after from: a range lists at most 366 days (this one 367)',
        },
      ],
    })
    // Both ends wrong: both named at once.
    const both = await ask(getStudyAnalytics, { from: '0001-01-01', to: '0001-01-02' }, learner)
    expect(both.status === 'failed' && both.error).toMatchObject({
      errors: [
        { path: '/from', message: 'must be a calendar day (YYYY-MM-DD) from 2000 on' },
        { path: '/to', message: 'must be a calendar day (YYYY-MM-DD) from 2000 on' },
      ],
    })
    // The last 30 days by default, none before the first day a range may name.
    expect(await range(undefined, '2000-01-05')).toEqual(['2000-01-01', 5])
    const future = await t.commands.execute(
      updateStudyProgress,
      { subjectId: python, minutesStudied: 5, progressPercent: 10, studiedAt: '2999-01-01T00:00:00Z' },
      { caller: learner },
    )
    expect(future.status === 'failed' && future.error.code).toBe('VALIDATION_FAILED')
  })

  it('loses no minutes when many progress updates on one subject (and one shared goal) run at once', async () => {
    const learner: Caller = { id: `${mode}-racer`, roles: [] }
    const [a, b] = [await subjectFor(learner), await subjectFor(learner)]
    const goal = await send<{ goalId: string }>(
      t.commands.execute(createStudyGoal, { title: 'Shared', targetMinutes: 100_000 }, { caller: learner }),
    )
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        t.commands.execute(
          updateStudyProgress,
          { subjectId: i % 4 === 0 ? b : a, minutesStudied: 7, progressPercent: 50 },
          { caller: learner },
        ),
      ),
    )
    expect(outcomes.filter((o) => o.status === 'failed')).toEqual([])
    const rows = await t.sql.query<{ subject: string; total: number; sessions: number }>(
      `SELECT s.subject_id::text AS subject, s.total_minutes::int AS total,
              (SELECT sum(minutes)::int FROM study.study_session WHERE subject_id = s.subject_id) AS sessions
       FROM study.subject s WHERE s.subject_id IN ($1, $2) ORDER BY s.subject_id = $1 DESC`,
      [a, b],
    )
    expect(rows).toEqual([
      { subject: a, total: 30 * 7, sessions: 30 * 7 },
      { subject: b, total: 10 * 7, sessions: 10 * 7 },
    ])
    const [g] = await t.sql.query<{ done: number }>(
      'SELECT minutes_done::int AS done FROM study.goal WHERE goal_id = $1',
      [goal.result.goalId],
    )
    expect(g?.done).toBe(40 * 7)
    await t.projections.caughtUp()
    const progress = await t.queries.ask(getStudyProgress, {}, { caller: learner, useCache: false })
    expect(progress.status === 'succeeded' && progress.data.totalMinutes).toBe(40 * 7)
  })
  it('decides each update on the learner as they are, when two processes keep them in memory', async () => {
    const learner: Caller = { id: `${mode}-two-processes`, roles: [] }
    const [a, b] = [await subjectFor(learner), await subjectFor(learner)]
    const goal = await send<{ goalId: string }>(
      t.commands.execute(createStudyGoal, { title: 'Any subject', targetMinutes: 60 }, { caller: learner }),
    )
    // Two command processes, each with a memory of its own: each keeps the learner as it left them.
    const [one, two] = [commandProcess(t, 'FROM study.subject'), commandProcess(t, 'FROM study.subject')]
    const update = (p: typeof one, subjectId: string, minutes: number) =>
      p.bus.execute(
        updateStudyProgress,
        { subjectId, minutesStudied: minutes, progressPercent: 10 },
        { caller: learner },
      )
    const met = (done: Awaited<ReturnType<typeof update>>) =>
      done.status === 'succeeded' ? done.result.goalsMet : done.error.code
    expect(met(await update(one, a, 20))).toEqual([])
    expect(met(await update(two, b, 20))).toEqual([])
    // One's memory has the goal at 20 minutes, not 40: its append is refused, and it runs again, reading.
    const reads = one.counted.reads
    expect(met(await update(one, a, 20))).toEqual([goal.result.goalId])
    expect(one.counted.reads).toBeGreaterThan(reads)
    expect(one.recalls).toContain('refused')
    // Now it keeps the learner as they are: the next update on either subject reads nothing.
    const kept = one.counted.reads
    expect(met(await update(one, b, 5))).toEqual([])
    expect(one.counted.reads).toBe(kept)
    const rows = await t.sql.query<{ total: number }>(
      'SELECT total_minutes::int AS total FROM study.subject WHERE subject_id IN ($1, $2) ORDER BY subject_id = $1 DESC',
      [a, b],
    )
    expect(rows).toEqual([{ total: 40 }, { total: 25 }])
    const [g] = await t.sql.query<{ status: string; done: number }>(
      'SELECT status, minutes_done::int AS done FROM study.goal WHERE goal_id = $1',
      [goal.result.goalId],
    )
    expect(g).toEqual({ status: 'met', done: 60 })
  })
  it('refuses an id another learner holds, also when the learner is kept in memory', async () => {
    const a: Caller = { id: `${mode}-id-owner`, roles: [] }
    const b: Caller = { id: `${mode}-id-taker`, roles: [] }
    const subjectId = '0190c0d0-0000-7000-8000-00000000a001'
    const goalId = '0190c0d0-0000-7000-8000-00000000a002'
    await subjectFor(a, { subjectId })
    await send(
      t.commands.execute(createStudyGoal, { goalId, title: 'Mine', targetMinutes: 60 }, { caller: a }),
    )
    // The taker's state is kept after a command of theirs: the next one decides without reading.
    await subjectFor(b)
    const subject = await t.commands.execute(
      createSubject,
      { subjectId: subjectId.toUpperCase(), name: 'Theirs', category: 'x', difficultyLevel: 'beginner' },
      { caller: b },
    )
    expect(subject.status === 'failed' && subject.error.code).toBe('SUBJECT_ALREADY_EXISTS')
    const goal = await t.commands.execute(
      createStudyGoal,
      { goalId, title: 'Theirs', targetMinutes: 5 },
      { caller: b },
    )
    expect(goal.status === 'failed' && goal.error.code).toBe('GOAL_ALREADY_EXISTS')
    const rows = await t.sql.query<{ learner: string }>(
      'SELECT learner_id AS learner FROM study.subject WHERE subject_id = $1',
      [subjectId],
    )
    expect(rows).toEqual([{ learner: a.id }])
  })
})
