/**
 * Study notes to summarize: Korean and English sentences mixed, made from a seed, so every run (and
 * every machine) summarizes the same text. The sentences share their topics, as notes on one
 * subject do, so the summarizer's similarity graph has something to rank.
 */

const koTopics = [
  '공부',
  '복습',
  '데이터베이스',
  '캐시',
  '명령',
  '조회',
  '이벤트',
  '프로젝션',
  '요약',
  '알고리즘',
]
const koClauses = [
  '을 매일 조금씩 하면 기억에 오래 남습니다',
  '의 핵심 개념을 다시 정리했습니다',
  '에 대한 설명을 읽고 예제를 직접 풀어 보았습니다',
  '는 시험 전에 한 번 더 확인해야 합니다',
  '를 이해하려면 작은 예제부터 시작하는 것이 좋습니다',
  '과 관련된 용어를 노트에 적어 두었습니다',
]
const koLinks = ['그리고', '하지만', '그래서', '또한', '특히']
const enTopics = ['spaced repetition', 'the query cache', 'an event log', 'a projection', 'the command bus']
const enVerbs = ['explains', 'depends on', 'is measured by', 'keeps', 'replaces', 'is rebuilt from']
const enObjects = [
  'every read model',
  'the learner’s progress',
  'a summary of the chapter',
  'the minutes studied each day',
  'the hardest questions first',
  'what the last quiz got wrong',
]
const enTails = ['before the exam', 'after each session', 'in under a second', 'without losing a write']

/** A small seeded generator (mulberry32): the same seed gives the same numbers everywhere. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Exactly `chars` characters (all in the Basic Multilingual Plane: code points = UTF-16 units). */
export function studyNotes(chars: number, seed = 1): string {
  const r = random(seed)
  const pick = <T>(list: readonly T[]) => list[Math.floor(r() * list.length)] as T
  const korean = () =>
    r() < 0.4
      ? `${pick(koTopics)}${pick(koClauses)}. ${pick(koLinks)} ${pick(koTopics)}${pick(koClauses)}.`
      : `${pick(koTopics)}${pick(koClauses)}.`
  const english = () => {
    const sentence = `${pick(enTopics)} ${pick(enVerbs)} ${pick(enObjects)} ${pick(enTails)}.`
    return sentence.charAt(0).toUpperCase() + sentence.slice(1)
  }
  const parts: string[] = []
  let length = 0
  for (let n = 1; length < chars; n++) {
    const part = (r() < 0.5 ? korean() : english()) + (n % 7 === 0 ? '\n\n' : ' ')
    parts.push(part)
    length += part.length
  }
  return parts.join('').slice(0, chars)
}
