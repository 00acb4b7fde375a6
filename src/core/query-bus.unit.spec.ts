import Type from 'typebox'
import { describe, expect, it, vi } from 'vitest'
import { createQueryCache } from './cache.js'
import { NotFoundError } from './errors.js'
import type { Logger } from './logger.js'
import { createMetrics } from './metrics.js'
import { anyone, defineQuery, signedIn, type Caller } from './messages.js'
import { authorize, logCalls, measure, validate } from './middleware.js'
import {
  cacheAnswers,
  createQueryBus,
  requireVersions,
  stableJson,
  waitForPosition,
  type ReadProgress,
} from './query-bus.js'
import type { ReadStores } from './read-stores.js'
import { createRegistry } from './registry.js'

const ann: Caller = { id: 'ann', roles: [] }
const bob: Caller = { id: 'bob', roles: [] }

/** Two queries that count their runs: one public, one per caller. Id "missing" is a 404, "bug" a bug. */
function queries() {
  const runs = { public: 0, mine: 0 }
  const getThing = defineQuery({
    domain: 'things',
    name: 'get-thing',
    summary: 'One thing',
    input: Type.Object(
      { id: Type.String(), size: Type.Optional(Type.Integer()) },
      { additionalProperties: false },
    ),
    output: Type.Object({ id: Type.String(), run: Type.Integer() }),
    access: anyone,
    readModels: ['things'],
    notFound: 'THING_NOT_FOUND',
    cache: { ttlMs: 60_000, tags: (q) => [`thing:${q.id}`] },
    async handle(q) {
      if (q.id === 'bug') throw new RangeError('Invalid array length')
      runs.public += 1
      if (q.id === 'missing') throw new NotFoundError('THING_NOT_FOUND', 'Thing not found')
      return { id: q.id, run: runs.public }
    },
  })
  const listMine = defineQuery({
    domain: 'things',
    name: 'list-mine',
    summary: "The caller's things",
    input: Type.Object({}, { additionalProperties: false }),
    output: Type.Object({ owner: Type.String(), run: Type.Integer() }),
    access: signedIn(),
    readModels: ['things'],
    cache: { ttlMs: 60_000, tags: (_q, _a, caller) => [`owner:${caller?.id ?? ''}`] },
    async handle(_q, { caller }) {
      runs.mine += 1
      return { owner: caller?.id ?? '', run: runs.mine }
    },
  })
  const adminOnly = defineQuery({
    ...listMine,
    name: 'audit',
    access: signedIn('admin'),
  })
  return { getThing, listMine, adminOnly, runs }
}

/**
 * Read progress at position 42, catching up (or not) as told; its stores still hold what was applied
 * unless `held` says otherwise, one answer per read (the last answer for the rest).
 */
function fakeProgress(caughtUp: boolean, held: readonly boolean[] = [true], onLoss = () => {}) {
  let checks = 0
  const waits: { readModels: readonly string[]; position: bigint; timeoutMs: number }[] = []
  /** Losses heard of (set by a test), and the count each judged read was taken with. */
  const losses = { heard: 0, judgedWith: [] as (number | undefined)[] }
  const progress: ReadProgress = {
    async waitFor(readModels, position, timeoutMs) {
      waits.push({ readModels, position, timeoutMs })
      return caughtUp
    },
    position: () => '42',
    logHead: async () => '50',
    losses: () => losses.heard,
    versionOf: () => undefined,
    async stillHeld(_readModels, since) {
      losses.judgedWith.push(since)
      await new Promise((resolve) => setTimeout(resolve, 1))
      const still = held[Math.min(checks++, held.length - 1)] ?? true
      // As the projections do on a loss: answers cached from the store are dropped.
      if (!still) onLoss()
      return still
    },
  }
  return { progress, waits, losses }
}

const noStores: ReadStores = {
  kv: () => {
    throw new Error('not used')
  },
  sql: () => {
    throw new Error('not used')
  },
}

function queryBus(options: { caughtUp?: boolean; held?: readonly boolean[] } = {}) {
  const q = queries()
  const cache = createQueryCache()
  const { progress, waits, losses } = fakeProgress(options.caughtUp ?? true, options.held, () =>
    cache.clear(),
  )
  const metrics = createMetrics()
  const bus = createQueryBus({
    registry: createRegistry({ commands: [], queries: [q.getThing, q.listMine, q.adminOnly] }),
    stores: noStores,
    progress,
    middleware: [
      logCalls(),
      measure(metrics),
      authorize(),
      validate(),
      waitForPosition(progress),
      cacheAnswers(cache, metrics),
    ],
  })
  return { ...q, bus, cache, metrics, waits, losses }
}

describe('query bus', () => {
  it('answers with the data and the position the read models had applied', async () => {
    const { bus, getThing } = queryBus()
    expect(await bus.ask(getThing, { id: 'a' })).toMatchObject({
      status: 'succeeded',
      data: { id: 'a', run: 1 },
      cacheHit: false,
      readPosition: '42',
    })
  })

  it("answers a query that reads no read model (the log, the write model) at the log's head, not at 0", async () => {
    const { progress } = fakeProgress(true)
    const readLog = defineQuery({
      domain: 'things',
      name: 'read-log',
      summary: 'The log itself',
      input: Type.Object({}, { additionalProperties: false }),
      output: Type.Object({}),
      access: anyone,
      readModels: [],
      handle: async () => ({}),
    })
    const bus = createQueryBus({
      registry: createRegistry({ commands: [], queries: [readLog] }),
      stores: noStores,
      progress,
      middleware: [waitForPosition(progress)],
    })
    expect(await bus.ask(readLog, {})).toMatchObject({ status: 'succeeded', readPosition: '50' })
    // Asked for a later position, it answers at least that one, as every query does.
    expect(await bus.ask(readLog, {}, { minPosition: 60n })).toMatchObject({ readPosition: '60' })
  })

  it('finds a query by address, and answers 404 QUERY_NOT_FOUND for an unknown one', async () => {
    const { bus } = queryBus()
    expect(await bus.ask('things/get-thing', { id: 'a' })).toMatchObject({ status: 'succeeded' })
    const unknown = await bus.ask('things/get-nothing', {})
    expect(unknown.status === 'failed' && unknown.error).toMatchObject({
      code: 'QUERY_NOT_FOUND',
      status: 404,
    })
  })

  it('refuses a missing caller with 401 and a caller without the role with 403', async () => {
    const { bus, listMine, adminOnly, runs } = queryBus()
    const anonymous = await bus.ask(listMine, {})
    const notAdmin = await bus.ask(adminOnly, {}, { caller: ann })
    expect(anonymous.status === 'failed' && anonymous.error).toMatchObject({
      code: 'UNAUTHENTICATED',
      status: 401,
    })
    expect(notAdmin.status === 'failed' && notAdmin.error).toMatchObject({ code: 'FORBIDDEN', status: 403 })
    expect(runs.mine).toBe(0)
  })

  it('refuses input that does not fit the schema with 400', async () => {
    const { bus, getThing, runs } = queryBus()
    const answer = await bus.ask(getThing, { id: 'a', size: 'big' })
    expect(answer.status === 'failed' && answer.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      errors: [{ path: '/size', message: 'must be integer' }],
    })
    expect(runs.public).toBe(0)
  })

  it('answers a refusal as a failed result and throws a bug', async () => {
    const { bus, getThing } = queryBus()
    const missing = await bus.ask(getThing, { id: 'missing' })
    expect(missing.status === 'failed' && missing.error).toMatchObject({
      code: 'THING_NOT_FOUND',
      status: 404,
    })
    await expect(bus.ask(getThing, { id: 'bug' })).rejects.toThrow(RangeError)
  })

  describe('read models of another version', () => {
    it('answers 503 READ_MODEL_LAGGING while a read model is older than the query reads, from no cache', async () => {
      const { getThing } = queries()
      const needing = defineQuery({
        domain: 'things',
        name: 'get-new-thing',
        summary: 'What version 2 of the read model writes',
        input: Type.Object({ id: Type.String() }),
        output: Type.Object({ id: Type.String() }),
        access: anyone,
        readModels: ['things'],
        readModelVersions: { things: 2 },
        cache: { ttlMs: 60_000, tags: (q) => [`thing:${q.id}`] },
        handle: async (q) => ({ id: q.id }),
      })
      let live: number | undefined = 1
      const { progress } = fakeProgress(true)
      const cache = createQueryCache()
      const bus = createQueryBus({
        registry: createRegistry({ commands: [], queries: [needing, getThing] }),
        stores: noStores,
        progress: { ...progress, versionOf: () => live },
        middleware: [requireVersions({ ...progress, versionOf: () => live }), cacheAnswers(cache)],
      })
      const refused = await bus.ask(needing, { id: 'a' })
      expect(refused.status === 'failed' && refused.error).toMatchObject({
        code: 'READ_MODEL_LAGGING',
        status: 503,
      })
      // The rebuild switched (or the read model is not placed here): answered.
      live = 2
      expect((await bus.ask(needing, { id: 'a' })).status).toBe('succeeded')
      live = undefined
      expect((await bus.ask(needing, { id: 'b' })).status).toBe('succeeded')
      // A query that names no version is answered from any.
      live = 1
      expect((await bus.ask(getThing, { id: 'a' })).status).toBe('succeeded')
    })
  })

  describe('read-your-writes', () => {
    it('waits for the read models to reach the position, for 3000 ms unless told otherwise', async () => {
      const { bus, getThing, waits } = queryBus()
      expect(await bus.ask(getThing, { id: 'a' }, { minPosition: 40n })).toMatchObject({
        status: 'succeeded',
      })
      await bus.ask(getThing, { id: 'b' }, { minPosition: 41n, maxWaitMs: 50 })
      await bus.ask(getThing, { id: 'c' })
      expect(waits).toEqual([
        { readModels: ['things'], position: 40n, timeoutMs: 3000 },
        { readModels: ['things'], position: 41n, timeoutMs: 50 },
      ])
    })

    it('answers 503 READ_MODEL_LAGGING when the wait times out, without running the query', async () => {
      const { bus, getThing, runs } = queryBus({ caughtUp: false })
      const answer = await bus.ask(getThing, { id: 'a' }, { minPosition: 99n, maxWaitMs: 10 })
      expect(answer.status === 'failed' && answer.error).toMatchObject({
        code: 'READ_MODEL_LAGGING',
        status: 503,
      })
      expect(runs.public).toBe(0)
    })

    it('reads again an answer read while a store did not hold what was applied', async () => {
      const { bus, getThing, runs, waits } = queryBus({ held: [false, true] })
      const answer = await bus.ask(getThing, { id: 'a' }, { minPosition: 40n, maxWaitMs: 1000 })
      expect(answer).toMatchObject({ status: 'succeeded', data: { id: 'a', run: 2 } })
      expect(runs.public).toBe(2)
      expect(waits).toHaveLength(2)
      expect(waits[1]?.timeoutMs).toBeLessThanOrEqual(1000)
    })

    it('judges a read by the losses of a store heard of before it began, not by those heard of since', async () => {
      const { bus, getThing, losses } = queryBus({ held: [false, true] })
      losses.heard = 3
      await bus.ask(getThing, { id: 'a' }, { minPosition: 40n, maxWaitMs: 1000 })
      expect(losses.judgedWith).toEqual([3, 3])
    })

    it('answers a refusal only once it was read from stores holding what was applied', async () => {
      const { bus, getThing, runs } = queryBus({ held: [false, true] })
      const answer = await bus.ask(getThing, { id: 'missing' }, { minPosition: 40n })
      expect(answer.status === 'failed' && answer.error).toMatchObject({ code: 'THING_NOT_FOUND' })
      expect(runs.public).toBe(2)
      // Without a position asked for, the answer is the read's: no store is asked.
      const plain = queryBus({ held: [false] })
      expect(await plain.bus.ask(plain.getThing, { id: 'a' })).toMatchObject({ data: { run: 1 } })
    })

    it('answers 503 READ_MODEL_LAGGING when the stores have not held what was applied by the deadline', async () => {
      const { bus, getThing } = queryBus({ held: [false] })
      const answer = await bus.ask(getThing, { id: 'missing' }, { minPosition: 40n, maxWaitMs: 30 })
      expect(answer.status === 'failed' && answer.error).toMatchObject({
        code: 'READ_MODEL_LAGGING',
        status: 503,
      })
    })

    it('logs a wait that ran out as a warning, a failure as an error', async () => {
      const { bus, getThing } = queryBus({ caughtUp: false })
      const lines: { level: string; line: object }[] = []
      const at =
        (level: string) =>
        (line: object): void => {
          lines.push({ level, line })
        }
      const log: Logger = {
        debug: at('debug'),
        info: at('info'),
        warn: at('warn'),
        error: at('error'),
        child: () => log,
      }
      await bus.ask(getThing, { id: 'a' }, { minPosition: 99n, maxWaitMs: 10, log })
      const healthy = queryBus()
      await expect(healthy.bus.ask(healthy.getThing, { id: 'bug' }, { log })).rejects.toThrow(RangeError)
      expect(lines.map((l) => l.level)).toEqual(['warn', 'error'])
      expect(lines[0]?.line).toMatchObject({ code: 'READ_MODEL_LAGGING' })
    })
  })

  describe('cache', () => {
    it('serves the second ask from the cache, whatever the order of the input’s keys', async () => {
      const { bus, getThing, runs } = queryBus()
      await bus.ask(getThing, { id: 'a', size: 1 })
      const second = await bus.ask(getThing, { size: 1, id: 'a' })
      expect(second).toMatchObject({
        status: 'succeeded',
        data: { id: 'a', run: 1 },
        cacheHit: true,
        readPosition: '42',
      })
      expect(runs.public).toBe(1)
      expect(await bus.ask(getThing, { id: 'a', size: 2 })).toMatchObject({ cacheHit: false })
    })

    it('shares a public query’s answer between callers', async () => {
      const { bus, getThing, runs } = queryBus()
      await bus.ask(getThing, { id: 'a' }, { caller: ann })
      expect(await bus.ask(getThing, { id: 'a' }, { caller: bob })).toMatchObject({ cacheHit: true })
      expect(await bus.ask(getThing, { id: 'a' })).toMatchObject({ cacheHit: true })
      expect(runs.public).toBe(1)
    })

    it('keeps a non-public query’s answers apart per caller, roles included', async () => {
      const { bus, listMine } = queryBus()
      expect(await bus.ask(listMine, {}, { caller: ann })).toMatchObject({
        data: { owner: 'ann' },
        cacheHit: false,
      })
      expect(await bus.ask(listMine, {}, { caller: bob })).toMatchObject({
        data: { owner: 'bob' },
        cacheHit: false,
      })
      expect(await bus.ask(listMine, {}, { caller: ann })).toMatchObject({
        data: { owner: 'ann' },
        cacheHit: true,
      })
      const annAsAdmin = { id: 'ann', roles: ['admin'] }
      expect(await bus.ask(listMine, {}, { caller: annAsAdmin })).toMatchObject({ cacheHit: false })
    })

    it('keeps apart callers whose fields hold what once separated them', async () => {
      const { bus, listMine } = queryBus()
      // Joined by `|` and `,`, these four callers were one cache key: each read the first one's answer.
      const callers = [
        { id: 'x|b', roles: [] },
        { id: 'x', roles: ['b|'] },
        { id: 'x', roles: ['b', 'c'] },
        { id: 'x', roles: ['b,c'] },
        { id: 'x', roles: [], dept: '|b' },
      ]
      for (const caller of callers)
        expect(await bus.ask(listMine, {}, { caller }), JSON.stringify(caller)).toMatchObject({
          data: { owner: caller.id },
          cacheHit: false,
        })
    })

    it('runs the query again once its tag is invalidated, or when asked not to use the cache', async () => {
      const { bus, getThing, cache, runs } = queryBus()
      await bus.ask(getThing, { id: 'a' })
      expect(await bus.ask(getThing, { id: 'a' }, { useCache: false })).toMatchObject({ cacheHit: false })
      cache.invalidate(['things/thing:b'])
      expect(await bus.ask(getThing, { id: 'a' })).toMatchObject({ cacheHit: true })
      // Tags are the domain's: another domain's `thing:a` is another tag.
      cache.invalidate(['stuff/thing:a', 'thing:a'])
      expect(await bus.ask(getThing, { id: 'a' })).toMatchObject({ cacheHit: true })
      cache.invalidate(['things/thing:a'])
      expect(await bus.ask(getThing, { id: 'a' })).toMatchObject({ data: { run: 3 }, cacheHit: false })
      expect(runs.public).toBe(3)
    })

    it('keeps an answer no later than its `until`, however long its ttl', async () => {
      vi.useFakeTimers()
      try {
        const { getThing } = queries()
        const cache = createQueryCache()
        // A thing of size n stops being true n ms from now; one without a size by its ttl alone.
        const timed = defineQuery({
          ...getThing,
          name: 'get-timed-thing',
          cache: {
            ttlMs: 60_000,
            tags: (q) => [`thing:${q.id}`],
            until: (q) => (q.size === undefined ? undefined : Date.now() + q.size),
          },
        })
        const bus = createQueryBus({
          registry: createRegistry({ commands: [], queries: [timed] }),
          stores: noStores,
          progress: fakeProgress(true).progress,
          middleware: [cacheAnswers(cache)],
        })
        const hit = async (input: { id: string; size?: number }) => {
          const answer = await bus.ask(timed, input)
          return answer.status === 'succeeded' && answer.cacheHit
        }
        await bus.ask(timed, { id: 'a', size: 100 })
        await bus.ask(timed, { id: 'b' })
        vi.advanceTimersByTime(99)
        expect([await hit({ id: 'a', size: 100 }), await hit({ id: 'b' })]).toEqual([true, true])
        vi.advanceTimersByTime(1)
        expect([await hit({ id: 'a', size: 100 }), await hit({ id: 'b' })]).toEqual([false, true])
      } finally {
        vi.useRealTimers()
      }
    })

    describe('a miss while the same answer is being made', () => {
      /** A per-caller query whose runs wait for `release`, read at `at.position`. */
      function slowBus() {
        const at = { position: 10n }
        const opened = () => {
          let open = () => {}
          const promise = new Promise<void>((resolve) => (open = resolve))
          return { promise, open }
        }
        let gate = opened()
        const runs: string[] = []
        const slow = defineQuery({
          domain: 'things',
          name: 'slow',
          summary: 'Slow',
          input: Type.Object({ id: Type.String() }, { additionalProperties: false }),
          output: Type.Object({ id: Type.String(), run: Type.Integer() }),
          access: signedIn(),
          readModels: ['things'],
          cache: { ttlMs: 60_000, tags: (q) => [`thing:${q.id}`] },
          async handle(q, { caller }) {
            runs.push(`${caller?.id ?? ''}:${q.id}`)
            const run = runs.length
            await gate.promise
            if (q.id === 'missing') throw new NotFoundError('THING_NOT_FOUND', 'Thing not found')
            return { id: q.id, run }
          },
        })
        const progress: ReadProgress = {
          waitFor: async (_models, position) => at.position >= position,
          position: () => at.position.toString(),
          logHead: async () => at.position.toString(),
          stillHeld: async () => true,
          losses: () => 0,
          versionOf: () => undefined,
        }
        const cache = createQueryCache()
        const bus = createQueryBus({
          registry: createRegistry({ commands: [], queries: [slow] }),
          stores: noStores,
          progress,
          middleware: [waitForPosition(progress), cacheAnswers(cache)],
        })
        const release = () => {
          gate.open()
          gate = opened()
        }
        return { bus, slow, at, runs, release, cache }
      }

      it('waits for it instead of making it again, per caller and input', async () => {
        const { bus, slow, runs, release } = slowBus()
        const asks = [
          bus.ask(slow, { id: 'a' }, { caller: ann }),
          bus.ask(slow, { id: 'a' }, { caller: ann }),
          bus.ask(slow, { id: 'a' }, { caller: bob }),
          bus.ask(slow, { id: 'b' }, { caller: ann }),
        ]
        await new Promise((resolve) => setImmediate(resolve))
        release()
        const [first, joined, bobs, other] = await Promise.all(asks)
        expect(runs).toEqual(['ann:a', 'bob:a', 'ann:b'])
        expect(first).toMatchObject({ data: { id: 'a', run: 1 }, cacheHit: false, readPosition: '10' })
        expect(joined).toMatchObject({ data: { id: 'a', run: 1 }, cacheHit: false, readPosition: '10' })
        expect(bobs).toMatchObject({ data: { id: 'a', run: 2 } })
        expect(other).toMatchObject({ data: { id: 'b', run: 3 } })
        // Stored once made: the next ask is a hit.
        expect(await bus.ask(slow, { id: 'a' }, { caller: ann })).toMatchObject({ cacheHit: true })
      })

      it('gets its refusal too', async () => {
        const { bus, slow, runs, release } = slowBus()
        const asks = [0, 1].map(() => bus.ask(slow, { id: 'missing' }, { caller: ann }))
        await new Promise((resolve) => setImmediate(resolve))
        release()
        const answers = await Promise.all(asks)
        expect(answers.map((a) => a.status === 'failed' && a.error.code)).toEqual([
          'THING_NOT_FOUND',
          'THING_NOT_FOUND',
        ])
        expect(runs).toHaveLength(1)
      })

      it('makes its own when it asked for a position whose event touched the answer being made', async () => {
        const { bus, slow, at, runs, release, cache } = slowBus()
        const first = bus.ask(slow, { id: 'a' }, { caller: ann })
        await new Promise((resolve) => setImmediate(resolve))
        // The read models apply position 11, which touches the answer, while the first is made (at 10).
        cache.invalidate(['things/thing:a'])
        at.position = 11n
        const bound = bus.ask(slow, { id: 'a' }, { caller: ann, minPosition: 11n })
        await new Promise((resolve) => setImmediate(resolve))
        release()
        expect(await first).toMatchObject({ data: { run: 1 }, readPosition: '10' })
        await new Promise((resolve) => setImmediate(resolve))
        release()
        expect(await bound).toMatchObject({ data: { run: 2 }, readPosition: '11' })
        expect(runs).toHaveLength(2)
      })

      it('joins for a position whose event did not touch the answer being made', async () => {
        const { bus, slow, at, runs, release } = slowBus()
        const first = bus.ask(slow, { id: 'a' }, { caller: ann })
        await new Promise((resolve) => setImmediate(resolve))
        at.position = 11n
        const bound = bus.ask(slow, { id: 'a' }, { caller: ann, minPosition: 11n })
        await new Promise((resolve) => setImmediate(resolve))
        release()
        expect(await first).toMatchObject({ data: { run: 1 }, readPosition: '10' })
        expect(await bound).toMatchObject({ data: { run: 1 }, readPosition: '11' })
        expect(runs).toHaveLength(1)
      })

      it('makes its own for a position below the one the answer was read at, applied while it was made', async () => {
        const { bus, slow, at, runs, release, cache } = slowBus()
        // Read models apply in transaction order: the event at 12 (an older transaction) is applied,
        // the one at 11 (a newer transaction, still running) is not yet.
        at.position = 12n
        const first = bus.ask(slow, { id: 'a' }, { caller: ann })
        await new Promise((resolve) => setImmediate(resolve))
        // The newer transaction commits and is applied; its event touches the answer.
        cache.invalidate(['things/thing:a'])
        const bound = bus.ask(slow, { id: 'a' }, { caller: ann, minPosition: 11n })
        await new Promise((resolve) => setImmediate(resolve))
        release()
        expect(await first).toMatchObject({ data: { run: 1 }, readPosition: '12' })
        await new Promise((resolve) => setImmediate(resolve))
        release()
        expect(await bound).toMatchObject({ data: { run: 2 } })
        expect(runs).toHaveLength(2)
      })

      it('makes its own when asked for one begun after an invalidation, and the one being made began before', async () => {
        const { bus, slow, runs, release, cache } = slowBus()
        const tick = () => new Promise((resolve) => setImmediate(resolve))
        const before = bus.ask(slow, { id: 'a' }, { caller: ann })
        await tick()
        // An event touches the answer while it is made; a live stream refreshes because of it.
        cache.invalidate(['things/thing:a'])
        const freshAfter = cache.epoch
        const refreshed = bus.ask(slow, { id: 'a' }, { caller: ann, freshAfter })
        await tick()
        // Another refresh for the same invalidation may join the one begun after it.
        const again = bus.ask(slow, { id: 'a' }, { caller: ann, freshAfter })
        await tick()
        release()
        expect(await before).toMatchObject({ data: { run: 1 } })
        expect(await refreshed).toMatchObject({ data: { run: 2 } })
        expect(await again).toMatchObject({ data: { run: 2 } })
        expect(runs).toHaveLength(2)
      })
    })

    it('does not cache a refusal', async () => {
      const { bus, getThing } = queryBus()
      await bus.ask(getThing, { id: 'missing' })
      const again = await bus.ask(getThing, { id: 'missing' })
      expect(again.status === 'failed' && again.error.code).toBe('THING_NOT_FOUND')
    })
  })

  it('records count, refusals, errors and cache hits per query', async () => {
    const { bus, getThing, metrics } = queryBus()
    await bus.ask(getThing, { id: 'a' })
    await bus.ask(getThing, { id: 'a' })
    await bus.ask(getThing, { id: 'a' })
    await bus.ask(getThing, { id: 'missing' })
    await bus.ask(getThing, { id: 7 })
    await bus.ask(getThing, { id: 'bug' }).catch(() => undefined)
    expect((await metrics.handlerStats()).query['things/get-thing']).toMatchObject({
      count: 6,
      refusals: 2,
      errors: 1,
      cacheHits: 2,
      cacheMisses: 3,
      cacheHitRate: 0.4,
    })
    // A position not applied in time (made up, far ahead): refused, not an error of the server.
    const lagging = queryBus({ caughtUp: false })
    const answer = await lagging.bus.ask(getThing, { id: 'a' }, { minPosition: 10n ** 15n, maxWaitMs: 0 })
    expect(answer.status === 'failed' && answer.error.code).toBe('READ_MODEL_LAGGING')
    expect((await lagging.metrics.handlerStats()).query['things/get-thing']).toMatchObject({
      count: 1,
      refusals: 1,
      errors: 0,
    })
  })
})

describe('stableJson', () => {
  it('writes object keys in sorted order, at every depth', () => {
    const a = stableJson({ b: 1, a: { d: [2, { f: 1, e: 'x' }], c: null } })
    expect(a).toBe('{"a":{"c":null,"d":[2,{"e":"x","f":1}]},"b":1}')
    expect(stableJson({ a: { c: null, d: [2, { e: 'x', f: 1 }] }, b: 1 })).toBe(a)
  })

  it('leaves out undefined fields, as JSON does, so an absent option shares its entry', () => {
    expect(stableJson({ id: 'a', cursor: undefined })).toBe(stableJson({ id: 'a' }))
    expect(stableJson([undefined, 1])).toBe('[null,1]')
  })

  it('tells apart values JSON tells apart', () => {
    expect(stableJson({ n: 1 })).not.toBe(stableJson({ n: '1' }))
    expect(stableJson([1, 2])).not.toBe(stableJson([2, 1]))
    expect(stableJson('a"b')).toBe(JSON.stringify('a"b'))
  })
})
