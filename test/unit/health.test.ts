import { scheduleFit } from '../../src/sync/plan.ts';
import { describe, expect, it } from 'vitest';
import { tokenUrlFor } from '../../connectors/bitbucket-cloud/settings.ts';
import { checkCron } from '../../src/config/index.ts';
import { RosterMetrics } from '../../src/server/metrics.ts';
import { type HealthFacts, type RunFacts, exitCodeFor, judgeIntegration, statusDocument } from '../../src/access/health.ts';
import { describeDuration } from '../../src/access/run-time.ts';

const NOW = new Date('2026-12-01T12:00:00Z');
const HOUR = 3_600_000;

function run(overrides: Partial<RunFacts> = {}): RunFacts {
  return {
    id: '7',
    status: 'succeeded',
    startedAt: '2026-12-01T11:00:00.000Z',
    finishedAt: '2026-12-01T11:01:00.000Z',
    heartbeatAt: '2026-12-01T11:01:00.000Z',
    holder: 'host:1',
    resumeAfter: null,
    errorCode: null,
    errorMessage: null,
    apiRequests: 120,
    responses429: 2,
    rateLimitWaits: 1,
    rateLimitWaitSeconds: 3,
    summary: null,
    segments: [],
    ...overrides,
  };
}

function facts(overrides: Partial<HealthFacts> = {}, integration: Partial<HealthFacts['integration']> = {}): HealthFacts {
  return {
    integration: { id: '1', name: 'acme', kind: 'bitbucket-cloud', workspace: 'acme', credentialKind: 'api-token', status: 'active', statusMessage: null, ...integration },
    lastRun: run(),
    openRun: null,
    lastSuccessAt: '2026-12-01T11:01:00.000Z',
    scopes: [],
    ...overrides,
  };
}

const gap = (label: string) => ({ scope: label, stream: label, label, status: 'not_covered', httpStatus: null, code: 'credential_gap', message: 'cannot', advice: 'use an admin' });
const judge = (f: HealthFacts, alive = true) => judgeIntegration(f, { maxAgeMs: 26 * HOUR, now: NOW, alive: () => alive });

describe('status verdicts (README "Status and monitoring")', () => {
  it('warns when the schedule starts runs faster than the budget can serve them, without changing the verdict', () => {
    const fit = scheduleFit({ schedule: '0 */6 * * *', timezone: 'UTC' }, 14_517, 1000, 1);
    const judged = judge(facts({ schedule: fit }));
    expect(judged.verdict).toBe('healthy');
    expect(judged.warnings.join('\n')).toContain('the schedule "0 */6 * * *" (UTC) starts a run every 6.0 h, but a run takes about 15 h of API budget');
    expect(judge(facts({ schedule: scheduleFit({ schedule: '0 3 * * *', timezone: 'UTC' }, 14_517, 1000, 1) })).warnings.join('\n')).not.toContain('schedule');
  });

  it('decides healthy, degraded, stale and failing from the facts', () => {
    expect(judge(facts()).verdict).toBe('healthy');
    expect(judge(facts({ scopes: [gap('groups and their members'), gap('user permissions on repositories')] }))).toMatchObject({
      verdict: 'degraded',
      reason: 'Last run 7 succeeded 59m ago, but 2 scopes are not covered by this api-token credential: groups and their members; user permissions on repositories.',
    });
    expect(judge(facts({ lastRun: null, lastSuccessAt: null })).verdict).toBe('stale');
    expect(judge(facts({ lastRun: run({ finishedAt: '2026-11-29T00:00:00.000Z' }) })).verdict).toBe('stale');
    // Stale wins over degraded: old data is the bigger problem.
    expect(judge(facts({ lastRun: run({ finishedAt: '2026-11-29T00:00:00.000Z' }), scopes: [gap('groups')] })).verdict).toBe('stale');
    expect(judge(facts({ lastRun: run({ status: 'failed', errorMessage: 'HTTP 500.' }) }))).toMatchObject({ verdict: 'failing', reason: 'Last run 7 failed: HTTP 500.' });
    const failed = { ...gap('repo x user permissions'), code: 'server_error', status: 'failed' };
    expect(judge(facts({ lastRun: run({ status: 'partial' }), scopes: [failed] }))).toMatchObject({ verdict: 'failing', reason: 'Last run 7 was partial: 1 scope could not be read (repo x user permissions).' });
    expect(judge(facts({}, { status: 'revoked', statusMessage: 'The API token was rejected' })).verdict).toBe('failing');
  });

  it('only credential gaps degrade: a scope another credential would not read either is no coverage gap', () => {
    const other = { ...gap('workspace SSH keys'), code: 'not_found', status: 'failed' };
    const result = judge(facts({ lastRun: run({ status: 'partial' }), scopes: [other] }));
    expect(result.coverageGaps).toEqual([]);
    expect(result.failedScopes).toHaveLength(1);
  });

  it('an open run is in progress while its process lives, interrupted (with its last progress) when it is gone, paused for the rate limit', () => {
    const open = run({ id: '8', status: 'running', finishedAt: null, heartbeatAt: '2026-12-01T11:59:00.000Z' });
    const progress = { '8': { runId: '8', scopesDone: 5, scopesTotal: 9, scopesNotRead: 0, requests: 40, rateLimitWaits: 0, waitingUntil: null, lastEventAt: '2026-12-01T11:59:30.000Z' } };
    const alive = judgeIntegration(facts({ openRun: open }), { maxAgeMs: 26 * HOUR, now: NOW, alive: () => true, progress });
    expect(alive).toMatchObject({ verdict: 'healthy', openRun: { state: 'in-progress', lastProgressAt: '2026-12-01T11:59:30.000Z', progress: { scopesDone: 5 } } });
    const gone = judgeIntegration(facts({ openRun: open }), { maxAgeMs: 26 * HOUR, now: NOW, alive: () => false });
    expect(gone.openRun).toMatchObject({ state: 'interrupted', lastProgressAt: '2026-12-01T11:59:00.000Z' });
    expect(gone.warnings).toEqual(['run 8 stopped making progress at 2026-12-01T11:59:00.000Z (its process host:1 is gone); the next `roster sync` or `roster serve` continues it from its checkpoint']);
    const paused = judge(facts({ openRun: run({ id: '8', status: 'paused', finishedAt: null, errorCode: 'budget_exhausted', resumeAfter: '2026-12-01T13:00:00.000Z' }) }));
    expect(paused.openRun?.state).toBe('paused');
    const stopped = judge(facts({ openRun: run({ id: '8', status: 'paused', finishedAt: null, errorCode: 'sync_aborted' }) }));
    expect(stopped.openRun?.state).toBe('interrupted');
  });

  it('exit codes: 0 healthy, 1 degraded (0 when partial coverage is allowed), stale and failing, 2 cannot tell', () => {
    const table = (['healthy', 'degraded', 'stale', 'failing', 'cannot tell'] as const).map((v) => [v, exitCodeFor(v, { allowPartialCoverage: false }), exitCodeFor(v, { allowPartialCoverage: true })]);
    expect(table).toEqual([
      ['healthy', 0, 0],
      ['degraded', 1, 0],
      ['stale', 1, 1],
      ['failing', 1, 1],
      ['cannot tell', 2, 2],
    ]);
  });

  it('the whole answer takes the worst verdict; no integrations at all is failing', () => {
    const list = [judge(facts()), judge(facts({ scopes: [gap('groups')] }, { name: 'b' }))];
    expect(statusDocument(list, { maxAgeMs: 26 * HOUR, allowPartialCoverage: false, now: NOW, source: 'database' })).toMatchObject({ verdict: 'degraded', exitCode: 1, reason: '2 integrations: 1 healthy, 1 degraded.' });
    expect(statusDocument([], { maxAgeMs: 26 * HOUR, allowPartialCoverage: false, now: NOW, source: 'database' })).toMatchObject({ verdict: 'failing', exitCode: 1 });
  });
});

describe('run segments', () => {
  it('a run of one segment says "in N s"; a resumed run gives its whole time and each segment', () => {
    const now = new Date('2026-12-01T12:00:00Z');
    expect(describeDuration([{ startedAt: '2026-12-01T11:59:22.100Z', endedAt: null, holder: 'h:1', outcome: 'running' }], 0, now)).toBe('in 37.9 s');
    expect(
      describeDuration(
        [
          { startedAt: '2026-12-01T10:00:00.000Z', endedAt: '2026-12-01T10:00:40.100Z', holder: 'h:1', outcome: 'paused' },
          { startedAt: '2026-12-01T11:00:00.000Z', endedAt: '2026-12-01T11:00:17.300Z', holder: 'h:2', outcome: 'died' },
          { startedAt: '2026-12-01T11:59:22.100Z', endedAt: null, holder: 'h:3', outcome: 'running' },
        ],
        0,
        now,
      ),
    ).toMatch(/^in 95\.3 s over 3 segments \(40\.1 s from \S+, paused for the API rate limit; 17\.3 s from \S+, its process stopped; 37\.9 s from \S+\), 2h after it first started$/);
  });
});

describe('configuration messages', () => {
  it('cron problems name the field and its range', () => {
    expect(checkCron('0 25 * * *')).toMatch(/^invalid cron expression "0 25 \* \* \*": "25" is not a valid hour \(0-23\)/);
    expect(checkCron('0 3 * * 8')).toContain('"8" is not a valid day of the week (0-7 or sun-sat)');
    expect(checkCron('0 3 * * *')).toBeNull();
  });

  it("the OAuth token URL is Bitbucket's for Bitbucket's API and derived from any other base URL", () => {
    expect(tokenUrlFor('https://api.bitbucket.org')).toBe('https://bitbucket.org/site/oauth2/access_token');
    expect(tokenUrlFor('http://127.0.0.1:4010')).toBe('http://127.0.0.1:4010/site/oauth2/access_token');
    expect(tokenUrlFor('https://proxy.example/bitbucket/')).toBe('https://proxy.example/bitbucket/site/oauth2/access_token');
    expect(tokenUrlFor('http://127.0.0.1:4010', 'https://idp.example/token')).toBe('https://idp.example/token');
  });
});

describe('metrics', () => {
  it('exposes the per-integration figures of the README in the Prometheus text format', async () => {
    const metrics = new RosterMetrics({ processMetrics: false });
    const count = metrics.track('acme');
    count({ type: 'request', method: 'GET', path: '/x', status: 200, ms: 5 });
    count({ type: 'request', method: 'GET', path: '/x', status: 429, ms: 5 });
    count({ type: 'rate-limit-wait', ms: 1500, until: NOW, reason: 'budget' });
    metrics.runFinished('acme', 'succeeded', 42);
    metrics.watchScheduler(() => ({ running: 4, queued: 7, capacity: 4 }));
    metrics.update([judge(facts({ scopes: [gap('groups')] }))], NOW);
    const text = await metrics.metrics();
    for (const line of [
      'roster_syncs_running 4',
      'roster_syncs_queued 7',
      'roster_syncs_max_concurrent 4',
      `roster_last_success_timestamp_seconds{integration="acme"} ${Date.parse('2026-12-01T11:01:00.000Z') / 1000}`,
      'roster_last_run_status{integration="acme",status="succeeded"} 1',
      'roster_last_run_status{integration="acme",status="failed"} 0',
      'roster_data_age_seconds{integration="acme"} 3540',
      'roster_integration_verdict{integration="acme",verdict="degraded"} 1',
      'roster_scopes_not_covered{integration="acme"} 1',
      'roster_scopes_failed{integration="acme"} 0',
      'roster_last_run_api_requests{integration="acme"} 120',
      'roster_last_run_responses_429{integration="acme"} 2',
      'roster_last_run_rate_limit_waits{integration="acme"} 1',
      'roster_api_requests_total{integration="acme"} 2',
      'roster_api_responses_429_total{integration="acme"} 1',
      'roster_rate_limit_waits_total{integration="acme"} 1',
      'roster_rate_limit_wait_seconds_total{integration="acme"} 1.5',
      'roster_sync_run_duration_seconds_bucket{le="60",integration="acme",status="succeeded"} 1',
      'roster_sync_run_duration_seconds_count{integration="acme",status="succeeded"} 1',
      'roster_run_open{integration="acme",state="in-progress"} 0',
    ]) {
      expect(text).toContain(line);
    }
  });
});
