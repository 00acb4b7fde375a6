#!/usr/bin/env node
import { ConfigError } from '../app/config.js'
import { DataDirInUseError } from '../app/data-dir.js'
import { MigrationError } from '../storage/migrations.js'
import { RemoteError } from './remote.js'
import { main, usageAfterMistake, UsageError } from './run.js'

/** An error of the system or a server (a port taken, a host unknown, a database refusing): it has a code. */
const coded = (error: unknown): error is Error & { code: string } =>
  error instanceof Error && typeof (error as { code?: unknown }).code === 'string'

const argv = process.argv.slice(2)

main(argv).catch((error: unknown) => {
  // A mistake's reason, then the usage of the command it was made in, not the whole usage.
  if (error instanceof UsageError || (coded(error) && error.code.startsWith('ERR_PARSE_ARGS')))
    console.error(`${error.message}\n\n${usageAfterMistake(argv[0])}`)
  else if (
    error instanceof ConfigError ||
    error instanceof DataDirInUseError ||
    error instanceof RemoteError ||
    error instanceof MigrationError
  )
    console.error(error.message)
  else if (coded(error)) console.error(`${error.message} (${error.code})`)
  else console.error(error)
  process.exit(1)
})
