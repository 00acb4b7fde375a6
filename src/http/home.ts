import type { FastifyInstance, FastifyRequest } from 'fastify'

/** Where a person who opens the server's root in a browser (or with curl) can go next. */
export interface HomeLinks {
  title: string
  links: Record<string, string>
  /** Per domain, its routes as `METHOD /path`. */
  domains: Record<string, string[]>
}

export const serviceLinks = {
  docs: '/docs',
  openapi: '/openapi.json',
  health: '/health',
  ready: '/ready',
  metrics: '/metrics',
  stats: '/api/cqrs/stats',
  handlers: '/api/cqrs/handlers',
}

/** `GET /`: an index of the server, in HTML for a browser and JSON for everyone else. */
export function registerHome(app: FastifyInstance, home: () => HomeLinks): void {
  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    void reply.header('vary', 'accept')
    if (!prefersHtml(request)) return home()
    return reply.type('text/html; charset=utf-8').send(html(home()))
  })
}

/** True when Accept ranks text/html above JSON: browsers do, `curl` (`*\/*`) and fetch do not. */
function prefersHtml(request: FastifyRequest): boolean {
  const ranks = new Map<string, number>()
  for (const part of (request.headers.accept ?? '').split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase())
    const q = params.find((p) => p.startsWith('q='))
    ranks.set(type, q ? Number(q.slice(2)) || 0 : 1)
  }
  const html = ranks.get('text/html') ?? 0
  const json = ranks.get('application/json') ?? ranks.get('application/*') ?? ranks.get('*/*') ?? 0
  return html > json
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function html(home: HomeLinks): string {
  const link = (href: string, text = href) => `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`
  const route = (line: string) => {
    const [method = '', path = ''] = line.split(' ')
    return `<li><code>${escapeHtml(method)}</code> ${method === 'GET' ? link(path) : `<code>${escapeHtml(path)}</code>`}</li>`
  }
  const links = Object.entries(home.links)
    .map(([name, href]) => `<li>${escapeHtml(name)}: ${link(href)}</li>`)
    .join('')
  const domains = Object.entries(home.domains)
    .map(([name, routes]) => `<h2>${escapeHtml(name)}</h2><ul>${routes.map(route).join('')}</ul>`)
    .join('')
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(home.title)}</title></head>` +
    `<body><h1>${escapeHtml(home.title)}</h1><p>Try the API in ${link('/docs', 'the docs')}.</p>` +
    `<ul>${links}</ul>${domains}</body></html>`
  )
}
