import { expect, it } from 'vitest';
import { describeWithDb } from '../helpers/db.ts';
import { type WalkFigures, walk } from '../long/walk.ts';

/**
 * The long-history walk (test/long/walk.ts) against the independent model (test/long/model.ts):
 * three simulated workspaces in one database, random changes and syncs — full, incremental, under
 * a fault, cut off and resumed, with a revoked token — compared with the model after every step,
 * then every run's reports replayed --as-of.
 *
 * The default size runs in the normal suite; `npm run test:long` runs a longer walk
 * (ROSTER_LONG_SEEDS=1,2,3 ROSTER_LONG_STEPS=200). A failure names its seed and step.
 */

const seeds = (process.env.ROSTER_LONG_SEEDS ?? '1').split(',').map((s) => Number(s.trim()));
const steps = Number(process.env.ROSTER_LONG_STEPS ?? 40);
const integrations = Number(process.env.ROSTER_LONG_INTEGRATIONS ?? 3);
const long = process.env.ROSTER_LONG_STEPS !== undefined;

describeWithDb('a long history of changes and syncs equals the model at every step', (get) => {
  for (const seed of seeds) {
    it(
      `seed ${seed}: ${steps} steps on ${integrations} integrations`,
      async () => {
        const figures: WalkFigures = await walk(get(), { seed, steps, integrations });
        if (long || process.env.ROSTER_LONG_FIGURES) console.log(`[long-history] ${JSON.stringify(figures)}`);
        // Run ids of the database cross a change in digits (the test database starts them at 997).
        expect(BigInt(figures.runIds.last)).toBeGreaterThan(999n);
        expect(figures.comparisons).toBeGreaterThan(steps);
      },
      long ? 3_600_000 : 120_000,
    );
  }
});
