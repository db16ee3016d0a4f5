/** The generated workspaces and their ground truth: deterministic, realistic, and what the API serves. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimClient } from './client.ts';
import { PROFILES, startSimulator, type SimulatorInternals } from './index.ts';
import type { EffectiveAccess, SimProfile, Simulator } from './types.ts';

const RANK = { read: 1, write: 2, admin: 3 } as const;
const dangerous = (s: string): boolean => /^[=+\-@]/.test(s);
const nonAscii = (s: string): boolean => /[^\x20-\x7e]/.test(s);

describe('determinism', () => {
  it('the same seed gives the same workspace, another seed a different one', async () => {
    const [a, b, c] = await Promise.all([startSimulator({ seed: 7 }), startSimulator({ seed: 7 }), startSimulator({ seed: 8 })]);
    try {
      const dump = (s: Simulator): string => JSON.stringify([s.truth.workspace, s.truth.users(), s.truth.groups(), s.truth.repositories(), s.truth.deployKeys(), s.truth.effectiveAccess(), s.credentials]);
      expect(dump(a)).toBe(dump(b));
      expect(dump(a)).not.toBe(dump(c));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});

describe.each(['small', 'medium', 'large'] as SimProfile[])('the %s workspace', (profile) => {
  let sim: Simulator & SimulatorInternals;
  let access: EffectiveAccess[];
  beforeAll(async () => {
    sim = await startSimulator({ profile, rateLimit: false });
    access = sim.truth.effectiveAccess();
  });
  afterAll(async () => {
    await sim.close();
  });

  it('has the profile’s size', () => {
    const shape = PROFILES[profile];
    const s = sim.truth.summary();
    expect([s.users, s.owners, s.collaborators, s.groups, s.projects, s.repositories]).toEqual([shape.users, shape.owners, shape.collaborators, shape.groups, shape.projects, shape.repos]);
    // Collaborators are the users outside the workspace: everyone else is a member.
    expect(s.members).toBe(shape.users - shape.collaborators);
    expect(sim.truth.users().filter((u) => u.member).length).toBe(s.members);
    expect(s.publicRepositories).toBe(sim.truth.publicRepositories().length);
    if (profile === 'small') expect(s.publicRepositories).toBe(1);
    else expect(s.publicRepositories / s.repositories).toBeGreaterThanOrEqual(0.02);
    expect(s.deployKeys).toBeGreaterThanOrEqual(3);
    expect(s.effectiveAccessRows).toBe(access.length);
  });

  it('uses Bitbucket’s id shapes', () => {
    const uuid = /^\{[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}$/;
    expect(sim.truth.workspace.uuid).toMatch(uuid);
    for (const u of sim.truth.users()) {
      expect(u.uuid).toMatch(uuid);
      expect(u.accountId).toMatch(/^(557058|712020):[0-9a-f-]{36}$|^[0-9a-f]{24}$/);
    }
    for (const r of sim.truth.repositories()) expect(r.uuid).toMatch(uuid);
    for (const g of sim.truth.groups()) expect(g.slug).toMatch(/^[a-z0-9][a-z0-9._-]*$/);
    const ids = sim.truth.deployKeys().map((k) => k.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has every case a governance tool must get right', () => {
    const users = sim.truth.users();
    const groups = sim.truth.groups();
    // A user whose only access is through a group.
    const byUser = new Map<string, EffectiveAccess[]>();
    for (const a of access) {
      const list = byUser.get(a.userUuid);
      if (list) list.push(a);
      else byUser.set(a.userUuid, [a]);
    }
    const groupOnly = users.filter((u) => {
      const rows = byUser.get(u.uuid) ?? [];
      return rows.length > 0 && rows.every((r) => r.paths.every((p) => p.kind === 'group' || p.kind === 'project-group'));
    });
    expect(groupOnly.length).toBeGreaterThan(0);
    // A member with no access at all, and an empty group (which still holds a grant).
    expect(users.some((u) => !byUser.has(u.uuid))).toBe(true);
    const empty = groups.filter((g) => g.memberUuids.length === 0);
    expect(empty.length).toBeGreaterThan(0);
    expect(sim.truth.projectGroupGrants().some((g) => empty.some((e) => e.slug === g.groupSlug))).toBe(true);
    // A repository nobody holds an explicit grant on: only owners reach it.
    const sandbox = sim.truth.repositories().find((r) => r.slug === 'sandbox');
    const sandboxRows = access.filter((a) => a.repoUuid === sandbox?.uuid);
    expect(sandboxRows.length).toBe(users.filter((u) => u.role === 'owner').length);
    expect(sandboxRows.every((a) => a.paths.length === 1 && a.paths[0]?.kind === 'workspace-owner')).toBe(true);
    // Users outside the workspace, a redundant lower grant, duplicate display names.
    expect(users.some((u) => u.role === 'collaborator' && !u.member)).toBe(true);
    // A public repository that also carries an explicit grant (readable by anyone is not a grant).
    const pub = sim.truth.publicRepositories();
    expect(pub.some((r) => access.some((a) => a.repoUuid === r.uuid && a.paths.some((p) => p.kind !== 'workspace-owner')))).toBe(true);
    // The legacy 1.0 group fields are null on some groups, as real bodies send them.
    expect(sim.workspaceModel.groups.some((g) => g.emailForwardingDisabled === null && g.defaultPermission === null)).toBe(true);
    expect(access.some((a) => a.paths.some((p) => RANK[p.permission] < RANK[a.permission] && p.kind !== 'workspace-owner'))).toBe(true);
    const names = users.map((u) => u.displayName);
    expect(new Set(names).size).toBeLessThan(names.length);
  });

  it('has names that are dangerous in CSV and names in other scripts', () => {
    const users = sim.truth.users().map((u) => u.displayName);
    expect(users.filter(dangerous).length).toBeGreaterThanOrEqual(3);
    expect(users.some((n) => n.includes(',') || n.includes('"')) || profile === 'small').toBe(true);
    expect(sim.truth.groups().some((g) => dangerous(g.name))).toBe(true);
    expect(sim.truth.deployKeys().some((k) => dangerous(k.label))).toBe(true);
    expect(sim.truth.repositories().some((r) => dangerous(r.name))).toBe(true);
    if (profile !== 'small') expect(sim.truth.projects().some((p) => dangerous(p.name))).toBe(true);
    expect(users.some(nonAscii)).toBe(true);
    expect(users.some((n) => /\p{Script=Han}/u.test(n))).toBe(true);
    expect(sim.truth.groups().some((g) => nonAscii(g.name))).toBe(true);
    expect(sim.truth.projects().some((p) => nonAscii(p.name))).toBe(true);
  });

  it('derives effective access the way Bitbucket does', () => {
    // Mismatches are collected and compared once: hundreds of thousands of rows on large.
    const wrong: string[] = [];
    // On large, every fifth repository (still tens of thousands of rows) keeps the run short.
    const step = profile === 'large' ? 5 : 1;
    const owners = sim.truth.users().filter((u) => u.role === 'owner');
    const repos = sim.truth.repositories().filter((_, i) => i % step === 0);
    const inSample = new Set(repos.map((r) => r.uuid));
    const rows = access.filter((a) => inSample.has(a.repoUuid));
    const key = (u: string, r: string): string => `${u}|${r}`;
    const byKey = new Map(rows.map((a) => [key(a.userUuid, a.repoUuid), a]));
    // Owners are admin everywhere, through the workspace-owner path.
    for (const o of owners) {
      for (const r of repos) {
        const row = byKey.get(key(o.uuid, r.uuid));
        if (row?.permission !== 'admin' || !row.paths.some((p) => p.kind === 'workspace-owner')) wrong.push(`owner ${o.uuid} on ${r.slug}`);
      }
    }
    // The effective permission is the highest path; no path is `none`.
    for (const a of rows) {
      const top = (['read', 'write', 'admin'] as const)[Math.max(...a.paths.map((p) => RANK[p.permission])) - 1];
      if (a.permission !== top) wrong.push(`max ${a.userUuid} ${a.repoUuid}`);
    }
    // A project grant reaches every repository in the project; create-repo counts as write.
    const members = new Map(sim.truth.groups().map((g) => [g.slug, g.memberUuids]));
    let createRepo = 0;
    for (const g of sim.truth.projectGroupGrants()) {
      const expected = g.permission === 'create-repo' ? 'write' : g.permission;
      if (g.permission === 'create-repo') createRepo++;
      for (const r of repos.filter((x) => x.projectKey === g.projectKey)) {
        for (const u of members.get(g.groupSlug) ?? []) {
          const path = byKey.get(key(u, r.uuid))?.paths.find((p) => p.kind === 'project-group' && p.group === g.groupSlug);
          if (path?.permission !== expected) wrong.push(`project-group ${g.groupSlug} ${r.slug} ${u}`);
        }
      }
    }
    if (profile !== 'small') expect(createRepo).toBeGreaterThan(0);
    for (const g of sim.truth.projectUserGrants()) {
      for (const r of repos.filter((x) => x.projectKey === g.projectKey)) {
        if (!byKey.get(key(g.userUuid, r.uuid))?.paths.some((p) => p.kind === 'project' && p.projectKey === g.projectKey)) wrong.push(`project ${g.projectKey} ${r.slug}`);
      }
    }
    // What /permissions/repositories reports: explicit paths only, owners' implicit admin left out.
    const reported = new Map(sim.truth.reportedRepositoryPermissions().filter((r) => inSample.has(r.repoUuid)).map((r) => [key(r.userUuid, r.repoUuid), r.permission]));
    let explicitRows = 0;
    for (const a of rows) {
      const explicit = a.paths.filter((p) => p.kind !== 'workspace-owner');
      if (explicit.length > 0) explicitRows++;
      const want = explicit.length === 0 ? undefined : (['read', 'write', 'admin'] as const)[Math.max(...explicit.map((p) => RANK[p.permission])) - 1];
      if (reported.get(key(a.userUuid, a.repoUuid)) !== want) wrong.push(`reported ${a.userUuid} ${a.repoUuid}`);
    }
    expect(reported.size).toBe(explicitRows);
    expect(wrong.slice(0, 10)).toEqual([]);
  });
});

describe('the API serves the truth', () => {
  let sim: Simulator & SimulatorInternals;
  let client: SimClient;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'medium', rateLimit: false });
    client = new SimClient(sim);
  });
  afterAll(async () => {
    await sim.close();
  });

  it('lists every explicit grant on every repository and project', async () => {
    const ws = sim.workspace;
    const repoUsers: string[] = [];
    const repoGroups: string[] = [];
    for (const r of sim.truth.repositories()) {
      for (const g of await client.all<{ user: { uuid: string }; permission: string }>(`/2.0/repositories/${ws}/${r.slug}/permissions-config/users?pagelen=100`)) repoUsers.push(`${r.uuid}|${g.user.uuid}|${g.permission}`);
      for (const g of await client.all<{ group: { slug: string }; permission: string }>(`/2.0/repositories/${ws}/${r.slug}/permissions-config/groups?pagelen=100`)) repoGroups.push(`${r.uuid}|${g.group.slug}|${g.permission}`);
    }
    expect(repoUsers.sort()).toEqual(sim.truth.repoUserGrants().map((g) => `${g.repoUuid}|${g.userUuid}|${g.permission}`).sort());
    expect(repoGroups.sort()).toEqual(sim.truth.repoGroupGrants().map((g) => `${g.repoUuid}|${g.groupSlug}|${g.permission}`).sort());
    const projUsers: string[] = [];
    const projGroups: string[] = [];
    for (const p of sim.truth.projects()) {
      for (const g of await client.all<{ user: { uuid: string }; permission: string }>(`/2.0/workspaces/${ws}/projects/${p.key}/permissions-config/users`)) projUsers.push(`${p.key}|${g.user.uuid}|${g.permission}`);
      for (const g of await client.all<{ group: { slug: string }; permission: string }>(`/2.0/workspaces/${ws}/projects/${p.key}/permissions-config/groups`)) projGroups.push(`${p.key}|${g.group.slug}|${g.permission}`);
    }
    expect(projUsers.sort()).toEqual(sim.truth.projectUserGrants().map((g) => `${g.projectKey}|${g.userUuid}|${g.permission}`).sort());
    expect(projGroups.sort()).toEqual(sim.truth.projectGroupGrants().map((g) => `${g.projectKey}|${g.groupSlug}|${g.permission}`).sort());
  });

  it('lists groups with their members (1.0) and repository group privileges (1.0)', async () => {
    const groups = (await client.get(`/1.0/groups/${sim.workspace}/`)).json as Array<{ slug: string; members: Array<{ uuid: string }> }>;
    expect(groups.map((g) => ({ slug: g.slug, members: g.members.map((m) => m.uuid) }))).toEqual(sim.truth.groups().map((g) => ({ slug: g.slug, members: g.memberUuids })));
    const privileges = (await client.get(`/1.0/group-privileges/${sim.workspace}`)).json as Array<{ repo: string; privilege: string; group: { slug: string } }>;
    const slugToUuid = new Map(sim.truth.repositories().map((r) => [`${sim.workspace}/${r.slug}`, r.uuid]));
    expect(privileges.map((p) => `${slugToUuid.get(p.repo)}|${p.group.slug}|${p.privilege}`).sort()).toEqual(sim.truth.repoGroupGrants().map((g) => `${g.repoUuid}|${g.groupSlug}|${g.permission}`).sort());
  });

  it('lists every deploy key on repositories and projects', async () => {
    const ws = sim.workspace;
    const ids: number[] = [];
    for (const k of sim.truth.deployKeys()) {
      const path = k.repositoryUuid
        ? `/2.0/repositories/${ws}/${encodeURIComponent(k.repositoryUuid)}/deploy-keys`
        : `/2.0/workspaces/${ws}/projects/${k.projectKey}/deploy-keys`;
      const listed = await client.all<{ id: number; label: string; key: string; comment: string }>(path);
      const found = listed.find((x) => x.id === k.id);
      expect(found).toMatchObject({ label: k.label, key: k.key, comment: k.comment });
      ids.push(k.id);
    }
    expect(ids.length).toBe(sim.truth.summary().deployKeys);
  });
});
