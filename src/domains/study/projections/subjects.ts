import { defineKvProjection, unreachable, type KvBatch } from '../../../kernel/index.js'
import type { Static } from 'typebox'
import Type from 'typebox'
import { allEvents, DifficultyLevel, type Difficulty } from '../messages.js'
import { countsTowards } from '../rules.js'

/**
 * The subjects read model: one document per subject (with its progress, minutes, topics and summary
 * count), one per goal, each learner's subjects newest first, whole and by category, by difficulty
 * and by both, and each learner's goals newest first, all and by status.
 */

const Time = Type.String({ format: 'date-time' })
export const Goal = Type.Object({
  goalId: Type.String({ format: 'uuid' }),
  subjectId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  title: Type.String(),
  targetMinutes: Type.Union([Type.Integer(), Type.Null()]),
  targetDate: Type.Union([Type.String({ format: 'date' }), Type.Null()]),
  minutesDone: Type.Integer(),
  status: Type.Enum(['open', 'met']),
  createdAt: Time,
  metAt: Type.Union([Time, Type.Null()]),
})
export type GoalDoc = Static<typeof Goal>

export const Subject = Type.Object({
  subjectId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  category: Type.String(),
  difficultyLevel: DifficultyLevel,
  progressPercent: Type.Integer(),
  totalMinutes: Type.Integer(),
  completedTopics: Type.Array(Type.String()),
  lastStudiedAt: Type.Union([Time, Type.Null()]),
  summaryCount: Type.Integer(),
  createdAt: Time,
  updatedAt: Time,
})
/**
 * Events of one subject can be applied in another order than they were written (the log is read in
 * transaction order): counters add up, and each absolute field is taken from the latest event that
 * set it, by log position (`infoPosition` for name and the like, `progressPosition` for progress). A
 * learner's commands take turns, so a later decision always has a later position; the stream version
 * would not do, since the subject's events moved from a stream of their own to the learner's.
 */
export type SubjectDoc = Static<typeof Subject> & {
  learnerId: string
  infoPosition: string
  progressPosition: string
}

/** Whether log position `a` comes before `b` (decimal strings of any length). */
const isBefore = (a: string, b: string) => (a.length !== b.length ? a.length < b.length : a < b)

export const subjectsModel = 'study-subjects'
const enc = encodeURIComponent
export const subjectKey = (id: string) => `subject:${id}`
export const goalKey = (id: string) => `goal:${id}`
export const subjectGoals = (id: string) => `subject:${id}:goals`
/**
 * A learner's minutes over all their subjects, however many (`get-study-progress` lists the newest
 * 500): `{ totalMinutes }`, added to by each progress update, in any order.
 */
export const learnerTotalsKey = (learner: string) => `learner:${enc(learner)}:totals`
export interface LearnerTotals {
  totalMinutes: number
}
/** A learner's open goals: each progress update counts towards those of its subject or of none. */
const openGoals = (learner: string) => `learner:${enc(learner)}:open-goals`
/**
 * A learner's goals newest first, all or by status, those on no subject among them (no subject's
 * detail lists these): members are `<createdAt>|<goalId>`, all at score 0.
 */
export const goalListKey = (learner: string, status?: GoalDoc['status']) =>
  `learner:${enc(learner)}:goals${status === undefined ? '' : `:${status}`}`
/** A learner's subjects, filtered or not: members are `<createdAt>|<subjectId>`, all at score 0. */
export function listKey(learner: string, filter: { category?: string; difficultyLevel?: Difficulty } = {}) {
  const c = filter.category === undefined ? '' : `:c:${enc(filter.category)}`
  const d = filter.difficultyLevel === undefined ? '' : `:d:${filter.difficultyLevel}`
  return `learner:${enc(learner)}:subjects${c}${d}`
}
const member = (d: { createdAt: string; subjectId: string }) => `${d.createdAt}|${d.subjectId}`
const goalMember = (d: { createdAt: string; goalId: string }) => `${d.createdAt}|${d.goalId}`
const latest = (a: string, b: string) => (a > b ? a : b)

function listKeys(d: SubjectDoc): string[] {
  const { category, difficultyLevel } = d
  return [
    listKey(d.learnerId),
    listKey(d.learnerId, { category }),
    listKey(d.learnerId, { difficultyLevel }),
    listKey(d.learnerId, { category, difficultyLevel }),
  ]
}

async function changeSubject(kv: KvBatch, subjectId: string, change: (d: SubjectDoc) => SubjectDoc) {
  const current = await kv.getJson<SubjectDoc>(subjectKey(subjectId))
  if (!current) return
  const next = change(current)
  const before = listKeys(current)
  const after = listKeys(next)
  for (const key of before) if (!after.includes(key)) kv.zrem(key, member(current))
  for (const key of after) if (!before.includes(key)) kv.zadd(key, 0, member(next))
  kv.setJson(subjectKey(subjectId), next)
}

export const subjectsProjection = defineKvProjection({
  domain: 'study',
  name: subjectsModel,
  version: 4,
  events: allEvents,
  tags: ({ data }) => [
    `learner:${data.learnerId}`,
    ...('subjectId' in data && data.subjectId !== null ? [`subject:${data.subjectId}`] : []),
  ],
  prefetch: (events) =>
    events.flatMap((e) => [
      ...('subjectId' in e.data && e.data.subjectId !== null ? [subjectKey(e.data.subjectId)] : []),
      ...(e.type === 'StudyProgressUpdated' ? [learnerTotalsKey(e.data.learnerId)] : []),
    ]),
  async apply(event, kv) {
    switch (event.type) {
      case 'SubjectCreated': {
        const { createdAt } = event.data
        const doc: SubjectDoc = {
          ...event.data,
          progressPercent: 0,
          totalMinutes: 0,
          completedTopics: [],
          lastStudiedAt: null,
          summaryCount: 0,
          updatedAt: createdAt,
          infoPosition: event.position,
          progressPosition: event.position,
        }
        kv.setJson(subjectKey(doc.subjectId), doc)
        for (const key of listKeys(doc)) kv.zadd(key, 0, member(doc))
        return
      }
      case 'SubjectUpdated':
        return changeSubject(kv, event.data.subjectId, (d) =>
          isBefore(event.position, d.infoPosition)
            ? d
            : {
                ...d,
                ...event.data.changes,
                infoPosition: event.position,
                updatedAt: latest(d.updatedAt, event.data.updatedAt),
              },
        )
      case 'StudyProgressUpdated': {
        const e = event.data
        await changeSubject(kv, e.subjectId, (d) => {
          const counted = {
            ...d,
            totalMinutes: d.totalMinutes + e.minutesStudied,
            lastStudiedAt: d.lastStudiedAt === null ? e.studiedAt : latest(d.lastStudiedAt, e.studiedAt),
            updatedAt: latest(d.updatedAt, e.recordedAt),
          }
          if (isBefore(event.position, d.progressPosition)) return counted
          const { progressPercent, completedTopics } = e
          return { ...counted, progressPercent, completedTopics, progressPosition: event.position }
        })
        const totals = await kv.getJson<LearnerTotals>(learnerTotalsKey(e.learnerId))
        kv.setJson(learnerTotalsKey(e.learnerId), {
          totalMinutes: (totals?.totalMinutes ?? 0) + e.minutesStudied,
        } satisfies LearnerTotals)
        for (const goalId of await kv.smembers(openGoals(e.learnerId))) {
          const goal = await kv.getJson<GoalDoc>(goalKey(goalId))
          if (!goal || (goal.subjectId !== null && goal.subjectId !== e.subjectId)) continue
          if (!countsTowards(goal, e.studiedAt)) continue
          kv.setJson(goalKey(goalId), { ...goal, minutesDone: goal.minutesDone + e.minutesStudied })
        }
        return
      }
      case 'StudyGoalCreated': {
        const { learnerId: _, ...d } = event.data
        kv.setJson(goalKey(d.goalId), { ...d, minutesDone: 0, status: 'open', metAt: null } satisfies GoalDoc)
        kv.sadd(openGoals(event.data.learnerId), d.goalId)
        if (d.subjectId !== null) kv.sadd(subjectGoals(d.subjectId), d.goalId)
        kv.zadd(goalListKey(event.data.learnerId), 0, goalMember(d))
        kv.zadd(goalListKey(event.data.learnerId, 'open'), 0, goalMember(d))
        return
      }
      case 'StudyGoalMet': {
        const goal = await kv.getJson<GoalDoc>(goalKey(event.data.goalId))
        const { minutesDone, metAt } = event.data
        if (goal) {
          kv.setJson(goalKey(goal.goalId), { ...goal, minutesDone, metAt, status: 'met' } satisfies GoalDoc)
          kv.zrem(goalListKey(event.data.learnerId, 'open'), goalMember(goal))
          kv.zadd(goalListKey(event.data.learnerId, 'met'), 0, goalMember(goal))
        }
        kv.srem(openGoals(event.data.learnerId), event.data.goalId)
        return
      }
      case 'SummaryRequested':
        return changeSubject(kv, event.data.subjectId, (d) => ({ ...d, summaryCount: d.summaryCount + 1 }))
      case 'SummaryGenerated':
      case 'SummaryFailed':
        return
      default:
        return unreachable(event)
    }
  },
})
