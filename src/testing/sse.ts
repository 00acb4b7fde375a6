/** A Server-Sent Events client for tests: events one at a time, each awaited with a timeout. */

export interface SseEvent {
  event: string
  id: string
  data: unknown
}

export interface Stream {
  response: Response
  /** The next event (comments such as keep-alives are skipped); throws after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseEvent>
  close(): void
}

function parse(block: string): SseEvent | undefined {
  const fields: Record<string, string> = {}
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || !line.includes(':')) continue
    const at = line.indexOf(':')
    fields[line.slice(0, at)] = line.slice(at + 1).trimStart()
  }
  if (fields.event === undefined && fields.data === undefined) return undefined
  return { event: fields.event ?? 'message', id: fields.id ?? '', data: JSON.parse(fields.data ?? 'null') }
}

export async function openStream(url: string, headers: Record<string, string> = {}): Promise<Stream> {
  const controller = new AbortController()
  const response = await fetch(url, { headers, signal: controller.signal })
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  const decoder = new TextDecoder()
  let buffer = ''
  return {
    response,
    async next(timeoutMs = 5000) {
      reader ??= response.body?.getReader()
      if (!reader) throw new Error('The answer has no body')
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const end = buffer.indexOf('\n\n')
        if (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = parse(block)
          if (event) return event
          continue
        }
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => {
              reject(new Error(`No event within ${timeoutMs} ms`))
            },
            Math.max(0, deadline - Date.now()),
          )
        })
        try {
          const { value, done } = await Promise.race([reader.read(), timeout])
          if (done) throw new Error('The stream ended')
          buffer += decoder.decode(value, { stream: true })
        } finally {
          clearTimeout(timer)
        }
      }
    },
    close: () => controller.abort(),
  }
}
