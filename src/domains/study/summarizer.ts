import { cutText } from '../../kernel/index.js'
import type { Style } from './messages.js'

/**
 * Summaries, behind a provider interface: the local extractive summarizer is the one implemented;
 * a hosted model would be another provider, chosen by `STUDY_SUMMARIZER`. A provider must give the
 * same summary for the same content and style.
 */
export interface Summarizer {
  /** Recorded with each summary. */
  readonly name: string
  summarize(request: { content: string; style: Style }): Promise<string>
}

/** Providers by the name `STUDY_SUMMARIZER` gives. */
const providers: Record<string, () => Summarizer> = {
  local: () => ({
    name: 'local-textrank',
    async summarize(r) {
      const summary = await inSlices(summarizing(r.content, r.style))
      // Only punctuation, marks or invisible characters: nothing a reader could be shown.
      if (summary === '') throw new Error('the text has no sentence to summarize')
      return summary
    },
  }),
}

/** The names `STUDY_SUMMARIZER` takes. */
export const summarizerNames: readonly string[] = Object.keys(providers)

/** The provider configuration names (default `local`); an unknown name is refused at start. */
export function summarizerFor(name = 'local'): Summarizer {
  const make = providers[name]
  if (!make)
    throw new Error(`STUDY_SUMMARIZER must be one of ${Object.keys(providers).join(', ')}, not "${name}"`)
  return make()
}

/** Sentences ranked by TextRank: at most this many candidates (by centrality) enter the graph. */
const maxCandidates = 300
const maxSentenceChars = 600
/**
 * The terms of a sentence the similarity graph compares: its heaviest. The graph compares every pair
 * of candidates, so its cost is candidates² × terms: 300 sentences of 330 unrelated Chinese characters
 * (a bigram each) took 0.5-0.85 s of the event loop (150-250 ms so), where the study guide's texts have a few dozen terms
 * a sentence.
 */
export const maxGraphTerms = 48
const damping = 0.85
const iterations = 30

const stopwords = new Set(
  'the a an and or but of to in on at for with by from as is are was were be been being it its this that these those there their they them he she we you i not no so if then than which who whom what when where how also into about over such can could will would should may might do does did has have had'.split(
    ' ',
  ),
)

/** A letter or a digit, not a Hangul filler (letters to Unicode, blank to a reader): a sentence has one. */
const wordy = /(?![\u115F\u1160\u3164\uFFA0])[\p{L}\p{N}]/u

/**
 * Sentences: ends of sentence marks and line breaks. A Latin mark ends one where a space follows it
 * (`3.5`, `e.g.x`); a full-width CJK mark (。！？) where it stands, as Chinese and Japanese put no
 * space after it (such a text was one sentence, its summary the whole text), unless another mark or
 * a closing bracket follows.
 */
export function sentencesOf(text: string): string[] {
  return text
    .split(/(?<=[。！？])(?![。！？」』）”])\s*|(?<=[.!?…])\s+|\n\s*\n|\r?\n(?=\s*[-*•\d])/u)
    .map((s) => s.replace(/\s+/gu, ' ').trim())
    .filter((s) => wordy.test(s))
}

/** Scripts written without spaces between words, or with particles attached: read as bigrams. */
const bigramScripts = /[\p{Script=Hangul}\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u
const runs =
  /[\p{Script=Hangul}\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]+|[^\p{Script=Hangul}\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]+/gu

/**
 * Terms of a sentence: Latin and other words lower-cased (stopwords dropped); Hangul, Chinese and
 * Japanese as bigrams, which match a word whatever particle or ending is attached (공부를, 공부는:
 * 공부) and in text with no spaces between words (学习方法, 复习计划).
 */
export function termsOf(sentence: string): string[] {
  const terms: string[] = []
  for (const word of sentence.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    for (const run of word.match(runs) ?? []) {
      if (bigramScripts.test(run)) {
        for (let i = 0; i + 1 < run.length; i++) terms.push(run.slice(i, i + 2))
      } else if (run.length > 1 && !stopwords.has(run)) {
        terms.push(run.length > 4 && run.endsWith('s') ? run.slice(0, -1) : run)
      }
    }
  }
  return terms
}

type Vector = Map<string, number>

function norm(v: Vector): number {
  let sum = 0
  for (const w of v.values()) sum += w * w
  return Math.sqrt(sum)
}

function cosine(a: Vector, b: Vector, na: number, nb: number): number {
  if (na === 0 || nb === 0) return 0
  const [small, large] = a.size <= b.size ? [a, b] : [b, a]
  let dot = 0
  for (const [term, w] of small) dot += w * (large.get(term) ?? 0)
  return dot / (na * nb)
}

/** How many sentences a style keeps of `n`. */
export function lengthFor(style: Style, n: number): number {
  return style === 'brief'
    ? Math.min(n, Math.max(1, Math.min(3, Math.round(n * 0.1))))
    : Math.min(n, Math.max(2, Math.min(10, Math.round(n * 0.25))))
}

/**
 * A computation in steps: it yields between them, where the event loop may be handed back. Run at
 * once (`summarizeText`) or in slices (the provider: `inSlices`).
 */
type Steps<T> = Generator<void, T, void>

/** Runs `steps` to the end in this turn of the event loop. */
function atOnce<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next()
    if (next.done) return next.value
  }
}

/**
 * Runs `steps` to the end, handing the event loop back each time `sliceMs` have passed: the
 * processor summarizes in the process that serves HTTP, and a long text held every request of the
 * process for the whole summary (100,000 characters of unrelated Chinese: 150-250 ms here).
 */
export async function inSlices<T>(steps: Steps<T>, sliceMs = 10): Promise<T> {
  let began = performance.now()
  for (;;) {
    const next = steps.next()
    if (next.done) return next.value
    if (performance.now() - began >= sliceMs) {
      await new Promise((resolve) => setImmediate(resolve))
      began = performance.now()
    }
  }
}

/** Term weights (TF-IDF, sentences as documents) for each sentence. */
function* weigh(sentences: readonly string[]): Steps<Vector[]> {
  const tfs: Vector[] = []
  for (const s of sentences) {
    const tf: Vector = new Map()
    for (const t of termsOf(s)) tf.set(t, (tf.get(t) ?? 0) + 1)
    tfs.push(tf)
    yield
  }
  const df = new Map<string, number>()
  for (const tf of tfs) {
    for (const t of tf.keys()) df.set(t, (df.get(t) ?? 0) + 1)
    yield
  }
  const n = sentences.length
  const vectors: Vector[] = []
  for (const tf of tfs) {
    const v: Vector = new Map()
    for (const [t, f] of tf) v.set(t, (1 + Math.log(f)) * Math.log(1 + n / (df.get(t) ?? 1)))
    vectors.push(v)
    yield
  }
  return vectors
}

/** The `maxGraphTerms` heaviest terms of a vector (ties: the earlier term), the vector itself if it has no more. */
export function heaviest(v: Map<string, number>): Map<string, number> {
  if (v.size <= maxGraphTerms) return v
  return new Map([...v].sort((a, b) => b[1] - a[1]).slice(0, maxGraphTerms))
}

/** TextRank over the candidates' cosine-similarity graph: a score per candidate. */
function* textRank(candidates: readonly Vector[]): Steps<number[]> {
  const vectors: Vector[] = []
  for (const candidate of candidates) {
    vectors.push(heaviest(candidate))
    yield
  }
  const n = vectors.length
  const norms = vectors.map(norm)
  const edges: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0))
  const out = new Array<number>(n).fill(0)
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const w = cosine(vectors[i] as Vector, vectors[j] as Vector, norms[i] ?? 0, norms[j] ?? 0)
      ;(edges[i] as number[])[j] = w
      ;(edges[j] as number[])[i] = w
      out[i] = (out[i] ?? 0) + w
      out[j] = (out[j] ?? 0) + w
    }
    yield
  }
  let scores = new Array<number>(n).fill(1)
  for (let k = 0; k < iterations; k++) {
    scores = scores.map((_, i) => {
      let sum = 0
      const row = edges[i] as number[]
      for (let j = 0; j < n; j++) {
        const w = row[j] ?? 0
        if (w > 0) sum += (w * (scores[j] ?? 0)) / (out[j] ?? 1)
      }
      return 1 - damping + damping * sum
    })
    yield
  }
  return scores
}

/** A sentence of at most `maxSentenceChars`, cut with an ellipsis. */
const shortened = (sentence: string) =>
  sentence.length <= maxSentenceChars ? sentence : `${cutText(sentence, maxSentenceChars - 1)}…`

/**
 * An extractive summary: sentences weighed by TF-IDF, the most central (similarity to the whole
 * text) taken as candidates, ranked by TextRank, the best kept in their order in the text. Pure and
 * deterministic: ties go to the earlier sentence.
 */
export function summarizeText(content: string, style: Style): string {
  return atOnce(summarizing(content, style))
}

/** `summarizeText` in steps. */
export function* summarizing(content: string, style: Style): Steps<string> {
  const sentences = sentencesOf(content).map(shortened)
  if (sentences.length <= 1) return sentences[0] ?? ''
  const vectors = yield* weigh(sentences)
  const centroid: Vector = new Map()
  for (const v of vectors) {
    for (const [t, w] of v) centroid.set(t, (centroid.get(t) ?? 0) + w)
    yield
  }
  const cn = norm(centroid)
  const scored: { i: number; score: number }[] = []
  for (const [i, v] of vectors.entries()) {
    scored.push({ i, score: cosine(v, centroid, norm(v), cn) })
    yield
  }
  const central = scored
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, maxCandidates)
    .map((c) => c.i)
    .sort((a, b) => a - b)
  const ranks = yield* textRank(central.map((i) => vectors[i] as Vector))
  const keep = central
    .map((i, k) => ({ i, score: ranks[k] ?? 0 }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, lengthFor(style, sentences.length))
    .map((c) => c.i)
    .sort((a, b) => a - b)
  // Joined as the text writes them: a space after a Latin mark, none after a full-width one.
  return keep
    .map((i) => sentences[i] ?? '')
    .reduce(
      (summary, sentence) =>
        (summary === '' || /[。！？]$/u.test(summary) ? summary : `${summary} `) + sentence,
      '',
    )
}
