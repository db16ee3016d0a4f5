/**
 * One measured scenario in a process of its own: `node --import tsx bench/worker.ts '<scenario JSON>'`.
 * Prints one line `bench-result {"result":…,"peakRssMb":…}` on stdout; logs stay on stderr.
 * Peak RSS is `process.resourceUsage().maxRSS`: this process only (the simulator runs elsewhere, and
 * so does a PostgreSQL server; the embedded database runs in here and counts).
 */
import { runScenario } from './scenarios.ts';
import { RESULT_MARKER, type Scenario, type WorkerOutput } from './types.ts';

const arg = process.argv[2];
if (!arg) {
  process.stderr.write('usage: node --import tsx bench/worker.ts <scenario JSON>\n');
  process.exit(2);
}
// The bench that started this worker is gone (stdin closed): stop, rather than run on unobserved.
process.stdin.on('end', () => process.exit(1));
process.stdin.resume();
const scenario = JSON.parse(arg) as Scenario;
const { result, openRssMb } = await runScenario(scenario);
const output: WorkerOutput = { result, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), openRssMb };
process.stdout.write(`${RESULT_MARKER}${JSON.stringify(output)}\n`);
process.exit(0);
