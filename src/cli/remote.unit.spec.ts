import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { rebuild, RemoteError } from './remote.js'

let server: Server | undefined

/** A stand-in server: the rebuild's POST is 202 from generation 1; each stats GET is `stats(n)`. */
async function serve(stats: (n: number, response: ServerResponse, request: IncomingMessage) => void) {
  let asked = 0
  server = createServer((request, response) => {
    if (request.method === 'POST') {
      response.writeHead(202, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ projection: 'p', fromGeneration: 1, status: 'started' }))
    } else stats(++asked, response, request)
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const answer = (response: ServerResponse, projection: object) => {
  response.writeHead(200, { 'content-type': 'application/json' })
  response.end(JSON.stringify({ projections: [{ name: 'p', ...projection }] }))
}

beforeEach(() => {
  vi.stubEnv('AUTH_SECRET', 'a-secret-of-the-right-length-0123456789')
  vi.spyOn(console, 'log').mockImplementation(() => {})
})

afterEach(async () => {
  vi.unstubAllEnvs()
  vi.restoreAllMocks()
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  server = undefined
})

it('waits for the switch while the server says the rebuild runs', async () => {
  const url = await serve((n, response) =>
    answer(response, n < 3 ? { generation: 1, rebuilding: { generation: 2 } } : { generation: 2 }),
  )
  await rebuild(url, 'p')
  expect(console.log).toHaveBeenLastCalledWith('Switched p to generation 2.')
})

it('stops waiting when the rebuild is no longer running (the server was started again)', async () => {
  const url = await serve((_n, response) => answer(response, { generation: 1 }))
  await expect(rebuild(url, 'p')).rejects.toThrow(
    new RemoteError(
      'The rebuild of p is no longer running (the server was started again?): generation 1 still serves; run it again',
    ),
  )
})

it('says the connection was lost, and that the outcome is not known, when the server goes away', async () => {
  const url = await serve((_n, _response, request) => request.socket.destroy())
  const waiting = rebuild(url, 'p')
  await expect(waiting).rejects.toThrow(RemoteError)
  await expect(waiting).rejects.toThrow(
    /^Waiting for the rebuild of p: The connection to http:\/\/127\.0\.0\.1:\d+ was lost during GET \/api\/cqrs\/stats \(\w+\); whether it switched is not known/,
  )
})

it('says no server answers where none listens', async () => {
  const url = await serve(() => {})
  await new Promise((resolve) => server?.close(resolve))
  server = undefined
  await expect(rebuild(url, 'p')).rejects.toThrow(`No Tandem server answers at ${url}.`)
})
