/**
 * Runs one scenario in a child process (`worker.ts`) and returns its result with the child's peak RSS.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RESULT_MARKER, type Scenario, type ScenarioResult, type WorkerOutput } from './types.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export async function runWorker<T extends ScenarioResult>(scenario: Scenario, options: { timeoutMs?: number } = {}): Promise<WorkerOutput<T>> {
  // A rate-limited run hosts its simulator in the worker (an accelerated clock cannot cross processes):
  // enterprise's truth and effective-permission pages outgrow Node's default heap (an out-of-memory
  // crash at 4 GiB with reconciliation on), as the simulator process's own does (sim-process.ts).
  const heap = scenario.kind === 'rate-limited' ? ['--max-old-space-size=12288'] : [];
  const child = spawn(process.execPath, [...heap, '--import', 'tsx', WORKER, JSON.stringify(scenario)], {
    // stdin stays open while the bench lives: the worker exits when it closes.
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ROSTER_LOG_LEVEL: process.env.ROSTER_LOG_LEVEL ?? 'error' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-20_000);
  });
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : null;
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  if (timer) clearTimeout(timer);
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  if (code !== 0 || !line) {
    throw new Error(`bench worker for ${scenario.kind} failed (exit ${code}${options.timeoutMs ? `, limit ${options.timeoutMs / 1000} s` : ''}):\n${stderr.trim() || stdout.slice(-4000).trim()}`);
  }
  return JSON.parse(line.slice(RESULT_MARKER.length)) as WorkerOutput<T>;
}
