/**
 * Where a country is, for the impossible-travel rule: one point per country (roughly its centroid,
 * in degrees), for the countries where most card payments happen. A payment names its country, not
 * its place, so a point is all the rule could use; the rule takes `CARDS_ANOMALY_TRAVEL_SLACK_KM` off
 * the distance between two points for the extent of the countries (two border towns are near while
 * their centroids are not). A country missing here never fires the rule: no guess is better than a
 * wrong one. Large countries (US, RU, CA, BR, AU, CN) are where a centroid says least; the slack and
 * the speed limit are chosen so that only travel no airliner makes fires.
 */
// prettier-ignore -- a table reads best as one
const centroids: Readonly<Record<string, readonly [number, number]>> = {
  AE: [23.9, 54.3],
  AR: [-34.0, -64.0],
  AT: [47.6, 14.1],
  AU: [-25.7, 134.5],
  BE: [50.6, 4.7],
  BG: [42.8, 25.2],
  BR: [-10.8, -52.9],
  CA: [56.1, -106.3],
  CH: [46.8, 8.2],
  CL: [-35.7, -71.5],
  CN: [35.9, 104.2],
  CO: [4.6, -74.3],
  CZ: [49.8, 15.5],
  DE: [51.2, 10.4],
  DK: [56.0, 10.0],
  EG: [26.8, 30.8],
  ES: [40.2, -3.6],
  FI: [64.5, 26.3],
  FR: [46.6, 2.4],
  GB: [54.0, -2.5],
  GR: [39.1, 22.0],
  HK: [22.3, 114.2],
  HU: [47.2, 19.4],
  ID: [-2.5, 118.0],
  IE: [53.2, -8.2],
  IL: [31.0, 34.9],
  IN: [22.9, 79.6],
  IT: [42.8, 12.6],
  JP: [36.2, 138.3],
  KE: [0.2, 37.9],
  KR: [36.4, 127.8],
  KZ: [48.0, 67.0],
  MA: [31.8, -7.1],
  MX: [23.6, -102.5],
  MY: [4.2, 102.0],
  NG: [9.1, 8.7],
  NL: [52.1, 5.3],
  NO: [64.5, 12.0],
  NZ: [-41.8, 172.8],
  PE: [-9.2, -75.0],
  PH: [12.9, 121.8],
  PK: [30.4, 69.3],
  PL: [52.1, 19.4],
  PT: [39.6, -8.0],
  QA: [25.3, 51.2],
  RO: [45.9, 25.0],
  RU: [61.5, 105.3],
  SA: [23.9, 45.1],
  SE: [62.2, 17.6],
  SG: [1.35, 103.8],
  TH: [15.1, 101.0],
  TR: [39.1, 35.2],
  TW: [23.7, 121.0],
  UA: [49.0, 31.4],
  US: [39.8, -98.6],
  VN: [16.1, 106.3],
  ZA: [-29.0, 25.1],
}

/**
 * Countries of the table that share a land border or a fixed link (the Øresund bridge, the Johor
 * causeway): a card can cross from one to the other in minutes, wherever their points are, so the
 * rule never fires between them. Each pair once, its two countries in alphabetical order.
 */
export const borders: readonly string[] = [
  'AE-SA AR-BR AR-CL AT-CH AT-CZ AT-DE AT-HU AT-IT BE-DE BE-FR BE-NL BG-GR BG-RO BG-TR',
  'BR-CO BR-PE CA-US CH-DE CH-FR CH-IT CL-PE CN-HK CN-IN CN-KZ CN-PK CN-RU CN-VN CO-PE',
  'CZ-DE CZ-PL DE-DK DE-FR DE-NL DE-PL DK-SE EG-IL ES-FR ES-MA ES-PT FI-NO FI-RU FI-SE',
  'FR-IT GB-IE GR-TR HU-RO HU-UA ID-MY IN-PK KZ-RU MX-US MY-SG MY-TH NO-RU NO-SE PL-RU',
  'PL-UA QA-SA RO-UA RU-UA',
]
  .join(' ')
  .split(' ')
const bordering = new Set(borders)

/** Whether two countries of the table share a land border or a fixed link (`borders`). */
export function neighbours(a: string, b: string): boolean {
  return bordering.has(a < b ? `${a}-${b}` : `${b}-${a}`)
}

const earthRadiusKm = 6371

/** The great-circle distance between two countries' points in km, or undefined for one unknown here. */
export function distanceKm(from: string, to: string): number | undefined {
  const a = centroids[from]
  const b = centroids[to]
  if (!a || !b) return undefined
  const rad = Math.PI / 180
  const dLat = (b[0] - a[0]) * rad
  const dLon = (b[1] - a[1]) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2
  return 2 * earthRadiusKm * Math.asin(Math.min(1, Math.sqrt(h)))
}

/** Half the earth's circumference: no two points are further apart. */
export const farthestKm = Math.PI * earthRadiusKm
