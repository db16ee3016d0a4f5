import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { ADMIN_API_TOKEN_SCOPES } from '../../connectors/bitbucket-cloud/simulator/credentials.ts';
import type { SimCredentialName, SimulatorInternals } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { addPoolMember } from '../../src/db/integrations.ts';
import type { Integration } from '../../src/db/types.ts';
import { Secret } from '../../src/secrets/index.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, keyring, removalsOutsideCleanScopes, removedIn, rosterAccess, syncSim, truthAccess } from '../helpers/sim-sync.ts';

describeWithDb('credential pool: requests spread over the members, a member revoked mid-run leaves and the run completes', (get) => {
  let sim: Simulator & SimulatorInternals;
  let integration: Integration;
  let memberName = "";

  beforeAll(async () => {
    sim = (await startSimulator({ profile: 'medium', seed: 3, rateLimit: false })) as Simulator & SimulatorInternals;
    integration = await connectSim(get(), sim, 'pool-medium');
    // A second service account: another workspace owner with its own API token (its own hourly allowance).
    const owner = sim.truth.users().find((u) => u.role === 'owner' && u.uuid !== sim.truth.users().find((x) => x.role === 'owner')?.uuid) ?? sim.truth.users().find((u) => u.role === 'owner');
    if (!owner) throw new Error('no owner in the simulated workspace');
    const token = sim.issueApiToken(owner.uuid, [...ADMIN_API_TOKEN_SCOPES]);
    const n = await addPoolMember(get().db, keyring, integration, { secret: new Secret(token.token), username: token.email });
    expect(n).toBe(2);
  });
  afterAll(async () => {
    await sim.close();
  });

  it('both members carry requests; after one is revoked mid-run the others finish it: succeeded, the truth, nothing removed, the loss in the summary', async () => {
    const first = await syncSim(get(), integration);
    expect(first.status).toBe('succeeded');
    const perCredential = sim.stats().perCredential;
    const used = Object.entries(perCredential).filter(([name, n]) => name !== 'adminApiToken' && name.startsWith('custom:') && n > 0);
    expect(perCredential.adminApiToken ?? 0).toBeGreaterThan(100);
    expect(used.length).toBe(1);
    const [issuedName, issuedRequests] = used[0] as [string, number];
    expect(issuedRequests).toBeGreaterThan(100);
    memberName = issuedName;

    // Revoke the second member once the next run is under way.
    let requests = 0;
    const second = await syncSim(get(), integration, {
      onProgress: (event) => {
        if (event.type === 'request' && ++requests === 150) sim.mutate.revokeCredential(memberName as SimCredentialName);
      },
    });
    expect(requests).toBeGreaterThan(150);
    expect(second.status).toBe('succeeded');
    expect(second.summary).toContain('Credential pool: pool member 2 (API token of');
    expect(second.summary).toContain('was rejected (401');
    expect(await rosterAccess(get(), String(integration.id))).toEqual(truthAccess(sim));
    expect(Object.values(await removedIn(get(), second.runId)).every((n) => n === 0)).toBe(true);
    expect(await removalsOutsideCleanScopes(get(), second.runId)).toEqual([]);
    const row = await get().db.selectFrom('integrations').select(['status']).where('id', '=', integration.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('active');
  });
});
