import Fastify from 'fastify'
import { profile } from './profiling.js'
import type { Ready, Reply, Request } from './protocol.js'

/**
 * The bare Fastify server, forked like the Tandem one (bench/server/child.ts) but loading nothing of
 * Tandem: one trivial GET returning a small JSON object, the machine's ceiling. `PUT /bare/body`
 * keeps a JSON text that `GET /bare/body` then answers as is: the ceiling for answers of that size.
 */

const send = (message: Ready | Reply) => process.send?.(message)
const app = Fastify({ logger: false, bodyLimit: 1 << 20 })
app.get('/bare', async () => ({ status: 'ok', service: 'bare-fastify' }))
let body = '{}'
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) =>
  done(null, text),
)
app.put('/bare/body', async (request) => {
  body = String(request.body)
  return { bytes: Buffer.byteLength(body) }
})
app.get('/bare/body', async (_request, reply) => reply.type('application/json').send(body))
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()

process.on('message', (message: Request) => {
  if (message.op === 'profile') {
    void profile(message.action, message.file).then(
      (value) => send({ id: message.id, ok: true, value }),
      (error: unknown) => send({ id: message.id, ok: false, error: String(error) }),
    )
    return
  }
  if (message.op !== 'close') {
    send({ id: message.id, ok: false, error: `The bare server does not ${message.op}` })
    return
  }
  void app.close().then(() => {
    send({ id: message.id, ok: true, value: null })
    process.disconnect()
  })
})
// The bench process went away: do not outlive it.
process.on('disconnect', () => void app.close().finally(() => process.exit(0)))
send({ op: 'ready', port: typeof address === 'object' && address ? address.port : 0 })
