import type { BenchContext } from '../lib/context.js'
import type { RequestSpec } from '../lib/load.js'
import type { Check, Mode } from '../lib/results.js'
import type { TandemServer } from '../lib/tandem-server.js'
import type { StudyAudit, StudySubject } from '../server/protocol.js'
import { getJson, measure } from './http.js'
import { cpuPerRequest, noErrors, ratio } from './scenario.js'
import type { Part } from './study.js'

const minutes = 25
/** One request in this many updates progress: the guide's 5%. */
const updateEvery = 20
const subjectsPath = '/api/queries/study/get-subjects?limit=20'
const detailPath = (subjectId: string) => `/api/queries/study/get-subject-detail?subjectId=${subjectId}`
const updatePath = '/api/commands/study/update-study-progress'

interface Learner extends StudySubject {
  authorization: string
}

interface Stats {
  queries: Record<string, { count: number; cacheHitRate?: number }>
}

/**
 * The guide's mix over HTTP at 100 connections against a Tandem server process: subjects seeded
 * over HTTP by their learners, then get-subjects and get-subject-detail (half each, a random learner
 * or subject, as its learner) with every 20th request an update-study-progress. Afterwards, every
 * acknowledged update's 25 minutes must be recorded: write model, log and read model.
 */
export async function guideMixOverHttp(ctx: BenchContext, mode: Mode): Promise<Part> {
  const learners = ctx.scale(50, 3)
  const subjectsEach = ctx.scale(4, 2)
  const connections = ctx.scale(100, 4)
  const bare = await ctx.ceiling()
  const tandem = await ctx.tandem(mode)
  try {
    const subjects = await seed(tandem, `bench-study-${mode}`, learners, subjectsEach)
    await tandem.caughtUp()
    const tokens = [...new Set(subjects.map((s) => s.authorization))]
    const any = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)] as T
    let sent = 0
    let updatesSent = 0
    let answered = 0
    let acknowledged = 0
    const next = (): RequestSpec => {
      const k = sent++
      if (k % updateEvery === 3) {
        updatesSent++
        const { subjectId, authorization } = any(subjects)
        // progressPercent stays at 50: parallel updates never refuse each other (PROGRESS_DECREASE).
        const body = JSON.stringify({ subjectId, minutesStudied: minutes, progressPercent: 50 })
        return { method: 'POST', path: updatePath, headers: { authorization }, body }
      }
      if (k % 2 === 0) return { method: 'GET', path: subjectsPath, headers: { authorization: any(tokens) } }
      const { subjectId, authorization } = any(subjects)
      return { method: 'GET', path: detailPath(subjectId), headers: { authorization } }
    }
    const load = await measure(ctx, {
      label: 'study mix: get-subjects / get-subject-detail, 5% update-study-progress',
      url: tandem.server.url,
      serverPid: tandem.server.pid,
      connections,
      next,
      onBody: (status, body) => {
        answered++
        // A command's answer starts with its id; a query's with its data.
        if (status >= 200 && status < 300 && body.startsWith('{"commandId"')) acknowledged++
      },
    })
    const audit = await tandem.studyAudit(subjects)
    const stats = await getJson<Stats>(`${tandem.server.url}/api/cqrs/stats`)
    const served = ['study/get-subjects', 'study/get-subject-detail'].map((q) => stats.queries[q])
    const lookups = served.reduce((n, s) => n + (s?.count ?? 0), 0)
    const hits = served.reduce((n, s) => n + (s?.count ?? 0) * (s?.cacheHitRate ?? 0), 0)
    const cutOff = sent - answered
    return {
      measurements: [load],
      targets: [],
      checks: [
        noErrors([bare, load]),
        ...minutesChecks(audit, { acknowledged, cutOff: Math.min(cutOff, updatesSent - acknowledged) }),
      ],
      figures: {
        'http.learners': learners,
        'http.subjects': subjects.length,
        'http.connections': connections,
        'http.shareOfBare': ratio(load.throughput, bare.throughput),
        'http.cacheHitRate': ratio(hits, lookups),
        'http.updatesAcknowledged': acknowledged,
        'http.minutesRecorded': audit.writeMinutes,
        ...cpuPerRequest(load, 'http.cpuPerRequest'),
      },
      notes: [
        `Guide's mix over HTTP: ${learners} learners with ${subjectsEach} subjects each, created over HTTP with ` +
          "tokens signed by the server's auth (one per learner, its JWT sub the learner). Then " +
          `${connections} connections (autocannon): every ${updateEvery}th request a POST update-study-progress ` +
          `(${minutes} minutes, progressPercent kept at 50) on a random subject as its learner; the others ` +
          'get-subjects (limit 20, a random learner) and get-subject-detail (a random subject, as its learner), ' +
          "half each, with the query cache on. Recorded beside the run's bare-Fastify ceiling; no pass mark " +
          'beyond zero errors. Afterwards the subjects must hold 25 minutes per acknowledged update (write ' +
          'model, study sessions, StudyProgressUpdated events, get-subject-detail with the cache off).',
      ],
    }
  } finally {
    await tandem.close()
  }
}

/** Creates each learner's subjects through the HTTP API, 16 learners at a time. */
async function seed(
  tandem: TandemServer,
  prefix: string,
  learners: number,
  each: number,
): Promise<Learner[]> {
  const subjects: Learner[] = []
  let nextLearner = 0
  const worker = async () => {
    for (let n = nextLearner++; n < learners; n = nextLearner++) {
      const learnerId = `${prefix}-${n}`
      const token = tandem.auth.sign({ sub: learnerId, roles: [] }, { expiresInSeconds: 3600 })
      const authorization = `Bearer ${token}`
      for (let s = 0; s < each; s++) {
        const input = {
          name: `Subject ${s}`,
          category: s % 2 ? 'programming' : 'language',
          difficultyLevel: 'beginner',
        }
        const response = await fetch(`${tandem.server.url}/api/commands/study/create-subject`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify(input),
        })
        if (!response.ok) throw new Error(`create-subject: ${response.status} ${await response.text()}`)
        const answer = (await response.json()) as { result: { subjectId: string } }
        subjects.push({ subjectId: answer.result.subjectId, learnerId, authorization })
      }
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  return subjects
}

/**
 * The updates the server recorded match those it acknowledged, 25 minutes each. Requests cut off
 * when the load stopped may have been recorded without their answer being read.
 */
function minutesChecks(audit: StudyAudit, updates: { acknowledged: number; cutOff: number }): Check[] {
  const { acknowledged, cutOff } = updates
  const { sessions, writeMinutes } = audit
  return [
    {
      name: 'progress updates recorded = acknowledged',
      pass: sessions >= acknowledged && sessions <= acknowledged + cutOff,
      detail: `${sessions} recorded, ${acknowledged} acknowledged (up to ${cutOff} cut off by the load's end)`,
    },
    {
      name: 'no minutes lost or doubled (25 per update)',
      pass:
        writeMinutes === minutes * sessions &&
        audit.sessionMinutes === writeMinutes &&
        audit.progressEvents === sessions,
      detail:
        `subjects hold ${writeMinutes} minutes, ${sessions} study sessions ${audit.sessionMinutes} minutes, ` +
        `${audit.progressEvents} StudyProgressUpdated events`,
    },
    {
      name: 'study read model caught up and agrees',
      pass: audit.caughtUp && audit.readModelMinutes === writeMinutes,
      detail: `get-subject-detail sums ${audit.readModelMinutes} minutes (write model ${writeMinutes}), ${audit.caughtUp ? 'caught up' : 'NOT caught up'}`,
    },
  ]
}
