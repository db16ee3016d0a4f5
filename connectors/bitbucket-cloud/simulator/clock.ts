import type { ControllableClock } from './types.ts';

interface Sleeper {
  deadline: number;
  resolve: () => void;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * A clock for the simulator and for the tests that drive it. Simulated time runs `speed` times
 * faster than real time from `start`; `advance(ms)` jumps ahead, so a rate-limited hour can pass in
 * a test without waiting. Speed 0 gives a frozen clock that only `advance` moves.
 */
export function createClock(opts: { speed?: number; start?: number } = {}): ControllableClock {
  const speed = opts.speed ?? 1;
  if (!(speed >= 0) || !Number.isFinite(speed)) throw new Error(`clock speed must be a finite number >= 0, got ${speed}`);
  const realStart = Date.now();
  const simStart = opts.start ?? realStart;
  let offset = 0;
  const sleepers = new Set<Sleeper>();

  const now = (): number => simStart + (Date.now() - realStart) * speed + offset;

  const wake = (): void => {
    const t = now();
    for (const s of sleepers) {
      if (s.deadline <= t) {
        sleepers.delete(s);
        if (s.timer) clearTimeout(s.timer);
        s.resolve();
      }
    }
  };

  return {
    speed,
    now,
    advance(ms: number): void {
      if (!(ms >= 0)) throw new Error(`cannot advance the clock by ${ms} ms`);
      offset += ms;
      wake();
    },
    nextDeadline(): number | null {
      let next: number | null = null;
      for (const s of sleepers) if (next === null || s.deadline < next) next = s.deadline;
      return next;
    },
    sleep(ms: number, signal?: AbortSignal): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason ?? new Error('aborted'));
          return;
        }
        const sleeper: Sleeper = { deadline: now() + Math.max(0, ms), resolve: () => {}, timer: null };
        const onAbort = (): void => {
          sleepers.delete(sleeper);
          if (sleeper.timer) clearTimeout(sleeper.timer);
          reject(signal?.reason ?? new Error('aborted'));
        };
        sleeper.resolve = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        sleepers.add(sleeper);
        if (ms <= 0) {
          wake();
          return;
        }
        if (speed > 0) {
          // Real timers are coarse; re-check against the clock when one fires.
          const arm = (): void => {
            const remaining = (sleeper.deadline - now()) / speed;
            sleeper.timer = setTimeout(() => {
              if (sleeper.deadline <= now()) wake();
              else arm();
            }, Math.max(0, Math.ceil(remaining)));
          };
          arm();
        }
      });
    },
  };
}

/**
 * Moves a frozen clock (speed 0) the way the system under test needs it, whatever the machine's
 * speed: while anyone sleeps on it, time jumps to the earliest deadline; while nobody does, it stands
 * still. Requests then all happen at the simulated instants waits bring them to, so rate-limit
 * windows, pauses and resumes come out the same on a loaded machine as on an idle one. Returns stop().
 */
export function advanceWhenWaiting(clock: ControllableClock): () => void {
  const timer = setInterval(() => {
    const next = clock.nextDeadline();
    if (next !== null) clock.advance(Math.max(0, next - clock.now()));
  }, 1);
  return () => clearInterval(timer);
}
