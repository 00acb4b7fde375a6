import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { AppError, PayloadTooLargeError, ValidationError } from '../core/errors.js'
import { bodyLimit } from './problem.js'
import type { HttpLimits } from './limits.js'

/** Sockets whose request is answered while its body still arrives: nothing more may be written to them. */
const answered = new WeakSet<Duplex>()

/**
 * Connections whose request's framing cannot be trusted (where its body ends is not known): nothing
 * after that request is served, and the connection closes after its answer.
 */
const framingLost = new WeakSet<Duplex>()
/** Requests refused for their framing: a transfer coding other than chunked, or read after one. */
const unframed = new WeakSet<IncomingMessage>()

/**
 * A transfer coding other than chunked alone: Node's parser reads `foo, chunked` (and `gzip, chunked`)
 * as chunked and hands on the body undecoded, where a proxy in front may have read another body.
 */
const codedOtherwise = (te: string | undefined) => te !== undefined && te.trim().toLowerCase() !== 'chunked'

/**
 * Judges each request's framing as Node's parser hands it on, before the parser reads a request
 * pipelined behind it: one with another transfer coding is refused (501) and so is every request read
 * after it on its connection (smuggled: the parser read it where a proxy may have read a body); an
 * HTTP/1.0 one with a Transfer-Encoding is served, its connection closed after (RFC 9112, 6.1).
 */
function judgeFraming(request: IncomingMessage): void {
  const socket = request.socket
  const te = request.headers['transfer-encoding']
  if (framingLost.has(socket) || codedOtherwise(te)) {
    framingLost.add(socket)
    unframed.add(request)
  } else if (te !== undefined && request.httpVersionMinor === 0) framingLost.add(socket)
}

/** Whether `request` is refused for its framing (`judgeFraming`). */
export const unframedRequest = (request: IncomingMessage): boolean => unframed.has(request)
/** Whether `request`'s connection closes after its answer, its framing lost (`judgeFraming`). */
export const closesAfter = (request: IncomingMessage): boolean => framingLost.has(request.socket)

/** Ends the connection with this answer: Node closes it once sent, and the client is told so. */
export function closeAfterAnswer(reply: FastifyReply): void {
  reply.raw.shouldKeepAlive = false
  void reply.header('connection', 'close')
}

/** A request that frames a body: a `Content-Length` above 0, or a `Transfer-Encoding`. */
const carriesBody = (raw: IncomingMessage): boolean =>
  raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0

const isGet = (raw: IncomingMessage) => raw.method === 'GET' || raw.method === 'HEAD'

const bodyOnGet = () =>
  new ValidationError([{ path: '', message: 'is not read: a GET takes its input from the query string' }])

/**
 * A GET's input is its query string: one sent with a body is refused, as a query string sent to a
 * command is, not dropped unread (a client whose `{"limit":1}` went unread took 17 items for 1). A
 * chunked body is refused at its first byte and served once it ends empty (some clients frame an
 * empty GET so), its silences bounded as any body's; the rest of a refused body is drained as any
 * refused body's is (`drainAfterAnswer`).
 */
function getBody(request: FastifyRequest, done: (error?: Error) => void): boolean {
  const raw = request.raw
  // No route (404) or not with this method (405): that is the answer, whatever the body. A body the
  // parser has read whole (`complete`) may still wait unread: only one read to its end is no more.
  if (!isGet(raw) || request.is404 || !carriesBody(raw) || raw.readableEnded) return false
  if (raw.headers['transfer-encoding'] === undefined) {
    // Over the bound it is the 413 any such body is.
    done(
      Number(raw.headers['content-length']) > bodyLimit ? new PayloadTooLargeError(bodyLimit) : bodyOnGet(),
    )
    return true
  }
  let settled = false
  const settle = (error?: Error) => {
    if (settled) return
    settled = true
    raw.off('data', onData)
    raw.off('end', onEnd)
    raw.off('close', onEnd)
    raw.pause()
    if (error === undefined && raw.socket instanceof Socket) raw.socket.setTimeout(0)
    done(error)
  }
  const onData = (chunk: Buffer) => {
    if (chunk.length > 0) settle(bodyOnGet())
  }
  const onEnd = () => settle()
  raw.on('data', onData)
  raw.once('end', onEnd)
  raw.once('close', onEnd)
  raw.resume()
  return true
}

/** A request whose body is due on a real connection (`app.inject` has a stand-in without timers). */
const bodyDue = (raw: IncomingMessage) => raw.socket instanceof Socket && carriesBody(raw)

/**
 * What a request and its answer may hold of the process:
 * - the body's silences are bounded (Node bounds only the headers and the whole request) and, when
 *   the answer goes before the body is read, the rest is read so the client can read the answer:
 *   closing on unread data makes the client's TCP stack reset the connection, often before the
 *   answer is read;
 * - a connection has at most `maxPipelined` requests unanswered;
 * - an answer its client stops reading closes the connection after the body bound's silence;
 * - the answers all connections hold unflushed are bounded together (`holdAnswer`).
 */
export function guardRequests(app: FastifyInstance, limits: HttpLimits): void {
  budgetOf.set(app.server, limits.heldAnswerBytes)
  // Callback hooks: async ones cost every request a promise each, most of them (a GET) for nothing.
  app.addHook('onRequest', (request, reply, done) => {
    if (!(request.raw.socket instanceof Socket)) return done()
    if (!queue(request.raw.socket)) {
      // Not kept alive: a refused body is otherwise read to its end for the connection to go on.
      closeAfterAnswer(reply)
      return done(tooManyPipelined)
    }
    if (bodyDue(request.raw)) {
      readingBody.set(request.raw.socket, request.raw)
      watchBody(request, reply, limits)
    }
    done()
  })
  app.addHook('preValidation', (request, _reply, done) => {
    if (getBody(request, done)) return
    // The body is in; what follows (the handler, an SSE stream) is not the client's to hurry.
    if (bodyDue(request.raw)) request.raw.socket.setTimeout(0)
    done()
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    if (bodyDue(request.raw) && !request.raw.complete && !request.raw.destroyed)
      drainAfterAnswer(request, reply, limits)
    // An answer the client stops reading closes its connection after the body bound's silence:
    // held unsent, it held the process's memory for as long as the client stayed connected. Node
    // gives the socket its keep-alive timeout once the answer is out. An answer the socket's buffer
    // takes at once (16 KiB, its least) cannot be held here: such answers arm no timer.
    else if (request.raw.socket instanceof Socket && !fitsSocketBuffer(payload))
      request.raw.socket.setTimeout(limits.bodyIdleTimeoutMs)
    holdAnswer(request, reply, payload, limits.heldAnswerBytes)
    done(null, payload)
  })
  app.addHook('onResponse', (request, _reply, done) => {
    unqueue(request.raw.socket)
    done()
  })
}

/** Unflushed answers past which a connection may be closed to keep the process's bound. */
const heldPerConnection = 1024 * 1024

/** Answer bytes handed to a connection and not yet flushed to its socket; none once it is closed here. */
interface Held {
  bytes: number
  closed: boolean
  /** The log of the connection's last request that held bytes: the closing is logged under its id. */
  log?: FastifyBaseLogger
}
const heldBy = new WeakMap<Socket, Held>()
/** The connections holding more than `heldPerConnection`, and what all connections hold. */
const heavy = new Set<Socket>()
let heldTotal = 0

/**
 * Counts an answer over 16 KiB as held until it is flushed to the socket (or the response closes).
 * Past `budget` held by all connections together, the connection holding the most is closed, if it
 * holds more than `heldPerConnection`. Each connection's own bounds (16 pipelined, the body bound's
 * silence) left 100 clients that pipelined requests for a large document and never read holding
 * 600 MB of the process for as long as they stayed connected. Node queues the answers to pipelined
 * requests behind the one unread, so they are counted here, not in the socket's buffer.
 */
function holdAnswer(request: FastifyRequest, reply: FastifyReply, payload: unknown, budget: number) {
  const socket = request.raw.socket
  if (!(socket instanceof Socket) || fitsSocketBuffer(payload)) return
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return
  let held = heldBy.get(socket)
  if (!held) heldBy.set(socket, (held = { bytes: 0, closed: false }))
  if (held.closed) return
  const size = payload.length
  const record = held
  record.log = request.log
  move(socket, record, size)
  let out = false
  const release = () => {
    if (out) return
    out = true
    if (!record.closed) move(socket, record, -size)
  }
  reply.raw.once('finish', release)
  reply.raw.once('close', release)
  keepWithin(budget, request.log)
}

/** Closes the connections holding the most, while all together hold more than `budget`. */
function keepWithin(budget: number, log: FastifyBaseLogger) {
  while (heldTotal > budget && heavy.size > 0) {
    let most: Socket | undefined
    for (const candidate of heavy)
      if (!most || (heldBy.get(candidate)?.bytes ?? 0) > (heldBy.get(most)?.bytes ?? 0)) most = candidate
    const dropped = heldBy.get(most as Socket) as Held
    ;(dropped.log ?? log).warn(
      { unflushed: dropped.bytes, heldAnswerBytes: budget },
      'connection closed: its answers go unread while the process holds too many',
    )
    move(most as Socket, dropped, -dropped.bytes)
    dropped.closed = true
    ;(most as Socket).destroy()
  }
}

/** The bound `guardRequests` was given, by HTTP server: live streams count their bytes within it. */
const budgetOf = new WeakMap<object, number>()
export const heldAnswerBudget = (server: object) => budgetOf.get(server)

/**
 * Counts what a live stream on `socket` holds unsent (`unsent`, told each time it changes; 0 at its
 * end) with the answers `holdAnswer` counts, under the same bound: a stream's own bound (1 MiB unsent
 * for 10 s) left 20 streams a client never read holding 460 MB of the process until each one's grace
 * ran out, and a write every few milliseconds to a thousand of them would have held gigabytes.
 */
export function holdStreamed(
  socket: unknown,
  budget: number,
  log: FastifyBaseLogger,
): (unsent: number) => void {
  let counted = 0
  return (unsent) => {
    if (!(socket instanceof Socket) || unsent === counted) return
    let held = heldBy.get(socket)
    if (!held) heldBy.set(socket, (held = { bytes: 0, closed: false }))
    if (held.closed) return
    if (unsent > 0) held.log = log
    move(socket, held, unsent - counted)
    counted = unsent
    keepWithin(budget, log)
  }
}

function move(socket: Socket, held: Held, bytes: number) {
  held.bytes += bytes
  heldTotal += bytes
  if (held.bytes > heldPerConnection) heavy.add(socket)
  else heavy.delete(socket)
}

const fitsSocketBuffer = (payload: unknown) =>
  (typeof payload === 'string' || Buffer.isBuffer(payload)) && payload.length <= 16 * 1024

/**
 * Requests a connection may have unanswered at once. Node reads pipelined requests as they come and
 * queues their answers behind the first: a client that sent 2,000 requests for a 135 KB document and
 * never read made one process hold 1.1 GB of answers.
 */
export const maxPipelined = 16

const tooManyPipelined = new AppError(
  429,
  'TOO_MANY_PIPELINED',
  'Too many pipelined requests',
  `A connection has at most ${maxPipelined} requests unanswered; this one closes after this answer`,
)

/** Unanswered requests per connection. */
const unanswered = new WeakMap<Socket, number>()

/**
 * Counts the request in its connection's queue until its answer is out (`unqueue`, on Fastify's
 * onResponse), a refused one too; false past the bound. An answer cut short leaves its count: its
 * connection is gone.
 */
function queue(socket: Socket): boolean {
  const count = (unanswered.get(socket) ?? 0) + 1
  unanswered.set(socket, count)
  return count <= maxPipelined
}

function unqueue(socket: Socket) {
  const count = unanswered.get(socket)
  if (count !== undefined) unanswered.set(socket, count - 1)
  if (count === 1) owed.get(socket)?.()
}

/**
 * Refuses what a request's `Expect` asks, through its response: Node writes it after the answers owed
 * before it on the connection (a raw one took their place), then closes; nothing read after it runs.
 */
function answerExpectation(request: IncomingMessage, response: ServerResponse, answer: RawAnswer): void {
  // (A pipelined request's response has no socket until its turn.)
  framingLost.add(request.socket)
  response.shouldKeepAlive = false
  const body = problemText(answer)
  response.writeHead(answer.status, answer.reason, {
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  })
  response.end(body)
}

/** The request whose body a connection reads: its parser's errors until the body ends are that request's. */
const readingBody = new WeakMap<Duplex, IncomingMessage>()

/** A raw answer waiting for the answers owed on its connection before it (`answerInTurn`). */
const owed = new WeakMap<Duplex, () => void>()

/**
 * Answers, past Fastify, a request the parser read behind others on the connection (malformed,
 * headers too large, an expectation refused, CONNECT) once their answers are out, and closes the
 * connection; nothing read after it is served. Written at once, it took the place of their answers: a
 * command applied was told 400, 413 or 431, and its client would send it again.
 */
function answerInTurn(socket: Duplex, answer: RawAnswer, heard = true): void {
  // An error in the body being read (a bad chunk) is that request's: answered at once.
  const reading = readingBody.get(socket)
  if (reading && !reading.complete) return answerRaw(socket, answer, heard)
  framingLost.add(socket)
  const answerNow = () => {
    owed.delete(socket)
    // What the answers before it wrote reaches the client first (a destroyed socket drops it).
    if (socket.writableLength > 0) socket.once('drain', () => answerRaw(socket, answer, heard))
    else answerRaw(socket, answer, heard)
  }
  if (socket instanceof Socket && (unanswered.get(socket) ?? 0) > 0) {
    socket.pause()
    owed.set(socket, answerNow)
  } else answerNow()
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

const otherVersion: RawAnswer = {
  status: 505,
  reason: 'HTTP Version Not Supported',
  code: 'HTTP_VERSION_NOT_SUPPORTED',
  title: 'HTTP version not supported',
  detail: 'This server speaks HTTP/1.1 (and 1.0)',
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
  // Bytes after a request that closes its connection (`Connection: close`, HTTP/1.0): that request
  // was whole, and its answer is on its way; the connection closes after it, the bytes unread. A 400
  // in its place told the client a command it had applied was refused.
  if (error.code === 'HPE_CLOSED_CONNECTION') return
  // A request on it was refused for its framing (`judgeFraming`): that answer closes the connection,
  // and is the only one (a parser's error on the bytes behind it was a second answer to one request).
  if (framingLost.has(socket)) return
  // Its answer is out: a second one would be read as the answer to the next request.
  if (answered.has(socket)) socket.destroy()
  else
    // A request too slow is the one being read, its answer the one owed; a parser's error is of a
    // request behind those being answered.
    (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? answerRaw : answerInTurn)(
      socket,
      clientErrors[error.code ?? ''] ??
        // A version the parser does not know (HTTP/1.2, HTTP/3.0), not one it could not read (HTTP/1.10).
        (error.code === 'HPE_INVALID_VERSION' && /Invalid HTTP version/.test(error.message)
          ? otherVersion
          : undefined) ?? {
          status: 400,
          reason: 'Bad Request',
          code: 'MALFORMED_REQUEST',
          title: 'Malformed request',
          detail: 'Not a valid HTTP/1.1 request',
        },
      // The client ended its side mid-request: it left, and is most likely told nothing.
      error.code !== 'HPE_INVALID_EOF_STATE',
    )
}

/**
 * What Node's server answers by itself, answered as problem+json, and its connections bounded: past
 * the file descriptors a process may open, new clients were refused without a word in the log, and
 * the database's new connections with them.
 */
export function guardServer(server: Server, limits: HttpLimits, log: FastifyBaseLogger): void {
  server.maxConnections = limits.maxConnections
  // Node keeps the first 2,000 headers and drops the rest without a word: 2,000 tiny ones fit in the
  // 16 KiB bound, and an Idempotency-Key, a second Host or a Transfer-Encoding after them went unseen
  // (the same key applied twice). Every header is kept; the size bound still holds.
  server.maxHeadersCount = 0
  // Synchronous, as the parser hands each request on: before it reads the next one pipelined behind.
  server.prependListener('request', judgeFraming)
  let warnedAt = 0
  server.on('drop', () => {
    if (Date.now() - warnedAt < 60_000) return
    warnedAt = Date.now()
    log.warn({ maxConnections: limits.maxConnections }, 'connections refused: HTTP_MAX_CONNECTIONS are open')
  })
  // A body it would refuse is not asked for: Node sends 100 Continue to every `Expect: 100-continue`,
  // and the client then sent megabytes to be told 413.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (Number(request.headers['content-length']) > bodyLimit)
      return answerExpectation(request, response, notContinued)
    response.writeContinue()
    server.emit('request', request, response)
  })
  // Node answers an `Expect` other than 100-continue with a bare 417.
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) =>
    answerExpectation(request, response, unmetExpectation),
  )
  // CONNECT asks for a tunnel: Node drops the connection without a word.
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => answerInTurn(socket, noTunnel))
}

const notContinued: RawAnswer = {
  status: 413,
  reason: 'Payload Too Large',
  code: 'PAYLOAD_TOO_LARGE',
  title: 'Payload too large',
  detail: `The body is over ${bodyLimit} bytes: not sent on (no 100 Continue); the connection closes`,
}

const unmetExpectation: RawAnswer = {
  status: 417,
  reason: 'Expectation Failed',
  code: 'EXPECTATION_FAILED',
  title: 'Expectation failed',
  detail: 'The only expectation served is "Expect: 100-continue"',
}

const noTunnel: RawAnswer = {
  status: 405,
  reason: 'Method Not Allowed',
  code: 'METHOD_NOT_ALLOWED',
  title: 'Method not allowed',
  detail: 'CONNECT opens no tunnel here',
}

/** What the connection was answered past Fastify (a stall, a request too slow), by its socket. */
const answeredRaw = new WeakMap<Duplex, RawAnswer>()

/**
 * What the client of `request` was told, if its request ended before Fastify answered it: the answer
 * written past Fastify (408 for a body that stalled or a request too slow), or undefined for one
 * told nothing (it left mid-body). Null: the request arrived whole (or is still arriving).
 */
export function answeredPastFastify(
  request: FastifyRequest,
): { status: number; code: string } | undefined | null {
  const told = answeredRaw.get(request.raw.socket)
  if (told) return told
  const raw = request.raw
  return !raw.complete && (raw.readableAborted || raw.socket.destroyed) ? undefined : null
}

/**
 * Writes a problem+json answer straight to the socket, past Node's response, and closes it; `heard`:
 * the client is there to read it (`answeredPastFastify`).
 */
const problemText = ({ status, code, title, detail }: RawAnswer) =>
  JSON.stringify({ type: 'about:blank', title, status, code, detail })

function answerRaw(socket: Duplex, answer: RawAnswer, heard = true): void {
  const { status, reason } = answer
  const body = problemText(answer)
  if (socket.writable) {
    if (heard) answeredRaw.set(socket, answer)
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
