import type { CliContext } from './context.ts';

/**
 * What a command receives from `main.ts` (the streams, and the wrapper that runs its action). Its
 * own module, so commands never import `main.ts`, which imports them: the CLI has no import circle.
 */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** A command's action: receives the context, returns the exit code. */
export type Action<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<number>;

export interface CliHost {
  io: Io;
  /**
   * Wraps an action: builds the context, maps errors to one clear line, closes what it opened.
   * `onError`, when given, answers every error instead (also a bad config, found while building the
   * context): `roster status` turns them into its "cannot tell" answer.
   */
  run<A extends unknown[]>(action: Action<A>, onError?: (error: unknown, io: Io, ...args: A) => number): (...args: A) => Promise<void>;
}

