import { describe, expect, it } from 'vitest'
import { cutText } from '../../kernel/index.js'
import {
  heaviest,
  inSlices,
  lengthFor,
  maxGraphTerms,
  sentencesOf,
  summarizeText,
  summarizerFor,
  summarizing,
  termsOf,
} from './summarizer.js'

const english =
  'CQRS separates commands from queries. Commands change the state of the system. ' +
  'The weather was pleasant on Tuesday. Queries read data without changing the state. ' +
  'Separating commands and queries lets reads and writes scale on their own.'
const korean =
  'CQRS는 명령과 조회의 책임을 분리하는 아키텍처 패턴입니다. 명령은 시스템의 상태를 변경합니다. ' +
  '오늘 점심은 김치찌개였습니다. 조회는 상태를 변경하지 않고 데이터를 읽습니다. ' +
  '명령과 조회를 분리하면 읽기와 쓰기를 따로 확장할 수 있습니다.'

describe('the local summarizer', () => {
  it('compares sentences by their heaviest terms only, so that unrelated long sentences cost what short ones do', () => {
    // Sentences of hundreds of unrelated Chinese characters (a bigram each) made every pair of the 300
    // candidates hundreds of lookups: over half a second of the event loop for 100,000 characters.
    const weights = new Map(Array.from({ length: 200 }, (_, i) => [`t${i}`, i % 7] as [string, number]))
    const kept = heaviest(weights)
    expect(kept.size).toBe(maxGraphTerms)
    // The heaviest (6s, then 5s…), ties in the order the sentence gave them.
    expect([...kept.keys()].slice(0, 3)).toEqual(['t6', 't13', 't20'])
    expect(Math.min(...kept.values())).toBeGreaterThanOrEqual(
      Math.max(...[...weights].filter(([t]) => !kept.has(t)).map(([, w]) => w)),
    )
    const few = new Map([['a', 1]])
    expect(heaviest(few)).toBe(few)
    // Such a text is still summarized: whole sentences, the brief style's three.
    let seed = 1
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    const sentence = () =>
      `${Array.from({ length: 330 }, () => String.fromCharCode(0x4e00 + Math.floor(next() * 0x5000))).join('')}。`
    const text = Array.from({ length: 300 }, sentence).join('')
    expect(sentencesOf(summarizeText(text, 'brief'))).toHaveLength(3)
  })

  it('splits sentences on Latin and CJK marks and on blank lines', () => {
    // A Hangul filler is a letter to Unicode and blank to a reader: no sentence.
    expect(sentencesOf('\u3164\n\nx.')).toEqual(['x.'])
    expect(sentencesOf('\u115f\u1160 \uffa0. Real one.')).toEqual(['Real one.'])
    expect(sentencesOf('One. Two! 셋입니다。 Four?\n\nFive')).toEqual([
      'One.',
      'Two!',
      '셋입니다。',
      'Four?',
      'Five',
    ])
  })

  it('splits Chinese and Japanese on their marks with no space after them, and matches their words as bigrams', () => {
    expect(sentencesOf('第一句。第二句！第三句？「引用。」最后')).toEqual([
      '第一句。',
      '第二句！',
      '第三句？',
      '「引用。」最后',
    ])
    expect(termsOf('学习方法')).toEqual(['学习', '习方', '方法'])
    expect(termsOf('復習の計画')).toEqual(expect.arrayContaining(['復習', '計画']))
  })

  it('summarizes Chinese and Japanese written without spaces: the central sentences, not the whole text', () => {
    const chinese =
      'CQRS把命令和查询的责任分开。命令改变系统的状态。今天午饭吃了饺子。查询读取数据而不改变状态。' +
      '把命令和查询分开，读和写就可以各自扩展。'
    const japanese =
      'CQRSはコマンドとクエリの責任を分離します。コマンドはシステムの状態を変更します。今日の昼食はラーメンでした。' +
      'クエリは状態を変更せずにデータを読みます。コマンドとクエリを分離すると読み書きを別々に拡張できます。'
    for (const text of [chinese, japanese]) {
      expect(sentencesOf(text)).toHaveLength(5)
      const summary = summarizeText(text, 'detailed')
      expect(sentencesOf(summary)).toHaveLength(lengthFor('detailed', 5))
      expect(summary).not.toMatch(/饺子|ラーメン/)
      expect(summary).not.toMatch(/ /)
      expect(sentencesOf(summarizeText(text, 'brief'))).toHaveLength(1)
    }
  })

  it('matches Korean words whatever particle follows (syllable bigrams)', () => {
    expect(termsOf('공부를')).toEqual(expect.arrayContaining(['공부']))
    expect(termsOf('공부는')).toEqual(expect.arrayContaining(['공부']))
    expect(termsOf('The Queries')).toEqual(['querie'])
  })

  it('keeps the central sentences, in their order, and leaves the stray one out (English and Korean)', () => {
    for (const text of [english, korean]) {
      const summary = summarizeText(text, 'detailed')
      const kept = sentencesOf(summary)
      expect(kept).toHaveLength(lengthFor('detailed', 5))
      expect(summary).not.toMatch(/weather|김치찌개/)
      const order = kept.map((s) => text.indexOf(s))
      expect(order).toEqual([...order].sort((a, b) => a - b))
      expect(sentencesOf(summarizeText(text, 'brief'))).toHaveLength(1)
    }
  })

  it('cuts a long sentence between characters, never inside one (an emoji is two UTF-16 units)', () => {
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
    for (const lead of ['ab', 'abc']) {
      // With `ab` the 599th unit is an emoji's first half: the cut fell between its halves.
      const text = `${lead}${'\u{1F600}'.repeat(400)} gamma delta. Another sentence about gamma. Third about delta.`
      const summary = summarizeText(text, 'detailed')
      expect(lone.test(summary), lead).toBe(false)
      expect(summary).toContain('…')
    }
    expect(cutText('a\u{1F600}', 2)).toBe('a')
    expect(cutText('a\u{1F600}', 3)).toBe('a\u{1F600}')
  })

  it('gives the same summary for the same content and style', () => {
    const long = Array.from(
      { length: 400 },
      (_, i) => `Sentence ${i} is about topic ${i % 17} and ${i % 5}.`,
    ).join(' ')
    expect(summarizeText(long, 'detailed')).toBe(summarizeText(long, 'detailed'))
    expect(summarizeText(long, 'brief')).not.toBe(summarizeText(long, 'detailed'))
  })

  it('summarizes 100,000 characters, and text with no sentence breaks, within bounded length', () => {
    let text = ''
    for (let i = 0; text.length < 100_000; i++)
      text += `Idea ${i % 37} meets idea ${i % 11}. 문장 ${i}은 주제 ${i % 13}입니다. `
    const summary = summarizeText(text.slice(0, 100_000), 'detailed')
    expect(sentencesOf(summary)).toHaveLength(10)
    expect(summarizeText('가'.repeat(100_000), 'brief').length).toBeLessThanOrEqual(600)
  })

  it('fails a text with no sentence in it (only punctuation, marks or invisible characters)', async () => {
    const local = summarizerFor('local')
    for (const content of ['.'.repeat(1000), '\u0301\u200b'.repeat(500), ' \n '])
      await expect(local.summarize({ content, style: 'brief' })).rejects.toThrow('no sentence to summarize')
  })

  it('hands the event loop back while it summarizes, and gives the summary it gives at once', async () => {
    let turns = 0
    let counting = true
    const count = () => {
      turns++
      if (counting) setImmediate(count)
    }
    const turnsDuring = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
      turns = 0
      counting = true
      setImmediate(count)
      const result = await work()
      counting = false
      return [result, turns]
    }
    // Each step a slice of its own (0 ms): however fast the machine, the loop runs between steps, a
    // step a sentence weighed, a candidate compared, an iteration of the ranking.
    const content = korean.repeat(40)
    const [sliced, stepTurns] = await turnsDuring(() => inSlices(summarizing(content, 'detailed'), 0))
    expect(sliced).toBe(summarizeText(content, 'detailed'))
    expect(stepTurns).toBeGreaterThan(100)
    // The provider, in slices of 10 ms, on a text that took 150-250 ms at once here (300 sentences
    // of unrelated Chinese characters): the loop ran while it worked.
    let seed = 7
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    const sentence = () =>
      `${Array.from({ length: 330 }, () => String.fromCharCode(0x4e00 + Math.floor(next() * 0x5000))).join('')}。`
    const han = Array.from({ length: 300 }, sentence).join('')
    const local = summarizerFor('local')
    const [summary, providerTurns] = await turnsDuring(() =>
      local.summarize({ content: han, style: 'brief' }),
    )
    expect(summary).toBe(summarizeText(han, 'brief'))
    expect(providerTurns).toBeGreaterThan(1)
  })

  it('is chosen by name; an unknown provider is refused', () => {
    expect(summarizerFor('local').name).toBe('local-textrank')
    expect(() => summarizerFor('hosted')).toThrow(/STUDY_SUMMARIZER/)
  })
})
