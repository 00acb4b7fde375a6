import { defineKvProjection, defineQuery, signedIn, ValidationError } from '../../../kernel/index.js'
import Type from 'typebox'
import { StudyGoalMet, StudyProgressUpdated } from '../messages.js'
import { isCalendarDay, notCalendarDay } from '../rules.js'
import { subjectKey, subjectsModel, type SubjectDoc } from './subjects.js'

/** The analytics read model: each learner's minutes per day (and per subject within it), and goals met by time. */

interface DayDoc {
  minutes: number
  subjects: Record<string, number>
}

export const analyticsModel = 'study-analytics'
const enc = encodeURIComponent
const dayKey = (learner: string, day: string) => `learner:${enc(learner)}:day:${day}`
/** The days a learner studied, `YYYY-MM-DD`, all at score 0. */
const daysKey = (learner: string) => `learner:${enc(learner)}:days`
/** Goals met, `<metAt>|<goalId>`. */
const metKey = (learner: string) => `learner:${enc(learner)}:goals-met`

export const analyticsProjection = defineKvProjection({
  domain: 'study',
  name: analyticsModel,
  version: 1,
  events: [StudyProgressUpdated, StudyGoalMet],
  tags: (event) => [`analytics:${event.data.learnerId}`],
  prefetch: (events) =>
    events.flatMap((e) => (e.type === 'StudyProgressUpdated' ? [dayKey(e.data.learnerId, e.data.day)] : [])),
  async apply(event, kv) {
    if (event.type === 'StudyGoalMet') {
      kv.zadd(metKey(event.data.learnerId), 0, `${event.data.metAt}|${event.data.goalId}`)
      return
    }
    const { learnerId, day, subjectId, minutesStudied } = event.data
    const current = (await kv.getJson<DayDoc>(dayKey(learnerId, day))) ?? { minutes: 0, subjects: {} }
    kv.setJson(dayKey(learnerId, day), {
      minutes: current.minutes + minutesStudied,
      subjects: { ...current.subjects, [subjectId]: (current.subjects[subjectId] ?? 0) + minutesStudied },
    } satisfies DayDoc)
    kv.zadd(daysKey(learnerId), 0, day)
  },
})

const dayMs = 24 * 3600_000
/** The longest range the analytics cover at once. */
export const maxRangeDays = 366
/** The first calendar day a query takes (rules.ts `calendarDay`). */
const firstDay = '2000-01-01'
/**
 * Days as numbers (since 1970-01-01) and back: counted as numbers, a range ending 9999-12-31 ends
 * (as text, the day after it is `+010000-01`, which sorts before every day).
 */
const dayNumber = (day: string) => Date.parse(`${day}T00:00:00Z`) / dayMs
const dayText = (n: number) => new Date(n * dayMs).toISOString().slice(0, 10)
/** Every day of [from, to], in order. */
function daysOf(from: string, to: string): string[] {
  const days: string[] = []
  for (let n = dayNumber(from), last = dayNumber(to); n <= last; n++) days.push(dayText(n))
  return days
}

/**
 * Streaks of study days within [from, to]: the longest, and the current one: the run ending on
 * `to`, or on the day before when `to` has no study yet (today's streak lasts until the day ends).
 */
export function streaks(studied: ReadonlySet<string>, from: string, to: string) {
  const days = daysOf(from, to)
  let longest = 0
  let run = 0
  for (const day of days) {
    run = studied.has(day) ? run + 1 : 0
    longest = Math.max(longest, run)
  }
  let current = 0
  let i = studied.has(to) ? days.length - 1 : days.length - 2
  while (i >= 0 && studied.has(days[i] as string)) {
    current++
    i--
  }
  return { currentStreak: current, longestStreak: longest }
}

const Day = Type.String({ format: 'date' })

export const getStudyAnalytics = defineQuery({
  domain: 'study',
  name: 'get-study-analytics',
  summary:
    "The caller's minutes per day and per subject, goals met, current and longest streak (default: the last 30 days)",
  input: Type.Object({ from: Type.Optional(Day), to: Type.Optional(Day) }, { additionalProperties: false }),
  output: Type.Object({
    from: Day,
    to: Day,
    totalMinutes: Type.Integer(),
    minutesPerDay: Type.Array(Type.Object({ date: Day, minutes: Type.Integer() })),
    minutesPerSubject: Type.Array(
      Type.Object({
        subjectId: Type.String({ format: 'uuid' }),
        name: Type.String(),
        minutes: Type.Integer(),
      }),
    ),
    goalsMet: Type.Integer(),
    studyDays: Type.Integer(),
    currentStreak: Type.Integer(),
    longestStreak: Type.Integer(),
  }),
  access: signedIn(),
  readModels: [analyticsModel, subjectsModel],
  examples: [{}, { from: '2025-01-01', to: '2025-12-31' }],
  cache: {
    ttlMs: 30_000,
    tags: (_q, _a, caller) => [`analytics:${caller?.id ?? ''}`, `learner:${caller?.id ?? ''}`],
    // Without `to` the range ends today: a new day is another range.
    until: (q) => (q.to === undefined ? (Math.floor(Date.now() / dayMs) + 1) * dayMs : undefined),
  },
  async handle(q, { caller, stores }) {
    const learner = caller?.id ?? ''
    // Both ends checked before either is refused: a client sees every field to mend at once.
    const wrong = (['from', 'to'] as const).filter((end) => q[end] !== undefined && !isCalendarDay(q[end]))
    if (wrong.length > 0) throw new ValidationError(wrong.map((end) => notCalendarDay(`/${end}`)))
    const to = q.to ?? new Date().toISOString().slice(0, 10)
    // By default the last 30 days, but none before the first day a range may name.
    const recent = dayText(dayNumber(to) - 29)
    const from = q.from ?? (recent < firstDay ? firstDay : recent)
    if (from > to) throw new ValidationError([{ path: '/from', message: 'must not be after to' }])
    const listed = dayNumber(to) - dayNumber(from) + 1
    if (listed > maxRangeDays) {
      // Named where the client set the range: `to` if given, else `from` (to is then today).
      throw new ValidationError([
        q.to !== undefined
          ? {
              path: '/to',
              message: `must be at most ${maxRangeDays - 1} days after from: a range lists at most ${maxRangeDays} days (this one ${listed})`,
            }
          : {
              path: '/from',
              message: `must be at most ${maxRangeDays - 1} days before to (today, ${to}, when not given): a range lists at most ${maxRangeDays} days (this one ${listed})`,
            },
      ])
    }
    const kv = stores.kv(analyticsModel)
    const days = await kv.zrangeByLex(daysKey(learner), {
      min: `[${from}`,
      max: `[${to}`,
      count: maxRangeDays,
    })
    const docs = (await kv.mget(days.map((d) => dayKey(learner, d)))).map((d) =>
      d === null ? { minutes: 0, subjects: {} } : (JSON.parse(d) as DayDoc),
    )
    const perDay = new Map(days.map((d, i) => [d, docs[i]?.minutes ?? 0]))
    const minutesPerDay: { date: string; minutes: number }[] = []
    for (const day of daysOf(from, to)) minutesPerDay.push({ date: day, minutes: perDay.get(day) ?? 0 })
    const perSubject = new Map<string, number>()
    for (const d of docs)
      for (const [id, m] of Object.entries(d.subjects)) perSubject.set(id, (perSubject.get(id) ?? 0) + m)
    const ids = [...perSubject.keys()].sort()
    const names = await stores.kv(subjectsModel).mget(ids.map(subjectKey))
    const minutesPerSubject = ids
      .map((subjectId, i) => {
        const text = names[i]
        const name = text === null || text === undefined ? '' : (JSON.parse(text) as SubjectDoc).name
        return { subjectId, name, minutes: perSubject.get(subjectId) ?? 0 }
      })
      .sort((a, b) => b.minutes - a.minutes || a.subjectId.localeCompare(b.subjectId))
    const met = await kv.zrangeByLex(metKey(learner), { min: `[${from}`, max: `[${to}|~`, count: 100_000 })
    return {
      from,
      to,
      totalMinutes: docs.reduce((sum, d) => sum + d.minutes, 0),
      minutesPerDay,
      minutesPerSubject,
      goalsMet: met.length,
      studyDays: days.length,
      ...streaks(new Set(days), from, to),
    }
  },
})
