import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { scenarioNames, scenarios } from '../scenarios/index.js'
import { renderReadme } from './report.js'
import type { Entry, MachineFacts, ResultsFile } from './results.js'

const resultsFile = (dir: string) => join(dir, 'results.json')

export function readResults(dir: string): ResultsFile | undefined {
  const file = resultsFile(dir)
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ResultsFile) : undefined
}

/** Merges new entries into results.json, replacing those of the same scenario and mode, and rewrites README.md. */
export async function writeResults(
  dir: string,
  fresh: readonly Entry[],
  machine: MachineFacts,
): Promise<void> {
  mkdirSync(dir, { recursive: true })
  const key = (e: Entry) => `${e.scenario}/${e.mode}`
  const replaced = new Set(fresh.map(key))
  const order = (e: Entry) => scenarioNames.indexOf(e.scenario) * 2 + (e.mode === 'embedded' ? 0 : 1)
  const previous = readResults(dir)?.entries ?? []
  const results: ResultsFile = {
    generatedAt: new Date().toISOString(),
    machine,
    entries: [...previous.filter((e) => !replaced.has(key(e))), ...fresh].sort((a, b) => order(a) - order(b)),
  }
  writeFileSync(resultsFile(dir), `${JSON.stringify(results, null, 2)}\n`)
  await writeReadme(dir, results)
  console.log(`\nWrote ${resultsFile(dir)} and ${join(dir, 'README.md')}`)
}

/** README.md from results.json alone. */
export async function writeReadme(dir: string, results: ResultsFile): Promise<void> {
  const readme = join(dir, 'README.md')
  writeFileSync(readme, await renderReadme(results, scenarios, readme))
}
