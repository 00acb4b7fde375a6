import Type from 'typebox'

/**
 * Schemas every domain's messages use, so that the kernel's rules for them hold everywhere: an id
 * has one canonical form (core/canonical.ts), a person's text is never blank.
 */

/** A UUID, any case accepted, lower-cased on the way in (core/canonical.ts). */
export function Id(description = 'A UUID (any case; answered in lower case)') {
  return Type.String({ format: 'uuid', description })
}

/**
 * A case-insensitive name (a department, a code): letters, digits and inner hyphens, any case
 * accepted, lower-cased on the way in like an id (core/canonical.ts), so `Sales` and `sales` are one
 * name everywhere (rows, streams, cache tags, read-model keys). Blanks and other characters are a 400.
 */
export function Name(
  maxLength: number,
  description = 'A name (letters, digits, hyphens; any case, lower-cased)',
) {
  return Type.String({
    minLength: 1,
    maxLength,
    pattern: '^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$',
    [lowerCased]: true,
    description,
  })
}

/** The keyword that marks a string schema whose values are lower-cased as they are accepted. */
export const lowerCased = 'x-lower-case'

/**
 * Some character that shows: not only spaces, invisible format characters, marks that combine with
 * nothing (U+0301 alone, variation selectors), Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) or
 * the blank braille pattern (U+2800), each of which renders as nothing.
 */
export const visiblePattern = '[^\\s\\p{Cf}\\p{Mn}\\p{Me}\\u115F\\u1160\\u3164\\uFFA0\\u2800]'

/** Text a person reads (a title, a name): at least one visible character, at most `maxLength`. */
export function Text(maxLength: number, description?: string) {
  return Type.String({
    minLength: 1,
    maxLength,
    pattern: visiblePattern,
    ...(description ? { description } : {}),
  })
}

/**
 * Text that names a group (a category) and is compared, filtered and keyed on: a `Text` taken in one
 * form, NFC with no blank at either end (marked `x-label`, core/canonical.ts). `Café` typed with an
 * accent and with a combining one were two categories that look alike; `  math` was not `math`.
 */
export function Label(maxLength: number, description?: string) {
  return Type.String({ ...Text(maxLength, description), [labelled]: true })
}

/** The keyword that marks a string schema whose values are taken in NFC and trimmed as accepted. */
export const labelled = 'x-label'

/**
 * The form a text search compares text in, the text searched and the words asked alike: NFC (`café`
 * typed with a combining accent finds one typed with `é`, and back), case folded in full as far as
 * JavaScript can, through upper case (`ß` is `ss`, `ﬁ` is `fi`; the capital `ẞ` lowers to `ß`, so
 * `ß` is then `ss` too), a word's final sigma as any other (`ΟΔΟΣ` lowers to `οδος`, which `σ` would
 * not find), and the dotted capital I as an i (`İstanbul` lowers to `i̇stanbul`, which `istanbul`
 * would not find). PostgreSQL's `lower` and `ILIKE` map one character at a time: none of these.
 */
export const searchForm = (text: string) =>
  text
    .normalize('NFC')
    .toUpperCase()
    .toLowerCase()
    .replaceAll('ß', 'ss')
    .replaceAll('ς', 'σ')
    .replaceAll('i\u0307', 'i')
    .normalize('NFC')

/**
 * A user id as tokens carry it (the JWT `sub`): 1 to 200 characters, none of them a control
 * character (U+0000 and line breaks among them), a line or paragraph separator or half of a
 * surrogate pair (text PostgreSQL cannot store: it became another user's id, U+FFFD, on the way),
 * and neither first nor last a blank or an invisible one. A token whose `sub` is not one is refused
 * (app/auth.ts), so `ann ` names nobody and is a 400 rather than a second, unreachable `ann`.
 */
export const userIdPattern =
  '^[^\\s\\p{Cf}\\p{Cc}\\p{Cs}](?:[^\\p{Cc}\\p{Cs}\\p{Zl}\\p{Zp}]{0,198}[^\\s\\p{Cf}\\p{Cc}\\p{Cs}])?$'

/** The form a user id (and a token's department) takes. */
export const userIdForm =
  '1 to 200 characters, no control character, line separator or half of a surrogate pair, nothing blank at either end'

/** What a validation error says of a value that is not a user id. */
export const userIdRule = `is not a user id: ${userIdForm}`

const userIdRegExp = new RegExp(userIdPattern, 'u')
export const isUserId = (text: string) => userIdRegExp.test(text)

export function UserId(description = 'A user id (the JWT `sub`)') {
  return Type.String({ minLength: 1, maxLength: 200, pattern: userIdPattern, description })
}

/**
 * The currencies in circulation that ISO 4217 lists: its funds, precious metals, the SDR and its test
 * and no-currency codes (`XTS`, `XXX`) are no money a payment or a budget is in, and neither are codes
 * withdrawn (HRK, CUC, SLL, ZWL, ANG). Any three capitals was accepted before: events keep the looser
 * form, so those recorded then read as they were.
 */
export const currencyCodes = [
  'AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD',
  'CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP',
  'GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD',
  'KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN',
  'NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP',
  'SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES',
  'VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG',
].flatMap((line) => line.split(' '))

/** A currency a command accepts: one of `currencyCodes` (ISO 4217, upper case). */
export const CurrencyCode = Type.Enum(currencyCodes, { description: 'ISO 4217 code, e.g. KRW' })

/**
 * `text` cut to at most `max` UTF-16 units, never inside a character: cut between the halves of a
 * surrogate pair (an emoji), a summary held half a character, which PostgreSQL cannot store, and
 * `record-summary` refused it.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text
  const last = text.charCodeAt(max - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max)
}
