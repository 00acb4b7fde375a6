import Fastify from 'fastify'
import type { Ready, Reply, Request } from './protocol.js'

/**
 * The bare Fastify server, forked like the Tandem one (bench/server/child.ts) but loading nothing of
 * Tandem: one trivial GET returning a small JSON object, the machine's ceiling.
 */

const send = (message: Ready | Reply) => process.send?.(message)
const app = Fastify({ logger: false })
app.get('/bare', async () => ({ status: 'ok', service: 'bare-fastify' }))
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()

process.on('message', (message: Request) => {
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
