/**
 * The Data Center streams as a table: what each lists, keyed how, per what scope, after which streams,
 * and what reading it takes. Streams never write; each yields normalized batches per scope, and the
 * engine infers removals only from scopes read completely.
 */
import type { Batch, Capabilities, CoverageGap, GrantRecord, PrincipalRecord, ResourceRecord, ResourceRef, Scope, StreamContext, StreamDeclaration } from '../../src/interfaces.ts';
import type { DcApi, DcListing } from './api.ts';
import { ALL_LICENSED_USERS_GROUP, ALL_LICENSED_USERS_NAME, INSTANCE_ID, PROJECT_PERMISSIONS, REPOSITORY_PERMISSIONS } from './model.ts';
import {
  type DcAccessKeyBody,
  type DcAccessTokenBody,
  type DcDetailedUserBody,
  type DcRepositoryBody,
  type DcUserBody,
  accessKeySchema,
  accessTokenSchema,
  applicationPropertiesSchema,
  detailedUserSchema,
  groupSchema,
  isoDate,
  permittedGroupSchema,
  permittedSchema,
  permittedUserSchema,
  projectSchema,
  repositorySchema,
} from './schemas.ts';

export interface DcStreamState {
  api: DcApi;
  /** Set by capability detection: whether the credential holds global ADMIN or SYS_ADMIN. */
  isAdmin: boolean | null;
  displayName: string | null;
}

/** What each kind of read takes, for coverage gaps and refusal advice. */
export const DC_REQUIREMENTS = {
  users: 'the LICENSED_USER global permission (any Bitbucket user)',
  globalPermissions: 'the ADMIN global permission (or SYS_ADMIN)',
  projectPermissions: 'PROJECT_ADMIN on the project, or the ADMIN global permission',
  repositoryPermissions: 'REPO_ADMIN on the repository, or PROJECT_ADMIN on its project, or the ADMIN global permission',
  userTokens: 'the ADMIN global permission (a user sees only their own HTTP access tokens)',
} as const;

const FIX = 'Use an HTTP access token of a user with the SYS_ADMIN (or ADMIN) global permission, created with project and repository permission Admin.';
const refused = (what: string, need: string): string => `The credential cannot read ${what}: it takes ${need}. ${FIX}`;

const instanceRef: ResourceRef = { kind: 'instance', externalId: INSTANCE_ID };
const userRef = (id: number) => ({ kind: 'user' as const, externalId: String(id) });
const groupRef = (name: string) => ({ kind: 'group' as const, externalId: name });

export function userRecord(u: DcUserBody | DcDetailedUserBody): PrincipalRecord {
  const d = u as DcDetailedUserBody;
  return {
    kind: 'user',
    externalId: String(u.id),
    displayName: u.displayName ?? u.name,
    handle: u.slug,
    accountId: null,
    attributes: {
      username: u.name,
      email: u.emailAddress ?? null,
      active: u.active ?? null,
      userType: u.type ?? null,
      ...(d.directoryName !== undefined ? { directory: d.directoryName ?? null } : {}),
      ...('lastAuthenticationTimestamp' in d ? { lastAuthentication: isoDate(d.lastAuthenticationTimestamp) } : {}),
    },
  };
}

const licensedGroupRecord: PrincipalRecord = { kind: 'group', externalId: ALL_LICENSED_USERS_GROUP, displayName: ALL_LICENSED_USERS_NAME, handle: null, attributes: { synthetic: true } };

function projectRecordOf(p: { id: number; key: string; name?: string | null; type?: string | null; public?: boolean | null; description?: string | null; owner?: DcUserBody | null }): ResourceRecord {
  const personal = p.type === 'PERSONAL';
  return {
    kind: personal ? 'personal-project' : 'project',
    externalId: String(p.id),
    name: p.name ?? p.key,
    handle: p.key,
    parent: instanceRef,
    attributes: { public: p.public === true, ...(personal && p.owner ? { ownerId: String(p.owner.id) } : {}) },
  };
}

function repositoryRecord(r: DcRepositoryBody): ResourceRecord {
  const parent = projectRecordOf(r.project);
  return {
    kind: 'repository',
    externalId: String(r.id),
    name: r.name,
    handle: `${r.project.key}/${r.slug}`,
    parent: { kind: parent.kind, externalId: parent.externalId },
    // Public access on the project reaches every repository in it ("Allowing public access to code").
    attributes: { projectKey: r.project.key, slug: r.slug, public: r.public === true, publicAccess: r.public === true || r.project.public === true, archived: r.archived === true },
  };
}

/*
 * One SSH access key may be added to several projects and repositories ("You can use the same SSH
 * system access key for multiple repositories or projects"), so no one listing owns the key: each
 * listing lists its grants (which it may remove) and only references the key, so dropping the key
 * from one repository can never remove it while another still holds it.
 */
const onLadder = (ladder: readonly string[], p: string): boolean => ladder.includes(p);
const higher = (ladder: readonly string[], a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : ladder.indexOf(a) >= ladder.indexOf(b) ? a : b);
const REPO_TO_PROJECT: Record<string, string> = { REPO_READ: 'PROJECT_READ', REPO_WRITE: 'PROJECT_WRITE', REPO_ADMIN: 'PROJECT_ADMIN' };

function keyRecord(k: DcAccessKeyBody): PrincipalRecord {
  const algorithm = k.key.algorithmType ?? null;
  return {
    kind: 'deploy_key',
    externalId: String(k.key.id),
    displayName: k.key.label ?? null,
    handle: null,
    attributes: {
      fingerprint: k.key.fingerprint ?? null,
      keyType: k.key.text?.trim().split(/\s+/)[0] ?? algorithm,
      comment: k.key.label ?? null,
      createdOn: isoDate(k.key.createdDate),
      lastUsed: isoDate(k.key.lastAuthenticated),
      key: k.key.text ?? null,
      permission: k.permission,
      writeAccess: k.permission.endsWith('_WRITE'),
      expiryDays: k.key.expiryDays ?? null,
    },
  };
}

function tokenRecord(t: DcAccessTokenBody, owner: string): PrincipalRecord {
  const expires = isoDate(t.expiryDate) ?? (t.expiryDays && t.createdDate ? isoDate(Date.parse(isoDate(t.createdDate) ?? '') + t.expiryDays * 86_400_000) : null);
  return {
    kind: 'access_token',
    externalId: t.id,
    displayName: t.name ?? null,
    handle: null,
    attributes: { owner, permissions: t.permissions ?? [], createdOn: isoDate(t.createdDate), lastUsed: isoDate(t.lastAuthenticated), expiresOn: expires, neverExpires: expires === null, ...(t.user ? { ownerUserId: String(t.user.id) } : {}) },
  };
}

/** Scopes one per live resource of `kind`, in a stable order. */
async function perResource(ctx: StreamContext, stream: string, kind: string, filter: (r: ResourceRecord) => boolean = () => true): Promise<Scope[]> {
  const all = await ctx.resources(kind);
  return all
    .filter((r) => r.handle && filter(r))
    .sort((a, b) => Number(a.externalId) - Number(b.externalId))
    .map((r) => ({ id: `${stream}:${r.externalId}`, stream, resource: { kind, externalId: r.externalId }, label: r.handle as string }));
}

const single = (stream: string, label: string): Scope[] => [{ id: stream, stream, resource: null, label }];

/** Path of a repository below `/rest/api/latest/projects/…`, from its scope label `KEY/slug`. */
const repoPath = (label: string): string => {
  const [key, ...slug] = label.split('/');
  return `${encodeURIComponent(key ?? '')}/repos/${encodeURIComponent(slug.join('/'))}`;
};

export function buildStreams(state: DcStreamState): StreamDeclaration[] {
  const api = state.api;
  const listing = <T>(ctx: StreamContext, spec: Omit<DcListing<T>, 'signal'>) => api.paginate({ ...spec, signal: ctx.signal });
  const adminOnly = (what: string, need: string) => (caps: Capabilities): CoverageGap | null =>
    caps.isWorkspaceAdmin === false ? { reason: `${what} needs ${need}; the credential's user does not hold it`, advice: FIX } : null;
  const open = (): CoverageGap | null => null;

  const stream = (d: Omit<StreamDeclaration, 'description'> & { description?: string }): StreamDeclaration => ({ description: d.name, ...d });

  return [
    stream({
      name: 'instance',
      description: 'the instance (root of projects and global permissions)',
      dependsOn: [],
      coverage: open,
      scopes: async () => single('instance', 'instance'),
      read: async function* (_scope, ctx) {
        const props = await api.getParsed(api.url('/api/latest/application-properties'), applicationPropertiesSchema, 'The application properties need no permission; check the base URL.', ctx.signal);
        const host = api.url('/').host;
        yield { resources: [{ kind: 'instance', externalId: INSTANCE_ID, name: props.displayName || host, handle: host, parent: null, attributes: { version: props.version ?? null } }] };
      },
    }),
    stream({
      name: 'users',
      description: 'users with active flag, directory and last authentication (admin/users)',
      dependsOn: ['instance'],
      coverage: open,
      scopes: async () => single('users', 'users'),
      read: async function* (_s, ctx) {
        for await (const page of listing(ctx, { path: '/api/latest/admin/users', item: detailedUserSchema, key: (u) => String(u.id), notPermitted: refused('users', DC_REQUIREMENTS.users) })) yield { principals: page.map(userRecord) };
      },
    }),
    stream({
      name: 'groups',
      dependsOn: ['users'],
      coverage: open,
      scopes: async () => single('groups', 'groups'),
      read: async function* (_s, ctx) {
        for await (const page of listing(ctx, { path: '/api/latest/admin/groups', item: groupSchema, key: (g) => g.name, notPermitted: refused('groups', DC_REQUIREMENTS.users) })) {
          yield { principals: page.map((g) => ({ kind: 'group' as const, externalId: g.name, displayName: g.name, handle: g.name })) };
        }
      },
    }),
    stream({
      name: 'group-members',
      dependsOn: ['groups'],
      coverage: open,
      scopes: async (ctx) =>
        (await ctx.principals('group'))
          .filter((g) => g.externalId !== ALL_LICENSED_USERS_GROUP)
          .sort((a, b) => (a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0))
          .map((g) => ({ id: `group-members:${g.externalId}`, stream: 'group-members', resource: null, label: g.externalId })),
      read: async function* (scope, ctx) {
        const group = scope.label;
        for await (const page of listing(ctx, { path: '/api/latest/admin/groups/more-members', query: { context: group }, item: detailedUserSchema, key: (u) => String(u.id), notPermitted: refused(`the members of group ${group}`, DC_REQUIREMENTS.users), notFound: `Group ${group} was deleted during the run; the next run reads the groups again.` })) {
          yield { referencedPrincipals: page.map(userRecord), memberships: page.map((u) => ({ group: groupRef(group), member: userRef(u.id) })) };
        }
      },
    }),
    stream({
      name: 'global-permissions',
      description: 'global permissions of users and groups, and who is licensed (the members of "all licensed users")',
      dependsOn: ['groups'],
      coverage: adminOnly('Global permissions', DC_REQUIREMENTS.globalPermissions),
      scopes: async () => single('global-permissions', 'global permissions'),
      read: async function* (_s, ctx) {
        const notPermitted = refused('global permissions', DC_REQUIREMENTS.globalPermissions);
        const licensed = new Map<number, DcUserBody>();
        const grants: GrantRecord[] = [];
        const users: PrincipalRecord[] = [];
        for await (const page of listing(ctx, { path: '/api/latest/admin/permissions/users', item: permittedUserSchema, key: (p) => String(p.user.id), notPermitted })) {
          for (const p of page) {
            if (!onLadder(['LICENSED_USER', 'PROJECT_CREATE', 'ADMIN', 'SYS_ADMIN'], p.permission)) continue;
            grants.push({ principal: userRef(p.user.id), resource: instanceRef, permission: p.permission });
            users.push(userRecord(p.user));
            licensed.set(p.user.id, p.user);
          }
        }
        const groups: string[] = [];
        for await (const page of listing(ctx, { path: '/api/latest/admin/permissions/groups', item: permittedGroupSchema, key: (p) => p.group.name, notPermitted })) {
          for (const p of page) {
            if (!onLadder(['LICENSED_USER', 'PROJECT_CREATE', 'ADMIN', 'SYS_ADMIN'], p.permission)) continue;
            grants.push({ principal: groupRef(p.group.name), resource: instanceRef, permission: p.permission });
            groups.push(p.group.name);
          }
        }
        // Licensed = holding any global permission, directly or through a group: read the members of
        // every group that holds one, in this scope, so "all licensed users" is complete or not at all.
        for (const group of groups) {
          for await (const page of listing(ctx, { path: '/api/latest/admin/groups/more-members', query: { context: group }, item: detailedUserSchema, key: (u) => String(u.id), notPermitted })) {
            for (const u of page) licensed.set(u.id, u);
          }
        }
        yield {
          referencedPrincipals: [...users, ...[...licensed.values()].map(userRecord), ...groups.map((g) => ({ kind: 'group' as const, externalId: g, displayName: g, handle: g }))],
          principals: [licensedGroupRecord],
          grants,
          memberships: [...licensed.keys()].map((id) => ({ group: groupRef(ALL_LICENSED_USERS_GROUP), member: userRef(id) })),
        };
      },
    }),
    stream({
      name: 'projects',
      dependsOn: ['instance'],
      lists: 'project',
      coverage: open,
      scopes: async () => single('projects', 'projects'),
      read: async function* (_s, ctx) {
        for await (const page of listing(ctx, { path: '/api/latest/projects', item: projectSchema, key: (p) => String(p.id), notPermitted: refused('projects', DC_REQUIREMENTS.users) })) {
          yield { resources: page.filter((p) => p.type !== 'PERSONAL').map(projectRecordOf) };
        }
      },
    }),
    stream({
      name: 'repositories',
      description: 'repositories, personal ones included, with public access; personal projects and their owners',
      dependsOn: ['projects'],
      lists: 'repository',
      coverage: open,
      scopes: async () => single('repositories', 'repositories'),
      read: async function* (_s, ctx) {
        const personal = new Set<string>();
        for await (const page of listing(ctx, { path: '/api/latest/repos', item: repositorySchema, key: (r) => String(r.id), notPermitted: refused('repositories', DC_REQUIREMENTS.users) })) {
          const referenced: ResourceRecord[] = [];
          const newPersonal: ResourceRecord[] = [];
          const owners: GrantRecord[] = [];
          const ownerUsers: PrincipalRecord[] = [];
          for (const r of page) {
            const p = projectRecordOf(r.project);
            if (p.kind !== 'personal-project') referenced.push(p);
            else if (!personal.has(p.externalId)) {
              personal.add(p.externalId);
              newPersonal.push(p);
              // The owner of a personal project administers its repositories.
              if (r.project.owner) {
                owners.push({ principal: userRef(r.project.owner.id), resource: { kind: 'personal-project', externalId: p.externalId }, permission: 'OWNER' });
                ownerUsers.push(userRecord(r.project.owner));
              }
            }
          }
          // Personal projects are listed here (the projects listing leaves them out), before their repositories.
          yield { referencedResources: referenced, referencedPrincipals: ownerUsers, resources: [...newPersonal, ...page.map(repositoryRecord)], grants: owners };
        }
      },
    }),
    stream({
      name: 'project-permissions',
      description: "project user and group permissions, and the project's default permission for all licensed users",
      dependsOn: ['projects', 'groups', 'global-permissions'],
      coverage: open,
      scopes: (ctx) => perResource(ctx, 'project-permissions', 'project'),
      read: async function* (scope, ctx) {
        const key = encodeURIComponent(scope.label);
        const project = scope.resource as ResourceRef;
        const notPermitted = refused(`the permissions of project ${scope.label}`, DC_REQUIREMENTS.projectPermissions);
        for await (const page of listing(ctx, { path: `/api/latest/projects/${key}/permissions/users`, item: permittedUserSchema, key: (p) => String(p.user.id), notPermitted })) {
          const ok = page.filter((p) => onLadder(PROJECT_PERMISSIONS, p.permission));
          yield { referencedPrincipals: ok.map((p) => userRecord(p.user)), grants: ok.map((p) => ({ principal: userRef(p.user.id), resource: project, permission: p.permission })) };
        }
        for await (const page of listing(ctx, { path: `/api/latest/projects/${key}/permissions/groups`, item: permittedGroupSchema, key: (p) => p.group.name, notPermitted })) {
          const ok = page.filter((p) => onLadder(PROJECT_PERMISSIONS, p.permission));
          yield { referencedPrincipals: ok.map((p) => ({ kind: 'group' as const, externalId: p.group.name, displayName: p.group.name, handle: p.group.name })), grants: ok.map((p) => ({ principal: groupRef(p.group.name), resource: project, permission: p.permission })) };
        }
        // The default permission is PROJECT_READ or PROJECT_WRITE: ask the higher first.
        for (const permission of ['PROJECT_WRITE', 'PROJECT_READ']) {
          const { permitted } = await api.getParsed(api.url(`/api/latest/projects/${key}/permissions/${permission}/all`), permittedSchema, notPermitted, ctx.signal);
          if (permitted) {
            yield { referencedPrincipals: [licensedGroupRecord], grants: [{ principal: groupRef(ALL_LICENSED_USERS_GROUP), resource: project, permission }] };
            break;
          }
        }
      },
    }),
    stream({
      name: 'repository-permissions',
      dependsOn: ['repositories', 'groups'],
      coverage: open,
      scopes: (ctx) => perResource(ctx, 'repository-permissions', 'repository'),
      read: async function* (scope, ctx) {
        const repo = scope.resource as ResourceRef;
        const notPermitted = refused(`the permissions of repository ${scope.label}`, DC_REQUIREMENTS.repositoryPermissions);
        for await (const page of listing(ctx, { path: `/api/latest/projects/${repoPath(scope.label)}/permissions/users`, item: permittedUserSchema, key: (p) => String(p.user.id), notPermitted })) {
          const ok = page.filter((p) => onLadder(REPOSITORY_PERMISSIONS, p.permission));
          yield { referencedPrincipals: ok.map((p) => userRecord(p.user)), grants: ok.map((p) => ({ principal: userRef(p.user.id), resource: repo, permission: p.permission })) };
        }
        for await (const page of listing(ctx, { path: `/api/latest/projects/${repoPath(scope.label)}/permissions/groups`, item: permittedGroupSchema, key: (p) => p.group.name, notPermitted })) {
          const ok = page.filter((p) => onLadder(REPOSITORY_PERMISSIONS, p.permission));
          yield { referencedPrincipals: ok.map((p) => ({ kind: 'group' as const, externalId: p.group.name, displayName: p.group.name, handle: p.group.name })), grants: ok.map((p) => ({ principal: groupRef(p.group.name), resource: repo, permission: p.permission })) };
        }
      },
    }),
    stream({
      name: 'project-access-keys',
      description: 'SSH access keys of projects (read or write on every repository in the project)',
      dependsOn: ['projects'],
      coverage: open,
      scopes: (ctx) => perResource(ctx, 'project-access-keys', 'project'),
      read: async function* (scope, ctx) {
        const project = scope.resource as ResourceRef;
        for await (const page of listing(ctx, { path: `/keys/latest/projects/${encodeURIComponent(scope.label)}/ssh`, item: accessKeySchema, key: (k) => String(k.key.id), notPermitted: refused(`the access keys of project ${scope.label}`, DC_REQUIREMENTS.projectPermissions) })) {
          const ok = page.filter((k) => onLadder(PROJECT_PERMISSIONS, k.permission));
          yield { referencedPrincipals: ok.map(keyRecord), grants: ok.map((k) => ({ principal: { kind: 'deploy_key' as const, externalId: String(k.key.id) }, resource: project, permission: k.permission })) };
        }
      },
    }),
    stream({
      name: 'repository-access-keys',
      description: 'SSH access keys of repositories (read or write)',
      dependsOn: ['repositories'],
      coverage: open,
      scopes: (ctx) => perResource(ctx, 'repository-access-keys', 'repository'),
      read: async function* (scope, ctx) {
        const repo = scope.resource as ResourceRef;
        for await (const page of listing(ctx, { path: `/keys/latest/projects/${repoPath(scope.label)}/ssh`, item: accessKeySchema, key: (k) => String(k.key.id), notPermitted: refused(`the access keys of repository ${scope.label}`, DC_REQUIREMENTS.repositoryPermissions) })) {
          const ok = page.filter((k) => onLadder(REPOSITORY_PERMISSIONS, k.permission));
          yield { referencedPrincipals: ok.map(keyRecord), grants: ok.map((k) => ({ principal: { kind: 'deploy_key' as const, externalId: String(k.key.id) }, resource: repo, permission: k.permission })) };
        }
      },
    }),
    stream({
      name: 'project-access-tokens',
      description: 'HTTP access tokens of projects, with permissions, creation, expiry and last use',
      dependsOn: ['projects'],
      coverage: open,
      scopes: (ctx) => perResource(ctx, 'project-access-tokens', 'project'),
      read: async function* (scope, ctx) {
        const project = scope.resource as ResourceRef;
        for await (const page of listing(ctx, { path: `/access-tokens/latest/projects/${encodeURIComponent(scope.label)}`, item: accessTokenSchema, key: (t) => t.id, notPermitted: refused(`the HTTP access tokens of project ${scope.label}`, DC_REQUIREMENTS.projectPermissions) })) {
          const grants: GrantRecord[] = [];
          for (const t of page) {
            // A project token reaches every repository in the project: its project permission, or its
            // repository permission lifted to the project ladder, whichever is higher.
            let p: string | null = null;
            for (const x of t.permissions ?? []) p = higher(PROJECT_PERMISSIONS, p, onLadder(PROJECT_PERMISSIONS, x) ? x : (REPO_TO_PROJECT[x] ?? null));
            if (p) grants.push({ principal: { kind: 'access_token', externalId: t.id }, resource: project, permission: p });
          }
          yield { principals: page.map((t) => tokenRecord(t, `project ${scope.label}`)), grants };
        }
      },
    }),
    stream({
      name: 'repository-access-tokens',
      dependsOn: ['repositories'],
      coverage: open,
      scopes: (ctx) => perResource(ctx, 'repository-access-tokens', 'repository'),
      read: async function* (scope, ctx) {
        const repo = scope.resource as ResourceRef;
        for await (const page of listing(ctx, { path: `/access-tokens/latest/projects/${repoPath(scope.label)}`, item: accessTokenSchema, key: (t) => t.id, notPermitted: refused(`the HTTP access tokens of repository ${scope.label}`, DC_REQUIREMENTS.repositoryPermissions) })) {
          const grants: GrantRecord[] = [];
          for (const t of page) {
            let p: string | null = null;
            for (const x of t.permissions ?? []) if (onLadder(REPOSITORY_PERMISSIONS, x)) p = higher(REPOSITORY_PERMISSIONS, p, x);
            if (p) grants.push({ principal: { kind: 'access_token', externalId: t.id }, resource: repo, permission: p });
          }
          yield { principals: page.map((t) => tokenRecord(t, `repository ${scope.label}`)), grants };
        }
      },
    }),
    stream({
      name: 'user-access-tokens',
      description: "users' personal HTTP access tokens (each acts as its user, within its permissions)",
      dependsOn: ['users'],
      coverage: adminOnly("Other users' HTTP access tokens", DC_REQUIREMENTS.userTokens),
      scopes: async (ctx) =>
        (await ctx.principals('user'))
          .filter((u) => u.handle)
          .sort((a, b) => Number(a.externalId) - Number(b.externalId))
          .map((u) => ({ id: `user-access-tokens:${u.externalId}`, stream: 'user-access-tokens', resource: null, label: u.handle as string })),
      read: async function* (scope, ctx) {
        for await (const page of listing(ctx, { path: `/access-tokens/latest/users/${encodeURIComponent(scope.label)}`, item: accessTokenSchema, key: (t) => t.id, notPermitted: refused(`the HTTP access tokens of ${scope.label}`, DC_REQUIREMENTS.userTokens), notFound: `User ${scope.label} was deleted or renamed during the run.` })) {
          // A personal token authenticates as its user: recorded as a licensed-user credential on the
          // instance (its project and repository reach is its owner's, capped at its permissions).
          yield {
            principals: page.map((t) => tokenRecord(t, `user ${scope.label}`)),
            grants: page.map((t) => ({ principal: { kind: 'access_token' as const, externalId: t.id }, resource: instanceRef, permission: 'LICENSED_USER' })),
          };
        }
      },
    }),
  ];
}

export type { Batch };
