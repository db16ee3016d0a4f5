import type { EngineEvent } from '../sync/runner.ts';

/**
 * A one-line live progress display for terminals: current streams, scopes done, API requests,
 * rate-limit waits. Silent when stderr is not a terminal (logs carry the story there).
 */
export class ProgressLine {
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly #label: string;
  #requests = 0;
  #waits = 0;
  #waitUntil: Date | null = null;
  #scopesDone = 0;
  #scopesTotal = 0;
  #failed = 0;
  #streams = new Set<string>();
  #last = 0;
  #started = Date.now();
  #enabled: boolean;

  constructor(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, label: string) {
    this.#stream = stream;
    this.#label = label;
    this.#enabled = stream.isTTY === true;
  }

  onEvent = (event: EngineEvent): void => {
    switch (event.type) {
      case 'request':
        this.#requests++;
        if (this.#waitUntil && Date.now() > this.#waitUntil.getTime()) this.#waitUntil = null;
        break;
      case 'rate-limit-wait':
        this.#waits++;
        this.#waitUntil = event.until;
        // Without a live line, a long wait must not look like a hang.
        if (!this.#enabled && event.ms >= 10_000) {
          this.#stream.write(`roster: ${this.#label}: waiting ${Math.round(event.ms / 1000)} s for the API budget (${event.reason}), until ${event.until.toISOString()}; the sync goes on by itself.\n`);
        }
        break;
      case 'stream-start':
        this.#streams.add(event.stream);
        this.#scopesTotal += event.scopes;
        break;
      case 'scope-end':
        this.#scopesDone++;
        if (event.status !== 'complete') this.#failed++;
        break;
      default:
        break;
    }
    this.render(false);
  };

  render(force: boolean): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const seconds = ((now - this.#started) / 1000).toFixed(0);
    const wait = this.#waitUntil ? ` · waiting for API budget until ${this.#waitUntil.toISOString().slice(11, 19)}Z` : '';
    const text = `${this.#label} · ${this.#scopesDone.toLocaleString('en-US')}/${this.#scopesTotal.toLocaleString('en-US')} scopes${this.#failed ? ` (${this.#failed} not read)` : ''} · ${this.#requests.toLocaleString('en-US')} requests · ${this.#waits} rate-limit waits${wait} · ${seconds}s`;
    const width = (this.#stream.columns ?? 120) - 1;
    this.#stream.write(`\r\x1b[2K${text.slice(0, width)}`);
  }

  done(): void {
    if (this.#enabled) this.#stream.write('\r\x1b[2K');
  }
}
