import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
/**
 * What a process a test starts loads: the product's sources (the CLI), and for the benchmark's smoke
 * run the servers' own programs and the baselines.
 */
const trees = ['src', 'bench/server', 'bench/baselines']
const alone = ['bench/lib/product.ts']

/**
 * The product's sources and the server programs compiled to plain JavaScript, once per process, for
 * the processes a test starts: the CLI, or a server of the benchmark's smoke run (BENCH_FROM_SRC=1).
 * A child then loads JavaScript: under tsx's loader, which sees every module the process imports,
 * node_modules included, the same imports cost 1 to 1.5 s more CPU, most of what starting a server
 * took in a smoke run and of what a run of the CLI took.
 * esbuild, tsx's own compiler (it comes with tsx), strips the types as tsx does. The copy lives
 * under .scratch/ (ignored), where imports of packages resolve to the repository's node_modules; the
 * smoke run's context, or a spec's `afterAll`, removes it (a test worker is stopped, not exited: its
 * exit hook does not run), or else the process when it exits.
 */
async function compileSources(): Promise<string> {
  const { build } = await import('esbuild')
  mkdirSync(join(root, '.scratch'), { recursive: true })
  const out = mkdtempSync(join(root, '.scratch', 'compiled-sources-'))
  process.once('exit', () => rmSync(out, { recursive: true, force: true }))
  const entryPoints = [
    ...trees.flatMap((tree) =>
      readdirSync(join(root, tree), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
        .map((file) => join(root, tree, file)),
    ),
    ...alone.map((file) => join(root, file)),
  ]
  await build({
    entryPoints,
    outdir: out,
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
  })
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n')
  return out
}

let compiled: Promise<string> | undefined

/** The compiled copy of this process, made on first use. */
export function compiledSources(): Promise<string> {
  return (compiled ??= compileSources())
}

/** Removes the compiled copy, if this process made one, once what runs from it has ended. */
export async function removeCompiledSources(): Promise<void> {
  const dir = await compiled?.catch(() => undefined)
  compiled = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
}

/** The CLI as compiled here: `node <file> <command> …` runs the sources as they are. */
export async function compiledCli(): Promise<string> {
  return join(await compiledSources(), 'src', 'cli', 'main.js')
}
