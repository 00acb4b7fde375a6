import js from '@eslint/js'
import path from 'node:path'
import tseslint from 'typescript-eslint'

const src = path.join(import.meta.dirname, 'src')

/**
 * What each folder under src/ may import besides itself: nothing imports upward, domains see only
 * the kernel's door (src/kernel/index.ts) and their own folder, and no domain imports another.
 */
const layers = {
  core: [],
  storage: ['core'],
  // How processes tell each other what happened: wake-ups on commit, projection progress.
  transport: ['core', 'storage'],
  projections: ['core', 'storage', 'transport'],
  processors: ['core', 'storage', 'transport', 'projections'],
  kernel: ['core', 'storage', 'projections', 'processors'],
  domains: ['kernel'],
  app: ['core', 'storage', 'transport', 'projections', 'processors', 'kernel', 'domains'],
  http: ['core', 'storage', 'projections', 'processors', 'kernel', 'app'],
  cli: ['core', 'storage', 'projections', 'processors', 'kernel', 'app', 'http'],
  testing: ['core', 'storage', 'transport', 'projections', 'processors', 'kernel', 'app', 'http'],
}
const everything = Object.keys(layers)

/**
 * Tests and test support (specs, `testing/` folders) may reach any layer: they build what they
 * test. A domain's are the exception: they reach the kernel through its two doors, index.ts and
 * testing.ts (the test kits), as a domain in a repository of its own would.
 */
function allowedFor(from, test) {
  return test ? everything : (layers[from] ?? everything)
}

const layersRule = {
  meta: {
    type: 'problem',
    schema: [],
    messages: {
      upward: 'src/{{from}} may not import src/{{to}} (allowed: {{allowed}})',
      domain: 'A domain may not import another domain ({{to}})',
      door: 'A domain imports the kernel through src/kernel/index.ts only',
      testDoor:
        "A domain's tests import the kernel through src/kernel/index.ts and src/kernel/testing.ts only",
    },
  },
  create(context) {
    const file = path.relative(src, context.filename)
    if (file.startsWith('..')) return {}
    const [from, fromDomain] = file.split(path.sep)
    const spec = file.endsWith('.spec.ts') || file.split(path.sep).includes('testing')
    const check = (node) => {
      const source = node.source?.value
      if (typeof source !== 'string' || !source.startsWith('.')) return
      const target = path.relative(src, path.resolve(path.dirname(context.filename), source))
      if (target.startsWith('..')) return
      const [to, toDomain, ...rest] = target.split(path.sep)
      if (from === 'domains' && to === 'domains') {
        if (toDomain !== fromDomain) context.report({ node, messageId: 'domain', data: { to: toDomain } })
        return
      }
      if (to === from) return
      if (from === 'domains' && spec) {
        const door = to === 'kernel' && rest.length === 0 && ['index.js', 'testing.js'].includes(toDomain)
        if (!door) context.report({ node, messageId: 'testDoor' })
        return
      }
      const allowed = allowedFor(from, spec)
      if (!allowed.includes(to)) {
        context.report({
          node,
          messageId: 'upward',
          data: { from, to, allowed: allowed.join(', ') || 'none' },
        })
      } else if (from === 'domains' && (to !== 'kernel' || toDomain !== 'index.js' || rest.length > 0)) {
        context.report({ node, messageId: 'door' })
      }
    }
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    }
  },
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { tandem: { rules: { layers: layersRule } } },
    rules: {
      'tandem/layers': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      // Ports are implemented by closures (no `this`), and async signatures keep them uniform.
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
)
