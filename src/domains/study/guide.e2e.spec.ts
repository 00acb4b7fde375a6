import { describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { expectInvalid, expectProblem, modes, useTestServer, type TestServer } from '../../kernel/testing.js'
import { studyDomain } from './index.js'
import { characters } from './messages.js'

/** The guide's own paths, called as a client written for the guide would: snake_case, trailing slashes. */

const minji: Caller = { id: 'minji', roles: [] }
const jun: Caller = { id: 'jun', roles: [] }

async function until(done: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe.each(modes)("the guide's /api/cqrs/ paths (%s)", (mode) => {
  const server = useTestServer(mode, { domains: [studyDomain] })
  const put = (
    s: TestServer,
    url: string,
    body: unknown,
    caller: Caller,
    headers: Record<string, string> = {},
  ) =>
    s.app.inject({
      method: 'PUT',
      url,
      headers: { 'content-type': 'application/json', authorization: s.bearer(caller), ...headers },
      payload: JSON.stringify(body),
    })
  const create = async (s: TestServer, caller: Caller, body: Record<string, unknown> = {}) => {
    const response = await s.post(
      '/api/cqrs/subjects/',
      {
        name: 'Python 프로그래밍',
        description: 'Python 기초부터 고급까지',
        category: 'programming',
        difficulty_level: 'intermediate',
        ...body,
      },
      { caller },
    )
    expect(response.statusCode).toBe(201)
    const answer = response.json<{
      status: string
      result: { subject_id: string }
      position: string
      execution_time: number
    }>()
    return answer
  }

  it('creates, lists, shows and changes a subject with the guide’s fields', async () => {
    const s = server()
    const created = await create(s, minji)
    expect(created).toMatchObject({
      status: 'success',
      result: { subject_id: expect.any(String) as unknown },
    })
    expect(created.execution_time).toBeLessThan(1)
    const id = created.result.subject_id
    const list = await s.get('/api/cqrs/subjects/?category=programming&limit=10', {
      caller: minji,
      headers: { 'x-min-position': created.position },
    })
    expect(list.statusCode).toBe(200)
    const body = list.json<{
      results: Record<string, unknown>[]
      cache_hit: boolean
      execution_time: number
      next_cursor: null
    }>()
    expect(body).toMatchObject({ cache_hit: false, next_cursor: null })
    expect(body.results[0]).toMatchObject({
      subject_id: id,
      difficulty_level: 'intermediate',
      progress_percent: 0,
      summary_count: 0,
    })
    const again = await s.get('/api/cqrs/subjects/?category=programming&limit=10', { caller: minji })
    expect(again.json()).toMatchObject({ cache_hit: true })

    const changed = await put(
      s,
      `/api/cqrs/subjects/${id.toUpperCase()}/`,
      { difficulty_level: 'advanced' },
      minji,
    )
    expect(changed.statusCode).toBe(200)
    const detail = await s.get(`/api/cqrs/subjects/${id.toUpperCase()}/`, {
      caller: minji,
      headers: { 'x-min-position': changed.json<{ position: string }>().position },
    })
    expect(detail.json()).toMatchObject({
      results: { subject_id: id, difficulty_level: 'advanced', goals: [] },
      cache_hit: false,
    })
  })

  it('records progress, refuses a decrease, and answers progress and analytics', async () => {
    const s = server()
    const learner: Caller = { id: `${mode}-guide-progress`, roles: [] }
    const id = (await create(s, learner)).result.subject_id
    const update = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      s.post(
        '/api/cqrs/study-progress/update_progress/',
        { subject_id: id, ...body },
        { caller: learner, headers },
      )
    const first = await update(
      { minutes_studied: 45, progress_percent: 30, completed_topics: ['변수'] },
      { 'idempotency-key': 'k1' },
    )
    expect(first.json()).toMatchObject({
      status: 'success',
      result: { total_minutes: 45, progress_percent: 30, goals_met: [] },
    })
    const replay = await update(
      { minutes_studied: 45, progress_percent: 30, completed_topics: ['변수'] },
      { 'idempotency-key': 'k1' },
    )
    expect(replay.headers['idempotent-replayed']).toBe('true')
    expect(replay.json()).toMatchObject({ result: { total_minutes: 45 } })
    expectProblem(
      await update({ minutes_studied: 1, progress_percent: 31 }, { 'idempotency-key': 'k1' }),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    )
    expectProblem(await update({ minutes_studied: 10, progress_percent: 20 }), 409, 'PROGRESS_DECREASE')
    expectInvalid(await update({ minutes_studied: 1441, progress_percent: 30 }), '/minutes_studied')
    expectInvalid(await update({ minutes_studied: 10, progress_percent: 101 }), '/progress_percent')
    const reset = await update({ minutes_studied: 10, progress_percent: 20, reset: true })
    const position = reset.json<{ position: string }>().position
    const progress = await s.get('/api/cqrs/study-progress/', {
      caller: learner,
      headers: { 'x-min-position': position },
    })
    expect(progress.json()).toMatchObject({
      results: [{ subject_id: id, progress_percent: 20, total_minutes: 55 }],
      total_minutes: 55,
    })
    const analytics = await s.get('/api/cqrs/study-analytics/', {
      caller: learner,
      headers: { 'x-min-position': position },
    })
    expect(analytics.json()).toMatchObject({
      results: { total_minutes: 55, current_streak: 1, longest_streak: 1, study_days: 1 },
    })
    expectInvalid(
      await s.get('/api/cqrs/study-analytics/?from=2030-01-02&to=2030-01-01', { caller: learner }),
      '/from',
    )
  })

  it('answers a summary request pending at once, then lists it ready', async () => {
    const s = server()
    const learner: Caller = { id: `${mode}-guide-summary`, roles: [] }
    const id = (await create(s, learner)).result.subject_id
    const content =
      'CQRS는 명령과 조회를 분리합니다. 명령은 상태를 바꿉니다. 조회는 데이터를 읽습니다. 캐시는 조회를 빠르게 합니다 🚀.'
    const asked = await s.post(
      `/api/cqrs/subjects/${id}/generate_summary/`,
      { content, style: 'brief' },
      { caller: learner },
    )
    expect(asked.statusCode).toBe(202)
    expect(asked.json()).toMatchObject({
      status: 'success',
      result: { summary_id: expect.any(String) as unknown, status: 'pending' },
    })
    const summaryId = asked.json<{ result: { summary_id: string } }>().result.summary_id
    let results: { summary_id: string; status: string; summary: string | null }[] = []
    await until(async () => {
      const list = await s.get(`/api/cqrs/study-summaries/?subject_id=${id}`, { caller: learner })
      results = list.json<{ results: typeof results }>().results
      return results[0]?.status === 'ready'
    })
    expect(results).toEqual([
      expect.objectContaining({ summary_id: summaryId, status: 'ready', content_chars: characters(content) }),
    ])
    expect(results[0]?.summary?.length).toBeGreaterThan(0)
  })

  it('shows nothing of another learner’s, and refuses bad input with problem+json', async () => {
    const s = server()
    const id = (await create(s, minji)).result.subject_id
    expectProblem(await s.get(`/api/cqrs/subjects/${id}/`, { caller: jun }), 404, 'SUBJECT_NOT_FOUND')
    expectProblem(await put(s, `/api/cqrs/subjects/${id}/`, { name: 'Mine' }, jun), 404, 'SUBJECT_NOT_FOUND')
    expectProblem(
      await s.post(`/api/cqrs/subjects/${id}/generate_summary/`, { content: 'x.' }, { caller: jun }),
      404,
      'SUBJECT_NOT_FOUND',
    )
    const theirs = await s.get(`/api/cqrs/study-summaries/?subject_id=${id}`, { caller: jun })
    expect(theirs.json()).toMatchObject({ results: [] })
    expectProblem(await s.get('/api/cqrs/subjects/'), 401, 'UNAUTHENTICATED')
    expectInvalid(await s.get('/api/cqrs/subjects/not-a-uuid/', { caller: minji }), '/id')
    const blank = { name: ' \u200b ', category: 'programming', difficulty_level: 'beginner' }
    expectInvalid(await s.post('/api/cqrs/subjects/', blank, { caller: minji }), '/name')
    expectInvalid(
      await s.post(
        `/api/cqrs/subjects/${id}/generate_summary/`,
        { content: 'x'.repeat(100_001) },
        { caller: minji },
      ),
      '/content',
    )
    expectInvalid(
      await s.post(
        '/api/cqrs/subjects/',
        { name: 'x', category: 'y', difficulty_level: 'expert' },
        { caller: minji },
      ),
      '/difficulty_level',
    )
    expectInvalid(
      await s.post(
        '/api/cqrs/study-progress/update_progress/',
        { subject_id: id, minutes_studied: 0, progress_percent: 10 },
        { caller: minji },
      ),
      '/minutes_studied',
    )
    expectProblem(
      await s.app.inject({ method: 'DELETE', url: `/api/cqrs/subjects/${id}/` }),
      405,
      'METHOD_NOT_ALLOWED',
    )
    // Only the guide's names: the messages' own (camelCase) beside them would win or lose by their
    // place, and a field the path gives is the path's.
    const progress = { subject_id: id, minutes_studied: 3, progress_percent: 10 }
    const results = async () =>
      (await s.get('/api/cqrs/study-progress/', { caller: minji })).json<{ results: unknown }>().results
    const before = await results()
    for (const body of [
      { ...progress, minutesStudied: 1000 },
      { subjectId: id, ...progress },
      { ...progress, MINUTES_STUDIED: 1 },
    ]) {
      const answer = await s.post('/api/cqrs/study-progress/update_progress/', body, { caller: minji })
      expectInvalid(answer, '')
    }
    expectInvalid(await put(s, `/api/cqrs/subjects/${id}/`, { name: 'Mine', subject_id: id }, minji), '')
    // A command's route reads no query string: a field there is refused, not dropped unread.
    expectInvalid(await put(s, `/api/cqrs/subjects/${id}/?name=q`, {}, minji), '/query/name')
    // Without a token: 401 first, as without the query string.
    const anonymous = await s.app.inject({
      method: 'PUT',
      url: `/api/cqrs/subjects/${id}/?name=q`,
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    })
    expectProblem(anonymous, 401, 'UNAUTHENTICATED')
    expectInvalid(
      await s.post('/api/cqrs/study-progress/update_progress/?bogus=%00', progress, { caller: minji }),
      '/query/bogus',
    )
    // A body of null is a value, not an empty object: refused whole.
    const nothing = await s.app.inject({
      method: 'POST',
      url: '/api/cqrs/subjects/',
      headers: { authorization: s.bearer(minji), 'content-type': 'application/json' },
      payload: 'null',
    })
    // In the commands' words: one message for one mistake, whichever path it came by.
    expect(expectInvalid(nothing, '').errors).toEqual([{ path: '', message: 'must be object' }])
    expectInvalid(
      await s.get(`/api/cqrs/study-summaries/?subject_id=${id}&subjectId=${id}`, { caller: minji }),
      '',
    )
    expect(await results()).toEqual(before)
  })

  it('keeps every minute of parallel updates on one subject', async () => {
    const s = server()
    const learner: Caller = { id: `${mode}-guide-race`, roles: [] }
    const id = (await create(s, learner)).result.subject_id
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        s.post(
          '/api/cqrs/study-progress/update_progress/',
          { subject_id: id, minutes_studied: 3, progress_percent: 10 },
          { caller: learner },
        ),
      ),
    )
    expect(answers.map((a) => a.statusCode)).toEqual(Array.from({ length: 20 }, () => 200))
    const totals = answers
      .map((a) => a.json<{ result: { total_minutes: number } }>().result.total_minutes)
      .sort((a, b) => a - b)
    expect(totals).toEqual(Array.from({ length: 20 }, (_, i) => (i + 1) * 3))
  })

  it('documents the guide’s paths in OpenAPI', async () => {
    const doc = (await server().get('/openapi.json')).json<{
      paths: Record<string, Record<string, unknown>>
    }>()
    for (const [path, methods] of [
      ['/api/cqrs/subjects/', ['get', 'post']],
      ['/api/cqrs/subjects/{id}/', ['get', 'put']],
      ['/api/cqrs/subjects/{id}/generate_summary/', ['post']],
      ['/api/cqrs/study-summaries/', ['get']],
      ['/api/cqrs/study-progress/', ['get']],
      ['/api/cqrs/study-progress/update_progress/', ['post']],
      ['/api/cqrs/study-analytics/', ['get']],
    ] as const) {
      for (const method of methods) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined()
    }
  })
})
