import { describe, expect, it } from 'vitest'
import { createStreamMemory } from './stream-memory.js'

describe('stream memory', () => {
  it('gives what was kept for a stream, and nothing once forgotten', async () => {
    const memory = createStreamMemory()
    memory.keep('s1', { version: 3 })
    const turn = await memory.take('s1')
    expect(turn.kept).toEqual({ version: 3 })
    turn.release()
    expect((await memory.take('s2')).kept).toBeUndefined()
    memory.forget('s1')
    expect((await memory.take('s1')).kept).toBeUndefined()
  })

  it('gives turns on one stream one at a time, in the order asked', async () => {
    const memory = createStreamMemory()
    const order: string[] = []
    const run = async (name: string, streamId: string) => {
      const turn = await memory.take(streamId)
      order.push(`${name} in`)
      await new Promise((resolve) => setTimeout(resolve, 5))
      order.push(`${name} out`)
      turn.release()
    }
    await Promise.all([run('a', 's'), run('b', 's'), run('c', 's')])
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out'])
  })

  it('does not make other streams wait', async () => {
    const memory = createStreamMemory()
    const held = await memory.take('busy')
    const other = await memory.take('free')
    other.release()
    let waited = false
    const next = memory.take('busy').then((turn) => {
      waited = true
      turn.release()
    })
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(waited).toBe(false)
    held.release()
    held.release() // a second release changes nothing
    await next
    expect(waited).toBe(true)
  })

  it('lets the next turn see what the previous one kept', async () => {
    const memory = createStreamMemory()
    const first = await memory.take('s')
    const second = memory.take('s')
    memory.keep('s', 'after first')
    first.release()
    expect((await second).kept).toBe('after first')
  })

  it('drops the stream kept longest ago beyond its capacity', () => {
    const memory = createStreamMemory(2)
    memory.keep('a', 1)
    memory.keep('b', 2)
    memory.keep('a', 3)
    memory.keep('c', 4)
    expect(memory.size).toBe(2)
    return Promise.all([memory.take('a'), memory.take('b'), memory.take('c')]).then(([a, b, c]) => {
      expect([a.kept, b.kept, c.kept]).toEqual([3, undefined, 4])
    })
  })

  it('gives a turn without waiting only when no one holds or waits for it', async () => {
    const memory = createStreamMemory()
    const first = memory.tryTake('s')
    expect(first).toBeDefined()
    expect(memory.tryTake('s')).toBeUndefined()
    const next = memory.take('s')
    first?.release()
    const second = await next
    expect(memory.tryTake('s')).toBeUndefined()
    second.release()
    memory.keep('s', 'kept')
    expect(memory.tryTake('s')?.kept).toBe('kept')
  })
})
