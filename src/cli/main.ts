#!/usr/bin/env node
import { ConfigError } from '../app/config.js'
import { DataDirInUseError } from '../app/data-dir.js'
import { RemoteError } from './remote.js'
import { main, usage, UsageError } from './run.js'

/** An error of the system or a server (a port taken, a host unknown, a database refusing): it has a code. */
const coded = (error: unknown): error is Error & { code: string } =>
  error instanceof Error && typeof (error as { code?: unknown }).code === 'string'

main(process.argv.slice(2)).catch(async (error: unknown) => {
  if (error instanceof UsageError) console.error(`${error.message}\n\n${await usage()}`)
  else if (coded(error) && error.code.startsWith('ERR_PARSE_ARGS'))
    console.error(`${error.message}\n\n${await usage()}`)
  else if (error instanceof ConfigError || error instanceof DataDirInUseError || error instanceof RemoteError)
    console.error(error.message)
  else if (coded(error)) console.error(`${error.message} (${error.code})`)
  else console.error(error)
  process.exit(1)
})
