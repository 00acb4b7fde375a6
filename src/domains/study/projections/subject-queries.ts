import {
  defineQuery,
  Id,
  Limit,
  Page,
  signedIn,
  type Caller,
  type KvReader,
  keyAfter,
  memberKey,
  pageOf,
} from '../../../kernel/index.js'
import Type from 'typebox'
import { exampleSubjectId } from '../commands.js'
import { Category, DifficultyLevel } from '../messages.js'
import { subjectNotFound } from '../rules.js'
import {
  Goal,
  goalKey,
  goalListKey,
  learnerTotalsKey,
  listKey,
  type LearnerTotals,
  Subject,
  subjectGoals,
  subjectKey,
  subjectsModel,
  type GoalDoc,
  type SubjectDoc,
} from './subjects.js'

/** The queries over the subjects read model: a learner sees their own subjects only. */

const learnerOf = (caller: Caller | undefined) => caller?.id ?? ''
const strict = { additionalProperties: false } as const

/** The caller's subject; another learner's is not found. */
export async function ownSubjectDoc(kv: KvReader, subjectId: string, caller: Caller | undefined) {
  const text = await kv.get(subjectKey(subjectId))
  const doc = text === null ? undefined : (JSON.parse(text) as SubjectDoc)
  if (!doc || doc.learnerId !== learnerOf(caller)) throw subjectNotFound()
  return doc
}

/**
 * A page of a learner's list (members `<time>|<id>`, newest first) past the cursor: the documents
 * its members name, as stored, and the cursor to the next page.
 */
async function newestPage(
  kv: KvReader,
  list: string,
  docKey: (id: string) => string,
  q: { limit?: number | undefined; cursor?: string | undefined },
  kind: string,
): Promise<{ docs: string[]; nextCursor: string | null }> {
  const limit = q.limit ?? 20
  const after = keyAfter(q.cursor, kind)
  const max = after === undefined ? ('+' as const) : (`(${after.time}|${after.id}` as const)
  const members = await kv.zrangeByLex(list, { min: '-', max, count: limit + 1, reverse: true })
  const docs = await kv.mget(members.slice(0, limit).map((m) => docKey(m.slice(m.indexOf('|') + 1))))
  return {
    docs: docs.filter((d): d is string => d !== null),
    nextCursor: pageOf(members, limit, memberKey, kind).nextCursor,
  }
}

const publicSubject = ({ learnerId: _, infoPosition: _i, progressPosition: _p, ...doc }: SubjectDoc) => doc

export const getSubjects = defineQuery({
  domain: 'study',
  name: 'get-subjects',
  summary: "The caller's subjects, newest first, by category and difficulty if given",
  input: Type.Object(
    {
      category: Type.Optional(Category),
      difficultyLevel: Type.Optional(DifficultyLevel),
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    strict,
  ),
  output: Page(Subject),
  access: signedIn(),
  readModels: [subjectsModel],
  paged: true,
  examples: [{ limit: 10 }, { category: 'programming', difficultyLevel: 'advanced', limit: 10 }],
  cache: { ttlMs: 30_000, tags: (_q, _a, caller) => [`learner:${learnerOf(caller)}`] },
  async handle(q, { caller, stores }) {
    const kv = stores.kv(subjectsModel)
    const page = await newestPage(kv, listKey(learnerOf(caller), q), subjectKey, q, 'get-subjects')
    return {
      items: page.docs.map((d) => publicSubject(JSON.parse(d) as SubjectDoc)),
      nextCursor: page.nextCursor,
    }
  },
})

export const SubjectDetail = Type.Object({
  ...Subject.properties,
  goals: Type.Array(Goal),
})

export const getSubjectDetail = defineQuery({
  domain: 'study',
  name: 'get-subject-detail',
  summary: 'One of the caller’s subjects, with its progress, minutes, goals and summary count',
  input: Type.Object({ subjectId: Id() }, strict),
  output: SubjectDetail,
  access: signedIn(),
  readModels: [subjectsModel],
  notFound: 'SUBJECT_NOT_FOUND',
  examples: [{ subjectId: exampleSubjectId }],
  cache: { ttlMs: 60_000, tags: (q) => [`subject:${q.subjectId}`] },
  async handle(q, { caller, stores }) {
    const kv = stores.kv(subjectsModel)
    const doc = await ownSubjectDoc(kv, q.subjectId, caller)
    const ids = (await kv.smembers(subjectGoals(q.subjectId))).sort()
    const goals = (await kv.mget(ids.map(goalKey)))
      .flatMap((g) => (g === null ? [] : [JSON.parse(g) as GoalDoc]))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.goalId.localeCompare(b.goalId))
    return { ...publicSubject(doc), goals }
  },
})

export const getStudyGoals = defineQuery({
  domain: 'study',
  name: 'get-study-goals',
  summary: "The caller's goals, newest first, open or met if asked: on a subject or on none",
  description:
    'A goal on no subject counts the minutes of every subject; a subject’s goals are also in its ' +
    '`get-subject-detail`.',
  input: Type.Object(
    {
      status: Type.Optional(Type.Enum(['open', 'met'])),
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    strict,
  ),
  output: Page(Goal),
  access: signedIn(),
  readModels: [subjectsModel],
  // The goal lists are version 4's: an upgrade's older generation has none (an empty page, not the goals).
  readModelVersions: { [subjectsModel]: 4 },
  paged: true,
  examples: [{ limit: 10 }, { status: 'open', limit: 10 }],
  cache: { ttlMs: 30_000, tags: (_q, _a, caller) => [`learner:${learnerOf(caller)}`] },
  async handle(q, { caller, stores }) {
    const kv = stores.kv(subjectsModel)
    const page = await newestPage(kv, goalListKey(learnerOf(caller), q.status), goalKey, q, 'get-study-goals')
    return { items: page.docs.map((d) => JSON.parse(d) as GoalDoc), nextCursor: page.nextCursor }
  },
})

export const Progress = Type.Object({
  subjectId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  progressPercent: Type.Integer(),
  totalMinutes: Type.Integer(),
  completedTopics: Type.Array(Type.String()),
  lastStudiedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

/** The most subjects the progress overview lists (newest first). */
const progressLimit = 500

export const getStudyProgress = defineQuery({
  domain: 'study',
  name: 'get-study-progress',
  summary: "The caller's progress: on one subject, or on each of theirs (newest first, at most 500)",
  description:
    'Without `subjectId`, `items` lists the newest 500 subjects; `totalMinutes` counts every subject ' +
    'and `subjectCount` says how many there are, listed or not.',
  input: Type.Object({ subjectId: Type.Optional(Id()) }, strict),
  output: Type.Object({
    items: Type.Array(Progress),
    totalMinutes: Type.Integer({ description: 'Over every subject the answer is about, listed or not' }),
    subjectCount: Type.Integer({
      description: 'How many subjects the answer is about (items lists 500 at most)',
    }),
  }),
  access: signedIn(),
  readModels: [subjectsModel],
  notFound: 'SUBJECT_NOT_FOUND',
  examples: [{ subjectId: exampleSubjectId }, {}],
  cache: { ttlMs: 30_000, tags: (_q, _a, caller) => [`learner:${learnerOf(caller)}`] },
  async handle(q, { caller, stores }) {
    const kv = stores.kv(subjectsModel)
    if (q.subjectId !== undefined) {
      const item = progressOf(await ownSubjectDoc(kv, q.subjectId, caller))
      return { items: [item], totalMinutes: item.totalMinutes, subjectCount: 1 }
    }
    const learner = learnerOf(caller)
    const [members, subjectCount, totals] = await Promise.all([
      kv.zrangeByLex(listKey(learner), { min: '-', max: '+', count: progressLimit, reverse: true }),
      kv.zcard(listKey(learner)),
      kv.get(learnerTotalsKey(learner)),
    ])
    const texts = await kv.mget(members.map((m) => subjectKey(m.slice(m.indexOf('|') + 1))))
    const items = texts.flatMap((d) => (d === null ? [] : [progressOf(JSON.parse(d) as SubjectDoc)]))
    const totalMinutes = totals === null ? 0 : (JSON.parse(totals) as LearnerTotals).totalMinutes
    return { items, totalMinutes, subjectCount }
  },
})

function progressOf(d: SubjectDoc) {
  return {
    subjectId: d.subjectId,
    name: d.name,
    progressPercent: d.progressPercent,
    totalMinutes: d.totalMinutes,
    completedTopics: d.completedTopics,
    lastStudiedAt: d.lastStudiedAt,
  }
}
