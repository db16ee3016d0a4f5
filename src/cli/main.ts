import { Command, CommanderError, Option } from 'commander';
import { RosterError, errorMessage } from '../errors.ts';
import { scrubSecrets } from '../log.ts';
import { CliContext, type GlobalOptions } from './context.ts';
import type { Action, CliHost, Io } from './host.ts';
import { registerDemo } from './commands/demo.ts';
import { registerIntegration } from './commands/integration.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerReport } from './commands/report.ts';
import { registerReview } from './commands/review.ts';
import { registerSecrets } from './commands/secrets.ts';
import { registerServe } from './commands/serve.ts';
import { registerSim } from './commands/sim.ts';
import { StatusUsageError, registerStatus, statusUsageError } from './commands/status.ts';
import { registerSync } from './commands/sync.ts';

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }): Promise<number> {
  let exitCode = 0;
  const stdout = watchPipe(io.stdout);
  watchPipe(io.stderr);
  const program = new Command();
  program
    .name('roster')
    .description('Access-governance sync for Bitbucket: who can reach what, why, and since when.')
    .version(await version(), '-V, --version')
    .addOption(new Option('--data-dir <dir>', 'data directory of the embedded database and its key (default: ./.roster, or ROSTER_DATA_DIR)'))
    .addOption(new Option('--config <file>', 'config file (default: roster.config.yaml|yml|json in the current directory, or ROSTER_CONFIG)'))
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  const host: CliHost = {
    io,
    run:
      <A extends unknown[]>(action: Action<A>, onError?: (error: unknown, io: Io, ...args: A) => number) =>
      async (...args: A) => {
        let ctx: CliContext | null = null;
        try {
          ctx = new CliContext(program.opts<GlobalOptions>(), io);
          exitCode = await action(ctx, ...args);
        } catch (error) {
          // The reader closed the pipe (`roster report … | head`): stop quietly, as Unix tools do.
          if (stdout.closed && isClosedPipe(error)) exitCode = 0;
          else exitCode = onError ? onError(error, io, ...args) : reportError(error, io);
        } finally {
          await ctx?.close().catch(() => {});
        }
      },
  };

  registerDemo(program, host);
  registerMigrate(program, host);
  registerIntegration(program, host);
  registerSync(program, host);
  registerServe(program, host);
  registerStatus(program, host);
  registerReport(program, host);
  registerReview(program, host);
  registerSim(program, host);
  registerSecrets(program, host);

  try {
    await program.parseAsync(argv);
  } catch (error) {
    // A usage error of `roster status` is "cannot tell" (2), with its JSON answer under --json.
    if (error instanceof StatusUsageError) return statusUsageError(error, argv, io);
    if (error instanceof CommanderError) {
      return error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 1;
    }
    return reportError(error, io);
  }
  return exitCode;
}

interface PipeWatch {
  closed: boolean;
}

/**
 * Notes when the reader of a stream went away (EPIPE), and keeps the error from ending the process
 * with a stack trace: later writes are dropped, and the command ends quietly.
 */
function watchPipe(stream: NodeJS.WritableStream): PipeWatch {
  const watch: PipeWatch = { closed: false };
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (isClosedPipe(error)) watch.closed = true;
    else throw error;
  });
  return watch;
}

function isClosedPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

/** One clear line (or a short list) on stderr, never a stack trace unless ROSTER_DEBUG is set. */
export function reportError(error: unknown, io: Pick<Io, 'stderr' | 'env'>): number {
  const message = scrubSecrets(errorMessage(error));
  if (error instanceof RosterError) {
    io.stderr.write(`roster: ${message}\n`);
  } else {
    io.stderr.write(`roster: unexpected error: ${message}\n`);
  }
  if (io.env.ROSTER_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${scrubSecrets(error.stack)}\n`);
  return 1;
}

async function version(): Promise<string> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  return (require('../../package.json') as { version: string }).version;
}
