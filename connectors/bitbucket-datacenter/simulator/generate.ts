/**
 * Generates a Bitbucket Data Center instance from a profile and a seed: the same seed gives the same
 * ids, names, grants and secrets. Every profile starts with the planted cases (README, "Planted
 * cases"); larger profiles add seeded structure. Plain loops over arrays: `enterprise` (10,000 users,
 * 30,000 repositories) generates in well under a second; effective access is computed only when asked.
 */
import { Random } from '../../bitbucket-cloud/simulator/random.ts';
import { DANGEROUS_NAMES, FIRST_NAMES, LAST_NAMES, WHOLE_NAMES } from '../../bitbucket-cloud/simulator/names.ts';
import {
  type DcAccessKey,
  type DcAccessToken,
  type DcProject,
  type DcRepository,
  type DcUser,
  type GlobalPermission,
  type Instance,
  type ProjectPermission,
  type RepositoryPermission,
  personalKey,
  repoIndexKey,
} from './instance.ts';

export const DC_PROFILES = ['small', 'medium', 'large', 'enterprise'] as const;
export type DcProfile = (typeof DC_PROFILES)[number];

export interface ProfileSize {
  users: number;
  groups: number;
  projects: number;
  repositories: number;
  /** Extra projects (beyond the planted one) whose default permission reaches every licensed user; kept few and small, as such projects reach everyone. */
  defaultPermissionProjects: number;
}

export const PROFILE_SIZES: Record<DcProfile, ProfileSize> = {
  small: { users: 12, groups: 6, projects: 3, repositories: 9, defaultPermissionProjects: 0 },
  medium: { users: 250, groups: 25, projects: 20, repositories: 400, defaultPermissionProjects: 1 },
  large: { users: 2_000, groups: 150, projects: 120, repositories: 6_000, defaultPermissionProjects: 2 },
  enterprise: { users: 10_000, groups: 500, projects: 400, repositories: 30_000, defaultPermissionProjects: 3 },
};

export function isDcProfile(p: string): p is DcProfile {
  return (DC_PROFILES as readonly string[]).includes(p);
}

const DAY = 86_400_000;
const T = (iso: string): number => Date.parse(iso);

/** Names of the simulator's credentials, each the token (or password) of a planted user. */
export const DC_CREDENTIAL_NAMES = ['adminToken', 'globalAdminToken', 'projectAdminToken', 'userToken', 'adminBasic'] as const;
export type DcCredentialName = (typeof DC_CREDENTIAL_NAMES)[number];

export type DcSimCredential =
  | { kind: 'http-access-token'; token: string; user: string; level: string }
  | { kind: 'basic'; username: string; password: string; user: string; level: string };

export type DcSimCredentials = Record<DcCredentialName, DcSimCredential>;

export interface Generated {
  instance: Instance;
  credentials: DcSimCredentials;
}

export function generateInstance(profile: DcProfile, seed: number): Generated {
  const size = PROFILE_SIZES[profile];
  const rnd = new Random(seed);
  const inst: Instance = {
    displayName: 'Acme Bitbucket',
    serverId: `B${rnd.hex(3).toUpperCase()}-${rnd.hex(4).toUpperCase()}-${rnd.hex(4).toUpperCase()}-${rnd.hex(4).toUpperCase()}`,
    users: new Map(),
    groups: new Map(),
    globalUsers: new Map(),
    globalGroups: new Map(),
    projects: new Map(),
    repositories: new Map(),
    projectUsers: new Map(),
    projectGroups: new Map(),
    repoUsers: new Map(),
    repoGroups: new Map(),
    accessKeys: new Map(),
    tokens: new Map(),
    passwords: new Map(),
    repoIndex: new Map(),
    nextId: { user: 1001, project: 1001, repository: 1001, key: 1001, token: 1001 },
  };

  const addUser = (u: Partial<DcUser> & { name: string; displayName: string }): DcUser => {
    const user: DcUser = {
      id: inst.nextId.user++,
      slug: u.name.toLowerCase().replace(/[^a-z0-9._-]/g, '_'),
      emailAddress: `${u.name.toLowerCase().replace(/[^a-z0-9._-]/g, '')}@acme.example`,
      active: true,
      directoryName: 'Bitbucket Internal Directory',
      lastAuthenticationTimestamp: T('2026-11-20T09:00:00Z') - rnd.int(0, 60) * DAY,
      type: 'NORMAL',
      ...u,
    } as DcUser;
    inst.users.set(user.id, user);
    return user;
  };
  const group = (name: string, members: DcUser[] = []): string => {
    const g = inst.groups.get(name) ?? { name, members: new Set<number>() };
    for (const m of members) g.members.add(m.id);
    inst.groups.set(name, g);
    return name;
  };
  const project = (p: Partial<DcProject> & { key: string; name: string }): DcProject => {
    const out: DcProject = { id: inst.nextId.project++, description: null, public: false, type: 'NORMAL', ownerId: null, defaultPermission: null, ...p };
    inst.projects.set(out.key, out);
    return out;
  };
  const repo = (projectKey: string, name: string, extra: Partial<DcRepository> = {}): DcRepository => {
    const slug = extra.slug ?? name.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') ?? 'repo';
    const r: DcRepository = { id: inst.nextId.repository++, slug, name, projectKey, public: false, archived: false, hierarchyId: rnd.hex(20), description: null, ...extra };
    inst.repositories.set(r.id, r);
    inst.repoIndex.set(repoIndexKey(projectKey, r.slug), r.id);
    return r;
  };
  const setMap = <K, I, V>(outer: Map<K, Map<I, V>>, key: K, inner: I, value: V): void => {
    let m = outer.get(key);
    if (!m) outer.set(key, (m = new Map()));
    m.set(inner, value);
  };
  const grantProjectUser = (key: string, u: DcUser, p: ProjectPermission) => setMap(inst.projectUsers, key, u.id, p);
  const grantProjectGroup = (key: string, g: string, p: ProjectPermission) => setMap(inst.projectGroups, key, g, p);
  const grantRepoUser = (r: DcRepository, u: DcUser, p: RepositoryPermission) => setMap(inst.repoUsers, r.id, u.id, p);
  const grantRepoGroup = (r: DcRepository, g: string, p: RepositoryPermission) => setMap(inst.repoGroups, r.id, g, p);
  const sshKey = (label: string, projectKey: string, repositoryId: number | null, permission: DcAccessKey['permission'], lastAuthenticated: number | null): DcAccessKey => {
    const k: DcAccessKey = {
      id: inst.nextId.key++,
      label,
      text: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${rnd.alnum(43)} ${label.replace(/\s+/g, '-')}`,
      algorithmType: 'ED25519',
      bitLength: 256,
      fingerprint: `SHA256:${rnd.alnum(43)}`,
      createdDate: T('2024-01-01T00:00:00Z') + rnd.int(0, 900) * DAY,
      lastAuthenticated,
      expiryDays: null,
      projectKey,
      repositoryId,
      permission,
    };
    inst.accessKeys.set(k.id, k);
    return k;
  };
  const token = (t: Omit<DcAccessToken, 'id' | 'secret'>): DcAccessToken => {
    const id = String(100_000_000_000 + inst.nextId.token++ * 7919);
    const out: DcAccessToken = { id, secret: `BBDC-${rnd.alnum(44)}`, ...t };
    inst.tokens.set(id, out);
    return out;
  };

  // ─── Planted cases ───────────────────────────────────────────────────────────────────────
  const ada = addUser({ name: 'ada', displayName: 'Ada Lovelace' });
  const alan = addUser({ name: 'alan', displayName: 'Alan Turing' });
  const grace = addUser({ name: 'grace', displayName: 'Grace Hopper' });
  const linus = addUser({ name: 'linus', displayName: 'Linus Torvalds' });
  const lei = addUser({ name: 'lilei', displayName: '李雷' });
  const csv = addUser({ name: 'cmd', displayName: "=cmd|' /C calc'!A0", emailAddress: 'cmd@contractor.example' });
  const html = addUser({ name: 'html', displayName: '<img src=x onerror=alert(1)>' });
  const olga = addUser({ name: 'olga', displayName: 'Olga Dormant', lastAuthenticationTimestamp: T('2025-09-01T08:00:00Z') });
  const zoe = addUser({ name: 'zoe', displayName: 'Zoë Ångström' });
  const former = addUser({ name: 'former', displayName: 'Former Employee', active: false, lastAuthenticationTimestamp: T('2025-03-01T08:00:00Z') });
  const ci = addUser({ name: 'svc-ci', displayName: 'CI Service', type: 'SERVICE', directoryName: 'Delegated LDAP', lastAuthenticationTimestamp: null });
  const planted = [ada, alan, grace, linus, lei, csv, html, olga, zoe, former, ci];

  inst.globalUsers.set(ada.id, 'SYS_ADMIN');
  group('bitbucket-admins', [alan]);
  inst.globalGroups.set('bitbucket-admins', 'ADMIN');
  group('bitbucket-users', planted.filter((u) => u !== ada));
  inst.globalGroups.set('bitbucket-users', 'LICENSED_USER');
  inst.globalUsers.set(grace.id, 'PROJECT_CREATE');
  group('developers', [lei, grace]);
  group('=finance', [olga]);
  group('<b>auditors</b>', [html]);

  const plat = project({ key: 'PLAT', name: 'Platform', description: 'Core services' });
  const data = project({ key: 'DATA', name: 'Données & Analytics', public: true });
  const open = project({ key: 'OPEN', name: 'Open Handbook', defaultPermission: 'PROJECT_READ', description: 'Readable by every licensed user' });
  const personal = project({ key: personalKey(zoe), name: zoe.displayName, type: 'PERSONAL', ownerId: zoe.id });

  grantProjectUser(plat.key, grace, 'PROJECT_ADMIN');
  grantProjectGroup(plat.key, 'developers', 'PROJECT_WRITE');
  grantProjectGroup(data.key, '=finance', 'PROJECT_READ');

  const api = repo(plat.key, 'api-gateway');
  const web = repo(plat.key, 'web-app');
  const billing = repo(plat.key, 'billing-service');
  repo(plat.key, 'sandbox', { public: true, description: 'A public repository in a private project' });
  const reports = repo(data.key, 'reports');
  const pipeline = repo(data.key, 'données-pipeline', { slug: 'donnees-pipeline' });
  const handbook = repo(open.key, 'handbook');
  const dotfiles = repo(personal.key, 'dotfiles');
  repo(plat.key, 'legacy-tools', { archived: true, name: '-legacy-tools' });
  void pipeline;

  grantRepoUser(api, html, 'REPO_READ');
  grantRepoUser(web, csv, 'REPO_WRITE');
  grantRepoUser(billing, olga, 'REPO_WRITE');
  grantRepoUser(reports, former, 'REPO_READ');
  grantRepoUser(dotfiles, lei, 'REPO_READ');
  grantRepoGroup(reports, '<b>auditors</b>', 'REPO_READ');
  grantRepoUser(handbook, ci, 'REPO_WRITE');

  sshKey('deploy-bot (write)', plat.key, api.id, 'REPO_WRITE', T('2026-11-28T03:00:00Z'));
  sshKey('=HYPERLINK("https://evil.example")', plat.key, web.id, 'REPO_READ', null);
  sshKey('ArgoCD (prod)', data.key, null, 'PROJECT_READ', T('2026-06-01T00:00:00Z'));

  token({ name: 'ci-deploy (expired)', createdDate: T('2025-01-10T10:00:00Z'), expiryDate: T('2025-12-01T00:00:00Z'), lastAuthenticated: T('2025-11-30T00:00:00Z'), permissions: ['PROJECT_READ', 'REPO_WRITE'], owner: { kind: 'project', projectKey: plat.key } });
  token({ name: 'release-bot', createdDate: T('2026-02-01T10:00:00Z'), expiryDate: T('2027-02-01T00:00:00Z'), lastAuthenticated: T('2026-03-01T00:00:00Z'), permissions: ['REPO_ADMIN'], owner: { kind: 'repository', repositoryId: api.id } });
  token({ name: 'laptop (no expiry)', createdDate: T('2024-05-05T10:00:00Z'), expiryDate: null, lastAuthenticated: null, permissions: ['PROJECT_READ', 'REPO_READ'], owner: { kind: 'user', userId: zoe.id } });

  const credToken = (u: DcUser, level: string, name: string): DcSimCredential => {
    const t = token({ name, createdDate: T('2026-10-01T00:00:00Z'), expiryDate: T('2027-10-01T00:00:00Z'), lastAuthenticated: null, permissions: ['PROJECT_ADMIN', 'REPO_ADMIN'], owner: { kind: 'user', userId: u.id } });
    return { kind: 'http-access-token', token: t.secret, user: u.slug, level };
  };
  const adminPassword = rnd.alnum(24);
  inst.passwords.set(ada.name, adminPassword);
  const credentials: DcSimCredentials = {
    adminToken: credToken(ada, 'SYS_ADMIN', 'roster (sysadmin)'),
    globalAdminToken: credToken(alan, 'ADMIN', 'roster (admin)'),
    projectAdminToken: credToken(grace, 'PROJECT_ADMIN on PLAT', 'roster (project admin)'),
    userToken: credToken(lei, 'LICENSED_USER', 'roster (user)'),
    adminBasic: { kind: 'basic', username: ada.name, password: adminPassword, user: ada.slug, level: 'SYS_ADMIN' },
  };

  // ─── Seeded structure ────────────────────────────────────────────────────────────────────
  const users: DcUser[] = [];
  for (let i = planted.length; i < size.users; i++) {
    const roll = rnd.float();
    const displayName =
      roll < 0.03 ? rnd.pick(DANGEROUS_NAMES) : roll < 0.1 ? rnd.pick(WHOLE_NAMES) : `${rnd.pick(FIRST_NAMES)} ${rnd.pick(LAST_NAMES)}`;
    const active = !rnd.chance(0.03);
    const lastAuth = rnd.chance(0.05) ? null : T('2026-11-25T00:00:00Z') - rnd.int(0, rnd.chance(0.08) ? 700 : 90) * DAY;
    users.push(addUser({ name: `u${i}-${rnd.alnum(4, 'abcdefghijklmnopqrstuvwxyz')}`, displayName, active, lastAuthenticationTimestamp: lastAuth, type: rnd.chance(0.02) ? 'SERVICE' : 'NORMAL' }));
  }
  // Most users are licensed through bitbucket-users; a few hold no global permission (cannot log in).
  const licensed = inst.groups.get('bitbucket-users') as { members: Set<number> };
  for (const u of users) if (!rnd.chance(0.02)) licensed.members.add(u.id);
  for (const u of rnd.sample(users, Math.max(0, Math.floor(size.users / 400)))) inst.globalUsers.set(u.id, rnd.chance(0.3) ? 'SYS_ADMIN' : 'ADMIN');
  for (const u of rnd.sample(users, Math.floor(size.users / 50))) if (!inst.globalUsers.has(u.id)) inst.globalUsers.set(u.id, 'PROJECT_CREATE');

  const teams: string[] = [];
  for (let i = inst.groups.size; i < size.groups; i++) {
    const name = `team-${i}-${rnd.alnum(3, 'abcdefghijklmnopqrstuvwxyz')}`;
    teams.push(group(name, rnd.sample(users, rnd.int(0, Math.min(40, Math.max(1, Math.floor(users.length / 10)))))));
  }
  if (teams.length > 3) inst.globalGroups.set(teams[0] as string, 'PROJECT_CREATE' as GlobalPermission);

  const normalProjects: DcProject[] = [plat, data];
  for (let i = 3; i < size.projects; i++) {
    normalProjects.push(project({ key: `P${i}${rnd.alnum(2, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}`, name: `Project ${i} ${rnd.pick(LAST_NAMES)}`, public: rnd.chance(0.03) }));
  }
  const defaultProjects: DcProject[] = [];
  for (let i = 0; i < size.defaultPermissionProjects; i++) {
    defaultProjects.push(project({ key: `ALL${i}`, name: `Everyone ${i}`, defaultPermission: i % 2 === 0 ? 'PROJECT_READ' : 'PROJECT_WRITE' }));
  }
  const projectPerms: ProjectPermission[] = ['PROJECT_READ', 'PROJECT_WRITE', 'REPO_CREATE', 'PROJECT_ADMIN'];
  for (const p of normalProjects.slice(2)) {
    for (const g of rnd.sample(teams, rnd.int(0, 3))) grantProjectGroup(p.key, g, rnd.pick(projectPerms));
    for (const u of rnd.sample(users, rnd.int(0, 2))) grantProjectUser(p.key, u, rnd.pick(projectPerms));
  }
  const repoPerms: RepositoryPermission[] = ['REPO_READ', 'REPO_WRITE', 'REPO_ADMIN'];
  const extraRepos = Math.max(0, size.repositories - inst.repositories.size);
  for (let i = 0; i < extraRepos; i++) {
    const roll = rnd.float();
    let key: string;
    if (roll < 0.03 && users.length > 0) {
      const owner = rnd.pick(users);
      const pk = personalKey(owner);
      if (!inst.projects.has(pk)) project({ key: pk, name: owner.displayName, type: 'PERSONAL', ownerId: owner.id });
      key = pk;
    } else if (roll < 0.035 && defaultProjects.length > 0) {
      key = rnd.pick(defaultProjects).key;
    } else {
      key = rnd.pick(normalProjects).key;
    }
    const r = repo(key, `svc-${i}-${rnd.alnum(5, 'abcdefghijklmnopqrstuvwxyz0123456789')}`, { public: inst.projects.get(key)?.type === 'NORMAL' && rnd.chance(0.02) });
    if (rnd.chance(0.3)) for (const u of rnd.sample(users, rnd.int(1, 3))) grantRepoUser(r, u, rnd.pick(repoPerms));
    if (rnd.chance(0.15)) for (const g of rnd.sample(teams, rnd.int(1, 2))) grantRepoGroup(r, g, rnd.pick(repoPerms));
    if (rnd.chance(0.08)) sshKey(`key-${r.slug}`, key, r.id, rnd.chance(0.3) ? 'REPO_WRITE' : 'REPO_READ', rnd.chance(0.5) ? T('2026-11-01T00:00:00Z') - rnd.int(0, 400) * DAY : null);
    if (rnd.chance(0.03)) {
      token({ name: `repo-token-${r.slug}`, createdDate: T('2025-06-01T00:00:00Z') + rnd.int(0, 500) * DAY, expiryDate: rnd.chance(0.4) ? null : T('2026-06-01T00:00:00Z') + rnd.int(0, 500) * DAY, lastAuthenticated: rnd.chance(0.5) ? null : T('2026-10-01T00:00:00Z'), permissions: [rnd.pick(repoPerms)], owner: { kind: 'repository', repositoryId: r.id } });
    }
  }
  for (const p of normalProjects.slice(2)) {
    if (rnd.chance(0.1)) sshKey(`project-key-${p.key}`, p.key, null, rnd.chance(0.3) ? 'PROJECT_WRITE' : 'PROJECT_READ', null);
    if (rnd.chance(0.08)) {
      token({ name: `project-token-${p.key}`, createdDate: T('2025-03-01T00:00:00Z'), expiryDate: rnd.chance(0.5) ? null : T('2027-03-01T00:00:00Z'), lastAuthenticated: null, permissions: ['PROJECT_READ', rnd.pick(repoPerms)], owner: { kind: 'project', projectKey: p.key } });
    }
  }
  for (const u of users) {
    if (rnd.chance(0.04)) token({ name: `${u.name}-token`, createdDate: T('2025-09-01T00:00:00Z'), expiryDate: rnd.chance(0.5) ? null : T('2027-01-01T00:00:00Z'), lastAuthenticated: rnd.chance(0.5) ? null : T('2026-11-01T00:00:00Z'), permissions: ['PROJECT_READ', 'REPO_WRITE'], owner: { kind: 'user', userId: u.id } });
  }
  return { instance: inst, credentials };
}
