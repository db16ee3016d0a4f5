import type { Capabilities, RequestEstimate, StreamDeclaration } from '../../src/interfaces.ts';
import { REQUIREMENTS, gapFor } from './capabilities.ts';
import { ACCESS_TOKEN_KINDS } from './credentials.ts';
import { PAGELEN, type StreamState } from './listings.ts';
import { REPORTED_ACCESS_PERMISSIONS } from './workspace-streams.ts';

/**
 * What a sync of this workspace would cost, from a probe of its counts: the README's request formula
 * ("Requests for a full sync") applied to the sizes Bitbucket states on the first page of each
 * workspace-wide listing (`size`, asked for with `pagelen=1`), for the streams this credential can read.
 *
 * Probe: detection, then one request per listing whose size matters (members, projects, repositories,
 * and Bitbucket's effective permissions once per permission) — seven requests. Per-project and per-repository listings are
 * counted as one page each (fewer than 100 grants or keys per resource: the usual case; each one past
 * 100 adds a page), and an incremental run as a full one that reads only the first page of the
 * repository listing (`updated_on >` since the last run).
 */
export async function estimateBitbucketRequests(state: StreamState, streams: readonly StreamDeclaration[], capabilities: Capabilities, signal: AbortSignal): Promise<Omit<RequestEstimate, 'probeRequests'>> {
  const { api, workspace: ws } = state;
  const assumptions: string[] = ['each project and repository has fewer than 100 user grants, group grants and deploy keys (one page each)'];
  const readable = (name: string): boolean => {
    const stream = streams.find((s) => s.name === name);
    return stream !== undefined && stream.coverage(capabilities) === null;
  };
  /** The listing's `size` from its first page; null when Bitbucket does not say. */
  const sizeOf = async (segments: string[], what: string, query: Record<string, string> = {}): Promise<number> => {
    const { json } = await api.getJson(api.url(segments, { ...query, pagelen: '1' }), {}, signal);
    const size = (json as { size?: unknown } | null)?.size;
    if (typeof size === 'number' && Number.isInteger(size) && size >= 0) return size;
    assumptions.push(`Bitbucket did not state how many ${what} there are; counted as one page`);
    return 1;
  };
  const pages = (n: number, pagelen: number): number => Math.max(1, Math.ceil(n / pagelen));

  const withRoles = gapFor(capabilities, REQUIREMENTS.workspacePermissions, ws) === null;
  const members = readable('members') ? await sizeOf(['2.0', 'workspaces', ws, withRoles ? 'permissions' : 'members'], 'workspace members') : 0;
  const projects = readable('projects') ? await sizeOf(['2.0', 'workspaces', ws, 'projects'], 'projects') : 0;
  const repositories = readable('repositories') ? await sizeOf(['2.0', 'repositories', ws], 'repositories') : 0;
  // Read as one listing per permission (see REPORTED_ACCESS), so each is paged on its own.
  let reportedPages = 0;
  if (readable('reported-access')) {
    for (const permission of REPORTED_ACCESS_PERMISSIONS) {
      reportedPages += pages(await sizeOf(['2.0', 'workspaces', ws, 'permissions', 'repositories'], `${permission} effective permission rows`, { q: `permission="${permission}"` }), PAGELEN.reportedAccess);
    }
  }

  const readsWorkspaceInDetection = (ACCESS_TOKEN_KINDS as readonly string[]).includes(capabilities.credentialKind);
  const bulkGroups = gapFor(capabilities, REQUIREMENTS.groupPrivileges, ws) === null;
  const perStream: Record<string, { full: number; incremental: number }> = {
    // Access tokens read the workspace during detection (README: "detection *is* the workspace read").
    workspace: { full: readsWorkspaceInDetection ? 0 : 1, incremental: readsWorkspaceInDetection ? 0 : 1 },
    members: same(readable('members') ? pages(members, PAGELEN.workspacePermissions) : 0),
    groups: same(readable('groups') ? 1 : 0),
    projects: same(readable('projects') ? pages(projects, PAGELEN.projects) : 0),
    'project-user-permissions': same(readable('project-user-permissions') ? projects : 0),
    'project-group-permissions': same(readable('project-group-permissions') ? projects : 0),
    'project-deploy-keys': same(readable('project-deploy-keys') ? projects : 0),
    repositories: readable('repositories') ? { full: pages(repositories, PAGELEN.repositories), incremental: 1 } : same(0),
    'repository-user-permissions': same(readable('repository-user-permissions') ? repositories : 0),
    'repository-group-permissions': same(readable('repository-group-permissions') ? (bulkGroups ? 1 : repositories) : 0),
    'repository-deploy-keys': same(readable('repository-deploy-keys') ? repositories : 0),
    'reported-access': same(reportedPages),
  };
  const oauth = capabilities.credentialKind === 'oauth-client-credentials';
  if (oauth) assumptions.push('one OAuth token request per run (tokens last two hours)');
  return {
    streams: [
      // Detection: /user/workspaces (access tokens: the workspace itself), and an OAuth token.
      { stream: null, full: 1 + (oauth ? 1 : 0), incremental: 1 + (oauth ? 1 : 0) },
      ...Object.entries(perStream).map(([stream, n]) => ({ stream, ...n })),
    ],
    assumptions,
  };
}

function same(n: number): { full: number; incremental: number } {
  return { full: n, incremental: n };
}
