import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../testing/http.js'
import { notesDomain } from '../testing/notes-domain/index.js'
import { modes } from '../testing/services.js'

/**
 * Sends raw bytes (and, `then end`, ends the client's side) and reads what comes back until the
 * server closes the connection.
 */
function exchange(port: number, request: string, then?: 'then end'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (answer += chunk))
    socket.on('close', () => resolve(answer))
    socket.on('error', reject)
    if (then) socket.end(request)
    else socket.write(request)
  })
}

function problemOf(answer: string) {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  const [status = '', ...headers] = head.split('\r\n')
  return {
    status,
    headers: headers.map((h) => h.toLowerCase()),
    body: JSON.parse(body) as Record<string, unknown>,
  }
}

/** Requests too broken for the router still get problem+json, and change nothing. */
describe.each(modes)('malformed HTTP (%s)', (mode) => {
  let s: TestServer
  let port: number
  beforeAll(async () => {
    s = await startTestServer(mode, { domains: [notesDomain] })
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    port = (s.app.server.address() as AddressInfo).port
  })
  afterAll(() => s.close())

  it('answers 400 MALFORMED_REQUEST for a header line without a colon', async () => {
    const head = await s.head()
    const answer = problemOf(
      await exchange(
        port,
        'POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nthis is not a header\r\n' +
          'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
      ),
    )
    expect(answer.status).toBe('HTTP/1.1 400 Bad Request')
    expect(answer.headers).toContain('content-type: application/problem+json; charset=utf-8')
    expect(answer.body).toMatchObject({ status: 400, code: 'MALFORMED_REQUEST' })
    expect(await s.head()).toBe(head)
  })

  it('answers QUERY, which no route takes, as any other method: with or without Content-Type', async () => {
    for (const type of ['', 'Content-Type: application/json\r\nContent-Length: 2\r\n']) {
      const body = type ? '{}' : ''
      const known = problemOf(
        await exchange(
          port,
          `QUERY /api/cqrs/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${type}\r\n${body}`,
        ),
      )
      expect(known.status).toBe('HTTP/1.1 405 Method Not Allowed')
      expect(known.headers).toContain('allow: get, head')
      expect(known.body).toMatchObject({ code: 'METHOD_NOT_ALLOWED' })
      const unknown = problemOf(
        await exchange(port, `QUERY /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${type}\r\n${body}`),
      )
      expect(unknown.status).toBe('HTTP/1.1 404 Not Found')
      expect(unknown.body).toMatchObject({ code: 'ROUTE_NOT_FOUND' })
    }
  })

  it('answers 431 HEADERS_TOO_LARGE for 64 KiB of headers', async () => {
    const answer = problemOf(
      await exchange(port, `GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`),
    )
    expect(answer.status).toBe('HTTP/1.1 431 Request Header Fields Too Large')
    expect(answer.body).toMatchObject({
      status: 431,
      code: 'HEADERS_TOO_LARGE',
      detail: 'The request line and headers take more than 16 KiB',
    })
  })

  it('answers 400 BAD_URL as problem+json for a path with a malformed %-escape, and changes nothing', async () => {
    const head = await s.head()
    for (const url of [
      '/api/queries/notes/get-note%ZZ?noteId=1',
      '/api/commands/notes/create-note%E0%A4%A',
    ]) {
      const method = url.includes('commands') ? 'POST' : 'GET'
      const answer = await s.app.inject({
        method,
        url,
        payload: method === 'POST' ? { title: 'x' } : undefined,
      })
      expect(answer.statusCode).toBe(400)
      expect(answer.headers['content-type']).toContain('application/problem+json')
      expect(answer.json()).toMatchObject({ status: 400, code: 'BAD_URL' })
    }
    expect(await s.head()).toBe(head)
  })

  it('answers 400 BAD_URL for a query string whose %-escapes are not UTF-8, as for such a body', async () => {
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    const ask = (query: string) =>
      s.app.inject({
        method: 'GET',
        url: `/api/queries/notes/list-notes?${query}`,
        headers: { authorization: bearer },
      })
    // A byte that starts no character, a lone surrogate's bytes, an overlong NUL, a cut sequence, no hex.
    for (const query of [
      'ownerId=%FF',
      'ownerId=%ED%A0%80',
      'ownerId=%C0%80',
      'ownerId=a%E2%82',
      'ownerId=%zz',
    ]) {
      const answer = await ask(query)
      expect(answer.statusCode, query).toBe(400)
      expect(answer.json()).toMatchObject({ status: 400, code: 'BAD_URL' })
    }
    // Escapes of UTF-8 are decoded as ever: %77riter is the caller's own id.
    expect((await ask('ownerId=%77riter&limit=1')).statusCode).toBe(200)
  })

  it('answers 400 MALFORMED_REQUEST as problem+json for an HTTP/1.1 request without Host', async () => {
    const answer = problemOf(await exchange(port, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n'))
    expect(answer.status).toBe('HTTP/1.1 400 Bad Request')
    expect(answer.headers).toContain('content-type: application/problem+json; charset=utf-8')
    expect(answer.body).toMatchObject({ status: 400, code: 'MALFORMED_REQUEST' })
    // HTTP/1.0 has no Host to name.
    expect(await exchange(port, 'GET /health HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1.1 200 OK/)
    // Two are one too many, whatever the version.
    for (const version of ['1.1', '1.0']) {
      const twice = `GET /health HTTP/${version}\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`
      expect(problemOf(await exchange(port, twice)).body).toMatchObject({
        status: 400,
        code: 'MALFORMED_REQUEST',
      })
    }
  })

  it('answers 400 MALFORMED_REQUEST for a header read as one value named twice, and writes nothing', async () => {
    const head = await s.head()
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    const post = (headers: string) =>
      exchange(
        port,
        `POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\n${headers}` +
          'Connection: close\r\nContent-Length: 13\r\n\r\n{"title":"x"}',
      )
    const json = 'Content-Type: application/json\r\n'
    for (const [name, headers] of [
      ['authorization', `Authorization: ${bearer}\r\nAuthorization: Bearer nonsense\r\n${json}`],
      ['content-type', `Authorization: ${bearer}\r\n${json}Content-Type: text/plain\r\n`],
      [
        'idempotency-key',
        `Authorization: ${bearer}\r\n${json}Idempotency-Key: a1\r\nidempotency-key: a2\r\n`,
      ],
    ]) {
      const answer = problemOf(await post(headers ?? ''))
      expect(answer.status, name).toBe('HTTP/1.1 400 Bad Request')
      expect(answer.body).toMatchObject({
        code: 'MALFORMED_REQUEST',
        detail: `The request names ${name} twice`,
      })
    }
    expect(await s.head()).toBe(head)
    // Once each, the same request is served.
    expect(await post(`Authorization: ${bearer}\r\n${json}Idempotency-Key: a1\r\n`)).toMatch(
      /^HTTP\/1.1 200 OK/,
    )
  })

  it('serves nothing pipelined behind a transfer coding it refuses: a smuggled request is not run', async () => {
    const head = await s.head()
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    const smuggled = '{"title":"smuggled"}'
    const answer = await exchange(
      port,
      'POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n' +
        `POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nAuthorization: ${bearer}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    )
    expect(answer.match(/^HTTP\/1.1 \d+/gm)).toEqual(['HTTP/1.1 501'])
    expect(await s.head()).toBe(head)
  })

  it('answers a request whole before bytes that follow it on a connection it closes, which are left unread', async () => {
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    const body = '{"title":"closing"}'
    const request = (version: string, connection: string) =>
      `POST /api/commands/notes/create-note HTTP/${version}\r\nHost: t\r\nAuthorization: ${bearer}\r\n` +
      `Content-Type: application/json\r\n${connection}Content-Length: ${body.length}\r\n\r\n${body}X`
    for (const [version, connection] of [
      ['1.1', 'Connection: close\r\n'],
      ['1.0', ''],
    ]) {
      const head = BigInt(await s.head())
      const answer = await exchange(port, request(version ?? '', connection ?? ''))
      // The command was applied: the client is told so, not 400.
      expect(answer, version).toMatch(/^HTTP\/1.1 200 OK/)
      expect(answer.match(/^HTTP\/1.1 \d+/gm)).toHaveLength(1)
      expect(BigInt(await s.head())).toBe(head + 1n)
    }
  })

  it('answers a request refused before routing after the answers owed before it, and runs nothing after it', async () => {
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    const body = '{"title":"owed"}'
    const command =
      `POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nAuthorization: ${bearer}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    for (const [refused, status] of [
      ['JUNK\r\n\r\n', '400'],
      ['GET /health HTTP/1.2\r\nHost: t\r\n\r\n', '505'],
      ['POST /health HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n', '413'],
      ['GET /health HTTP/1.1\r\nHost: t\r\nExpect: later\r\n\r\n', '417'],
    ]) {
      const head = BigInt(await s.head())
      // The command, the refused request, and a command behind it, in one write.
      const answer = await exchange(port, `${command}${refused ?? ''}${command}`)
      // (The second answer follows the first's body on the same line.)
      expect(answer.match(/HTTP\/1\.1 \d{3}/g), status).toEqual(['HTTP/1.1 200', `HTTP/1.1 ${status}`])
      expect(BigInt(await s.head()), status).toBe(head + 1n)
    }
  })

  it("answers a body of bad chunks 400 at once, not after the body bound: the error is that request's", async () => {
    const head = await s.head()
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    for (const chunks of ['zz\r\n{}\r\n0\r\n\r\n', '5\r\n{}\r\n0\r\n\r\n', '2\r\n{}0\r\n\r\n']) {
      const answer = await exchange(
        port,
        `POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nAuthorization: ${bearer}\r\n` +
          `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`,
      )
      expect(problemOf(answer).body, chunks).toMatchObject({ status: 400, code: 'MALFORMED_REQUEST' })
    }
    expect(await s.head()).toBe(head)
  })

  it('closes the connection of a request of another transfer coding whatever it is refused with', async () => {
    const answer = await exchange(
      port,
      'POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nHost: u\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n',
    )
    expect(answer.match(/^HTTP\/1.1 \d+/gm)).toHaveLength(1)
    expect(answer.toLowerCase()).toContain('connection: close')
  })

  it('reads every header however many: one past 2,000 counts (an Idempotency-Key, a second Host)', async () => {
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    const body = '{"title":"padded"}'
    const padding = 'a:b\r\n'.repeat(2000)
    const post = (after: string) =>
      exchange(
        port,
        `POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nAuthorization: ${bearer}\r\n` +
          `Content-Type: application/json\r\n${padding}${after}Connection: close\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body}`,
      )
    const key = `padded-${Date.now()}`
    const head = BigInt(await s.head())
    expect(await post(`Idempotency-Key: ${key}\r\n`)).toMatch(/^HTTP\/1.1 200 OK/)
    expect((await post(`Idempotency-Key: ${key}\r\n`)).toLowerCase()).toContain('idempotent-replayed: true')
    expect(BigInt(await s.head())).toBe(head + 1n)
    expect(problemOf(await post('Host: u\r\n')).body).toMatchObject({
      status: 400,
      code: 'MALFORMED_REQUEST',
    })
    expect(BigInt(await s.head())).toBe(head + 1n)
  })

  it('serves an HTTP/1.0 request with a Transfer-Encoding, then closes: nothing behind it is read', async () => {
    const head = BigInt(await s.head())
    const answer = await exchange(
      port,
      'GET /health HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
        'GET /health HTTP/1.1\r\nHost: t\r\n\r\n',
    )
    expect(answer.match(/^HTTP\/1.1 \d+/gm)).toEqual(['HTTP/1.1 200'])
    expect(answer.toLowerCase()).toContain('connection: close')
    expect(BigInt(await s.head())).toBe(head)
  })

  it('refuses a GET whose chunked body holds bytes, 400, and serves the next request; an empty one is served', async () => {
    const body = '{"limit":1}'
    const answer = await exchange(
      port,
      `GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` +
        'GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
        'GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
    )
    // Each answer follows the body before it on its line.
    expect(answer.match(/HTTP\/1.1 \d{3}/g)).toEqual(['HTTP/1.1 400', 'HTTP/1.1 200', 'HTTP/1.1 200'])
    expect(answer).toContain('a GET takes its input from the query string')
  })

  it('answers a request with another transfer coding once, however the client ends, and closes', async () => {
    for (const coding of ['identity', 'gzip']) {
      for (const method of ['GET /health', 'DELETE /health', 'HEAD /health']) {
        // The client ends its side after the headers: the parser then errs on the body it awaited.
        const answer = await exchange(
          port,
          `${method} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ${coding}\r\n\r\n`,
          'then end',
        )
        expect(answer.match(/HTTP\/1.1 \d{3}/g), `${method} ${coding}`).toHaveLength(1)
      }
    }
  })

  it('answers a transfer coding other than chunked alone 501, writing nothing, and closes', async () => {
    const head = await s.head()
    const body = '{"title":"coded"}'
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
    for (const coding of ['foo, chunked', 'gzip, chunked', 'deflate, chunked']) {
      const answer = problemOf(
        await exchange(
          port,
          `POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n` +
            `Transfer-Encoding: ${coding}\r\n\r\n${chunked}`,
        ),
      )
      expect(answer.status, coding).toBe('HTTP/1.1 501 Not Implemented')
      expect(answer.body).toMatchObject({ status: 501, code: 'TRANSFER_CODING_NOT_SUPPORTED' })
      expect(answer.headers).toContain('connection: close')
    }
    expect(await s.head()).toBe(head)
    // Chunked alone, in any case, is read as ever.
    const plain = await exchange(
      port,
      'GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
    )
    expect(plain).toMatch(/^HTTP\/1.1 200 OK/)
  })

  it('serves HTTP/1.0 and 1.1, and answers another version 505 as problem+json', async () => {
    const answer = problemOf(
      await exchange(port, 'GET /health HTTP/2.0\r\nHost: t\r\nConnection: close\r\n\r\n'),
    )
    expect(answer.status).toBe('HTTP/1.1 505 HTTP Version Not Supported')
    expect(answer.body).toMatchObject({ status: 505, code: 'HTTP_VERSION_NOT_SUPPORTED' })
    // A request line without a version (HTTP/0.9) is not served either.
    expect(problemOf(await exchange(port, 'GET /health\r\n\r\n')).body).toMatchObject({
      code: 'HTTP_VERSION_NOT_SUPPORTED',
    })
    // Versions Node's parser refuses by itself: another 1.x, a 3.0.
    for (const version of ['HTTP/1.2', 'HTTP/3.0']) {
      const refused = problemOf(await exchange(port, `GET /health ${version}\r\nHost: t\r\n\r\n`))
      expect(refused.status).toBe('HTTP/1.1 505 HTTP Version Not Supported')
      expect(refused.body).toMatchObject({ status: 505, code: 'HTTP_VERSION_NOT_SUPPORTED' })
    }
    // One it cannot read is malformed.
    expect(problemOf(await exchange(port, 'GET /health HTTP/1.10\r\nHost: t\r\n\r\n')).body).toMatchObject({
      code: 'MALFORMED_REQUEST',
    })
  })

  it('asks for a body with 100 Continue only where it would read it: one over 1 MiB is 413 at once', async () => {
    const head = await s.head()
    const bearer = s.bearer({ id: 'writer', roles: ['writer'] })
    const ask = (length: number) =>
      `POST /api/commands/notes/create-note HTTP/1.1\r\nHost: t\r\nAuthorization: ${bearer}\r\n` +
      `Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`
    const refused = await exchange(port, ask(1024 * 1024 + 1))
    expect(refused).toMatch(/^HTTP\/1.1 413 /)
    expect(problemOf(refused).body).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' })
    const body = '{"title":"continued"}'
    const served = await exchange(
      port,
      `${ask(body.length).replace('Host: t', 'Host: t\r\nConnection: close')}${body}`,
    )
    expect(served).toMatch(/^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200 OK/)
    expect(BigInt(await s.head())).toBe(BigInt(head) + 1n)
  })

  it('answers an expectation other than 100-continue 417, and CONNECT 405, as problem+json', async () => {
    const expectation = problemOf(
      await exchange(port, 'GET /health HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n'),
    )
    expect(expectation.status).toBe('HTTP/1.1 417 Expectation Failed')
    expect(expectation.body).toMatchObject({ status: 417, code: 'EXPECTATION_FAILED' })
    const tunnel = problemOf(
      await exchange(port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'),
    )
    expect(tunnel.status).toBe('HTTP/1.1 405 Method Not Allowed')
    expect(tunnel.body).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' })
  })

  it('answers the requests a connection pipelines past 16 unanswered 429, then closes it', async () => {
    const answer = await exchange(port, 'GET /health HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(40))
    const statuses = [...answer.matchAll(/HTTP\/1.1 (\d{3}) /g)].map((m) => m[1])
    expect(statuses).toEqual([...Array<string>(16).fill('200'), '429'])
    expect(answer).toContain('"code":"TOO_MANY_PIPELINED"')
    // With (empty, chunked) bodies, which a refusal reads to their end, the connection closes too.
    const bodied = await exchange(
      port,
      'GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'.repeat(40),
    )
    expect([...bodied.matchAll(/HTTP\/1.1 (\d{3}) /g)].map((m) => m[1])).toEqual([
      ...Array<string>(16).fill('200'),
      '429',
    ])
    // Sixteen are served, on one connection or on several.
    const sixteen = await exchange(
      port,
      'GET /health HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(15) +
        'GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
    )
    expect([...sixteen.matchAll(/HTTP\/1.1 200 /g)]).toHaveLength(16)
  })

  it('answers a path out of the docs’ folder 403 FORBIDDEN, its code and title saying so', async () => {
    const answer = problemOf(
      await exchange(
        port,
        'GET /docs/static/../../../package.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
      ),
    )
    expect(answer.status).toBe('HTTP/1.1 403 Forbidden')
    expect(answer.body).toMatchObject({ status: 403, code: 'FORBIDDEN', title: 'Forbidden' })
    // A file the docs do not have: 404, not "takes GET, not GET".
    const missing = await s.app.inject({ method: 'GET', url: '/docs/static/no-such-file.js' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ code: 'ROUTE_NOT_FOUND' })
  })

  it('still answers well-formed requests on new connections', async () => {
    const answer = await exchange(port, 'GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
    expect(answer).toMatch(/^HTTP\/1.1 200 OK/)
  })
})
