import { z } from 'zod';
import { ConnectorError } from '../../src/errors.ts';
import type { Batch, Capabilities, CoverageGap, GrantRecord, PrincipalRecord, ResourceKind, ResourceRecord, Scope, StreamContext, StreamDeclaration } from '../../src/interfaces.ts';
import { gapFor, REQUIREMENTS, type Requirement } from './capabilities.ts';
import { FIELDS, PAGELEN, advice, fixFor, grantedPermission, listPages, partialView, simpleScope, type StreamState, workspaceRef } from './listings.ts';
import { addUnique, groupRecord, projectRecord, projectRefRecord, repositoryRecord, repositorySlug, user1Record, userRecord, workspaceRecord } from './normalize.ts';
import { group1Schema, projectSchema, repositoryPermissionSchema, repositorySchema, workspaceMemberSchema, workspaceMembershipSchema, workspaceSchema } from './schemas.ts';

/**
 * The workspace-wide streams: one scope each (members has two forms), read before or beside the
 * per-resource streams of `streams.ts`. Descriptions are short human labels (the engine shows them
 * in "not covered" summaries); the endpoints each stream reads are listed in README.md.
 */

/** Incremental listings look back this much further than `since`, for clock skew with the source. */
export const SINCE_MARGIN_MS = 10 * 60_000;

/** BBQL datetimes are unquoted ISO-8601 with an explicit offset. */
export function bbqlDate(date: Date): string {
  return date.toISOString().replace(/Z$/, '+00:00');
}

/**
 * A workspace-wide stream as a table row: the engine's declaration with the connector's state passed
 * in. It is covered when the credential meets `requirement`, unless `coverage` has more to say.
 */
export interface WorkspaceStream {
  name: string;
  description: string;
  dependsOn: readonly string[];
  lists?: ResourceKind;
  effectiveAnswer?: boolean;
  requirement: Requirement;
  coverage?: (state: StreamState, capabilities: Capabilities) => CoverageGap | null;
  scopes: (state: StreamState, ctx: StreamContext) => Scope[];
  read: (state: StreamState, scope: Scope, ctx: StreamContext) => AsyncGenerator<Batch>;
}

export function workspaceWideStream(state: StreamState, stream: WorkspaceStream): StreamDeclaration {
  return {
    name: stream.name,
    description: stream.description,
    dependsOn: stream.dependsOn,
    ...(stream.lists ? { lists: stream.lists } : {}),
    ...(stream.effectiveAnswer ? { effectiveAnswer: true } : {}),
    coverage: (capabilities) => (stream.coverage ? stream.coverage(state, capabilities) : gapFor(capabilities, stream.requirement, state.workspace)),
    scopes: (ctx) => Promise.resolve(stream.scopes(state, ctx)),
    read: (scope, ctx) => stream.read(state, scope, ctx),
  };
}

export const WORKSPACE: WorkspaceStream = {
  name: 'workspace',
  description: 'the workspace',
  dependsOn: [],
  lists: 'workspace',
  requirement: REQUIREMENTS.workspace,
  coverage(state, capabilities) {
    const gap = gapFor(capabilities, REQUIREMENTS.workspace, state.workspace);
    if (gap) return gap;
    if (state.detection && state.detection.workspace === null && state.detection.workspaceForbidden) {
      return {
        reason: `The ${capabilities.credentialKind.replace(/-/g, ' ')} cannot read workspace "${state.workspace}" itself`,
        advice: `Use a workspace access token, or ${fixFor(REQUIREMENTS.workspace)}`,
      };
    }
    return null;
  },
  scopes: (state) => [simpleScope('workspace', state.workspace)],
  async *read(state, _scope, ctx) {
    const { api, workspace: ws } = state;
    // Capability detection may already have fetched it (access tokens); use that body once.
    let body = state.detection?.workspace ?? null;
    if (state.detection) state.detection.workspace = null;
    if (!body) {
      body = await api.getParsed(api.url(['2.0', 'workspaces', ws]), workspaceSchema, advice(REQUIREMENTS.workspace, `Workspace "${ws}" does not exist or this credential cannot see it. Check the workspace slug.`), ctx.signal);
    }
    if (state.detection) state.detection.workspaceUuid = body.uuid;
    yield { resources: [workspaceRecord(body)] };
  },
};

export const MEMBERS: WorkspaceStream = {
  name: 'members',
  description: 'workspace members and their roles',
  dependsOn: ['workspace'],
  requirement: REQUIREMENTS.workspacePermissions,
  coverage(state, capabilities) {
    const roles = gapFor(capabilities, REQUIREMENTS.workspacePermissions, state.workspace);
    if (!roles) return null;
    const list = gapFor(capabilities, REQUIREMENTS.workspaceMembers, state.workspace);
    if (!list) return null;
    if (capabilities.credentialKind === 'workspace-access-token') {
      return {
        reason: 'Workspace access tokens cannot read workspace roles, and this one lacks the account scope it would need to list members',
        advice: `${roles.advice.replace(/\.?$/, '.')} (A workspace access token with account lists members, without their roles.)`,
      };
    }
    return roles;
  },
  scopes(state, ctx) {
    const ws = state.workspace;
    const withRoles = gapFor(ctx.capabilities, REQUIREMENTS.workspacePermissions, ws) === null;
    return [{ ...simpleScope(withRoles ? 'workspace-members' : 'workspace-member-list', withRoles ? `${ws} members and roles` : `${ws} members`), stream: 'members' }];
  },
  async *read(state, scope, ctx) {
    const ws = state.workspace;
    const wsRef = await workspaceRef(state, ctx);
    if (scope.id === 'workspace-members') {
      const spec = { fields: FIELDS.workspacePermissions, pagelen: PAGELEN.workspacePermissions, item: workspaceMembershipSchema, key: (m: z.infer<typeof workspaceMembershipSchema>) => m.user.uuid, requirement: REQUIREMENTS.workspacePermissions };
      for await (const page of listPages(state, ctx, ['2.0', 'workspaces', ws, 'permissions'], spec)) {
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
    const spec = { fields: FIELDS.workspaceMembers, pagelen: PAGELEN.workspaceMembers, item: workspaceMemberSchema, key: (m: z.infer<typeof workspaceMemberSchema>) => m.user.uuid, requirement: REQUIREMENTS.workspaceMembers };
    for await (const page of listPages(state, ctx, ['2.0', 'workspaces', ws, 'members'], spec)) yield { principals: page.map((m) => userRecord(m.user)) };
  },
};

export const GROUPS: WorkspaceStream = {
  name: 'groups',
  description: 'groups and their members',
  dependsOn: ['workspace'],
  requirement: REQUIREMENTS.groups,
  scopes: (state) => [{ ...simpleScope('groups', `${state.workspace} groups`), stream: 'groups' }],
  async *read(state, _scope, ctx) {
    const { api, workspace: ws } = state;
    const url = api.url(['1.0', 'groups', ws, '']);
    const groups = await api.getParsed(url, z.array(group1Schema), advice(REQUIREMENTS.groups), ctx.signal);
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

export const PROJECTS: WorkspaceStream = {
  name: 'projects',
  description: 'projects',
  dependsOn: ['workspace'],
  lists: 'project',
  requirement: REQUIREMENTS.projects,
  scopes: (state, ctx) => [simpleScope('projects', `${state.workspace} projects`, partialView(ctx.capabilities))],
  async *read(state, _scope, ctx) {
    const wsRef = await workspaceRef(state, ctx);
    const spec = { fields: FIELDS.projects, pagelen: PAGELEN.projects, item: projectSchema, key: (p: { uuid: string }) => p.uuid, requirement: REQUIREMENTS.projects };
    for await (const page of listPages(state, ctx, ['2.0', 'workspaces', state.workspace, 'projects'], spec)) {
      yield {
        resources: page.map((p) => {
          state.handles.set(`project:${p.uuid}`, p.key);
          return projectRecord(p, p.workspace?.uuid ? { kind: 'workspace', externalId: p.workspace.uuid } : wsRef);
        }),
      };
    }
  },
};

export const REPOSITORIES: WorkspaceStream = {
  name: 'repositories',
  description: 'repositories',
  dependsOn: ['workspace'],
  lists: 'repository',
  requirement: REQUIREMENTS.repositories,
  scopes(state, ctx) {
    const scope: Scope = { id: 'repositories', stream: 'repositories', resource: null, label: `${state.workspace} repositories` };
    // An incremental listing refreshes what changed but cannot show what was deleted: filtered.
    if (ctx.since || partialView(ctx.capabilities)) scope.filtered = true;
    return [scope];
  },
  async *read(state, _scope, ctx) {
    const wsRef = await workspaceRef(state, ctx);
    const query: Record<string, string> = {};
    if (ctx.since) query.q = `updated_on > ${bbqlDate(new Date(ctx.since.getTime() - SINCE_MARGIN_MS))}`;
    const spec = { fields: FIELDS.repositories, pagelen: PAGELEN.repositories, item: repositorySchema, key: (r: { uuid: string }) => r.uuid, requirement: REQUIREMENTS.repositories };
    for await (const page of listPages(state, ctx, ['2.0', 'repositories', state.workspace], spec, { query })) {
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

/**
 * Bitbucket's effective repository permissions are one workspace-wide listing that can only be
 * paged forward (`next` links are not to be constructed), so read whole it is one request after
 * another — the longest chain of a full sync (4,142 pages on `large`, 24,739 on `enterprise`). Read
 * as three listings filtered by permission (`q=permission="admin"` and so on, the filter its
 * documentation gives), the three chains run side by side for at most two more requests. A pair's
 * permission decides its listing, and stored rows are keyed by permission, so a pair whose
 * permission changes leaves one listing and joins another, and each listing removes only its own.
 */
export const REPORTED_ACCESS_PERMISSIONS = ['admin', 'write', 'read'] as const;

export const REPORTED_ACCESS: WorkspaceStream = {
  name: 'reported-access',
  description: "Bitbucket's own effective repository permissions",
  dependsOn: ['repositories'],
  effectiveAnswer: true,
  requirement: REQUIREMENTS.reportedAccess,
  scopes: (state) =>
    REPORTED_ACCESS_PERMISSIONS.map((permission) => ({ id: `reported-access:${permission}`, stream: 'reported-access', resource: null, label: `${state.workspace} effective permissions (${permission})` })),
  async *read(state, scope, ctx) {
    const permission = REPORTED_ACCESS_PERMISSIONS.find((p) => scope.id === `reported-access:${p}`);
    if (!permission) throw new ConnectorError('internal', `Scope ${scope.id} names no permission of Bitbucket's effective permissions listing`, { endpoint: '' });
    const known = new Set((await ctx.resources('repository')).map((r) => r.externalId));
    const spec = { fields: FIELDS.reportedAccess, pagelen: PAGELEN.reportedAccess, item: repositoryPermissionSchema, key: (p: z.infer<typeof repositoryPermissionSchema>) => `${p.user.uuid} ${p.repository.uuid}`, requirement: REQUIREMENTS.reportedAccess };
    const query = { q: `permission="${permission}"` };
    // Each user and repository is referenced once per listing, not once per page: a listing of
    // millions of rows names the same few thousand users on every page. An earlier page's references
    // are written before a later page's rows (the engine writes a scope's parts in order).
    const seen = new Set<string>();
    for await (const page of listPages(state, ctx, ['2.0', 'workspaces', state.workspace, 'permissions', 'repositories'], spec, { query })) {
      const batch: Required<Pick<Batch, 'reportedAccess' | 'referencedPrincipals' | 'referencedResources'>> = { reportedAccess: [], referencedPrincipals: [], referencedResources: [] };
      for (const p of page) {
        // Another permission's row (a server that ignored the filter) belongs to that listing: kept
        // here, it would be stored twice and removed by the wrong listing.
        if (p.permission !== permission) continue;
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
        const granted = grantedPermission(p.permission);
        if (granted) batch.reportedAccess.push({ user: { kind: 'user', externalId: p.user.uuid }, resource: { kind: 'repository', externalId: p.repository.uuid }, permission: granted });
      }
      yield batch;
    }
  },
};
