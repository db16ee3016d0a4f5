import type { EngineEvent } from '../sync/runner.ts';

/** Seconds between two progress lines when stderr is not a terminal (ROSTER_PROGRESS_INTERVAL). */
export const DEFAULT_PROGRESS_INTERVAL_SECONDS = 10;

/**
 * Live progress of a sync: current scopes done, API requests, rate-limit waits. On a terminal, one
 * line redrawn in place. Elsewhere (cron, CI, a log file), one plain line every few seconds, so a
 * long sync shows life: `roster: syncing acme: run 12, 340/2,118 scopes, 1,204 API requests, 0 rate-limit waits, 40s`.
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
  #runId: string | null = null;
  #last = 0;
  #started = Date.now();
  readonly #tty: boolean;
  #timer: NodeJS.Timeout | null = null;

  constructor(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, label: string, options: { intervalSeconds?: number } = {}) {
    this.#stream = stream;
    this.#label = label;
    this.#tty = stream.isTTY === true;
    if (!this.#tty) {
      const ms = Math.max(100, (options.intervalSeconds ?? DEFAULT_PROGRESS_INTERVAL_SECONDS) * 1000);
      this.#timer = setInterval(() => this.#stream.write(`roster: ${this.#text()}\n`), ms);
      this.#timer.unref();
    }
  }

  onEvent = (event: EngineEvent): void => {
    switch (event.type) {
      case 'run-start':
        this.#runId = event.runId;
        if (!this.#tty) this.#stream.write(`roster: ${this.#label}: ${event.resumed ? `resuming run ${event.runId} from its checkpoint` : `run ${event.runId} started (${event.mode})`}\n`);
        break;
      case 'request':
        this.#requests++;
        if (this.#waitUntil && Date.now() > this.#waitUntil.getTime()) this.#waitUntil = null;
        break;
      case 'rate-limit-wait':
        this.#waits++;
        this.#waitUntil = event.until;
        // Without a live line, a long wait must not look like a hang.
        if (!this.#tty && event.ms >= 10_000) {
          this.#stream.write(`roster: ${this.#label}: waiting ${Math.round(event.ms / 1000)} s for the API budget (${event.reason}), until ${event.until.toISOString()}; the sync goes on by itself.\n`);
        }
        break;
      case 'stream-start':
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

  #text(): string {
    const seconds = ((Date.now() - this.#started) / 1000).toFixed(0);
    const wait = this.#waitUntil ? `, waiting for the API budget until ${this.#waitUntil.toISOString().slice(11, 19)}Z` : '';
    const waits = `${this.#waits} rate-limit wait${this.#waits === 1 ? '' : 's'}`;
    return `${this.#label}: ${this.#runId ? `run ${this.#runId}, ` : ''}${this.#scopesDone.toLocaleString('en-US')}/${this.#scopesTotal.toLocaleString('en-US')} scopes${this.#failed ? ` (${this.#failed} not read)` : ''}, ${this.#requests.toLocaleString('en-US')} API requests, ${waits}${wait}, ${seconds}s`;
  }

  render(force: boolean): void {
    if (!this.#tty) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const width = (this.#stream.columns ?? 120) - 1;
    this.#stream.write(`\r\x1b[2K${this.#text().slice(0, width)}`);
  }

  done(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#tty) this.#stream.write('\r\x1b[2K');
  }
}
