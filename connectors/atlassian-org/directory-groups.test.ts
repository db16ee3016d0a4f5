import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DirectoryGroupAt, reconcileDirectoryGroups } from '../../src/identity/directory-groups.ts';
import { Secret } from '../../src/secrets/index.ts';
import { OrgClient } from './client.ts';
import { type OrgSimulator, createOrgSimulator } from './simulator/index.ts';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const users = Array.from({ length: 12 }, (_, i) => ({ accountId: `557058:1000000${i.toString(16)}-aaaa-4bbb-8ccc-${String(1000 + i).padStart(12, '0')}`, displayName: `Person ${i}`, email: `person.${i}@acme.example` }));
const id = (i: number): string => users[i]?.accountId ?? '';
// Index 4 is unmanaged (PLANTED): a group holding it cannot be mirrored by the directory.
const workspaceGroups = [
  { name: 'Has Outsider', memberAccountIds: [id(4), id(0)] },
  { name: 'Developers', memberAccountIds: [id(0), id(1), id(2)] },
  { name: '=Finance Ops', memberAccountIds: [id(3)] },
];

describe('directory groups: the simulator, the client and the reconciliation', () => {
  let org: OrgSimulator;
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    org = createOrgSimulator({ workspace: 'acme', users, seed: 3, now: () => NOW, workspaceGroups, groupPageSize: 1, rateLimitPerMinute: false });
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (!org.handle(req, res, url.pathname, url.searchParams)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });
  const client = () => new OrgClient({ baseUrl: base, credential: { kind: 'org-api-key', orgId: org.credential.orgId, token: new Secret(org.credential.token) }, maxRetries: 0, budgetPerHour: 1_000_000 });

  it('plants a mirrored group, one whose members differ and one only in the organization', () => {
    const groups = org.truth.directoryGroups();
    expect(groups.map((g) => [g.name, g.planted])).toEqual([
      ['Developers', 'same-as-workspace'],
      ['=Finance Ops', 'members-differ'],
      ['bitbucket-release-managers', 'organization-only'],
    ]);
    expect(groups[0]?.memberAccountIds).toEqual([id(0), id(1), id(2)].sort());
    expect(groups[1]?.memberAccountIds).toHaveLength(2);
    expect(groups[1]?.memberAccountIds).toContain(id(3));
  });

  it('serves v2 pages whose links.next is a bare cursor token; the client reads every directory, group and member', async () => {
    const res = await fetch(`${base}/admin/v2/orgs/${org.credential.orgId}/directories/${org.truth.directory().id}/groups`, { headers: { authorization: `Bearer ${org.credential.token}` } });
    const body = (await res.json()) as { data: Array<{ name: string }>; links: { next?: string } };
    expect(body.data.map((g) => g.name)).toEqual(['Developers']);
    expect(body.links.next).toMatch(/^[A-Za-z0-9_-]+$/);
    const c = client();
    const read = await c.listDirectoryGroups();
    const requests = c.stats().requests;
    await c.close();
    const dir = org.truth.directory();
    expect(read).toEqual(org.truth.directoryGroups().map((g) => ({ directoryId: dir.id, directoryName: dir.name, groupId: g.id, name: g.name, description: g.description, memberAccountIds: g.memberAccountIds })));
    // 1 directories + 3 group pages + member pages (one account a page: 3 + 2 + 3).
    expect(requests).toBe(1 + 3 + 8);
  });

  it('a failing groups listing is an error, never an empty list', async () => {
    org.mutate.failGroups(403);
    const c = client();
    await expect(c.listDirectoryGroups()).rejects.toThrow(/refused \(403\).*cannot read the groups/);
    await c.close();
    org.mutate.failGroups(null);
  });

  it('reconcile: by name ignoring case and spaces; missing groups and membership differences both ways', () => {
    const g = (name: string, members: string[]): DirectoryGroupAt => ({ integration: 'acme-org', runId: '1001', directoryId: 'd', directoryName: 'D', groupId: `g-${name}`, name, memberAccountIds: members });
    const gaps = reconcileDirectoryGroups(
      [g('Developers', ['a', 'b']), g(' release managers ', ['c']), g('Ops', ['a', 'x']), g('Empty', [])],
      [
        { slug: 'developers', name: 'developers', memberAccountIds: ['b', 'a'], membersWithoutAccountId: 0 },
        { slug: 'ops', name: 'Ops', memberAccountIds: ['a', 'y'], membersWithoutAccountId: 0 },
        { slug: 'empty', name: 'Empty', memberAccountIds: [], membersWithoutAccountId: 0 },
      ],
    );
    expect(gaps.map((x) => [x.kind, x.group.name, x.workspaceGroup?.slug ?? null, x.onlyInDirectory, x.onlyInWorkspace])).toEqual([
      ['group-membership-differs', 'Ops', 'ops', ['x'], ['y']],
      ['directory-group-not-in-workspace', ' release managers ', null, ['c'], []],
    ]);
  });
});
