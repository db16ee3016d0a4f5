/**
 * Test support for the simulator's own tests (imported by *.test.ts only, never by the simulator):
 * one simulator per file (or per test), with an HTTP client and the workspace slug.
 */
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { SimClient } from './client.ts';
import { startSimulator, type SimulatorInternals } from './index.ts';
import type { Simulator, SimulatorOptions } from './types.ts';

export interface SimFixture {
  readonly sim: Simulator & SimulatorInternals;
  readonly client: SimClient;
  readonly ws: string;
}

/** Starts a simulator before the file's tests (or before each, with `each`) and closes it after. */
export function useSimulator(options: SimulatorOptions, lifecycle: 'file' | 'each' = 'file'): SimFixture {
  let current: SimFixture | null = null;
  const fixture: SimFixture = {
    get sim() {
      return started().sim;
    },
    get client() {
      return started().client;
    },
    get ws() {
      return started().ws;
    },
  };
  const started = (): SimFixture => {
    if (!current) throw new Error('the simulator is not started yet: use it inside a test');
    return current;
  };
  (lifecycle === 'each' ? beforeEach : beforeAll)(async () => {
    const sim = await startSimulator(options);
    current = { sim, client: new SimClient(sim), ws: sim.workspace };
  });
  (lifecycle === 'each' ? afterEach : afterAll)(async () => {
    await current?.sim.close();
    current = null;
  });
  return fixture;
}
