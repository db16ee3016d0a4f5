import { z } from 'zod';
import { ConnectorError } from '../../src/errors.ts';
import type {
  Batch,
  Capabilities,
  CoverageGap,
  GrantRecord,
  PrincipalRecord,
  ResourceKind,
  ResourceRecord,
  ResourceRef,
  Scope,
  StreamContext,
  StreamDeclaration,
} from '../../src/interfaces.ts';
import type { Logger } from '../../src/log.ts';
import type { BitbucketApi, EndpointAdvice } from './api.ts';
import type { ProjectPermission, RepositoryPermission } from './model.ts';
import { gapFor, REQUIREMENTS, type Detection, type Requirement } from './capabilities.ts';
import {
  addUnique,
  deployKeyRecord,
  groupRecord,
  projectRecord,
  projectRefRecord,
  repositoryRecord,
  repositorySlug,
  user1Record,
  userRecord,
  workspaceRecord,
} from './normalize.ts';
import {
  deployKeySchema,
  group1Schema,
  groupPrivilege1Schema,
  projectGroupPermissionSchema,
  projectSchema,
  projectUserPermissionSchema,
  repositoryGroupPermissionSchema,
  repositoryPermissionSchema,
  repositorySchema,
  repositoryUserPermissionSchema,
  workspaceMemberSchema,
  workspaceMembershipSchema,
  workspaceSchema,
} from './schemas.ts';

/**
 * Largest page size per endpoint. Bitbucket caps `pagelen` at 100 ("Globally, the minimum length is
 * 10 and the maximum is 100"); none of the endpoints Roster reads documents a different cap.
 */
export const PAGELEN = {
  workspacePermissions: 100,
  workspaceMembers: 100,
  projects: 100,
  projectPermissions: 100,
  projectDeployKeys: 100,
  repositories: 100,
  repositoryPermissions: 100,
  repositoryDeployKeys: 100,
  reportedAccess: 100,
} as const;

/**
 * `fields=` removals: they trim embedded links and objects Roster does not read, cost nothing, and
 * leave the envelope (`next`, `values`) untouched even where a server ignores them.
 */
export const FIELDS = {
  workspacePermissions: '-values.links,-values.user.links,-values.workspace.links',
  workspaceMembers: '-values.links,-values.user.links,-values.workspace.links',
  projects: '-values.links,-values.owner,-values.workspace.links',
  userPermissions: '-values.links,-values.user.links,-values.repository,-values.project',
  groupPermissions: '-values.links,-values.group.links,-values.group.owner,-values.group.workspace,-values.repository,-values.project',
  deployKeys: '-values.links,-values.repository,-values.project,-values.owner.links,-values.created_by.links',
  repositories: '-values.links,-values.owner,-values.workspace.links,-values.project.links,-values.mainbranch,-values.override_settings',
  reportedAccess: '-values.links,-values.user.links,-values.repository.links',
} as const;

// Stream descriptions are short human labels (the engine shows them in "not covered" summaries);
// the endpoints each stream reads are listed in README.md.
export interface StreamState {
  api: BitbucketApi;
  workspace: string;
  detection: Detection | null;
  logger: Logger | undefined;
  /** Handles (project key / repository slug) by uuid, from scope enumeration or a lookup. */
  handles: Map<string, string>;
  trimFields: boolean;
}

// ─── Helpers ──────────────────────────────────────────────────────────────────────────────────

function fields(state: StreamState, value: string): Record<string, string> {
  return state.trimFields ? { fields: value } : {};
}

function advice(what: Requirement, gapAdvice: string, notFound?: string): EndpointAdvice {
  return {
    forbidden: `The credential cannot read ${what.what} here (missing scope or admin rights). To cover it, ${gapAdvice}`,
    notFound,
  };
}

function fixFor(req: Requirement): string {
  return `use an Atlassian API token of a workspace admin with ${req.apiToken.join(', ')}, or an OAuth consumer with ${req.oauth.join(', ') || 'no extra scope'}.`;
}

async function workspaceRef(state: StreamState, ctx: StreamContext): Promise<ResourceRef | null> {
  const known = state.detection?.workspaceUuid ?? state.detection?.workspace?.uuid;
  if (known) return { kind: 'workspace', externalId: known };
  const all = await ctx.resources('workspace');
  const match = all.find((r) => r.handle?.toLowerCase() === state.workspace.toLowerCase()) ?? (all.length === 1 ? all[0] : undefined);
  if (match && state.detection) state.detection.workspaceUuid = match.externalId;
  return match ? { kind: 'workspace', externalId: match.externalId } : null;
}

/** Per-resource scopes: one per live project or repository, in a stable order. */
async function perResourceScopes(state: StreamState, ctx: StreamContext, stream: string, kind: 'project' | 'repository'): Promise<Scope[]> {
  const resources = await ctx.resources(kind);
  const scopes: Scope[] = [];
  for (const r of [...resources].sort((a, b) => (a.handle ?? a.externalId).localeCompare(b.handle ?? b.externalId))) {
    // Projects are addressed by key; repositories by uuid, so for them the slug is only a label.
    if (!r.handle && kind === 'project') continue;
    if (r.handle) state.handles.set(`${kind}:${r.externalId}`, r.handle);
    scopes.push({ id: `${stream}:${r.externalId}`, stream, resource: { kind, externalId: r.externalId }, label: `${state.workspace}/${r.handle ?? r.externalId}` });
  }
  return scopes;
}

/** The key or slug to put in the URL for a per-resource scope (looked up again after a resume). */
async function handleOf(state: StreamState, ctx: StreamContext, scope: Scope, kind: 'project' | 'repository'): Promise<string> {
  const uuid = scope.resource?.externalId;
  if (!uuid || scope.resource?.kind !== kind) throw new ConnectorError('internal', `Scope ${scope.id} has no ${kind}`, { endpoint: '' });
  let handle = state.handles.get(`${kind}:${uuid}`);
  if (!handle) {
    for (const r of await ctx.resources(kind)) if (r.handle) state.handles.set(`${kind}:${r.externalId}`, r.handle);
    handle = state.handles.get(`${kind}:${uuid}`);
  }
  if (!handle) {
    throw new ConnectorError('not_found', `The ${kind} ${uuid} of scope ${scope.id} is no longer known`, {
      endpoint: '',
      advice: 'It was removed since the scope was planned; the next run no longer lists it.',
    });
  }
  return handle;
}

interface RepositoryListing<T> {
  /** Path segments after the repository, e.g. `['permissions-config', 'users']`. */
  path: readonly string[];
  fields: string;
  pagelen: number;
  item: z.ZodType<T>;
  key: (item: T) => string;
  requirement: Requirement;
  toBatch: (page: T[], repository: ResourceRef) => Batch;
}

/**
 * One per-repository listing, addressed by the repository's `{uuid}` (Bitbucket takes it in place of
 * the slug), so a rename or a move between projects since the scope was planned does not break it.
 *
 * A 404 is checked against the repository itself: when its uuid no longer resolves either, the
 * repository is gone — the scope ends cleanly and says so, and the run removes the repository with
 * what it held (an incremental run's filtered listing can never show a deletion). Any other 404 fails
 * the scope. Pages are held until the listing ends (these are short), so a repository deleted between
 * two pages leaves nothing half-read.
 */
async function* repositoryListing<T>(state: StreamState, ctx: StreamContext, scope: Scope, spec: RepositoryListing<T>): AsyncGenerator<Batch> {
  const repository = scope.resource;
  if (!repository || repository.kind !== 'repository') throw new ConnectorError('internal', `Scope ${scope.id} has no repository`, { endpoint: '' });
  const { api, workspace: ws } = state;
  const batches: Batch[] = [];
  try {
    const pages = api.paginate({
      segments: ['2.0', 'repositories', ws, repository.externalId, ...spec.path],
      query: fields(state, spec.fields),
      pagelen: spec.pagelen,
      item: spec.item,
      key: spec.key,
      advice: advice(spec.requirement, fixFor(spec.requirement), `Repository ${scope.label} (${repository.externalId}) was not found although it still exists: the credential may have lost access to it during the run.`),
      signal: ctx.signal,
    });
    for await (const page of pages) batches.push(spec.toBatch(page, repository));
  } catch (error) {
    if (!(error instanceof ConnectorError) || error.code !== 'not_found') throw error;
    const url = api.url(['2.0', 'repositories', ws, repository.externalId], { fields: 'uuid' });
    const check = await api.getRaw(url, ctx.signal);
    if (check.status !== 404) throw error;
    yield { goneResources: [{ kind: 'repository', externalId: repository.externalId, evidence: `${error.endpoint || 'its listing'} and GET ${api.endpointOf(url)} answered 404: the repository was deleted or moved out of workspace ${ws}` }] };
    return;
  }
  yield* batches;
}

function projectPermission(p: string): ProjectPermission | null {
  return p === 'none' ? null : (p as ProjectPermission);
}
function repositoryPermission(p: string): RepositoryPermission | null {
  return p === 'none' ? null : (p as RepositoryPermission);
}

function simpleScope(id: string, label: string, filtered = false): Scope {
  return filtered ? { id, stream: id, resource: null, label, filtered } : { id, stream: id, resource: null, label };
}

/**
 * Project and repository access tokens see only the project or repository they are bound to, so
 * their workspace-wide listings are partial by construction: marked filtered, they refresh what they
 * list and never make the engine remove what they cannot see.
 */
function narrowlyBound(capabilities: Capabilities): boolean {
  return capabilities.credentialKind === 'project-access-token' || capabilities.credentialKind === 'repository-access-token';
}

/**
 * Whether the workspace-wide listings (projects, repositories) may be partial: a narrowly bound
 * token, or an account not known to be a workspace admin (it lists only what it can read). Such a
 * listing is marked filtered so that nothing it cannot see is inferred removed.
 */
function partialView(capabilities: Capabilities): boolean {
  if (narrowlyBound(capabilities)) return true;
  if (capabilities.credentialKind === 'workspace-access-token') return false;
  return capabilities.isWorkspaceAdmin !== true;
}

function requireGap(capabilities: Capabilities, req: Requirement, workspace: string): CoverageGap | null {
  return gapFor(capabilities, req, workspace);
}

/** Incremental listings look back this much further than `since`, for clock skew with the source. */
export const SINCE_MARGIN_MS = 10 * 60_000;

/** BBQL datetimes are unquoted ISO-8601 with an explicit offset. */
export function bbqlDate(date: Date): string {
  return date.toISOString().replace(/Z$/, '+00:00');
}

// ─── Streams ──────────────────────────────────────────────────────────────────────────────────

export function buildStreams(state: StreamState): StreamDeclaration[] {
  const ws = state.workspace;
  const api = state.api;

  const workspaceStream: StreamDeclaration = {
    name: 'workspace',
    description: 'the workspace',
    dependsOn: [],
    lists: 'workspace',
    coverage(capabilities) {
      const gap = requireGap(capabilities, REQUIREMENTS.workspace, ws);
      if (gap) return gap;
      if (state.detection && state.detection.workspace === null && state.detection.workspaceForbidden) {
        return {
          reason: `The ${capabilities.credentialKind.replace(/-/g, ' ')} cannot read workspace "${ws}" itself`,
          advice: `Use a workspace access token, or ${fixFor(REQUIREMENTS.workspace)}`,
        };
      }
      return null;
    },
    scopes: () => Promise.resolve([simpleScope('workspace', ws)]),
    async *read(_scope, ctx) {
      // Capability detection may already have fetched it (access tokens); use that body once.
      let body = state.detection?.workspace ?? null;
      if (state.detection) state.detection.workspace = null;
      if (!body) {
        body = await api.getParsed(api.url(['2.0', 'workspaces', ws]), workspaceSchema, advice(REQUIREMENTS.workspace, fixFor(REQUIREMENTS.workspace), `Workspace "${ws}" does not exist or this credential cannot see it. Check the workspace slug.`), ctx.signal);
      }
      if (state.detection) state.detection.workspaceUuid = body.uuid;
      yield { resources: [workspaceRecord(body)] };
    },
  };

  const membersStream: StreamDeclaration = {
    name: 'members',
    description: 'workspace members and their roles',
    dependsOn: ['workspace'],
    coverage(capabilities) {
      const roles = requireGap(capabilities, REQUIREMENTS.workspacePermissions, ws);
      if (!roles) return null;
      const list = requireGap(capabilities, REQUIREMENTS.workspaceMembers, ws);
      if (!list) return null;
      if (capabilities.credentialKind === 'workspace-access-token') {
        return {
          reason: 'Workspace access tokens cannot read workspace roles, and this one lacks the account scope it would need to list members',
          advice: `${roles.advice.replace(/\.?$/, '.')} (A workspace access token with account lists members, without their roles.)`,
        };
      }
      return roles;
    },
    scopes(ctx) {
      const withRoles = requireGap(ctx.capabilities, REQUIREMENTS.workspacePermissions, ws) === null;
      return Promise.resolve([simpleScope(withRoles ? 'workspace-members' : 'workspace-member-list', withRoles ? `${ws} members and roles` : `${ws} members`)].map((s) => ({ ...s, stream: 'members' })));
    },
    async *read(scope, ctx) {
      const wsRef = await workspaceRef(state, ctx);
      if (scope.id === 'workspace-members') {
        const pages = api.paginate({
          segments: ['2.0', 'workspaces', ws, 'permissions'],
          query: fields(state, FIELDS.workspacePermissions),
          pagelen: PAGELEN.workspacePermissions,
          item: workspaceMembershipSchema,
          key: (m) => m.user.uuid,
          advice: advice(REQUIREMENTS.workspacePermissions, fixFor(REQUIREMENTS.workspacePermissions)),
          signal: ctx.signal,
        });
        for await (const page of pages) {
          const principals = page.map((m) => userRecord(m.user));
          const grants: GrantRecord[] = [];
          for (const m of page) {
            const target = m.workspace?.uuid ? { kind: 'workspace' as const, externalId: m.workspace.uuid } : wsRef;
            if (!target) throw new ConnectorError('internal', 'The workspace uuid is unknown: the workspace stream must run first', { endpoint: `/2.0/workspaces/${ws}/permissions` });
            grants.push({ principal: { kind: 'user', externalId: m.user.uuid }, resource: target, permission: m.permission });
          }
          yield { principals, grants };
        }
        return;
      }
      const pages = api.paginate({
        segments: ['2.0', 'workspaces', ws, 'members'],
        query: fields(state, FIELDS.workspaceMembers),
        pagelen: PAGELEN.workspaceMembers,
        item: workspaceMemberSchema,
        key: (m) => m.user.uuid,
        advice: advice(REQUIREMENTS.workspaceMembers, fixFor(REQUIREMENTS.workspaceMembers)),
        signal: ctx.signal,
      });
      for await (const page of pages) yield { principals: page.map((m) => userRecord(m.user)) };
    },
  };

  const groupsStream: StreamDeclaration = {
    name: 'groups',
    description: 'groups and their members',
    dependsOn: ['workspace'],
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.groups, ws),
    scopes: () => Promise.resolve([{ ...simpleScope('groups', `${ws} groups`), stream: 'groups' }]),
    async *read(_scope, ctx) {
      const url = api.url(['1.0', 'groups', ws, '']);
      const groups = await api.getParsed(url, z.array(group1Schema), advice(REQUIREMENTS.groups, fixFor(REQUIREMENTS.groups)), ctx.signal);
      const slugs = new Set<string>();
      for (const g of groups) {
        if (slugs.has(g.slug)) {
          throw new ConnectorError('page_loop', `GET ${api.endpointOf(url)} listed group ${g.slug} twice`, { endpoint: api.endpointOf(url), httpStatus: 200, retryable: true, advice: 'Nothing from this scope was revoked. The next run retries.' });
        }
        slugs.add(g.slug);
      }
      // Chunks keep batches small in workspaces with thousands of groups.
      for (let i = 0; i < groups.length || i === 0; i += 100) {
        const chunk = groups.slice(i, i + 100);
        const referenced: PrincipalRecord[] = [];
        const seen = new Set<string>();
        const memberships = [];
        for (const g of chunk) {
          for (const m of g.members) {
            addUnique(referenced, seen, user1Record(m));
            memberships.push({ group: { kind: 'group' as const, externalId: g.slug }, member: { kind: 'user' as const, externalId: m.uuid } });
          }
        }
        const principals = chunk.map((g) => ({ ...groupRecord(g), attributes: { defaultPermission: g.permission ?? null, autoAdd: g.auto_add ?? null } }));
        yield { principals, memberships, referencedPrincipals: referenced };
        if (groups.length === 0) break;
      }
    },
  };

  const projectsStream: StreamDeclaration = {
    name: 'projects',
    description: 'projects',
    dependsOn: ['workspace'],
    lists: 'project',
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.projects, ws),
    scopes: (ctx) => Promise.resolve([simpleScope('projects', `${ws} projects`, partialView(ctx.capabilities))]),
    async *read(_scope, ctx) {
      const wsRef = await workspaceRef(state, ctx);
      const pages = api.paginate({
        segments: ['2.0', 'workspaces', ws, 'projects'],
        query: fields(state, FIELDS.projects),
        pagelen: PAGELEN.projects,
        item: projectSchema,
        key: (p) => p.uuid,
        advice: advice(REQUIREMENTS.projects, fixFor(REQUIREMENTS.projects)),
        signal: ctx.signal,
      });
      for await (const page of pages) {
        yield {
          resources: page.map((p) => {
            state.handles.set(`project:${p.uuid}`, p.key);
            return projectRecord(p, p.workspace?.uuid ? { kind: 'workspace', externalId: p.workspace.uuid } : wsRef);
          }),
        };
      }
    },
  };

  const projectUserPermissions: StreamDeclaration = {
    name: 'project-user-permissions',
    description: 'user permissions on projects',
    dependsOn: ['projects'],
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.projectPermissions, ws),
    scopes: (ctx) => perResourceScopes(state, ctx, 'project-user-permissions', 'project'),
    async *read(scope, ctx) {
      const key = await handleOf(state, ctx, scope, 'project');
      const project = scope.resource as ResourceRef;
      const pages = api.paginate({
        segments: ['2.0', 'workspaces', ws, 'projects', key, 'permissions-config', 'users'],
        query: fields(state, FIELDS.userPermissions),
        pagelen: PAGELEN.projectPermissions,
        item: projectUserPermissionSchema,
        key: (p) => p.user.uuid,
        advice: advice(REQUIREMENTS.projectPermissions, fixFor(REQUIREMENTS.projectPermissions), `Project ${key} was not found: it was deleted or its key changed during the run.`),
        signal: ctx.signal,
      });
      for await (const page of pages) {
        const grants: GrantRecord[] = [];
        for (const p of page) {
          const permission = projectPermission(p.permission);
          if (permission) grants.push({ principal: { kind: 'user', externalId: p.user.uuid }, resource: project, permission });
        }
        yield { grants, referencedPrincipals: page.map((p) => userRecord(p.user)) };
      }
    },
  };

  const projectGroupPermissions: StreamDeclaration = {
    name: 'project-group-permissions',
    description: 'group permissions on projects',
    dependsOn: ['projects'],
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.projectPermissions, ws),
    scopes: (ctx) => perResourceScopes(state, ctx, 'project-group-permissions', 'project'),
    async *read(scope, ctx) {
      const key = await handleOf(state, ctx, scope, 'project');
      const project = scope.resource as ResourceRef;
      const pages = api.paginate({
        segments: ['2.0', 'workspaces', ws, 'projects', key, 'permissions-config', 'groups'],
        query: fields(state, FIELDS.groupPermissions),
        pagelen: PAGELEN.projectPermissions,
        item: projectGroupPermissionSchema,
        key: (p) => p.group.slug,
        advice: advice(REQUIREMENTS.projectPermissions, fixFor(REQUIREMENTS.projectPermissions), `Project ${key} was not found: it was deleted or its key changed during the run.`),
        signal: ctx.signal,
      });
      for await (const page of pages) {
        const grants: GrantRecord[] = [];
        for (const p of page) {
          const permission = projectPermission(p.permission);
          if (permission) grants.push({ principal: { kind: 'group', externalId: p.group.slug }, resource: project, permission });
        }
        yield { grants, referencedPrincipals: page.map((p) => groupRecord(p.group)) };
      }
    },
  };

  const projectDeployKeys: StreamDeclaration = {
    name: 'project-deploy-keys',
    description: 'project deploy keys',
    dependsOn: ['projects'],
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.projectDeployKeys, ws),
    scopes: (ctx) => perResourceScopes(state, ctx, 'project-deploy-keys', 'project'),
    async *read(scope, ctx) {
      const key = await handleOf(state, ctx, scope, 'project');
      const project = scope.resource as ResourceRef;
      const pages = api.paginate({
        segments: ['2.0', 'workspaces', ws, 'projects', key, 'deploy-keys'],
        query: fields(state, FIELDS.deployKeys),
        pagelen: PAGELEN.projectDeployKeys,
        item: deployKeySchema,
        key: (k) => String(k.id),
        advice: advice(REQUIREMENTS.projectDeployKeys, fixFor(REQUIREMENTS.projectDeployKeys), `Project ${key} was not found: it was deleted or its key changed during the run.`),
        signal: ctx.signal,
      });
      for await (const page of pages) {
        yield {
          principals: page.map(deployKeyRecord),
          grants: page.map((k) => ({ principal: { kind: 'deploy_key' as const, externalId: String(k.id) }, resource: project, permission: 'read' as const })),
        };
      }
    },
  };

  const repositoriesStream: StreamDeclaration = {
    name: 'repositories',
    description: 'repositories',
    dependsOn: ['workspace'],
    lists: 'repository',
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.repositories, ws),
    scopes(ctx) {
      const scope: Scope = { id: 'repositories', stream: 'repositories', resource: null, label: `${ws} repositories` };
      // An incremental listing refreshes what changed but cannot show what was deleted: filtered.
      if (ctx.since || partialView(ctx.capabilities)) scope.filtered = true;
      return Promise.resolve([scope]);
    },
    async *read(scope, ctx) {
      const wsRef = await workspaceRef(state, ctx);
      const query: Record<string, string> = { ...fields(state, FIELDS.repositories) };
      if (ctx.since) query.q = `updated_on > ${bbqlDate(new Date(ctx.since.getTime() - SINCE_MARGIN_MS))}`;
      const pages = api.paginate({
        segments: ['2.0', 'repositories', ws],
        query,
        pagelen: PAGELEN.repositories,
        item: repositorySchema,
        key: (r) => r.uuid,
        advice: advice(REQUIREMENTS.repositories, fixFor(REQUIREMENTS.repositories)),
        signal: ctx.signal,
      });
      for await (const page of pages) {
        const resources: ResourceRecord[] = [];
        const referencedResources: ResourceRecord[] = [];
        const seen = new Set<string>();
        for (const r of page) {
          const parentWs = r.workspace?.uuid ? { kind: 'workspace' as const, externalId: r.workspace.uuid } : wsRef;
          const record = repositoryRecord(r, parentWs);
          if (record.handle) state.handles.set(`repository:${r.uuid}`, record.handle);
          resources.push(record);
          if (r.project) addUnique(referencedResources, seen, projectRefRecord(r.project, parentWs));
        }
        yield { resources, referencedResources };
      }
    },
  };

  const repositoryUserPermissions: StreamDeclaration = {
    name: 'repository-user-permissions',
    description: 'user permissions on repositories',
    dependsOn: ['repositories'],
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.repositoryPermissions, ws),
    scopes: (ctx) => perResourceScopes(state, ctx, 'repository-user-permissions', 'repository'),
    read: (scope, ctx) =>
      repositoryListing(state, ctx, scope, {
        path: ['permissions-config', 'users'],
        fields: FIELDS.userPermissions,
        pagelen: PAGELEN.repositoryPermissions,
        item: repositoryUserPermissionSchema,
        key: (p) => p.user.uuid,
        requirement: REQUIREMENTS.repositoryPermissions,
        toBatch: (page, repo) => {
          const grants: GrantRecord[] = [];
          for (const p of page) {
            const permission = repositoryPermission(p.permission);
            if (permission) grants.push({ principal: { kind: 'user', externalId: p.user.uuid }, resource: repo, permission });
          }
          return { grants, referencedPrincipals: page.map((p) => userRecord(p.user)) };
        },
      }),
  };

  const bulkGroupPrivileges = (capabilities: Capabilities): boolean => requireGap(capabilities, REQUIREMENTS.groupPrivileges, ws) === null;

  const repositoryGroupPermissions: StreamDeclaration = {
    name: 'repository-group-permissions',
    description: 'group permissions on repositories',
    dependsOn: ['repositories'],
    coverage(capabilities) {
      if (bulkGroupPrivileges(capabilities)) return null;
      return requireGap(capabilities, REQUIREMENTS.repositoryPermissions, ws);
    },
    async scopes(ctx) {
      if (bulkGroupPrivileges(ctx.capabilities)) {
        return [{ id: 'repository-group-permissions', stream: 'repository-group-permissions', resource: null, label: `${ws} repository group permissions` }];
      }
      return perResourceScopes(state, ctx, 'repository-group-permissions', 'repository');
    },
    async *read(scope, ctx) {
      if (scope.resource === null) {
        yield* readGroupPrivileges(state, ctx);
        return;
      }
      yield* repositoryListing(state, ctx, scope, {
        path: ['permissions-config', 'groups'],
        fields: FIELDS.groupPermissions,
        pagelen: PAGELEN.repositoryPermissions,
        item: repositoryGroupPermissionSchema,
        key: (p) => p.group.slug,
        requirement: REQUIREMENTS.repositoryPermissions,
        toBatch: (page, repo) => {
          const grants: GrantRecord[] = [];
          for (const p of page) {
            const permission = repositoryPermission(p.permission);
            if (permission) grants.push({ principal: { kind: 'group', externalId: p.group.slug }, resource: repo, permission });
          }
          return { grants, referencedPrincipals: page.map((p) => groupRecord(p.group)) };
        },
      });
    },
  };

  const repositoryDeployKeys: StreamDeclaration = {
    name: 'repository-deploy-keys',
    description: 'repository deploy keys',
    dependsOn: ['repositories'],
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.repositoryDeployKeys, ws),
    scopes: (ctx) => perResourceScopes(state, ctx, 'repository-deploy-keys', 'repository'),
    read: (scope, ctx) =>
      repositoryListing(state, ctx, scope, {
        path: ['deploy-keys'],
        fields: FIELDS.deployKeys,
        pagelen: PAGELEN.repositoryDeployKeys,
        item: deployKeySchema,
        key: (k) => String(k.id),
        requirement: REQUIREMENTS.repositoryDeployKeys,
        toBatch: (page, repo) => ({
          principals: page.map(deployKeyRecord),
          grants: page.map((k) => ({ principal: { kind: 'deploy_key' as const, externalId: String(k.id) }, resource: repo, permission: 'read' as const })),
        }),
      }),
  };

  const reportedAccess: StreamDeclaration = {
    name: 'reported-access',
    description: "Bitbucket's own effective repository permissions",
    dependsOn: ['repositories'],
    effectiveAnswer: true,
    coverage: (capabilities) => requireGap(capabilities, REQUIREMENTS.reportedAccess, ws),
    scopes: () => Promise.resolve([{ id: 'reported-access', stream: 'reported-access', resource: null, label: `${ws} effective permissions` }]),
    async *read(_scope, ctx) {
      const known = new Set((await ctx.resources('repository')).map((r) => r.externalId));
      const pages = api.paginate({
        segments: ['2.0', 'workspaces', ws, 'permissions', 'repositories'],
        query: fields(state, FIELDS.reportedAccess),
        pagelen: PAGELEN.reportedAccess,
        item: repositoryPermissionSchema,
        key: (p) => `${p.user.uuid} ${p.repository.uuid}`,
        advice: advice(REQUIREMENTS.reportedAccess, fixFor(REQUIREMENTS.reportedAccess)),
        signal: ctx.signal,
      });
      for await (const page of pages) {
        const batch: Required<Pick<Batch, 'reportedAccess' | 'referencedPrincipals' | 'referencedResources'>> = { reportedAccess: [], referencedPrincipals: [], referencedResources: [] };
        const seen = new Set<string>();
        for (const p of page) {
          addUnique(batch.referencedPrincipals, seen, userRecord(p.user));
          // Only repositories the listing did not show: a condensed one must not overwrite a full record.
          if (!known.has(p.repository.uuid)) {
            addUnique(batch.referencedResources, seen, {
              kind: 'repository',
              externalId: p.repository.uuid,
              name: p.repository.name ?? p.repository.full_name ?? p.repository.uuid,
              handle: repositorySlug(p.repository),
              parent: null,
            });
          }
          const permission = repositoryPermission(p.permission);
          if (permission) batch.reportedAccess.push({ user: { kind: 'user', externalId: p.user.uuid }, resource: { kind: 'repository', externalId: p.repository.uuid }, permission });
        }
        yield batch;
      }
    },
  };

  return [
    workspaceStream,
    membersStream,
    groupsStream,
    projectsStream,
    projectUserPermissions,
    projectGroupPermissions,
    projectDeployKeys,
    repositoriesStream,
    repositoryUserPermissions,
    repositoryGroupPermissions,
    repositoryDeployKeys,
    reportedAccess,
  ];
}

/**
 * Every repository group grant in the workspace from one 1.0 request. The 1.0 body names repositories
 * by `workspace/slug`, so slugs are resolved against the repositories Roster knows; a slug it does not
 * know fails the scope instead of being dropped — dropping it would read as a revoked grant.
 */
async function* readGroupPrivileges(state: StreamState, ctx: StreamContext): AsyncGenerator<Batch> {
  const api = state.api;
  const url = api.url(['1.0', 'group-privileges', state.workspace]);
  const endpoint = api.endpointOf(url);
  const rows = await api.getParsed(url, z.array(groupPrivilege1Schema), advice(REQUIREMENTS.groupPrivileges, fixFor(REQUIREMENTS.groupPrivileges)), ctx.signal);
  const bySlug = new Map<string, string>();
  const byUuid = new Set<string>();
  for (const r of await ctx.resources('repository' satisfies ResourceKind)) {
    byUuid.add(r.externalId);
    if (r.handle) bySlug.set(r.handle.toLowerCase(), r.externalId);
  }
  const grants: GrantRecord[] = [];
  const referenced: PrincipalRecord[] = [];
  const seenGroups = new Set<string>();
  const seenRows = new Set<string>();
  for (const row of rows) {
    const slash = row.repo.indexOf('/');
    const owner = slash >= 0 ? row.repo.slice(0, slash) : '';
    const slug = slash >= 0 ? row.repo.slice(slash + 1) : row.repo;
    if (owner.toLowerCase() !== state.workspace.toLowerCase()) {
      throw new ConnectorError('malformed_response', `GET ${endpoint} listed a repository of another workspace (${owner})`, { endpoint, httpStatus: 200, advice: 'Nothing from this scope was revoked. Report this response.' });
    }
    const uuid = row.repository?.uuid && byUuid.has(row.repository.uuid) ? row.repository.uuid : bySlug.get(slug.toLowerCase());
    if (!uuid) {
      throw new ConnectorError('malformed_response', `GET ${endpoint} lists repository ${row.repo}, which the repositories listing did not contain (created or renamed during the run?)`, {
        endpoint,
        httpStatus: 200,
        retryable: true,
        advice: 'Nothing from this scope was revoked. The next run reads both listings again.',
      });
    }
    const rowKey = `${uuid} ${row.group.slug}`;
    if (seenRows.has(rowKey)) {
      throw new ConnectorError('page_loop', `GET ${endpoint} listed group ${row.group.slug} on ${row.repo} twice`, { endpoint, httpStatus: 200, retryable: true, advice: 'Nothing from this scope was revoked. The next run retries.' });
    }
    seenRows.add(rowKey);
    addUnique(referenced, seenGroups, groupRecord(row.group));
    const permission = repositoryPermission(row.privilege);
    if (permission) grants.push({ principal: { kind: 'group', externalId: row.group.slug }, resource: { kind: 'repository', externalId: uuid }, permission });
  }
  yield { grants, referencedPrincipals: referenced };
}
