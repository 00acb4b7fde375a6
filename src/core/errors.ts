/** One field-level problem inside a 400 answer. `path` is a JSON pointer into the input. */
export interface FieldError {
  path: string
  message: string
}

/**
 * The one error type the platform knows how to answer. Subclasses name a kind of failure;
 * callers tell errors apart by `code`, which is stable and part of the HTTP contract.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: readonly FieldError[],
  ) {
    super(detail ?? title)
    this.name = new.target.name
  }
}

export class ValidationError extends AppError {
  constructor(errors: readonly FieldError[], detail = 'The request does not match the schema') {
    super(400, 'VALIDATION_FAILED', 'Validation failed', detail, errors)
  }
}

export class UnauthenticatedError extends AppError {
  constructor(detail = 'A valid bearer token is required') {
    super(401, 'UNAUTHENTICATED', 'Authentication required', detail)
  }
}

export class ForbiddenError extends AppError {
  constructor(detail = 'The caller is not allowed to do this') {
    super(403, 'FORBIDDEN', 'Forbidden', detail)
  }
}

export class NotFoundError extends AppError {
  /** Without a detail, "Card not found" says "No card has the id given, or the caller may not see it". */
  constructor(code: `${string}_NOT_FOUND`, title: string, detail?: string) {
    const thing = / not found$/i.test(title) ? title.slice(0, -' not found'.length).toLowerCase() : undefined
    super(404, code, title, detail ?? (thing && `No ${thing} has the id given, or the caller may not see it`))
  }
}

/** A business rule or a concurrent change refused the command. */
export class ConflictError extends AppError {
  constructor(code: string, title: string, detail?: string) {
    super(409, code, title, detail)
  }
}

export class IdempotencyKeyReusedError extends AppError {
  constructor() {
    super(
      422,
      'IDEMPOTENCY_KEY_REUSED',
      'Idempotency key reused',
      'This key was used with another command or request body',
    )
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super(413, 'PAYLOAD_TOO_LARGE', 'Payload too large', `The body is over ${limitBytes} bytes`)
  }
}

/** Retry later; nothing was half-done. */
export class UnavailableError extends AppError {
  constructor(code: 'UNAVAILABLE' | 'READ_MODEL_LAGGING', title: string, detail?: string) {
    super(503, code, title, detail)
  }
}

/** What a request is told once its process has begun to stop: another process can answer it. */
export const shuttingDown = () =>
  new UnavailableError('UNAVAILABLE', 'Unavailable', 'The server is shutting down: try again')

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError
}
