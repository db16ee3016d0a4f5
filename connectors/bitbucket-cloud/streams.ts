import { z } from 'zod';
import { ConnectorError } from '../../src/errors.ts';
import type { Batch, Capabilities, GrantRecord, PrincipalRecord, ResourceKind, ResourceRef, Scope, StreamContext, StreamDeclaration } from '../../src/interfaces.ts';
import { gapFor, REQUIREMENTS, type Requirement } from './capabilities.ts';
import { FIELDS, PAGELEN, advice, grantedPermission, perResourceListing, perResourceScopes, type PerResourceKind, type PerResourceListing, type StreamState } from './listings.ts';
import { addUnique, deployKeyRecord, groupRecord, userRecord } from './normalize.ts';
import type { BitbucketAccount, BitbucketDeployKey } from './schemas.ts';
import {
  deployKeySchema,
  groupPrivilege1Schema,
  projectGroupPermissionSchema,
  projectUserPermissionSchema,
  repositoryGroupPermissionSchema,
  repositoryUserPermissionSchema,
} from './schemas.ts';
import { GROUPS, MEMBERS, PROJECTS, REPORTED_ACCESS, REPOSITORIES, WORKSPACE, workspaceWideStream, type WorkspaceStream } from './workspace-streams.ts';

/** The connector's twelve streams, in the order the engine is given them. */
export function buildStreams(state: StreamState): StreamDeclaration[] {
  const workspaceWide = (...streams: WorkspaceStream[]) => streams.map((s) => workspaceWideStream(state, s));
  const perResource = (kind: PerResourceKind) => PER_RESOURCE_STREAMS.filter((s) => s.kind === kind).map((s) => perResourceStream(state, s));
  return [
    ...workspaceWide(WORKSPACE, MEMBERS, GROUPS, PROJECTS),
    ...perResource('project'),
    ...workspaceWide(REPOSITORIES),
    ...perResource('repository'),
    ...workspaceWide(REPORTED_ACCESS),
  ];
}

// ─── Per-resource streams: a table ────────────────────────────────────────────────────────────

/**
 * A per-resource stream: one scope per live project or repository, each read with the listing of
 * its row. `bulk`, where set, reads the whole workspace in one request instead when the credential
 * can (one workspace-wide scope), and the per-resource listing only when it cannot.
 */
interface PerResourceStream {
  name: string;
  description: string;
  kind: PerResourceKind;
  requirement: Requirement;
  bulk?: { requirement: Requirement; label: string; read: (state: StreamState, ctx: StreamContext) => AsyncGenerator<Batch> };
  read: (state: StreamState, ctx: StreamContext, scope: Scope) => AsyncGenerator<Batch>;
}

/** A table row: the stream's name and label, and the listing each of its scopes reads. */
function row<T>(spec: PerResourceListing<T> & Pick<PerResourceStream, 'name' | 'description' | 'bulk'>): PerResourceStream {
  return { name: spec.name, description: spec.description, kind: spec.kind, requirement: spec.requirement, bulk: spec.bulk, read: (state, ctx, scope) => perResourceListing(state, ctx, scope, spec) };
}

/** Explicit user grants on the resource, and the users they name (`none` is no grant). */
function userGrants(page: ReadonlyArray<{ permission: string; user: BitbucketAccount }>, resource: ResourceRef): Batch {
  const grants: GrantRecord[] = [];
  for (const p of page) {
    const permission = grantedPermission(p.permission);
    if (permission) grants.push({ principal: { kind: 'user', externalId: p.user.uuid }, resource, permission });
  }
  return { grants, referencedPrincipals: page.map((p) => userRecord(p.user)) };
}

/** Explicit group grants on the resource, and the groups they name (`none` is no grant). */
function groupGrants(page: ReadonlyArray<{ permission: string; group: { slug: string; name?: string | null } }>, resource: ResourceRef): Batch {
  const grants: GrantRecord[] = [];
  for (const p of page) {
    const permission = grantedPermission(p.permission);
    if (permission) grants.push({ principal: { kind: 'group', externalId: p.group.slug }, resource, permission });
  }
  return { grants, referencedPrincipals: page.map((p) => groupRecord(p.group)) };
}

/** Deploy keys are principals that read the resource they are added to. */
function deployKeyGrants(page: BitbucketDeployKey[], resource: ResourceRef): Batch {
  return {
    principals: page.map(deployKeyRecord),
    grants: page.map((k) => ({ principal: { kind: 'deploy_key' as const, externalId: String(k.id) }, resource, permission: 'read' as const })),
  };
}

const PER_RESOURCE_STREAMS: readonly PerResourceStream[] = [
  row({ name: 'project-user-permissions', description: 'user permissions on projects', kind: 'project', path: ['permissions-config', 'users'],
    fields: FIELDS.userPermissions, pagelen: PAGELEN.projectPermissions, item: projectUserPermissionSchema, key: (p) => p.user.uuid, requirement: REQUIREMENTS.projectPermissions, toBatch: userGrants }),
  row({ name: 'project-group-permissions', description: 'group permissions on projects', kind: 'project', path: ['permissions-config', 'groups'],
    fields: FIELDS.groupPermissions, pagelen: PAGELEN.projectPermissions, item: projectGroupPermissionSchema, key: (p) => p.group.slug, requirement: REQUIREMENTS.projectPermissions, toBatch: groupGrants }),
  row({ name: 'project-deploy-keys', description: 'project deploy keys', kind: 'project', path: ['deploy-keys'],
    fields: FIELDS.deployKeys, pagelen: PAGELEN.projectDeployKeys, item: deployKeySchema, key: (k) => String(k.id), requirement: REQUIREMENTS.projectDeployKeys, toBatch: deployKeyGrants }),
  row({ name: 'repository-user-permissions', description: 'user permissions on repositories', kind: 'repository', path: ['permissions-config', 'users'],
    fields: FIELDS.userPermissions, pagelen: PAGELEN.repositoryPermissions, item: repositoryUserPermissionSchema, key: (p) => p.user.uuid, requirement: REQUIREMENTS.repositoryPermissions, toBatch: userGrants }),
  row({ name: 'repository-group-permissions', description: 'group permissions on repositories', kind: 'repository', path: ['permissions-config', 'groups'],
    fields: FIELDS.groupPermissions, pagelen: PAGELEN.repositoryPermissions, item: repositoryGroupPermissionSchema, key: (p) => p.group.slug, requirement: REQUIREMENTS.repositoryPermissions, toBatch: groupGrants,
    bulk: { requirement: REQUIREMENTS.groupPrivileges, label: 'repository group permissions', read: readGroupPrivileges } }),
  row({ name: 'repository-deploy-keys', description: 'repository deploy keys', kind: 'repository', path: ['deploy-keys'],
    fields: FIELDS.deployKeys, pagelen: PAGELEN.repositoryDeployKeys, item: deployKeySchema, key: (k) => String(k.id), requirement: REQUIREMENTS.repositoryDeployKeys, toBatch: deployKeyGrants }),
];

/** Which workspace-wide stream lists the resources a per-resource stream plans its scopes from. */
const LISTED_BY: Record<PerResourceKind, string> = { project: 'projects', repository: 'repositories' };

function perResourceStream(state: StreamState, stream: PerResourceStream): StreamDeclaration {
  const ws = state.workspace;
  const { bulk } = stream;
  const readsInBulk = (capabilities: Capabilities): boolean => bulk !== undefined && gapFor(capabilities, bulk.requirement, ws) === null;
  return {
    name: stream.name,
    description: stream.description,
    dependsOn: [LISTED_BY[stream.kind]],
    coverage: (capabilities) => (readsInBulk(capabilities) ? null : gapFor(capabilities, stream.requirement, ws)),
    async scopes(ctx) {
      if (bulk && readsInBulk(ctx.capabilities)) return [{ id: stream.name, stream: stream.name, resource: null, label: `${ws} ${bulk.label}` }];
      return perResourceScopes(state, ctx, stream.name, stream.kind);
    },
    read: (scope, ctx) => (bulk && scope.resource === null ? bulk.read(state, ctx) : stream.read(state, ctx, scope)),
  };
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
  const rows = await api.getParsed(url, z.array(groupPrivilege1Schema), advice(REQUIREMENTS.groupPrivileges), ctx.signal);
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
    const permission = grantedPermission(row.privilege);
    if (permission) grants.push({ principal: { kind: 'group', externalId: row.group.slug }, resource: { kind: 'repository', externalId: uuid }, permission });
  }
  yield { grants, referencedPrincipals: referenced };
}
