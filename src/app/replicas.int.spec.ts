import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  anyone,
  defineQuery,
  type Domain,
  type Replica,
  type ReplicaContext,
  type ReplicaDefinition,
} from '../kernel/index.js'
import { modes, startTestProcesses, startTestTandem, type TestTandem } from '../kernel/testing.js'
import { notesDomain, writer } from '../testing/notes-domain/index.js'
import { createNote } from '../testing/notes-domain/commands.js'

/**
 * A domain's own read model (core/replicas.ts) on a running Tandem: opened where queries are
 * answered, reached by name, waited for with X-Min-Position, its invalidations dropping cached
 * answers, closed with the process.
 */

interface Counter extends Replica {
  count: number
  /** While true, commits are not read (a replica behind the log). */
  held: boolean
  readonly closed: boolean
  readonly context: ReplicaContext
}

/** Counts the log's notes: reads the log when a note is created, and says how far it has read. */
function counting(opened: Counter[], options: { off?: boolean } = {}): ReplicaDefinition {
  return {
    name: 'counter',
    async open(context: ReplicaContext) {
      if (options.off) return undefined
      let upTo = 0n
      let closed = false
      const read = async () => {
        if (counter.held || closed) return
        const [row] = await context.sql.query<{ n: number; at: string }>(
          `SELECT count(*)::int AS n, coalesce(max(position), 0)::text AS at
           FROM tandem.event_log WHERE type = 'NoteCreated'`,
        )
        counter.count = row?.n ?? 0
        upTo = BigInt(row?.at ?? '0')
        context.invalidate(['notes'])
      }
      const off = context.onCommitted(() => void read(), ['NoteCreated'])
      const counter: Counter = {
        count: 0,
        held: false,
        context,
        get closed() {
          return closed
        },
        async waitFor(position, deadline) {
          while (BigInt(position) > upTo) {
            if (Date.now() >= deadline) return false
            await read()
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
          return true
        },
        async close() {
          off()
          closed = true
        },
      }
      await read()
      opened.push(counter)
      return counter
    },
  }
}

const countNotes = defineQuery({
  domain: 'notes',
  name: 'count-notes',
  summary: 'How many notes the counter has read',
  input: Type.Object({}, { additionalProperties: false }),
  output: Type.Object({ count: Type.Integer() }),
  access: anyone,
  readModels: [],
  replicas: () => ['counter'],
  cache: { ttlMs: 60_000, tags: () => ['notes'] },
  async handle(_q, ctx) {
    const counter = ctx.replica('counter') as Counter | undefined
    return { count: counter ? counter.count : -1 }
  },
})

const withCounter = (opened: Counter[], options?: { off?: boolean }): Domain => ({
  ...notesDomain,
  queries: [...notesDomain.queries, countNotes],
  replicas: [counting(opened, options)],
})

const note = { title: 'a note' }

function only(opened: readonly Counter[]): Counter {
  const [counter, ...more] = opened
  if (!counter || more.length > 0) throw new Error(`${opened.length} counters opened, not one`)
  return counter
}

describe.each(modes)('replicas (%s)', (mode) => {
  const opened: Counter[] = []
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [withCounter(opened)] })
  })
  afterAll(() => t.dispose())

  /** The count, or the refusal's code. */
  async function count(options: { minPosition?: bigint; maxWaitMs?: number } = {}) {
    const answer = await t.queries.ask(countNotes, {}, { ...options, minPosition: options.minPosition ?? 0n })
    return answer.status === 'failed' ? answer.error.code : answer.data.count
  }

  it('is opened once and answers queries by name; its invalidations drop cached answers', async () => {
    expect(opened).toHaveLength(1)
    const before = Number(await count())
    expect(await count()).toBe(before)
    const done = await t.commands.execute(createNote, note, { caller: writer })
    if (done.status === 'failed') throw new Error(done.error.code)
    // Read with the command's position: the replica has read the commit, and the cached answer is gone.
    expect(await count({ minPosition: BigInt(done.position ?? '0') })).toBe(before + 1)
  })

  it('holds a query until it has the caller’s position, and answers 503 READ_MODEL_LAGGING past the wait', async () => {
    const counter = only(opened)
    const before = counter.count
    counter.held = true
    const done = await t.commands.execute(createNote, note, { caller: writer })
    if (done.status === 'failed') throw new Error(done.error.code)
    const position = BigInt(done.position ?? '0')
    expect(await count({ minPosition: position, maxWaitMs: 100 })).toBe('READ_MODEL_LAGGING')
    const waiting = count({ minPosition: position, maxWaitMs: 5000 })
    counter.held = false
    expect(await waiting).toBe(before + 1)
  })

  it('is told which transaction committed a position, and that none committed one made up', async () => {
    const { context } = only(opened)
    const done = await t.commands.execute(createNote, note, { caller: writer })
    if (done.status === 'failed') throw new Error(done.error.code)
    const position = done.position ?? '0'
    const [row] = await t.sql.query<{ tx: string }>(
      'SELECT tx_id::text AS tx FROM tandem.event_log WHERE position = $1',
      [position],
    )
    expect(row?.tx).toMatch(/^\d+$/)
    expect(await context.transactionOf(position)).toBe(row?.tx)
    expect(await context.transactionOf(position)).toBe(row?.tx)
    expect(await context.transactionOf(String(BigInt(position) + 1000n))).toBeUndefined()
  })
})

describe('replicas: where they are opened', () => {
  it('a domain that leaves it out answers without it; a process without the query role does not open it; close closes it', async () => {
    const off: Counter[] = []
    const t = await startTestTandem('embedded', { domains: [withCounter(off, { off: true })] })
    try {
      const answer = await t.queries.ask(countNotes, {})
      expect(answer.status === 'succeeded' && answer.data).toEqual({ count: -1 })
    } finally {
      await t.dispose()
    }
    if (!modes.includes('server')) return
    const opened: Counter[] = []
    const processes = await startTestProcesses('server', [{ roles: ['command'] }, { roles: ['query'] }], {
      domains: [withCounter(opened)],
    })
    try {
      const counter = only(opened)
      await processes.at(-1)?.dispose()
      expect(counter.closed).toBe(true)
    } finally {
      for (const p of processes.toReversed()) await p.dispose()
    }
  })
})
