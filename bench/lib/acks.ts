/** Counts the answers to a write load, warm-ups included, to compare with what the server recorded. */
export class Acks {
  ok = 0
  refused = 0

  readonly onResponse = (status: number): void => {
    if (status >= 200 && status < 300) this.ok++
    else this.refused++
  }

  /** Requests sent whose answer was never read (cut off when a load stopped, or a socket error). */
  unanswered(sent: number): number {
    return sent - this.ok - this.refused
  }
}
