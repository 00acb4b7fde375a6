import { describe, expect, it } from 'vitest'
import type { StoredEvent } from '../core/envelope.js'
import { silentLogger } from '../core/logger.js'
import { createMetrics } from '../core/metrics.js'
import type { SqlClient } from '../core/sql.js'
import { compareCheckpoints, farBelow, origin, type Batch, type Checkpoint } from '../storage/event-log.js'
import { localWake } from '../transport/wake.js'
import type { KvProjection } from './projection.js'
import { createRunner, type RunnerTarget } from './runner.js'
import type { LogRead } from './shared-reads.js'

const event = (n: number): StoredEvent => ({
  position: String(n),
  txId: String(n),
  streamId: 's',
  version: n,
  type: 'Noted',
  data: { n },
  metadata: { commandId: 'c', correlationId: 'c', command: 'test/note' },
  recordedAt: new Date(),
})

/**
 * A read of `log` as it stands when the read is sent, answered `delayMs` later; with `horizons`, each
 * read says every transaction up to the log's last is settled (a read past them starts above it).
 */
const readOf =
  (log: StoredEvent[], delayMs = 0, horizons = false): LogRead =>
  (from: Checkpoint, limit: number) => {
    const after = log.filter((e) => compareCheckpoints(e, from) > 0).slice(0, limit)
    const last = after.at(-1)
    const batch: Batch = {
      events: after,
      horizon: horizons ? String(Number(log.at(-1)?.txId ?? '0') + 1) : '0',
      top: log.at(-1)?.txId ?? null,
      held: false,
      full: after.length === limit,
      ...(last ? { through: { txId: last.txId, position: last.position } } : {}),
    }
    return new Promise((resolve) => setTimeout(() => resolve(batch), delayMs))
  }

/** A runner of a KV projection of `Noted` events onto `target`; a missed wake-up would wait a minute. */
function runnerOf(
  target: RunnerTarget,
  read: LogRead,
  wake: ReturnType<typeof localWake>,
  batchSize: number,
) {
  const projection: KvProjection = {
    store: 'kv',
    domain: 'test',
    name: 'notes',
    version: 1,
    events: ['Noted'],
    tags: () => [],
    apply: async () => undefined,
  }
  return createRunner({
    projection,
    generation: 1,
    target,
    source: {} as SqlClient,
    read,
    wake,
    log: silentLogger,
    metrics: createMetrics(),
    batchSize,
    pollMs: 60_000,
    lingerMs: 0,
  })
}

describe('a projection runner', () => {
  it('does not take a short read made ahead before the commit that woke it: it reads again', async () => {
    const log = [event(1), event(2)]
    /** A read sees the log as it stands when it is sent, and answers a little later. */
    const read = readOf(log, 1)
    const wake = localWake()
    const applied: number[] = []
    let stored: Checkpoint = origin
    const target: RunnerTarget = {
      checkpoint: async () => stored,
      async apply(events, _from, to) {
        // While the first batch is applied (its read-ahead already sent), an event commits.
        if (applied.length === 0) {
          log.push(event(3))
          wake.committed('3', ['Noted'])
        }
        await new Promise((resolve) => setTimeout(resolve, 5))
        applied.push(...events.map((e) => (e.data as { n: number }).n))
        stored = to
        return new Set()
      },
    }
    const runner = runnerOf(target, read, wake, 2)
    runner.start()
    try {
      const deadline = Date.now() + 2_000
      while (applied.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
      expect(applied).toEqual([1, 2, 3])
    } finally {
      await runner.stop()
    }
  })
})

describe('a rebuilt generation settled before its switch', () => {
  it('moves its checkpoint to the log’s last event, past the events of other types, however near', async () => {
    // Its own events end at 2; the log goes on to 40 with other types', below the persist distance.
    const log = [event(1), event(2)]
    const read: LogRead = async (from) => {
      const events = log.filter((e) => compareCheckpoints(e, from) > 0)
      const last = events.at(-1)
      return {
        events,
        horizon: '41',
        top: '40',
        held: false,
        full: false,
        below: { txId: '40', position: '40' },
        ...(last ? { through: { txId: last.txId, position: last.position } } : {}),
      }
    }
    let stored: Checkpoint = origin
    const target: RunnerTarget = {
      checkpoint: async () => stored,
      async apply(_events, from, to) {
        if (compareCheckpoints(stored, from) !== 0) return undefined
        stored = to
        return new Set()
      },
    }
    const wake = localWake()
    const runner = runnerOf(target, read, wake, 10)
    runner.start()
    const deadline = Date.now() + 2_000
    while (!runner.caughtUp && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    await runner.stop()
    // Caught up at its own last event: where a switch to it would have started every process.
    expect(runner.checkpoint.position).toBe('2')
    await runner.settle()
    expect(runner.checkpoint.position).toBe('40')
    expect(stored.position).toBe('40')
  })
})

describe('a projection runner beside another projector of the same projection', () => {
  it('says its checkpoint is adopted while it stands where the other moved it, until a batch of its own', async () => {
    const log = [event(1), event(2)]
    const read = readOf(log)
    const at = (n: number): Checkpoint => ({ txId: String(n), position: String(n) })
    let stored: Checkpoint = origin
    let raced = false
    const wake = localWake()
    const target: RunnerTarget = {
      checkpoint: async () => stored,
      async apply(_events, from, to) {
        // The first batch loses to the other projector, which applied it (and published its tags).
        if (!raced) {
          raced = true
          stored = at(2)
          return undefined
        }
        if (compareCheckpoints(stored, from) !== 0) return undefined
        stored = to
        return new Set()
      },
    }
    const runner = runnerOf(target, read, wake, 3)
    const seen: string[] = []
    runner.onProgress(() => seen.push(`${runner.checkpoint.position}${runner.adopted ? ' adopted' : ''}`))
    runner.start()
    try {
      const until = async (done: () => boolean) => {
        const deadline = Date.now() + 2_000
        while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
      }
      // Nothing more to read where the other left it: the read moves on, standing on its checkpoint.
      await until(() => seen.length > 0)
      expect(seen).toEqual(['2 adopted'])
      log.push(event(3))
      wake.committed('3', ['Noted'])
      await until(() => seen.includes('3'))
      expect(seen.at(-1)).toBe('3')
    } finally {
      await runner.stop()
    }
  })
})

describe('a projection runner whose store lost what it applied (Redis back empty)', () => {
  const until = async (done: () => boolean) => {
    const deadline = Date.now() + 2_000
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  }
  /** A store that applies batches and can be emptied: its checkpoint then is the origin. */
  const emptiable = () => {
    let stored: Checkpoint = origin
    const batches: number[][] = []
    /** Set: applies wait for it, once they have found the store where they expect it. */
    let held: Promise<void> | undefined
    const target: RunnerTarget = {
      checkpoint: async () => stored,
      async apply(events, from, to) {
        if (compareCheckpoints(stored, from) !== 0) return undefined
        await held
        batches.push(events.map((e) => (e.data as { n: number }).n))
        stored = to
        return new Set()
      },
    }
    let release: () => void = () => undefined
    const hold = () => {
      held = new Promise((resolve) => (release = resolve))
    }
    return { target, batches, empty: () => (stored = origin), hold, release: () => release() }
  }

  it('counts nothing applied once an apply finds the store behind, and applies the log again from the start', async () => {
    const log = [event(1), event(2)]
    const wake = localWake()
    const store = emptiable()
    const runner = runnerOf(store.target, readOf(log), wake, 10)
    runner.start()
    try {
      await until(() => runner.checkpoint.position === '2' && runner.caughtUp)
      expect(runner.hasApplied('2', '2')).toBe(true)
      store.empty()
      store.hold()
      log.push(event(3))
      wake.committed('3', ['Noted'])
      // Event 3's apply finds the store at the origin; the one from there waits.
      await until(() => !runner.caughtUp)
      expect([runner.caughtUp, runner.hasApplied('2', '2'), runner.checkpoint.position]).toEqual([
        false,
        false,
        '0',
      ])
      store.release()
      await until(() => store.batches.length === 2)
      expect(store.batches).toEqual([
        [1, 2],
        [1, 2, 3],
      ])
      expect(runner.checkpoint.position).toBe('3')
    } finally {
      await runner.stop()
    }
  })

  it('applies a batch from the checkpoint it read it after, not one `verify` moved it to meanwhile', async () => {
    const log = [event(1), event(2)]
    const wake = localWake()
    const store = emptiable()
    // Reads answer 30 ms after they are sent: room for a verify between a read and its apply.
    const runner = runnerOf(store.target, readOf(log, 30), wake, 10)
    runner.start()
    try {
      await until(() => runner.checkpoint.position === '2' && runner.caughtUp)
      // The store comes back empty and another projector applies event 1 again...
      store.empty()
      await store.target.apply([event(1)], origin, { txId: '1', position: '1' })
      // ...while this runner reads what came after its own checkpoint, and is asked to verify.
      log.push(event(3))
      wake.committed('3', ['Noted'])
      await new Promise((resolve) => setTimeout(resolve, 5))
      await runner.verify()
      await until(() => runner.checkpoint.position === '3' && runner.caughtUp)
      // Every event up to the store's checkpoint was applied after the loss: 2 was not skipped.
      expect(store.batches.slice(1).flat().sort()).toEqual([1, 2, 3])
    } finally {
      await runner.stop()
    }
  })

  it('takes nothing from a read sent before `verify` found the store emptied: it applies the log again', async () => {
    const log = [event(1), event(2)]
    const store = emptiable()
    // Reads answer 30 ms after they are sent, and settle every transaction of the log.
    const runner = runnerOf(store.target, readOf(log, 30, true), localWake(), 10)
    runner.start()
    try {
      await until(() => runner.checkpoint.position === '2' && runner.caughtUp)
      store.empty()
      // A step reads (nothing new there) while `verify` finds the loss.
      runner.nudge?.()
      await new Promise((resolve) => setTimeout(resolve, 5))
      expect(await runner.verify()).toBe(true)
      // The read's answer, sent before, neither settles the log again nor moves the reading past it.
      await until(() => store.batches.length === 2 && runner.caughtUp)
      expect(store.batches[1]).toEqual([1, 2])
      expect(runner.checkpoint.position).toBe('2')
    } finally {
      await runner.stop()
    }
  })

  it('finds it at once when asked (verify), with no event to apply: nothing counts as applied', async () => {
    const log = [event(1), event(2)]
    const store = emptiable()
    const runner = runnerOf(store.target, readOf(log), localWake(), 10)
    runner.start()
    try {
      await until(() => runner.checkpoint.position === '2' && runner.caughtUp)
      await runner.stop()
      expect(await runner.verify()).toBe(false)
      store.empty()
      expect(await runner.verify()).toBe(true)
      expect([runner.checkpoint.position, runner.caughtUp, runner.horizon]).toEqual(['0', false, '0'])
    } finally {
      await runner.stop()
    }
  })
})

describe('where a read that found none of its events moves a checkpoint (farBelow)', () => {
  const at = (txId: number, position: number): Checkpoint => ({
    txId: String(txId),
    position: String(position),
  })
  const short = (below?: Checkpoint, events: StoredEvent[] = []): Batch => ({
    events,
    horizon: '500',
    top: '499',
    held: false,
    full: false,
    ...(below ? { below } : {}),
  })

  it('moves it to the last event below the horizon once that is `after` positions past it, not before', () => {
    expect(farBelow(short(at(400, 1_000)), at(10, 900), 100)).toEqual(at(400, 1_000))
    expect(farBelow(short(at(400, 999)), at(10, 900), 100)).toBeUndefined()
  })

  it('moves nothing after a full read, a read with events, an empty log, or a last event behind it', () => {
    expect(farBelow({ ...short(at(400, 1_000)), full: true }, origin, 1)).toBeUndefined()
    expect(farBelow(short(at(400, 1_000), [event(7)]), origin, 1)).toBeUndefined()
    expect(farBelow(short(), origin, 1)).toBeUndefined()
    // Positions commit out of order: a checkpoint of a later transaction with a lower position stays.
    expect(farBelow(short(at(400, 1_000)), at(450, 10), 1)).toBeUndefined()
  })
})
