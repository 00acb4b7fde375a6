import { createSigner, createVerifier } from 'fast-jwt'
import { UnauthenticatedError } from '../core/errors.js'
import type { Caller } from '../core/messages.js'

export interface TokenClaims {
  sub: string
  roles: readonly string[]
  dept?: string
}

export interface Auth {
  /** The caller a bearer token names; throws 401 for a bad, expired or non-HS256 token. */
  verify(token: string): Caller
  sign(claims: TokenClaims, options?: { expiresInSeconds?: number }): string
}

export function createAuth(secret: string): Auth {
  const verifier = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    cache: 10_000,
    requiredClaims: ['sub', 'exp'],
  })
  const signers = new Map<number, (payload: object) => string>()
  const signer = (seconds: number) => {
    let sign = signers.get(seconds)
    if (!sign)
      signers.set(
        seconds,
        (sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: seconds * 1000 })),
      )
    return sign
  }
  return {
    verify(token) {
      let claims: Record<string, unknown>
      try {
        claims = verifier(token) as Record<string, unknown>
      } catch (error) {
        const expired = (error as { code?: string }).code === 'FAST_JWT_EXPIRED'
        throw new UnauthenticatedError(expired ? 'The token has expired' : 'The token is not valid')
      }
      return callerOf(claims)
    },
    sign(claims, options = {}) {
      const payload = {
        sub: claims.sub,
        roles: [...claims.roles],
        ...(claims.dept ? { dept: claims.dept } : {}),
      }
      return signer(options.expiresInSeconds ?? 24 * 3600)(payload)
    },
  }
}

function callerOf(claims: Record<string, unknown>): Caller {
  const { sub, roles = [], dept } = claims
  const validRoles = Array.isArray(roles) && roles.every((r) => typeof r === 'string' && r.length <= 100)
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 200 || !validRoles || roles.length > 50) {
    throw new UnauthenticatedError('The token claims are not valid')
  }
  if (dept !== undefined && typeof dept !== 'string')
    throw new UnauthenticatedError('The token claims are not valid')
  return dept === undefined
    ? { id: sub, roles: roles as string[] }
    : { id: sub, roles: roles as string[], dept }
}

/** The caller of a request: undefined without an Authorization header, 401 with a bad one. */
export function callerFromHeader(auth: Auth, header: string | undefined): Caller | undefined {
  if (header === undefined) return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!match?.[1]) throw new UnauthenticatedError('Use "Authorization: Bearer <token>"')
  return auth.verify(match[1])
}
