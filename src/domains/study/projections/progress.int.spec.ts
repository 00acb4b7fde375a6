import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { modes, projectionSpec } from '../../../kernel/testing.js'
import type { Caller } from '../../../kernel/index.js'
import { StudyProgressUpdated, SubjectCreated } from '../messages.js'
import { getStudyProgress } from './subject-queries.js'
import { subjectsProjection } from './subjects.js'

const ana: Caller = { id: 'ana', roles: [] }
const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString()

const subject = (subjectId: string, minute: number, learnerId = 'ana') =>
  SubjectCreated.create({
    subjectId,
    learnerId,
    createdAt: at(minute),
    name: `Subject ${minute}`,
    description: null,
    category: 'general',
    difficultyLevel: 'beginner',
  })

const studied = (subjectId: string, minutesStudied: number, learnerId = 'ana') =>
  StudyProgressUpdated.create({
    subjectId,
    learnerId,
    sessionId: randomUUID(),
    minutesStudied,
    day: '2026-01-02',
    studiedAt: '2026-01-02T10:00:00.000Z',
    progressPercent: 10,
    previousPercent: 0,
    totalMinutes: minutesStudied,
    completedTopics: [],
    reset: false,
    recordedAt: '2026-01-02T10:00:00.000Z',
  })

describe.each(modes)('study progress over many subjects (%s)', (mode) => {
  const given = projectionSpec(mode, [subjectsProjection])

  it('counts every subject’s minutes, listed or not: the list holds the newest 500', async () => {
    const oldest = randomUUID()
    const newer = Array.from({ length: 500 }, () => randomUUID())
    const m = await given(
      subject(oldest, 0),
      studied(oldest, 100),
      ...newer.map((id, i) => subject(id, i + 1)),
      studied(newer[499] ?? '', 5),
      // Another learner's minutes are not ana's.
      subject(randomUUID(), 0, 'bo'),
    )
    const all = await m.ask(getStudyProgress, {}, ana)
    // It said 0 minutes over the 500 listed, the studied oldest subject left out.
    expect(all.items).toHaveLength(500)
    expect(all.items.map((i) => i.subjectId)).not.toContain(oldest)
    expect({ totalMinutes: all.totalMinutes, subjectCount: all.subjectCount }).toEqual({
      totalMinutes: 105,
      subjectCount: 501,
    })
    expect(await m.ask(getStudyProgress, { subjectId: oldest }, ana)).toMatchObject({
      totalMinutes: 100,
      subjectCount: 1,
    })
    expect(await m.ask(getStudyProgress, {}, { id: 'bo', roles: [] })).toMatchObject({
      totalMinutes: 0,
      subjectCount: 1,
    })
  })
})
