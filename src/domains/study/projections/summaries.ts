import {
  defineKvProjection,
  defineQuery,
  Id,
  Limit,
  Page,
  signedIn,
  unreachable,
  keyAfter,
  memberKey,
  pageOf,
} from '../../../kernel/index.js'
import Type, { type Static } from 'typebox'
import { exampleSubjectId } from '../commands.js'
import {
  characters,
  SummaryRequested,
  SummaryGenerated,
  SummaryFailed,
  SummaryStatus,
  SummaryStyle,
} from '../messages.js'

/** The summaries read model: each summary as it goes pending → ready or failed, each learner's newest first. */

const Time = Type.String({ format: 'date-time' })
export const Summary = Type.Object({
  summaryId: Type.String({ format: 'uuid' }),
  subjectId: Type.String({ format: 'uuid' }),
  style: SummaryStyle,
  status: SummaryStatus,
  summary: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  provider: Type.Union([Type.String(), Type.Null()]),
  contentChars: Type.Integer(),
  requestedAt: Time,
  completedAt: Type.Union([Time, Type.Null()]),
})
type SummaryDoc = Static<typeof Summary> & { learnerId: string }

export const summariesModel = 'study-summaries'
const enc = encodeURIComponent
const doc = (id: string) => `summary:${id}`
/** Members are `<requestedAt>|<summaryId>`; one list per learner, and per learner and subject. */
const list = (learner: string, subjectId?: string) =>
  `learner:${enc(learner)}:summaries${subjectId === undefined ? '' : `:${subjectId}`}`

export const summariesProjection = defineKvProjection({
  domain: 'study',
  name: summariesModel,
  version: 1,
  events: [SummaryRequested, SummaryGenerated, SummaryFailed],
  tags: (event) => [`summaries:${event.data.learnerId}`],
  prefetch: (events) => events.flatMap((e) => (e.type === 'SummaryRequested' ? [] : [doc(e.data.summaryId)])),
  async apply(event, kv) {
    switch (event.type) {
      case 'SummaryRequested': {
        const { content, ...d } = event.data
        const summary: SummaryDoc = {
          ...d,
          status: 'pending',
          summary: null,
          reason: null,
          provider: null,
          contentChars: characters(content),
          completedAt: null,
        }
        kv.setJson(doc(d.summaryId), summary)
        const m = `${d.requestedAt}|${d.summaryId}`
        kv.zadd(list(d.learnerId), 0, m)
        kv.zadd(list(d.learnerId, d.subjectId), 0, m)
        return
      }
      case 'SummaryGenerated':
      case 'SummaryFailed': {
        const current = await kv.getJson<SummaryDoc>(doc(event.data.summaryId))
        if (!current) return
        kv.setJson(
          doc(current.summaryId),
          event.type === 'SummaryGenerated'
            ? {
                ...current,
                status: 'ready',
                summary: event.data.summary,
                provider: event.data.provider,
                completedAt: event.data.generatedAt,
              }
            : { ...current, status: 'failed', reason: event.data.reason, completedAt: event.data.failedAt },
        )
        return
      }
      default:
        return unreachable(event)
    }
  },
})

export const getStudySummaries = defineQuery({
  domain: 'study',
  name: 'get-study-summaries',
  summary: "The caller's summaries, newest first, of one subject if given",
  input: Type.Object(
    {
      subjectId: Type.Optional(Id()),
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  output: Page(Summary),
  access: signedIn(),
  readModels: [summariesModel],
  paged: true,
  examples: [{ subjectId: exampleSubjectId, limit: 10 }, {}],
  cache: { ttlMs: 30_000, tags: (_q, _a, caller) => [`summaries:${caller?.id ?? ''}`] },
  async handle(q, { caller, stores }) {
    const kv = stores.kv(summariesModel)
    const limit = q.limit ?? 20
    const after = keyAfter(q.cursor, 'get-study-summaries')
    const max = after === undefined ? ('+' as const) : (`(${after.time}|${after.id}` as const)
    // Keyed by the caller: another learner's subject is an empty list here.
    const members = await kv.zrangeByLex(list(caller?.id ?? '', q.subjectId), {
      min: '-',
      max,
      count: limit + 1,
      reverse: true,
    })
    const docs = await kv.mget(members.slice(0, limit).map((m) => doc(m.slice(m.indexOf('|') + 1))))
    const items = docs.flatMap((d) => {
      if (d === null) return []
      const { learnerId: _, ...summary } = JSON.parse(d) as SummaryDoc
      return [summary]
    })
    return { items, nextCursor: pageOf(members, limit, memberKey, 'get-study-summaries').nextCursor }
  },
})
