import type { z } from 'zod';
import { ConnectorError } from '../../src/errors.ts';
import type { Batch, Capabilities, ResourceRef, Scope, StreamContext } from '../../src/interfaces.ts';
import type { Logger } from '../../src/log.ts';
import type { BitbucketApi, EndpointAdvice } from './api.ts';
import type { Detection, Requirement } from './capabilities.ts';

/**
 * How the streams read Bitbucket: one paginated listing at the largest page size with `fields=`
 * trimming, with the advice that names the credential or scope that would cover it; per-project and
 * per-repository listings, each addressed by the resource's stable handle.
 */

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

export interface StreamState {
  api: BitbucketApi;
  workspace: string;
  detection: Detection | null;
  logger: Logger | undefined;
  /** Handles (project key / repository slug) by uuid, from scope enumeration or a lookup. */
  handles: Map<string, string>;
  trimFields: boolean;
}

/** One listing endpoint: what its pages hold and what reading it takes. */
export interface Listing<T> {
  /** `fields=` removals (see `FIELDS`). */
  fields: string;
  pagelen: number;
  item: z.ZodType<T>;
  /** The item's identity in the listing: a page that repeats one means the listing loops. */
  key: (item: T) => string;
  requirement: Requirement;
}

export type PerResourceKind = 'project' | 'repository';

/** A listing per project or repository: the path below the resource, and the batch each page becomes. */
export interface PerResourceListing<T> extends Listing<T> {
  kind: PerResourceKind;
  /** Path segments after the project key or repository uuid, e.g. `['permissions-config', 'users']`. */
  path: readonly string[];
  toBatch: (page: T[], resource: ResourceRef) => Batch;
}

function fields(state: StreamState, value: string): Record<string, string> {
  return state.trimFields ? { fields: value } : {};
}

export function fixFor(req: Requirement): string {
  return `use an Atlassian API token of a workspace admin with ${req.apiToken.join(', ')}, or an OAuth consumer with ${req.oauth.join(', ') || 'no extra scope'}.`;
}

export function advice(req: Requirement, notFound?: string): EndpointAdvice {
  return {
    forbidden: `The credential cannot read ${req.what} here (missing scope or admin rights). To cover it, ${fixFor(req)}`,
    notFound,
  };
}

/** The pages of one listing; `query` adds to the `fields=` trimming, `notFound` explains a 404. */
export function listPages<T>(state: StreamState, ctx: StreamContext, segments: readonly string[], spec: Listing<T>, options: { query?: Record<string, string>; notFound?: string } = {}): AsyncGenerator<T[]> {
  return state.api.paginate({
    segments,
    query: { ...fields(state, spec.fields), ...options.query },
    pagelen: spec.pagelen,
    item: spec.item,
    key: spec.key,
    advice: advice(spec.requirement, options.notFound),
    signal: ctx.signal,
  });
}

export async function workspaceRef(state: StreamState, ctx: StreamContext): Promise<ResourceRef | null> {
  const known = state.detection?.workspaceUuid ?? state.detection?.workspace?.uuid;
  if (known) return { kind: 'workspace', externalId: known };
  const all = await ctx.resources('workspace');
  const match = all.find((r) => r.handle?.toLowerCase() === state.workspace.toLowerCase()) ?? (all.length === 1 ? all[0] : undefined);
  if (match && state.detection) state.detection.workspaceUuid = match.externalId;
  return match ? { kind: 'workspace', externalId: match.externalId } : null;
}

/** Per-resource scopes: one per live project or repository, in a stable order. */
export async function perResourceScopes(state: StreamState, ctx: StreamContext, stream: string, kind: PerResourceKind): Promise<Scope[]> {
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
async function handleOf(state: StreamState, ctx: StreamContext, scope: Scope, kind: PerResourceKind): Promise<string> {
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

/** One per-resource listing of the scope's project or repository. */
export function perResourceListing<T>(state: StreamState, ctx: StreamContext, scope: Scope, spec: PerResourceListing<T>): AsyncGenerator<Batch> {
  return spec.kind === 'project' ? projectListing(state, ctx, scope, spec) : repositoryListing(state, ctx, scope, spec);
}

/**
 * One per-project listing, addressed by the project's key (Bitbucket takes no uuid there), looked up
 * from the uuid the scope was planned with. A 404 fails the scope: the project was deleted or its key
 * changed during the run, and the next run's projects listing shows which. Pages are yielded as they
 * come.
 */
async function* projectListing<T>(state: StreamState, ctx: StreamContext, scope: Scope, spec: PerResourceListing<T>): AsyncGenerator<Batch> {
  const key = await handleOf(state, ctx, scope, 'project');
  const project = scope.resource as ResourceRef;
  const segments = ['2.0', 'workspaces', state.workspace, 'projects', key, ...spec.path];
  for await (const page of listPages(state, ctx, segments, spec, { notFound: `Project ${key} was not found: it was deleted or its key changed during the run.` })) {
    yield spec.toBatch(page, project);
  }
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
async function* repositoryListing<T>(state: StreamState, ctx: StreamContext, scope: Scope, spec: PerResourceListing<T>): AsyncGenerator<Batch> {
  const repository = scope.resource;
  if (!repository || repository.kind !== 'repository') throw new ConnectorError('internal', `Scope ${scope.id} has no repository`, { endpoint: '' });
  const { api, workspace: ws } = state;
  const batches: Batch[] = [];
  try {
    const segments = ['2.0', 'repositories', ws, repository.externalId, ...spec.path];
    const notFound = `Repository ${scope.label} (${repository.externalId}) was not found although it still exists: the credential may have lost access to it during the run.`;
    for await (const page of listPages(state, ctx, segments, spec, { notFound })) batches.push(spec.toBatch(page, repository));
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

/** A permission as the API states it: `none` is no grant. */
export function grantedPermission<P extends string>(p: P | 'none'): P | null {
  return p === 'none' ? null : p;
}

export function simpleScope(id: string, label: string, filtered = false): Scope {
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
export function partialView(capabilities: Capabilities): boolean {
  if (narrowlyBound(capabilities)) return true;
  if (capabilities.credentialKind === 'workspace-access-token') return false;
  return capabilities.isWorkspaceAdmin !== true;
}
