/**
 * Tiny SVG charts for the benchmark docs, with no dependency: a line chart (optionally on a log x
 * axis) and a grouped bar chart, each with axes, ticks, units and a legend.
 */

export interface Series {
  name: string
  points: readonly (readonly [number, number])[]
}

export interface LineChart {
  title: string
  xLabel: string
  yLabel: string
  series: readonly Series[]
  logX?: boolean
}

export interface BarChart {
  title: string
  yLabel: string
  /** The groups along the x axis. */
  categories: readonly string[]
  /** One bar per series in each group: values in the order of `categories`. */
  series: readonly { name: string; values: readonly number[] }[]
  logY?: boolean
}

const width = 640
const height = 360
const box = { left: 70, right: 150, top: 40, bottom: 50 }
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd']
const plotW = width - box.left - box.right
const plotH = height - box.top - box.bottom

const escape = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
const num = (n: number) =>
  Math.abs(n) >= 1000 ? n.toLocaleString('en-US') : String(Number(n.toPrecision(3)))
const text = (x: number, y: number, s: string, extra = '') =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${extra}>${escape(s)}</text>`

/** Round tick values from 0 to past `max`. */
function linearTicks(max: number): number[] {
  const top = max > 0 ? max : 1
  const step = 10 ** Math.floor(Math.log10(top / 4))
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => top / s <= 6) ?? step * 10
  return Array.from({ length: Math.ceil(top / nice) + 1 }, (_, i) => i * nice)
}

/** Powers of ten covering [min, max]. */
function logTicks(min: number, max: number): number[] {
  const from = Math.floor(Math.log10(Math.max(min, 1e-9)))
  const to = Math.ceil(Math.log10(Math.max(max, 1e-9)))
  return Array.from({ length: Math.max(1, to - from) + 1 }, (_, i) => 10 ** (from + i))
}

function frame(title: string, xLabel: string, yLabel: string, legend: readonly string[]): string[] {
  return [
    `<rect width="${width}" height="${height}" fill="white"/>`,
    text(width / 2 - box.right / 2 + box.left / 2, 22, title, 'text-anchor="middle" font-weight="bold"'),
    text(box.left + plotW / 2, height - 10, xLabel, 'text-anchor="middle"'),
    text(
      16,
      box.top + plotH / 2,
      yLabel,
      `text-anchor="middle" transform="rotate(-90 16 ${box.top + plotH / 2})"`,
    ),
    `<line x1="${box.left}" y1="${box.top + plotH}" x2="${box.left + plotW}" y2="${box.top + plotH}" stroke="black"/>`,
    `<line x1="${box.left}" y1="${box.top}" x2="${box.left}" y2="${box.top + plotH}" stroke="black"/>`,
    ...legend.map((name, i) => {
      const y = box.top + 10 + i * 20
      const x = width - box.right + 15
      return `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${colors[i % colors.length]}"/>${text(x + 18, y + 1, name)}`
    }),
  ]
}

function yAxis(ticks: readonly number[], y: (v: number) => number): string[] {
  return ticks.flatMap((t) => [
    `<line x1="${box.left}" y1="${y(t).toFixed(1)}" x2="${box.left + plotW}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`,
    text(box.left - 6, y(t) + 4, num(t), 'text-anchor="end"'),
  ])
}

const svg = (parts: readonly string[]) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">\n${parts.join('\n')}\n</svg>\n`

export function lineChart(chart: LineChart): string {
  const all = chart.series.flatMap((s) => s.points)
  const xs = all.map(([x]) => x)
  const ys = all.map(([, y]) => y)
  const xTicks = chart.logX ? logTicks(Math.min(...xs), Math.max(...xs)) : linearTicks(Math.max(...xs, 0))
  const [x0, x1] = [xTicks[0] ?? 0, xTicks.at(-1) ?? 1]
  const x = (v: number) =>
    box.left +
    (chart.logX
      ? ((Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0) || 1)) * plotW
      : ((v - x0) / (x1 - x0 || 1)) * plotW)
  const yTicks = linearTicks(Math.max(...ys, 0))
  const yTop = yTicks.at(-1) ?? 1
  const y = (v: number) => box.top + plotH - (v / yTop) * plotH
  const parts = frame(
    chart.title,
    chart.xLabel,
    chart.yLabel,
    chart.series.map((s) => s.name),
  )
  parts.push(...yAxis(yTicks, y))
  parts.push(...xTicks.map((t) => text(x(t), box.top + plotH + 16, num(t), 'text-anchor="middle"')))
  chart.series.forEach((s, i) => {
    const color = colors[i % colors.length] ?? 'black'
    const path = s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')
    parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`)
    for (const [px, py] of s.points) {
      parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3.5" fill="${color}"/>`)
    }
  })
  return svg(parts)
}

export function barChart(chart: BarChart): string {
  const values = chart.series.flatMap((s) => s.values)
  const positive = values.filter((v) => v > 0)
  const ticks = chart.logY
    ? logTicks(Math.min(...positive, 1), Math.max(...positive, 1))
    : linearTicks(Math.max(...values, 0))
  const [t0, t1] = [chart.logY ? (ticks[0] ?? 1) : 0, ticks.at(-1) ?? 1]
  const y = (v: number) =>
    chart.logY
      ? box.top +
        plotH -
        ((Math.log10(Math.max(v, t0)) - Math.log10(t0)) / (Math.log10(t1) - Math.log10(t0) || 1)) * plotH
      : box.top + plotH - (v / t1) * plotH
  const parts = frame(
    chart.title,
    '',
    chart.yLabel,
    chart.series.map((s) => s.name),
  )
  parts.push(...yAxis(ticks, y))
  const groupW = plotW / Math.max(1, chart.categories.length)
  const barW = (groupW * 0.7) / Math.max(1, chart.series.length)
  chart.categories.forEach((category, c) => {
    const left = box.left + c * groupW + groupW * 0.15
    parts.push(
      text(box.left + c * groupW + groupW / 2, box.top + plotH + 16, category, 'text-anchor="middle"'),
    )
    chart.series.forEach((s, i) => {
      const v = s.values[c] ?? 0
      const top = y(v)
      const bx = left + i * barW
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(box.top + plotH - top).toFixed(1)}" fill="${colors[i % colors.length]}"/>`,
        text(bx + barW / 2 - 1, top - 4, num(v), 'text-anchor="middle" font-size="10"'),
      )
    })
  })
  return svg(parts)
}
