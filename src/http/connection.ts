import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { HttpLimits } from './limits.js'

/** Sockets whose request is answered while its body still arrives: nothing more may be written to them. */
const answered = new WeakSet<Duplex>()

/** A request whose body is due on a real connection (`app.inject` has a stand-in without timers). */
const bodyDue = (raw: IncomingMessage) =>
  raw.socket instanceof Socket &&
  (raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0)

/**
 * Bounds the body's silences (Node bounds only the headers and the whole request) and, when the
 * answer goes before the body is read, reads the rest so the client can read the answer: closing on
 * unread data makes the client's TCP stack reset the connection, often before the answer is read.
 */
export function guardBodies(app: FastifyInstance, limits: HttpLimits): void {
  // Callback hooks: async ones cost every request a promise each, most of them (a GET) for nothing.
  app.addHook('onRequest', (request, reply, done) => {
    if (bodyDue(request.raw)) watchBody(request, reply, limits)
    done()
  })
  app.addHook('preValidation', (request, _reply, done) => {
    // The body is in; what follows (the handler, an SSE stream) is not the client's to hurry.
    if (bodyDue(request.raw)) request.raw.socket.setTimeout(0)
    done()
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    if (bodyDue(request.raw) && !request.raw.complete && !request.raw.destroyed)
      drainAfterAnswer(request, reply, limits)
    done(null, payload)
  })
}

/** A body's silences bounded: one that stalls is answered 408 and its connection closed. */
function watchBody(request: FastifyRequest, reply: FastifyReply, limits: HttpLimits) {
  const socket = request.raw.socket
  socket.setTimeout(limits.bodyIdleTimeoutMs)
  // Node emits this on the request while it is incomplete, instead of destroying the socket.
  request.raw.on('timeout', () => {
    if (reply.raw.headersSent) {
      socket.destroy()
      return
    }
    request.log.info({ code: stalled.code, status: stalled.status }, 'request refused')
    answerRaw(socket, stalled)
  })
}

interface RawAnswer {
  status: number
  reason: string
  code: string
  title: string
  detail: string
}

const stalled: RawAnswer = {
  status: 408,
  reason: 'Request Timeout',
  code: 'REQUEST_TIMEOUT',
  title: 'Request timeout',
  detail: 'The body stalled',
}

/** Node's parser errors on a request too broken to route, answered in Fastify's place. */
const clientErrors: Record<string, RawAnswer> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    ...stalled,
    detail: 'The headers or the body took too long',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'HEADERS_TOO_LARGE',
    title: 'Headers too large',
    detail: 'The request line and headers take more than 16 KiB',
  },
}

/**
 * Answers a request that never reached the router (malformed HTTP, headers too large, too slow) as
 * problem+json, like every other error, then closes the connection: what follows on it cannot be
 * trusted to start a request.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  // Its answer is out: a second one would be read as the answer to the next request.
  if (answered.has(socket)) socket.destroy()
  else
    answerRaw(
      socket,
      clientErrors[error.code ?? ''] ?? {
        status: 400,
        reason: 'Bad Request',
        code: 'MALFORMED_REQUEST',
        title: 'Malformed request',
        detail: 'Not a valid HTTP/1.1 request',
      },
    )
}

/** Writes a problem+json answer straight to the socket, past Node's response, and closes it. */
function answerRaw(socket: Duplex, answer: RawAnswer): void {
  const { status, reason, code, title, detail } = answer
  const body = JSON.stringify({ type: 'about:blank', title, status, code, detail })
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/problem+json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

function drainAfterAnswer(request: FastifyRequest, reply: FastifyReply, limits: HttpLimits): void {
  const raw = request.raw
  if (Number(raw.headers['content-length']) > limits.drainBytes || !reply.raw.shouldKeepAlive) {
    void reply.header('connection', 'close')
    return
  }
  // Fastify asks to close after a body it refused; read to its end, the connection stays sound.
  void reply.header('connection', 'keep-alive')
  const socket = raw.socket
  answered.add(socket)
  let read = 0
  raw.on('data', (chunk: Buffer) => {
    read += chunk.length
    if (read > limits.drainBytes) socket.destroy()
  })
  raw.once('end', () => answered.delete(socket))
  raw.resume()
  // Node gives the socket its keep-alive timeout once the answer is out; the body's bound still holds.
  reply.raw.once('finish', () => {
    if (!raw.complete) socket.setTimeout(limits.bodyIdleTimeoutMs)
  })
}
