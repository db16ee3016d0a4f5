import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { up as moveToPermissionListings } from '../../migrations/2026-12-01T1400_reported_access_by_permission.ts';
import type { Integration } from '../../src/db/types.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, syncSim } from '../helpers/sim-sync.ts';

/**
 * Bitbucket's effective permissions are read as three listings, one per permission. What is stored
 * must stay exactly what Bitbucket lists after every run: a pair whose permission changes moves from
 * one listing to another and must not linger in the first; rows stored by the single listing of
 * earlier versions must still be removed once Bitbucket stops listing them.
 */
describeWithDb("Bitbucket's effective permissions, one listing per permission", (get) => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 23, rateLimit: false });
  });
  afterAll(async () => {
    await sim.close();
  });

  const stored = async (integration: Integration): Promise<string[]> => {
    const rows = await sql<{ line: string }>`
      select u.external_id || ' ' || r.external_id || ' ' || a.permission || ' ' || a.scope as line
        from reported_access a join principals u on u.id = a.user_id join resources r on r.id = a.resource_id
       where a.integration_id = ${integration.id} and a.removed_run is null`.execute(get().db);
    return rows.rows.map((r) => r.line).sort();
  };
  const truth = (): string[] => sim.truth.reportedRepositoryPermissions().map((r) => `${r.userUuid} ${r.repoUuid} ${r.permission} reported-access:${r.permission}`).sort();

  it('keeps exactly what Bitbucket lists across a permission change, a revocation, and rows stored by the single listing', async () => {
    const integration = await connectSim(get(), sim, 'reported-partitions');
    const first = await syncSim(get(), integration);
    expect(first.status).toBe('succeeded');
    expect(await stored(integration)).toEqual(truth());
    const scopes = await sql<{ scope: string; pages: number }>`select scope, pages from sync_scopes where run_id = ${first.runId} and stream = 'reported-access' order by scope`.execute(get().db);
    expect(scopes.rows.map((s) => s.scope)).toEqual(['reported-access:admin', 'reported-access:read', 'reported-access:write']);

    // A direct read grant raised to write: that pair leaves the read listing and joins the write one.
    const raised = sim.truth.repoUserGrants().find((g) => g.permission === 'read' && sim.truth.reportedRepositoryPermissions().some((r) => r.userUuid === g.userUuid && r.repoUuid === g.repoUuid && r.permission === 'read'));
    expect(raised).toBeDefined();
    if (!raised) return;
    const repo = sim.truth.repositories().find((r) => r.uuid === raised.repoUuid);
    sim.mutate.setRepoUserPermission(repo?.slug ?? '', raised.userUuid, 'write');
    const second = await syncSim(get(), integration);
    expect(second.status).toBe('succeeded');
    expect(await stored(integration)).toEqual(truth());
    expect((await stored(integration)).filter((l) => l.startsWith(`${raised.userUuid} ${raised.repoUuid} read`))).toEqual(
      truth().filter((l) => l.startsWith(`${raised.userUuid} ${raised.repoUuid} read`)),
    );

    // Rows as the single listing stored them, moved by the migration, are removed when no longer listed.
    await sql`update reported_access set scope = 'reported-access' where integration_id = ${integration.id} and removed_run is null`.execute(get().db);
    await moveToPermissionListings(get().db as unknown as Kysely<unknown>);
    expect(await stored(integration)).toEqual(truth());
    sim.mutate.setRepoUserPermission(repo?.slug ?? '', raised.userUuid, null);
    const third = await syncSim(get(), integration);
    expect(third.status).toBe('succeeded');
    expect(await stored(integration)).toEqual(truth());
    const removed = await sql<{ n: number }>`select count(*)::int as n from reported_access where removed_run = ${third.runId}`.execute(get().db);
    expect(removed.rows[0]?.n).toBeGreaterThan(0);
  });
});
