import { readFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { buildServer, openapiDocument } from '../http/server.js'
import { startThrowawayTandem } from './examples.js'

// README points at the committed document as the full specification: it must be what the server serves.
it('commits the OpenAPI document the server serves (else: npx tsx src/cli/main.ts export-openapi)', async () => {
  const tandem = await startThrowawayTandem()
  try {
    const app = await buildServer(tandem)
    const served = await openapiDocument(app)
    await app.close()
    const committed: unknown = JSON.parse(await readFile('docs/api/openapi.json', 'utf8'))
    expect(committed).toEqual(JSON.parse(JSON.stringify(served)))
  } finally {
    await tandem.close()
  }
})
