import { STATUS_CODES } from 'node:http'
import Type from 'typebox'
import {
  AppError,
  isAppError,
  PayloadTooLargeError,
  UnavailableError,
  ValidationError,
} from '../core/errors.js'
import { cutText } from '../core/schemas.js'
import { isUnavailable } from '../core/sql.js'

/** RFC 9457 problem details, as every error answers. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'Stable, machine-readable' }),
    detail: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', additionalProperties: true },
)

export interface ProblemBody {
  type: string
  title: string
  status: number
  code: string
  detail?: string
  errors?: { path: string; message: string }[]
}

export const bodyLimit = 1024 * 1024

/** The one place errors become answers. Anything unrecognized is a 500: a bug to fix. */
export function problemOf(error: unknown): ProblemBody {
  const known = isAppError(error) ? error : translate(error)
  const body: ProblemBody = {
    type: 'about:blank',
    title: known.title,
    status: known.status,
    code: known.code,
  }
  if (known.detail !== undefined) body.detail = known.detail
  if (known.errors) body.errors = [...known.errors]
  return body
}

/** 415: a body of another media type, or one this server does not read (compressed). */
export const unsupportedMediaType = (detail: string) =>
  new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', detail)

function translate(error: unknown): AppError {
  const e = error as { code?: unknown; statusCode?: unknown; message?: unknown }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError(bodyLimit)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedMediaType('Send application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ValidationError([{ path: '', message: 'is empty; send a JSON object' }])
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ValidationError([{ path: '', message: 'is not valid JSON' }])
    case 'FST_ERR_BAD_URL':
      return new AppError(400, 'BAD_URL', 'Bad URL', 'The path holds a malformed %-escape')
  }
  if (error instanceof SyntaxError || (e.statusCode === 400 && String(e.message).includes('JSON'))) {
    return new ValidationError([{ path: '', message: 'is not valid JSON' }])
  }
  // Another 4xx of a plugin (the docs' static files: a path out of their folder is a 403): its
  // status named, code and title alike (403 FORBIDDEN, "Forbidden").
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const title = STATUS_CODES[e.statusCode] ?? 'Bad Request'
    const code = title.toUpperCase().replace(/[^A-Z]+/g, '_')
    // A plugin's message may quote the request (a 414 quoted the whole path): kept short.
    const said = typeof e.message === 'string' ? e.message : undefined
    const detail = said && said.length > 200 ? `${cutText(said, 199)}…` : said
    return new AppError(e.statusCode, code, title, detail)
  }
  if (isUnavailable(error))
    return new UnavailableError('UNAVAILABLE', 'Service unavailable', 'A store is not reachable; retry later')
  return new AppError(500, 'INTERNAL', 'Internal error', 'This is a bug; it has been logged')
}
