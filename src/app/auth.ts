import { isUtf8 } from 'node:buffer'
import { createSigner, createVerifier } from 'fast-jwt'
import { UnauthenticatedError } from '../core/errors.js'
import { bodyProblems, holdsPrototypeKey, tooComplex } from '../core/json-keys.js'
import type { Caller } from '../core/messages.js'
import { isUserId } from '../core/schemas.js'
import { trimOldest } from '../core/bounded.js'

export interface TokenClaims {
  sub: string
  roles: readonly string[]
  dept?: string
}

export interface Auth {
  /** The caller a bearer token names; throws 401 for a bad, expired or non-HS256 token. */
  verify(token: string): Caller
  /** How long a token `verify` took has left, in ms (by the clock it is read against). */
  lifeLeftMs(token: string): number
  sign(claims: TokenClaims, options?: { expiresInSeconds?: number }): string
}

/**
 * How many checked tokens are remembered (the oldest is forgotten first): about 350 bytes each with
 * the token's text (138 beside it, a node loop of 50,000 over dist/ with --expose-gc), so 35 MB at most. Checking one costs some 20-50 µs; a server whose readers outnumber what it
 * remembers checks most tokens again (10,000 against the cards benchmark's 66,667 customers: 85%).
 */
const checkedLimit = 100_000

/** The longest a token may live: one that expires later is refused (it never would, for any purpose). */
export const maxTokenSeconds = 10 * 365 * 24 * 3600

/**
 * Tokens signed and checked with `secret`. `exp` and `nbf` are read against `clock` (the Tandem's,
 * which tests move), so a token expires when that clock says so, not only when real time has passed.
 */
export function createAuth(secret: string, clock: () => Date = () => new Date()): Auth {
  // The signature, the algorithm and the claims are fast-jwt's to check; the times are ours.
  const verifier = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    requiredClaims: ['sub', 'exp'],
    ignoreExpiration: true,
    ignoreNotBefore: true,
  })
  // Tokens already checked, by their text: a token's claims never change, and keying by the text
  // itself skips the hash fast-jwt's own cache computes on every lookup.
  const checked = new Map<string, Record<string, unknown>>()
  const claimsOf = (token: string) => {
    let claims = checked.get(token)
    if (claims === undefined) {
      // One spelling per signature: base64url leaves bits unused in the last character, and a decoder
      // ignores them, so one token had four accepted texts (a denylist or a log search of one missed
      // the others).
      const signature = token.slice(token.lastIndexOf('.') + 1)
      if (Buffer.from(signature, 'base64url').toString('base64url') !== signature)
        throw new Error('The signature is not in its one form')
      claims = verifier(token) as Record<string, unknown>
      // Header and claims are refused for what a body is (a key named twice, a number read as another,
      // bytes that are not UTF-8, nesting past 64 levels or 10,000 values, a prototype's key): JSON.parse
      // keeps the last of two keys, another reader of the same token (a gateway, a log) may keep the
      // first and see other roles than those that ran.
      for (const part of token.split('.', 2)) {
        const bytes = Buffer.from(part, 'base64url')
        const text = bytes.toString('utf8')
        if (
          !isUtf8(bytes) ||
          tooComplex(text) !== undefined ||
          bodyProblems(text, 1).length > 0 ||
          holdsPrototypeKey(text)
        )
          throw new Error('The token holds JSON a body may not')
      }
      checked.set(token, claims)
      trimOldest(checked, checkedLimit)
    }
    return claims
  }
  const sign = createSigner({ key: secret, algorithm: 'HS256' })
  return {
    verify(token) {
      let claims: Record<string, unknown>
      try {
        claims = claimsOf(token)
      } catch {
        throw new UnauthenticatedError('The token is not valid')
      }
      const now = clock().getTime() / 1000
      const { exp, nbf } = claims
      if (typeof exp !== 'number' || (nbf !== undefined && typeof nbf !== 'number')) {
        throw new UnauthenticatedError('The token is not valid')
      }
      if (exp <= now) throw new UnauthenticatedError('The token has expired')
      if (exp - now > maxTokenSeconds)
        throw new UnauthenticatedError('The token expires more than ten years from now')
      if (nbf !== undefined && nbf > now) throw new UnauthenticatedError('The token is not valid yet')
      return callerOf(claims)
    },
    lifeLeftMs(token) {
      const { exp } = claimsOf(token)
      return typeof exp === 'number' ? exp * 1000 - clock().getTime() : 0
    },
    sign(claims, options = {}) {
      const iat = Math.floor(clock().getTime() / 1000)
      return sign({
        sub: claims.sub,
        roles: [...claims.roles],
        ...(claims.dept ? { dept: claims.dept } : {}),
        iat,
        exp: iat + (options.expiresInSeconds ?? 24 * 3600),
      })
    },
  }
}

function callerOf(claims: Record<string, unknown>): Caller {
  const { sub, roles = [], dept } = claims
  const validRoles = Array.isArray(roles) && roles.every((r) => typeof r === 'string' && r.length <= 100)
  if (typeof sub !== 'string' || !isUserId(sub) || !validRoles || roles.length > 50) {
    throw new UnauthenticatedError('The token claims are not valid')
  }
  // A department is named as a user is: text PostgreSQL can store, nothing invisible at the ends.
  if (dept !== undefined && (typeof dept !== 'string' || !isUserId(dept)))
    throw new UnauthenticatedError('The token claims are not valid')
  return dept === undefined
    ? { id: sub, roles: roles as string[] }
    : { id: sub, roles: roles as string[], dept }
}

/** The caller of a request: undefined without an Authorization header, 401 with a bad one. */
export function callerFromHeader(auth: Auth, header: string | undefined): Caller | undefined {
  const token = tokenOf(header)
  return token === undefined ? undefined : auth.verify(token)
}

/** How long the token of a request `callerFromHeader` took has left (ms); undefined without one. */
export function lifeLeftOfHeader(auth: Auth, header: string | undefined): number | undefined {
  const token = tokenOf(header)
  return token === undefined ? undefined : auth.lifeLeftMs(token)
}

function tokenOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!match?.[1]) throw new UnauthenticatedError('Use "Authorization: Bearer <token>"')
  return match[1]
}
