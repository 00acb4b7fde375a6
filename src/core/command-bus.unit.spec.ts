import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import {
  createCommandBus,
  type CommandCall,
  type Executed,
  type TxMiddleware,
  type UnitOfWork,
} from './command-bus.js'
import { ConflictError } from './errors.js'
import { createMetrics } from './metrics.js'
import {
  defineCommand,
  onlyCallers,
  signedIn,
  type Caller,
  type CommandMeta,
  type NewEvent,
} from './messages.js'
import { authorize, logCalls, measure, validate } from './middleware.js'
import { createRegistry } from './registry.js'

const writer: Caller = { id: 'wes', roles: ['writer'] }
const reader: Caller = { id: 'rae', roles: ['reader'] }
const clock = new Date('2031-01-01T12:00:00.000Z')
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A command that records what it was given: 409 above 100, a plain bug at 13. */
function counter() {
  const seen: CommandMeta[] = []
  const bump = defineCommand({
    domain: 'counter',
    name: 'bump',
    summary: 'Bump the counter',
    input: Type.Object({ n: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    output: Type.Object({ n: Type.Integer() }),
    access: signedIn('writer', 'admin'),
    refusals: { 409: ['TOO_BIG'] },
    async handle(input, { meta, tx }) {
      seen.push(meta)
      if (input.n > 100) throw new ConflictError('TOO_BIG', 'Too big', `${input.n} is over 100`)
      if (input.n === 13) throw new TypeError('Cannot read properties of undefined')
      tx.append({ id: 'counter', expectedVersion: 0 }, [{ type: 'Bumped', data: input }])
      return { n: input.n * 2 }
    },
  })
  return { bump, seen }
}

/** Runs the work and commits what it appended, giving each event the next position. */
function fakeUnitOfWork(trace: string[] = []) {
  const committed: NewEvent[] = []
  const unitOfWork: UnitOfWork = {
    async run(_call, work) {
      const appended: NewEvent[] = []
      trace.push('begin')
      const done: Executed = await work({
        query: async () => [],
        write: () => undefined,
        append: (_stream, events) => appended.push(...events),
        observe: () => undefined,
        recall: async () => undefined,
        lock: async () => undefined,
        keep: () => undefined,
        readStream: async () => ({ events: [], version: 0 }),
        schedule: () => undefined,
        cancelSchedule: () => undefined,
      })
      committed.push(...appended)
      trace.push('commit')
      return { ...done, position: appended.length > 0 ? String(committed.length) : null }
    },
  }
  return { unitOfWork, committed }
}

function bus(options: { transactional?: TxMiddleware[]; trace?: string[] } = {}) {
  const { bump, seen } = counter()
  const { unitOfWork, committed } = fakeUnitOfWork(options.trace)
  const metrics = createMetrics()
  const commands = createCommandBus({
    registry: createRegistry({ commands: [bump], queries: [] }),
    unitOfWork,
    middleware: [logCalls(), measure(metrics), authorize(), validate()],
    transactional: options.transactional,
    clock: () => clock,
  })
  return { commands, bump, seen, committed, metrics }
}

describe('command bus', () => {
  it('runs the handler in the unit of work and answers its result and position', async () => {
    const { commands, bump, seen, committed } = bus()
    await commands.execute(bump, { n: 1 }, { caller: writer })
    const done = await commands.execute(bump, { n: 2 }, { caller: writer })
    expect(done).toMatchObject({ status: 'succeeded', result: { n: 4 }, position: '2', replayed: false })
    expect(committed).toEqual([
      { type: 'Bumped', data: { n: 1 } },
      { type: 'Bumped', data: { n: 2 } },
    ])
    expect(done.executionTimeMs).toBeGreaterThanOrEqual(0)
    expect(done.commandId).toMatch(uuid)
    expect(seen[1]).toMatchObject({
      commandId: done.commandId,
      correlationId: done.commandId,
      caller: writer,
    })
  })

  it('hands the handler the clock’s time, the caller and a fresh id of its own', async () => {
    const { commands, seen } = bus()
    await commands.execute('counter/bump', { n: 1 }, { caller: writer, correlationId: 'request-7' })
    const meta = seen[0]
    expect(meta?.now).toEqual(clock)
    expect(meta?.correlationId).toBe('request-7')
    expect(meta?.newId).toMatch(uuid)
    expect(meta?.newId).not.toBe(meta?.commandId)
  })

  it('answers 404 COMMAND_NOT_FOUND for an unknown address', async () => {
    const { commands } = bus()
    const done = await commands.execute('counter/reset', {}, { caller: writer })
    expect(done.status === 'failed' && done.error).toMatchObject({ code: 'COMMAND_NOT_FOUND', status: 404 })
  })

  it('refuses a missing caller with 401 and a caller without the role with 403, running nothing', async () => {
    const { commands, bump, seen, committed } = bus()
    const anonymous = await commands.execute(bump, { n: 1 })
    const wrongRole = await commands.execute(bump, { n: 1 }, { caller: reader })
    expect(anonymous.status === 'failed' && anonymous.error).toMatchObject({
      code: 'UNAUTHENTICATED',
      status: 401,
    })
    expect(wrongRole.status === 'failed' && wrongRole.error).toMatchObject({ code: 'FORBIDDEN', status: 403 })
    expect(seen).toEqual([])
    expect(committed).toEqual([])
  })

  it('tells anyone but the callers that alone send a message so, whatever roles they hold', () => {
    const access = onlyCallers([{ id: 'processor:counter/bumper', roles: ['system'] }])
    const refusal = (caller: Caller) => {
      try {
        void authorize()({ definition: { access }, caller } as unknown as CommandCall, async () => undefined)
      } catch (error) {
        return error
      }
    }
    // Not "needs the role system": a token with it is refused too.
    for (const caller of [writer, { id: 'sys', roles: ['system'] }])
      expect(refusal(caller)).toMatchObject({
        code: 'FORBIDDEN',
        detail: 'Only processor:counter/bumper sends this',
      })
    expect(refusal({ id: 'processor:counter/bumper', roles: ['system'] })).toBeUndefined()
  })

  it('refuses input that does not fit the schema with 400 and every field error', async () => {
    const { commands, bump, seen } = bus()
    const done = await commands.execute(bump, { n: -1, extra: true }, { caller: writer })
    expect(done.status === 'failed' && done.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      errors: [
        { path: '/extra', message: 'is not a known field' },
        { path: '/n', message: 'must be >= 0' },
      ],
    })
    expect(seen).toEqual([])
  })

  it('checks the caller before the input', async () => {
    const { commands, bump } = bus()
    const done = await commands.execute(bump, { n: 'many' })
    expect(done.status === 'failed' && done.error.code).toBe('UNAUTHENTICATED')
  })

  it('answers a refusal as a failed result', async () => {
    const { commands, bump } = bus()
    const done = await commands.execute(bump, { n: 101 }, { caller: writer })
    expect(done).toMatchObject({ status: 'failed', error: { code: 'TOO_BIG', status: 409 } })
  })

  it('throws what is not an AppError: a bug is not a refusal', async () => {
    const { commands, bump } = bus()
    await expect(commands.execute(bump, { n: 13 }, { caller: writer })).rejects.toThrow(TypeError)
  })

  it('records count, refusals and errors per command', async () => {
    const { commands, bump, metrics } = bus()
    await commands.execute(bump, { n: 1 }, { caller: writer })
    await commands.execute(bump, { n: 2 }, { caller: writer })
    await commands.execute(bump, { n: 1 })
    await commands.execute(bump, { n: 101 }, { caller: writer })
    await commands.execute(bump, { n: 13 }, { caller: writer }).catch(() => undefined)
    const stats = (await metrics.handlerStats()).command['counter/bump']
    expect(stats).toMatchObject({ count: 5, refusals: 2, errors: 1 })
    expect(stats?.p99Ms).toBeGreaterThanOrEqual(stats?.p50Ms ?? Infinity)
  })

  it('runs transactional middleware inside the unit of work, outermost first, around the handler', async () => {
    const trace: string[] = []
    const mark =
      (name: string): TxMiddleware =>
      async (call, tx, next) => {
        trace.push(`${name} in`)
        const out = await next(call, tx)
        trace.push(`${name} out`)
        return out
      }
    const { commands, bump } = bus({ transactional: [mark('outer'), mark('inner')], trace })
    await commands.execute(bump, { n: 1 }, { caller: writer })
    expect(trace).toEqual(['begin', 'outer in', 'inner in', 'inner out', 'outer out', 'commit'])
  })
})
