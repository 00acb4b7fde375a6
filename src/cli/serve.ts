import { ConfigError, loadConfig, type Role } from '../app/config.js'
import { isFreshDataDir } from '../app/data-dir.js'
import { startTandem, type Tandem } from '../app/tandem.js'
import { buildServer } from '../http/server.js'

/** `tandem serve`: the stores, projections and HTTP API. Embedded mode seeds demo data into a new DATA_DIR. */
export async function serve(options: { port?: number; seed?: boolean; roles?: Role[] }): Promise<void> {
  const config = { ...loadConfig(), ...(options.roles ? { roles: options.roles } : {}) }
  const fresh = !config.databaseUrl && isFreshDataDir(config.dataDir)
  if (options.seed && config.roles && !config.roles.includes('command'))
    throw new ConfigError('--seed needs the command role')
  const tandem = await startTandem({ config })
  if (options.seed ?? fresh) await seedDemo(tandem)
  const app = await buildServer(tandem)
  const address = await app.listen({ port: options.port ?? config.port, host: config.host })
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    tandem.log.info({ signal }, 'shutting down')
    await app.close()
    await tandem.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  printBanner(tandem, address.replace('127.0.0.1', 'localhost'))
}

export async function seedDemo(tandem: Tandem): Promise<void> {
  for (const domain of tandem.domains) await domain.seedDemo?.(tandem.commands)
  await tandem.projections.caughtUp()
  tandem.log.info('demo data seeded')
}

function printBanner(tandem: Tandem, url: string): void {
  const lines = [
    '',
    `  Tandem is running (${tandem.mode} mode${tandem.mode === 'embedded' ? `, data in ${tandem.config.dataDir}` : `, roles: ${[...tandem.roles].join(', ')}`})`,
    `  API       ${url}`,
    `  Docs      ${url}/docs`,
    `  OpenAPI   ${url}/openapi.json`,
    `  Stats     ${url}/api/cqrs/stats`,
  ]
  if (!tandem.config.authSecret) {
    lines.push('', '  Tokens to try it (valid 7 days):')
    for (const domain of tandem.domains) {
      for (const caller of domain.demoCallers ?? []) {
        const token = tandem.auth.sign(
          { sub: caller.id, roles: caller.roles },
          { expiresInSeconds: 7 * 24 * 3600 },
        )
        lines.push(`    ${caller.label.padEnd(12)} ${token}`)
      }
    }
    lines.push(
      '',
      '  Try:',
      `    curl ${url}/api/queries/events/list-upcoming-events`,
      `    curl -X POST ${url}/api/commands/events/register-participant \\`,
      `      -H "Authorization: Bearer <participant token>" -H "Content-Type: application/json" \\`,
      `      -d '{"eventId":"<an eventId from the list>"}'`,
    )
  }
  console.log(`${lines.join('\n')}\n`)
}
