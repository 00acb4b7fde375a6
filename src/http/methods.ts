import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/**
 * Tells "no such route" (404) from "not with this method" (405, with `Allow`): Fastify answers both
 * through the not-found handler, so the routes' methods are recorded as they are added.
 */
export function answerUnrouted(app: FastifyInstance) {
  const routes: { pattern: RegExp; methods: string[] }[] = []
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    routes.push({ pattern: patternOf(route.url), methods })
    // A plugin's root route (`/docs`) is served with a trailing slash too, without a route of its own.
    if (route.prefix && route.routePath === '' && !route.url.endsWith('/'))
      routes.push({ pattern: patternOf(`${route.url}/`), methods })
  })
  const allowed = (path: string) =>
    [...new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods))].sort()

  return async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? ''
    const methods = allowed(decodedPath(path))
    // A route that takes the method and found nothing (a file the docs do not have) is a 404.
    if (methods.length > 0 && !methods.includes(request.method)) {
      return reply
        .code(405)
        .header('allow', methods.join(', '))
        .type('application/problem+json')
        .send({
          type: 'about:blank',
          title: 'Method not allowed',
          status: 405,
          code: 'METHOD_NOT_ALLOWED',
          detail: `${path} takes ${methods.join(', ')}, not ${request.method}`,
        })
    }
    return reply
      .code(404)
      .type('application/problem+json')
      .send({
        type: 'about:blank',
        title: 'Not found',
        status: 404,
        code: 'ROUTE_NOT_FOUND',
        detail: `No route ${request.method} ${path}`,
      })
  }
}

/**
 * The path as the router reads it: each escape decoded but a slash's (`%2F` names no segment), so
 * that `/%68ealth` asked with another method is the 405 of `/health`, not a 404.
 */
function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path.replace(/%2f/gi, '%252F'))
  } catch {
    return path
  }
}

/** A router path (`/a/:name`, `/static/*`) as the URLs it matches. */
function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) return '[^/]+'
      return segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
    })
    .join('/')
  return new RegExp(`^${source}$`)
}
