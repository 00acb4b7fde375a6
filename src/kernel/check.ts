import type { Domain } from './domain.js'

/**
 * Refuses, at start, domains that would step on each other: everything a domain registers is its
 * own. A domain's name is kebab case and unique; its messages carry its name; its migrations' ids
 * start with it; its event types, projection, replica and processor names are not another's (nor
 * twice its own); its projections read only the events it declares; its processors say they are its.
 */
export function checkDomains(domains: readonly Domain[]): void {
  const problems: string[] = []
  const owner = new Map<string, string>()
  const claim = (kind: string, name: string, domain: string) => {
    const key = `${kind} ${name}`
    const held = owner.get(key)
    if (held !== undefined) problems.push(`${key} is registered by ${held} and ${domain}`)
    else owner.set(key, domain)
  }
  for (const d of domains) {
    if (!/^[a-z][a-z0-9-]*$/.test(d.name)) problems.push(`domain "${d.name}" is not kebab case`)
    claim('domain', d.name, d.name)
    for (const m of [...d.commands, ...d.queries]) {
      if (m.domain !== d.name) problems.push(`${m.kind} ${m.domain}/${m.name} is listed by domain ${d.name}`)
    }
    for (const m of d.migrations) {
      if (!m.id.startsWith(`${d.name}/`))
        problems.push(`migration ${m.id} of ${d.name} does not start with "${d.name}/"`)
    }
    const declared = new Set(d.events.map((e) => e.type))
    for (const type of declared) claim('event type', type, d.name)
    for (const p of d.projections) {
      claim('projection', p.name, d.name)
      if (p.domain !== d.name)
        problems.push(`projection ${p.name} says it is of ${p.domain}, listed by ${d.name}`)
      const foreign = p.events.filter((type) => !declared.has(type))
      if (foreign.length > 0)
        problems.push(`projection ${p.name} reads events ${d.name} does not declare: ${foreign.join(', ')}`)
    }
    for (const r of d.routes ?? []) {
      claim('route', `${r.method} ${r.path}`, d.name)
      const listed = r.message.kind === 'command' ? d.commands : d.queries
      if (!(listed as readonly unknown[]).includes(r.message))
        problems.push(`route ${r.method} ${r.path} of ${d.name} sends a message the domain does not list`)
    }
    for (const r of d.replicas ?? []) claim('replica', `${d.name}/${r.name}`, d.name)
    for (const p of d.processors ?? []) {
      claim('processor', `${p.domain}/${p.name}`, d.name)
      if (p.domain !== d.name) problems.push(`processor ${p.domain}/${p.name} is listed by domain ${d.name}`)
    }
  }
  if (problems.length > 0) throw new Error(`The domains do not fit together:\n  ${problems.join('\n  ')}`)
}
