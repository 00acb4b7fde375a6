import type { FastifyInstance } from 'fastify'
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startTestTandem, type TestTandem } from '../testing/harness.js'
import { notesDomain, writer } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'
import type { HttpLimits } from './limits.js'
import { buildServer } from './server.js'

/** Small bounds, so that stalls are answered in a fraction of a second. */
const limits: HttpLimits = {
  headersTimeoutMs: 300,
  bodyIdleTimeoutMs: 500,
  requestTimeoutMs: 1000,
  checkIntervalMs: 50,
  drainBytes: 8 * 1024 * 1024,
  maxConnections: 10_000,
  heldAnswerBytes: 64 * 1024 * 1024,
}
/**
 * The bounds for large bodies: they are about the size, not the time, and a 6 MiB body takes more
 * than the small bounds on a busy machine (the connection then closed under fetch's feet).
 */
const roomyLimits: HttpLimits = {
  ...limits,
  headersTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
}
/** Far above every bound: an answer later than this means none is coming. */
const patienceMs = 8000
const MiB = 1024 * 1024
const command = '/api/commands/notes/create-note'

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Reads HTTP/1.1 answers (with Content-Length) off a socket, one at a time. */
function answers(socket: Socket) {
  let buffer = Buffer.alloc(0)
  let closed = false
  let wake = () => {}
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  const parse = (): Answer | undefined => {
    const end = buffer.indexOf('\r\n\r\n')
    if (end < 0) return undefined
    const [statusLine = '', ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n')
    const headers = Object.fromEntries(
      lines.map((line) => [
        line.slice(0, line.indexOf(':')).toLowerCase(),
        line.slice(line.indexOf(':') + 1).trim(),
      ]),
    )
    const length = Number(headers['content-length'] ?? 0)
    if (buffer.length < end + 4 + length) return undefined
    const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8')
    buffer = buffer.subarray(end + 4 + length)
    return { status: Number(statusLine.split(' ')[1]), headers, body }
  }
  return {
    /** The next answer, or undefined when the connection closes (or `patienceMs` passes) first. */
    async next(): Promise<Answer | undefined> {
      const deadline = Date.now() + patienceMs
      for (;;) {
        const answer = parse()
        if (answer || closed || Date.now() > deadline) return answer
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 50)
        })
      }
    },
    closed: () => closed,
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => resolve(socket))
    socket.once('error', reject)
  })
}

const write = (socket: Socket, data: string | Buffer) =>
  new Promise<void>((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())))

function expectProblem(answer: Answer | undefined, status: number, code: string) {
  expect(answer?.status).toBe(status)
  expect(answer?.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(JSON.parse(answer?.body ?? '{}')).toMatchObject({ type: 'about:blank', status, code })
  return JSON.parse(answer?.body ?? '{}') as { detail?: string }
}

/**
 * POSTs `bytes` of spaces `times` with Node's fetch on a thread of its own, as a client in another
 * process would: it keeps sending while the server answers. Each outcome is `status type code`, or
 * the error's code.
 */
function fetchFromAnotherThread(work: {
  url: string
  headers: Record<string, string>
  bytes: number
  times: number
}): Promise<string[]> {
  const code = `
    const { parentPort, workerData: w } = require('node:worker_threads')
    ;(async () => {
      const outcomes = []
      for (let i = 0; i < w.times; i++) {
        try {
          const r = await fetch(w.url, { method: 'POST', headers: w.headers, body: Buffer.alloc(w.bytes, 0x20) })
          const type = (r.headers.get('content-type') || '').split(';')[0]
          outcomes.push(r.status + ' ' + type + ' ' + (await r.json()).code)
        } catch (e) {
          outcomes.push(String((e.cause && e.cause.code) || e))
        }
      }
      parentPort.postMessage(outcomes)
    })()
  `
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: work })
    worker.once('message', (outcomes: string[]) => {
      resolve(outcomes)
      void worker.terminate()
    })
    worker.once('error', reject)
  })
}

/** Sends `head`, then `body` a piece every `gapMs`, until it is sent or the server closes; times both. */
async function stall(port: number, head: string, body: string[] = [], gapMs = 0) {
  const started = Date.now()
  const socket = await open(port)
  socket.on('error', () => undefined)
  const reader = answers(socket)
  await write(socket, head)
  void (async () => {
    for (const piece of body) {
      await sleep(gapMs)
      if (reader.closed()) return
      socket.write(piece)
    }
  })()
  const answer = await reader.next()
  const answeredMs = Date.now() - started
  // Wait for the server to close what it said it would close.
  if (answer?.headers.connection === 'close') await reader.next()
  const closed = reader.closed()
  socket.destroy()
  return { answer, answeredMs, closed }
}

describe.each(modes)('connections: bodies too large, requests too slow (%s)', (mode) => {
  let tandem: TestTandem
  /** The servers with the small bounds and with the roomy ones, on one Tandem. */
  let app: FastifyInstance
  let port: number
  let roomy: { app: FastifyInstance; port: number }
  let token: string
  /** No client input yields a 500. */
  const serverErrors: string[] = []
  async function listen(bounds: HttpLimits, routes?: (server: FastifyInstance) => void) {
    const server = await buildServer(tandem, { limits: bounds })
    routes?.(server)
    server.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode >= 500)
        serverErrors.push(`${request.method} ${request.url} -> ${reply.statusCode}`)
    })
    await server.listen({ port: 0, host: '127.0.0.1' })
    return { app: server, port: (server.server.address() as AddressInfo).port }
  }
  beforeAll(async () => {
    // Audited: a command refused before the bus has its entry, with what the client was told.
    tandem = await startTestTandem(mode, { domains: [{ ...notesDomain, audit: true }] })
    ;({ app, port } = await listen(limits))
    roomy = await listen(roomyLimits)
    token = tandem.token(writer)
  })
  afterEach(() => expect(serverErrors.splice(0)).toEqual([]))
  afterAll(async () => {
    await app.close()
    await roomy.app.close()
    await tandem.dispose()
  })

  const commandHead = (length: number | 'chunked', contentType = 'application/json', requestId?: string) =>
    `POST ${command} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${contentType}\r\n` +
    (requestId === undefined ? '' : `X-Request-Id: ${requestId}\r\n`) +
    (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n\r\n' : `Content-Length: ${length}\r\n\r\n`)
  /** The audit log's refusals of the request with this id, once there is one (written after the answer). */
  const refusalsWritten = async (requestId: string) => {
    for (let waited = 0; (await refusalsOf(requestId)).length === 0 && waited < patienceMs; waited += 50)
      await sleep(50)
    return refusalsOf(requestId)
  }
  /** The audit log's refusals of the command whose request had this id. */
  const refusalsOf = (requestId: string) =>
    tandem.sql.query<{ status: number; code: string }>(
      'SELECT status, code FROM tandem.audit_log WHERE correlation_id = $1',
      [requestId],
    )

  describe('a body over 1 MiB', () => {
    it.each([2, 6])(
      'is answered 413 PAYLOAD_TOO_LARGE to fetch sending %i MiB, 20 times out of 20',
      async (mib) => {
        const outcomes = await fetchFromAnotherThread({
          url: `http://127.0.0.1:${roomy.port}${command}`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          bytes: mib * MiB,
          times: 20,
        })
        expect(outcomes).toEqual(
          Array.from({ length: 20 }, () => '413 application/problem+json PAYLOAD_TOO_LARGE'),
        )
      },
    )

    it('is answered 413 to a client that sends it all before reading, and the connection serves on', async () => {
      // The answer goes out when the headers announce too much; a client still sending must not be cut.
      const finished = new Promise<void>((resolve) => {
        const onRequest = (_req: IncomingMessage, res: ServerResponse) => {
          roomy.app.server.off('request', onRequest)
          res.once('finish', () => resolve())
        }
        roomy.app.server.on('request', onRequest)
      })
      const socket = await open(roomy.port)
      socket.pause()
      const failed: unknown[] = []
      socket.on('error', (error) => failed.push(error))
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      await write(socket, commandHead(2 * MiB))
      await write(socket, chunk)
      await finished
      // Time for a server that closes after answering to do so; one that reads on does not need it.
      await sleep(100)
      for (let sent = chunk.length; sent < 2 * MiB; sent += chunk.length) await write(socket, chunk)
      const reader = answers(socket)
      socket.resume()
      expectProblem(await reader.next(), 413, 'PAYLOAD_TOO_LARGE')
      await write(socket, 'GET /health HTTP/1.1\r\nHost: t\r\n\r\n')
      expect((await reader.next())?.status).toBe(200)
      expect(failed).toEqual([])
      socket.destroy()
    })

    it('is answered 413 to a chunked body that http.request sends in full', async () => {
      for (let i = 0; i < 5; i++) {
        const answer = await new Promise<{ status?: number; type?: string; body: string }>(
          (resolve, reject) => {
            const req = httpRequest(
              `http://127.0.0.1:${roomy.port}${command}`,
              {
                method: 'POST',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              },
              (res) => {
                let body = ''
                res.setEncoding('utf8')
                res.on('data', (text: string) => (body += text))
                res.on('end', () =>
                  resolve({ status: res.statusCode, type: res.headers['content-type'], body }),
                )
              },
            )
            req.on('error', reject)
            for (let sent = 0; sent < 2 * MiB; sent += 64 * 1024) req.write(Buffer.alloc(64 * 1024, 0x20))
            req.end()
          },
        )
        expect(answer.status).toBe(413)
        expect(answer.type).toMatch(/^application\/problem\+json/)
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
      }
    })

    it('is answered 413 at once when Content-Length announces more than the server reads, which then closes', async () => {
      const { answer, closed } = await stall(roomy.port, commandHead(1024 * MiB))
      expectProblem(answer, 413, 'PAYLOAD_TOO_LARGE')
      expect(answer?.headers.connection).toBe('close')
      expect(closed).toBe(true)
    })

    it('is read only up to the drain bound: a client sending on and on is cut off', async () => {
      const socket = await open(roomy.port)
      socket.on('error', () => undefined)
      const reader = answers(socket)
      await write(socket, commandHead('chunked'))
      const chunk = Buffer.concat([
        Buffer.from('10000\r\n'),
        Buffer.alloc(0x10000, 0x20),
        Buffer.from('\r\n'),
      ])
      let sent = 0
      let cut = false
      while (!cut && sent < 4 * limits.drainBytes) {
        cut = await write(socket, chunk).then(
          () => false,
          () => true,
        )
        sent += 0x10000
      }
      expect(cut).toBe(true)
      expectProblem(await reader.next(), 413, 'PAYLOAD_TOO_LARGE')
      expect(await reader.next()).toBeUndefined()
      expect(reader.closed()).toBe(true)
    })
  })

  describe('a request too slow', () => {
    it('answers 408 REQUEST_TIMEOUT to headers that stall, and closes', async () => {
      const { answer, answeredMs, closed } = await stall(
        port,
        `POST ${command} HTTP/1.1\r\nHost: t\r\nContent-Ty`,
      )
      expectProblem(answer, 408, 'REQUEST_TIMEOUT')
      expect(answeredMs).toBeGreaterThanOrEqual(limits.headersTimeoutMs)
      expect(closed).toBe(true)
    })

    it('answers 408 to a connection that sends nothing', async () => {
      const { answer, closed } = await stall(port, '')
      expectProblem(answer, 408, 'REQUEST_TIMEOUT')
      expect(closed).toBe(true)
    })

    it('answers 408 to a body that stalls, at the body bound, and writes nothing', async () => {
      const [before] = await tandem.sql.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM tandem.event_log',
      )
      const { answer, answeredMs, closed } = await stall(
        port,
        `${commandHead(100_000, 'application/json', 'stalled-body')}{"title":`,
      )
      expect(expectProblem(answer, 408, 'REQUEST_TIMEOUT').detail).toBe('The body stalled')
      expect(answeredMs).toBeGreaterThanOrEqual(limits.bodyIdleTimeoutMs)
      expect(closed).toBe(true)
      const [after] = await tandem.sql.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM tandem.event_log',
      )
      expect(after?.n).toBe(before?.n)
      expect(await refusalsWritten('stalled-body')).toEqual([{ status: 408, code: 'REQUEST_TIMEOUT' }])
    })

    it('answers 408 to a GET whose chunked body stalls, at the body bound, as to any body', async () => {
      const { answer, answeredMs, closed } = await stall(
        port,
        'GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n',
      )
      expect(expectProblem(answer, 408, 'REQUEST_TIMEOUT').detail).toBe('The body stalled')
      expect(answeredMs).toBeGreaterThanOrEqual(limits.bodyIdleTimeoutMs)
      expect(closed).toBe(true)
    })

    it('records no refusal of a command whose client left mid-body: it was told nothing', async () => {
      const socket = await open(port)
      await write(socket, `${commandHead(100_000, 'application/json', 'left-mid-body')}{"title":`)
      socket.destroy()
      // A refusal after it, on another connection, has its entry; by then the one cut has been handled.
      const after = await open(port)
      await write(after, `${commandHead(2, 'text/plain', 'after-the-cut')}{}`)
      expect(await refusalsWritten('after-the-cut')).toEqual([
        { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
      ])
      after.destroy()
      await sleep(200)
      expect(await refusalsOf('left-mid-body')).toEqual([])
    })

    it('answers 408 to a body dripped a byte at a time, at the whole-request bound', async () => {
      const drip = Array.from({ length: 400 }, () => ' ')
      const { answer, answeredMs, closed } = await stall(
        port,
        commandHead(100_000, 'application/json', 'dripped-body'),
        drip,
        50,
      )
      expect(expectProblem(answer, 408, 'REQUEST_TIMEOUT').detail).not.toBe('The body stalled')
      expect(answeredMs).toBeGreaterThanOrEqual(limits.requestTimeoutMs)
      expect(closed).toBe(true)
      expect(await refusalsWritten('dripped-body')).toEqual([{ status: 408, code: 'REQUEST_TIMEOUT' }])
    })

    it('records a command its handler refuses, its body read whole, as it was answered', async () => {
      const socket = await open(port)
      socket.on('error', () => undefined)
      const reader = answers(socket)
      await write(
        socket,
        `POST ${command} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${token}\r\n` +
          'Content-Type: application/json\r\nIdempotency-Key: a\tb\r\nX-Request-Id: refused-whole\r\n' +
          'Content-Length: 2\r\nConnection: close\r\n\r\n{}',
      )
      expectProblem(await reader.next(), 400, 'VALIDATION_FAILED')
      socket.destroy()
      expect(await refusalsOf('refused-whole')).toEqual([{ status: 400, code: 'VALIDATION_FAILED' }])
    })

    it('answers a body that arrives slowly but steadily within the bounds', async () => {
      const body = JSON.stringify({
        title: 'Slow',
        body: 'A note that arrives in three pieces, slowly.',
      })
      const pieces = [body.slice(0, 20), body.slice(20, 40), body.slice(40)]
      const { answer, closed } = await stall(port, commandHead(Buffer.byteLength(body)), pieces, 50)
      expect(answer?.status).toBe(200)
      expect(closed).toBe(false)
    })

    it.each([
      [
        'open past every bound',
        '\r\n',
        limits.requestTimeoutMs + limits.bodyIdleTimeoutMs + 5 * limits.checkIntervalMs,
      ],
      // Its body read before the route runs: the request's 'close' then fired with the client there,
      // and the stream sent nothing more (no wait past the bounds: the update is what it missed).
      ['live when asked with an empty chunked body', 'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 0],
    ])('leaves a live query stream %s', async (_, framing, waitMs) => {
      const created = await app.inject({
        method: 'POST',
        url: command,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: { title: 'Live' },
      })
      const { position, result } = created.json<{ position: string; result: { noteId: string } }>()
      const noteId = result.noteId
      // The stream answers at once: let the read model have the event first.
      const details = await app.inject({
        method: 'GET',
        url: `/api/queries/notes/get-note?noteId=${noteId}`,
        headers: { 'x-min-position': position },
      })
      expect(details.statusCode).toBe(200)
      const socket = await open(port)
      let received = ''
      socket.setEncoding('utf8')
      socket.on('data', (text: string) => (received += text))
      await write(
        socket,
        `GET /api/queries/notes/get-note/stream?noteId=${noteId} HTTP/1.1\r\nHost: t\r\n${framing}`,
      )
      await sleep(waitMs)
      expect(socket.destroyed).toBe(false)
      const update = await app.inject({
        method: 'POST',
        url: '/api/commands/notes/edit-note',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: { noteId, title: 'Still live' },
      })
      expect(update.statusCode).toBe(200)
      for (let waited = 0; !received.includes('Still live') && waited < patienceMs; waited += 50)
        await sleep(50)
      expect(received).toMatch(/^HTTP\/1.1 200/)
      expect(received).toContain('Still live')
      socket.destroy()
    })
  })

  describe('a client that holds connections', () => {
    /** A server of its own, so that no other test's connection is counted. */
    async function alone(bounds: HttpLimits, routes?: (server: FastifyInstance) => void) {
      const own = await listen(bounds, routes)
      const open = () =>
        new Promise<number>((resolve, reject) =>
          own.app.server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
        )
      return { ...own, open }
    }
    const opened = async (p: number) => {
      const socket = connect({ port: p, host: '127.0.0.1' })
      await new Promise((resolve) => socket.once('connect', resolve))
      return socket
    }

    it('closes a connection whose answers go unread past the body bound, not one read slowly', async () => {
      // Answers of 4 MiB, sixteen pipelined: more than the sockets' buffers take (32 MiB may be).
      const big = 'x'.repeat(4 * MiB)
      const own = await alone(limits, (server) => server.get('/big', async () => big))
      try {
        const stalled = await opened(own.port)
        stalled.pause()
        stalled.write('GET /big HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(16))
        // This one reads a chunk every 5 ms: slowly, never silent for the bound.
        const slow = await opened(own.port)
        let read = 0
        slow.on('data', (chunk: Buffer) => {
          read += chunk.length
          slow.pause()
          setTimeout(() => slow.resume(), 5)
        })
        slow.write('GET /big HTTP/1.1\r\nHost: t\r\n\r\n')
        for (let waited = 0; (await own.open()) > 1 && waited < patienceMs; waited += 100) await sleep(100)
        expect(await own.open()).toBe(1)
        expect(slow.destroyed).toBe(false)
        // Reading on, the slow client gets its answer whole.
        for (let waited = 0; read < big.length && waited < 4 * patienceMs; waited += 100) await sleep(100)
        expect(read).toBeGreaterThan(big.length)
        stalled.destroy()
        slow.destroy()
      } finally {
        await own.app.close()
      }
    })

    it('closes connections whose answers go unread once together they hold more than the bound', async () => {
      // The body bound (10 s) is past the wait: what closes them here is the process's bound.
      const big = 'x'.repeat(4 * MiB)
      const bounds = { ...roomyLimits, heldAnswerBytes: 8 * MiB }
      const own = await alone(bounds, (server) => server.get('/big', async () => big))
      try {
        const stalled = [await opened(own.port), await opened(own.port)]
        for (const socket of stalled) {
          socket.pause()
          socket.write('GET /big HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(16))
        }
        const began = Date.now()
        for (let waited = 0; (await own.open()) > 0 && waited < patienceMs; waited += 100) await sleep(100)
        expect(await own.open()).toBe(0)
        expect(Date.now() - began).toBeLessThan(bounds.bodyIdleTimeoutMs)
        // A connection holding little is served meanwhile and after.
        const small = await opened(own.port)
        small.write('GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
        let text = ''
        for await (const chunk of small) text += String(chunk)
        expect(text).toMatch(/^HTTP\/1.1 200 /)
        for (const socket of stalled) socket.destroy()
      } finally {
        await own.app.close()
      }
    })

    it('answers what is in flight while the server closes, and closes each connection with its answer', async () => {
      const own = await alone(limits)
      let closing: Promise<undefined> | undefined
      try {
        const socket = await opened(own.port)
        let answer = ''
        socket.setEncoding('utf8')
        socket.on('data', (chunk: string) => (answer += chunk))
        const ended = new Promise((resolve) => socket.once('close', resolve))
        // A command whose body is on its way keeps the connection busy while the server closes.
        const body = '{"title":"x"}'
        socket.write(`${commandHead(body.length)}${body.slice(0, 4)}`)
        await sleep(100)
        closing = own.app.close()
        // It stops listening once its preClose hooks have run: the server is closing by then.
        for (let waited = 0; own.app.server.listening && waited < patienceMs; waited += 20) await sleep(20)
        socket.write(body.slice(4))
        // The client keeps its end open, as a pool or a proxy does: the server ends the connection
        // (it waited for the keep-alive timeout, 72 s, and the process with it).
        const closed = await Promise.race([
          closing.then(() => 'closed'),
          sleep(patienceMs).then(() => 'waiting'),
        ])
        expect(closed).toBe('closed')
        await Promise.race([ended, sleep(patienceMs)])
        expect([...answer.matchAll(/HTTP\/1.1 (\d{3}) /g)].map((m) => m[1])).toEqual(['200'])
        expect(answer.toLowerCase()).toContain('connection: close')
        expect(socket.destroyed || socket.readableEnded).toBe(true)
      } finally {
        await (closing ?? own.app.close())
      }
    })

    it('keeps HTTP_MAX_CONNECTIONS open and closes the next as they come', async () => {
      const own = await alone({ ...limits, maxConnections: 10 })
      try {
        const sockets = await Promise.all(Array.from({ length: 12 }, () => opened(own.port)))
        const answers = await Promise.all(
          sockets.map(
            (socket) =>
              new Promise<string>((resolve) => {
                let text = ''
                socket.setEncoding('utf8')
                socket.on('data', (chunk: string) => {
                  text += chunk
                  if (text.includes('{"status":"ok"}')) resolve(text)
                })
                socket.on('close', () => resolve(text))
                socket.on('error', () => undefined)
                socket.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n')
              }),
          ),
        )
        expect(answers.filter((a) => a.startsWith('HTTP/1.1 200')).length).toBe(10)
        expect(answers.filter((a) => a === '').length).toBe(2)
        for (const socket of sockets) socket.destroy()
        for (let waited = 0; (await own.open()) > 0 && waited < patienceMs; waited += 50) await sleep(50)
        const next = await fetch(`http://127.0.0.1:${own.port}/health`)
        expect(next.status).toBe(200)
      } finally {
        await own.app.close()
      }
    })
  })
})
