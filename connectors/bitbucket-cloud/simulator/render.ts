/**
 * JSON shapes, as Bitbucket sends them and as `swagger.v3.json` allows them. Where a recorded
 * payload carries extra link kinds the spec forbids (projects and repositories), the simulator
 * follows the spec; where a recording sends `null` for a property the spec types (repository
 * `parent`, project `description`, `has_2fa_enabled` on `/user`, the 1.0 group fields), it sends
 * `null` as recorded and the contract schema accepts exactly those (`RECORDED_NULLS` in `spec.ts`).
 * See README "Deliberate choices".
 *
 * Rendered entities are cached as objects and as JSON text until the workspace changes.
 */
import type { DeployKeyRec, GroupRec, ProjectRec, RepoRec, UserRec, Workspace } from './workspace.ts';
import type { ProjectPermission, RepoPermission } from './types.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const WEB = 'https://bitbucket.org';
const AVATARS = 'https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials';

const link = (href: string): JsonObject => ({ href });
const enc = (s: string): string => encodeURIComponent(s);

interface Cached {
  obj: JsonObject;
  json: string;
  /** UTF-8 bytes of `json`, filled on first use by the server. */
  buf?: Buffer;
}

export class Renderer {
  private version = -1;
  private readonly caches = new Map<string, Map<string, Cached>>();
  readonly api: string;

  constructor(
    private readonly ws: Workspace,
    readonly baseUrl: string,
  ) {
    this.api = `${baseUrl}/2.0`;
  }

  private cache(kind: string, key: string, build: () => JsonObject): Cached {
    if (this.version !== this.ws.version) {
      this.caches.clear();
      this.version = this.ws.version;
    }
    let m = this.caches.get(kind);
    if (!m) this.caches.set(kind, (m = new Map()));
    let c = m.get(key);
    if (!c) {
      const obj = build();
      c = { obj, json: JSON.stringify(obj) };
      m.set(key, c);
    }
    return c;
  }

  // ─── Accounts and the workspace ───────────────────────────────────────────────────────

  user(u: UserRec): Cached {
    return this.cache('user', u.uuid, () => ({
      display_name: u.displayName,
      links: {
        self: link(`${this.api}/users/${enc(u.uuid)}`),
        avatar: link(`${AVATARS}/${initials(u.displayName)}-${(u.uuid.charCodeAt(1) % 6) + 1}.png`),
        html: link(`${WEB}/${enc(u.uuid)}/`),
      },
      type: 'user',
      uuid: u.uuid,
      account_id: u.accountId,
      nickname: u.nickname,
    }));
  }

  /** `GET /user`: the full account, with `username` (only the caller sees it). */
  currentUser(u: UserRec): JsonObject {
    return {
      ...this.user(u).obj,
      links: {
        ...(this.user(u).obj.links as JsonObject),
        repositories: link(`${this.api}/repositories/${enc(u.uuid)}`),
      },
      created_on: u.createdOn,
      username: u.username,
      is_staff: false,
      account_status: 'active',
      // Recorded (2026): `has_2fa_enabled: null`, `location: null`.
      has_2fa_enabled: null,
      location: null,
    };
  }

  /** The workspace as embedded in memberships, projects and repositories. */
  workspaceEmbedded(): JsonObject {
    const w = this.ws.info;
    return this.cache('ws', 'embedded', () => ({
      type: 'workspace',
      uuid: w.uuid,
      name: w.name,
      slug: w.slug,
      links: {
        avatar: link(`${WEB}/workspaces/${w.slug}/avatar/?ts=1700000000`),
        html: link(`${WEB}/${w.slug}/`),
        self: link(`${this.api}/workspaces/${w.slug}`),
      },
    })).obj;
  }

  workspaceFull(): JsonObject {
    const w = this.ws.info;
    return {
      type: 'workspace',
      uuid: w.uuid,
      name: w.name,
      slug: w.slug,
      is_private: true,
      is_privacy_enforced: false,
      links: {
        avatar: link(`${WEB}/workspaces/${w.slug}/avatar/?ts=1700000000`),
        html: link(`${WEB}/${w.slug}/`),
        members: link(`${this.api}/workspaces/${w.slug}/members`),
        owners: link(`${this.api}/workspaces/${w.slug}/members?q=permission%3D%22owner%22`),
        projects: link(`${this.api}/workspaces/${w.slug}/projects`),
        repositories: link(`${this.api}/repositories/${w.slug}`),
        snippets: link(`${this.api}/snippets/${w.slug}`),
        self: link(`${this.api}/workspaces/${w.slug}`),
      },
      created_on: w.createdOn,
      forking_mode: 'internal_only',
    };
  }

  workspaceAccess(administrator: boolean): JsonObject {
    const w = this.ws.info;
    return {
      type: 'workspace_access',
      administrator,
      workspace: {
        type: 'workspace_base',
        uuid: w.uuid,
        slug: w.slug,
        links: { avatar: link(`${WEB}/workspaces/${w.slug}/avatar/`), self: link(`${this.api}/workspaces/${w.slug}`) },
      },
    };
  }

  /** The workspace as the legacy `team` owner of projects and repositories. */
  team(): JsonObject {
    const w = this.ws.info;
    return this.cache('ws', 'team', () => ({
      display_name: w.name,
      links: {
        self: link(`${this.api}/workspaces/${enc(w.uuid)}`),
        avatar: link(`${WEB}/account/${w.slug}/avatar/`),
        html: link(`${WEB}/${enc(w.uuid)}/`),
      },
      type: 'team',
      uuid: w.uuid,
      username: w.slug,
    })).obj;
  }

  /** `/workspaces/{ws}/members` (no role) or `/workspaces/{ws}/permissions` (with role). */
  membership(u: UserRec, withPermission: boolean): Cached {
    return this.cache(withPermission ? 'perm' : 'member', u.uuid, () => {
      const base: JsonObject = {
        type: 'workspace_membership',
        user: this.user(u).obj,
        workspace: this.workspaceEmbedded(),
        links: { self: link(`${this.api}/workspaces/${this.ws.info.slug}/members/${enc(u.uuid)}`) },
      };
      if (!withPermission) return base;
      // Recorded payloads: `added_on` without a timezone, `last_accessed` often null.
      return { ...base, permission: u.role, last_accessed: null, added_on: u.addedOn.slice(0, 23) };
    });
  }

  // ─── Projects and repositories ────────────────────────────────────────────────────────

  projectEmbedded(p: ProjectRec): JsonObject {
    return this.cache('projE', p.key, () => ({
      type: 'project',
      key: p.key,
      uuid: p.uuid,
      name: p.name,
      links: this.projectLinks(p),
    })).obj;
  }

  private projectLinks(p: ProjectRec): JsonObject {
    const w = this.ws.info.slug;
    return {
      html: link(`${WEB}/${w}/workspace/projects/${enc(p.key)}`),
      avatar: link(`${WEB}/${w}/workspace/projects/${enc(p.key)}/avatar/32?ts=1700000000`),
    };
  }

  project(p: ProjectRec): Cached {
    return this.cache('proj', p.key, () => ({
      type: 'project',
      owner: this.team(),
      workspace: this.workspaceEmbedded(),
      key: p.key,
      uuid: p.uuid,
      is_private: p.isPrivate,
      name: p.name,
      // Recorded (2026): a project created without a description sends `null`, not "".
      description: p.description === '' ? null : p.description,
      links: this.projectLinks(p),
      created_on: p.createdOn,
      updated_on: p.updatedOn,
      has_publicly_visible_repos: this.ws.reposInProject(p.key).some((r) => !r.isPrivate),
    }));
  }

  private repoLinks(r: RepoRec): JsonObject {
    const w = this.ws.info.slug;
    return {
      self: link(`${this.api}/repositories/${w}/${r.slug}`),
      html: link(`${WEB}/${w}/${r.slug}`),
      avatar: link(`https://bytebucket.org/ravatar/${enc(r.uuid)}?ts=default`),
    };
  }

  repoEmbedded(r: RepoRec): JsonObject {
    return this.cache('repoE', r.uuid, () => ({
      type: 'repository',
      full_name: `${this.ws.info.slug}/${r.slug}`,
      links: this.repoLinks(r),
      name: r.name,
      uuid: r.uuid,
    })).obj;
  }

  repo(r: RepoRec): Cached {
    const w = this.ws.info.slug;
    const project = this.ws.projectByKey.get(r.projectKey);
    return this.cache('repo', r.uuid, () => ({
      type: 'repository',
      full_name: `${w}/${r.slug}`,
      links: {
        ...this.repoLinks(r),
        pullrequests: link(`${this.api}/repositories/${w}/${r.slug}/pullrequests`),
        commits: link(`${this.api}/repositories/${w}/${r.slug}/commits`),
        forks: link(`${this.api}/repositories/${w}/${r.slug}/forks`),
        watchers: link(`${this.api}/repositories/${w}/${r.slug}/watchers`),
        downloads: link(`${this.api}/repositories/${w}/${r.slug}/downloads`),
        clone: [
          { name: 'https', href: `https://bitbucket.org/${w}/${r.slug}.git` },
          { name: 'ssh', href: `ssh://git@bitbucket.org/${w}/${r.slug}.git` },
        ],
        hooks: link(`${this.api}/repositories/${w}/${r.slug}/hooks`),
      },
      name: r.name,
      slug: r.slug,
      description: r.description,
      scm: 'git',
      website: null,
      owner: this.team(),
      workspace: this.workspaceEmbedded(),
      is_private: r.isPrivate,
      ...(project ? { project: this.projectEmbedded(project) } : {}),
      fork_policy: r.forkPolicy,
      // Recorded (2026): every repository that is not a fork sends `parent: null`.
      parent: null,
      created_on: r.createdOn,
      updated_on: r.updatedOn,
      size: r.size,
      language: r.language,
      uuid: r.uuid,
      mainbranch: { name: r.mainBranch, type: 'branch' },
      override_settings: { default_merge_strategy: true, branching_model: true },
      has_issues: r.hasIssues,
      has_wiki: r.hasWiki,
      enforced_signed_commits: null,
    }));
  }

  // ─── Groups and grants ────────────────────────────────────────────────────────────────

  groupEmbedded(g: GroupRec): JsonObject {
    const w = this.ws.info.slug;
    return this.cache('groupE', g.slug, () => ({
      type: 'group',
      name: g.name,
      slug: g.slug,
      full_slug: `${w}:${g.slug}`,
      links: {
        self: link(`${this.baseUrl}/1.0/groups/${w}/${g.slug}`),
        html: link(`${WEB}/${w}/workspace/settings/groups/${g.slug}`),
      },
      workspace: this.workspaceEmbedded(),
    })).obj;
  }

  repoUserGrant(r: RepoRec, u: UserRec, permission: RepoPermission): Cached {
    return this.cache('rug', `${r.uuid}|${u.uuid}`, () => ({
      type: 'repository_user_permission',
      permission,
      user: this.user(u).obj,
      repository: this.repoEmbedded(r),
      links: { self: link(`${this.api}/repositories/${this.ws.info.slug}/${r.slug}/permissions-config/users/${enc(u.accountId)}`) },
    }));
  }

  repoGroupGrant(r: RepoRec, g: GroupRec, permission: RepoPermission): Cached {
    return this.cache('rgg', `${r.uuid}|${g.slug}`, () => ({
      type: 'repository_group_permission',
      permission,
      group: this.groupEmbedded(g),
      repository: this.repoEmbedded(r),
      links: { self: link(`${this.api}/repositories/${this.ws.info.slug}/${r.slug}/permissions-config/groups/${g.slug}`) },
    }));
  }

  projectUserGrant(p: ProjectRec, u: UserRec, permission: ProjectPermission): Cached {
    return this.cache('pug', `${p.key}|${u.uuid}`, () => ({
      type: 'project_user_permission',
      permission,
      user: this.user(u).obj,
      project: this.projectEmbedded(p),
      links: { self: link(`${this.api}/workspaces/${this.ws.info.slug}/projects/${enc(p.key)}/permissions-config/users/${enc(u.accountId)}`) },
    }));
  }

  projectGroupGrant(p: ProjectRec, g: GroupRec, permission: ProjectPermission): Cached {
    return this.cache('pgg', `${p.key}|${g.slug}`, () => ({
      type: 'project_group_permission',
      permission,
      group: this.groupEmbedded(g),
      project: this.projectEmbedded(p),
      links: { self: link(`${this.api}/workspaces/${this.ws.info.slug}/projects/${enc(p.key)}/permissions-config/groups/${g.slug}`) },
    }));
  }

  repositoryPermission(u: UserRec, r: RepoRec, permission: RepoPermission): Cached {
    return this.cache('rp', `${r.uuid}|${u.uuid}`, () => ({
      type: 'repository_permission',
      user: this.user(u).obj,
      repository: this.repoEmbedded(r),
      permission,
    }));
  }

  // ─── Deploy keys ──────────────────────────────────────────────────────────────────────

  repoDeployKey(k: DeployKeyRec, r: RepoRec): Cached {
    const owner = this.ws.userByUuid.get(k.addedByUuid);
    return this.cache('rdk', String(k.id), () => ({
      id: k.id,
      key: k.key,
      label: k.label,
      type: 'deploy_key',
      created_on: k.createdOn,
      added_on: k.createdOn,
      // Never-used keys: Bitbucket sends `last_used: null`, the spec says date-time; we omit it.
      ...(k.lastUsed ? { last_used: k.lastUsed } : {}),
      comment: k.comment,
      repository: this.repoEmbedded(r),
      ...(owner ? { owner: this.user(owner).obj } : {}),
      links: { self: link(`${this.api}/repositories/${this.ws.info.slug}/${r.slug}/deploy-keys/${k.id}`) },
    }));
  }

  projectDeployKey(k: DeployKeyRec, p: ProjectRec): Cached {
    const creator = this.ws.userByUuid.get(k.addedByUuid);
    return this.cache('pdk', String(k.id), () => ({
      id: k.id,
      key: k.key,
      label: k.label,
      type: 'project_deploy_key',
      created_on: k.createdOn,
      added_on: k.createdOn,
      ...(k.lastUsed ? { last_used: k.lastUsed } : {}),
      comment: k.comment,
      project: this.projectEmbedded(p),
      ...(creator ? { created_by: this.user(creator).obj } : {}),
      links: { self: link(`${this.api}/workspaces/${this.ws.info.slug}/projects/${enc(p.key)}/deploy-keys/${k.id}`) },
    }));
  }

  // ─── API 1.0 ──────────────────────────────────────────────────────────────────────────

  /** 1.0 account objects (`/1.0/groups` members and owners). */
  private v1User(u: UserRec): JsonObject {
    return {
      display_name: u.displayName,
      account_id: u.accountId,
      is_team: false,
      is_staff: false,
      avatar: `${AVATARS}/${initials(u.displayName)}-1.png`,
      resource_uri: `/1.0/users/${enc(u.uuid)}`,
      nickname: u.nickname,
      uuid: u.uuid,
    };
  }

  private v1Team(): JsonObject {
    const w = this.ws.info;
    return { display_name: w.name, uuid: w.uuid, is_team: true, mention_id: null, avatar: `${WEB}/account/${w.slug}/avatar/`, nickname: w.slug, account_id: null, resource_uri: `/1.0/users/${w.slug}` };
  }

  v1Group(g: GroupRec): Cached {
    return this.cache('v1g', g.slug, () => ({
      name: g.name,
      permission: g.defaultPermission,
      auto_add: g.autoAdd,
      email_forwarding_disabled: g.emailForwardingDisabled,
      slug: g.slug,
      members: [...g.members].flatMap((uuid) => {
        const u = this.ws.userByUuid.get(uuid);
        return u ? [this.v1User(u)] : [];
      }),
      owner: this.v1Team(),
    }));
  }

  v1GroupPrivilege(r: RepoRec, g: GroupRec, privilege: RepoPermission): Cached {
    const w = this.ws.info.slug;
    return this.cache('v1gp', `${r.uuid}|${g.slug}`, () => ({
      repo: `${w}/${r.slug}`,
      privilege,
      group: {
        owner: this.v1Team(),
        name: g.name,
        members: this.v1Group(g).obj.members as Json,
        slug: g.slug,
      },
      repository: { owner: this.v1Team(), name: r.name, slug: r.slug },
    }));
  }
}

function initials(name: string): string {
  const letters = name
    .split(/\s+/)
    .map((w) => w.replace(/[^\p{L}\p{N}]/gu, '')[0] ?? '')
    .join('')
    .slice(0, 2)
    .toUpperCase();
  return encodeURIComponent(letters || 'X');
}
