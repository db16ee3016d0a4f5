import { expect, it } from 'vitest';
import { scheduleFit, scheduleWarning } from '../../src/sync/plan.ts';

it('a schedule the budget cannot serve is reported, one that it can is not', () => {
  const hourly = { schedule: '0 * * * *', timezone: 'UTC' };
  const tooSlow = scheduleFit(hourly, 14_517, 1000, 1);
  expect(tooSlow).toMatchObject({ intervalHours: 1, fits: false });
  expect(tooSlow?.runHours).toBeCloseTo(14.517, 3);
  expect(scheduleWarning(tooSlow, 'acme')).toContain('every 1.0 h, but a run takes about 15 h');
  const daily = scheduleFit({ schedule: '30 2 * * *', timezone: 'Europe/Berlin' }, 14_517, 1000, 1);
  expect(daily).toMatchObject({ intervalHours: 24, fits: true });
  expect(scheduleWarning(daily, 'acme')).toBeNull();
  // Four credentials share the work: a quarter of the hours.
  expect(scheduleFit({ schedule: '0 */6 * * *', timezone: 'UTC' }, 14_517, 1000, 4)).toMatchObject({ intervalHours: 6, fits: true });
  expect(scheduleFit({ schedule: '0 */3 * * *', timezone: 'UTC' }, 14_517, 1000, 4)).toMatchObject({ intervalHours: 3, fits: false });
  expect(scheduleFit({ schedule: '0 */3 * * *', timezone: 'UTC' }, 14_517, 1000, 4)?.runHours).toBeCloseTo(3.629, 3);
  expect(scheduleFit({ schedule: null, timezone: 'UTC' }, 100, 1000, 1)).toBeNull();
});
