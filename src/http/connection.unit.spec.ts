import { createServer, connect, type Server, type Socket } from 'node:net'
import pino from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { holdStreamed } from './connection.js'

const log = pino({ level: 'silent' })
const MiB = 1024 * 1024

/** Server-side sockets of `n` connections on loopback. */
async function connections(n: number): Promise<{ sockets: Socket[]; close: () => Promise<void> }> {
  const sockets: Socket[] = []
  const clients: Socket[] = []
  const server: Server = createServer((socket) => void sockets.push(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  for (let i = 0; i < n; i++) clients.push(connect(port, '127.0.0.1'))
  while (sockets.length < n) await new Promise((resolve) => setTimeout(resolve, 5))
  return {
    sockets,
    close: async () => {
      for (const socket of [...sockets, ...clients]) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe("live streams' unsent bytes, within the process's bound on unflushed answers", () => {
  let done: (() => Promise<void>) | undefined
  afterEach(async () => done?.())

  it('closes the connection of the stream holding the most once all together pass the bound', async () => {
    const { sockets, close } = await connections(3)
    done = close
    const [a, b, c] = sockets as [Socket, Socket, Socket]
    // Each stream's request's log: the closing is logged under the closed one's.
    const [logA, logB, logC] = [0, 1, 2].map(() =>
      Object.assign(pino({ level: 'silent' }), { warn: vi.fn() }),
    )
    const holdA = holdStreamed(a, 4 * MiB, logA ?? log)
    const holdB = holdStreamed(b, 4 * MiB, logB ?? log)
    const holdC = holdStreamed(c, 4 * MiB, logC ?? log)
    holdA(1.5 * MiB)
    holdB(2 * MiB)
    expect([a.destroyed, b.destroyed]).toEqual([false, false])
    // 1.5 + 2 + 1 MiB: past 4 MiB, the heaviest (b) goes; what stays is within the bound.
    holdC(1 * MiB)
    expect([a.destroyed, b.destroyed, c.destroyed]).toEqual([false, true, false])
    expect([logA?.warn, logB?.warn, logC?.warn].map((warn) => warn?.mock.calls.length)).toEqual([0, 1, 0])
    // Drained streams count nothing: a takes 2.5 MiB more without passing the bound.
    holdC(0)
    holdA(4 * MiB)
    expect(a.destroyed).toBe(false)
    holdA(0)
    holdB(0)
  })
})
