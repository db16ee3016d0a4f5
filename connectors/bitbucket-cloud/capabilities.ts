import { ConnectorError } from '../../src/errors.ts';
import type { Capabilities, CoverageGap } from '../../src/interfaces.ts';
import type { BitbucketApi } from './api.ts';
import { parseSourceError } from './api.ts';
import { APP_PASSWORD_EOL_WARNING, CREDENTIAL_LABELS, type CredentialKind, isAccessToken, splitScopes, type Authorizer } from './credentials.ts';
import { workspaceAccessSchema, workspaceSchema, type BitbucketWorkspace } from './schemas.ts';
import { z } from 'zod';

/**
 * What reading one endpoint takes. Classic OAuth scopes come from each operation's `security.oauth2`
 * list in the spec (all required), granular API-token scopes from its `x-atlassian-oauth2-scopes`.
 * The 1.0 endpoints are not in the spec: groups need `account`, group-privileges `repository:admin`
 * (read:workspace:bitbucket for API tokens), both a workspace admin.
 */
export interface Requirement {
  /** What is read, for messages: "repository user permissions". */
  what: string;
  oauth: readonly string[];
  apiToken: readonly string[];
  /** Access tokens cannot read permissions or 1.0 groups at all ("You can't use an access token to … query … permissions"). */
  accessTokens: boolean;
  /** Only a workspace admin (or the resource's admin) sees it. */
  admin: boolean;
}

export const REQUIREMENTS = {
  workspace: { what: 'the workspace', oauth: [], apiToken: ['read:workspace:bitbucket'], accessTokens: true, admin: false },
  workspacePermissions: { what: 'workspace members and their roles', oauth: ['account'], apiToken: ['read:workspace:bitbucket'], accessTokens: false, admin: false },
  workspaceMembers: { what: 'the workspace member list', oauth: ['account'], apiToken: ['read:workspace:bitbucket'], accessTokens: true, admin: false },
  groups: { what: 'groups and their members', oauth: ['account'], apiToken: ['read:workspace:bitbucket'], accessTokens: false, admin: true },
  projects: { what: 'projects', oauth: ['project'], apiToken: ['read:project:bitbucket'], accessTokens: true, admin: false },
  projectPermissions: { what: 'project user and group permissions', oauth: ['project:admin'], apiToken: ['read:project:bitbucket'], accessTokens: false, admin: true },
  projectDeployKeys: { what: 'project deploy keys', oauth: ['project', 'project:admin'], apiToken: ['admin:project:bitbucket'], accessTokens: true, admin: true },
  repositories: { what: 'repositories', oauth: ['repository'], apiToken: ['read:repository:bitbucket'], accessTokens: true, admin: false },
  repositoryPermissions: { what: 'repository user and group permissions', oauth: ['repository:admin'], apiToken: ['read:repository:bitbucket'], accessTokens: false, admin: true },
  groupPrivileges: { what: 'repository group permissions (1.0 group-privileges, whole workspace)', oauth: ['repository:admin'], apiToken: ['read:workspace:bitbucket'], accessTokens: false, admin: true },
  repositoryDeployKeys: { what: 'repository deploy keys', oauth: ['repository', 'repository:admin'], apiToken: ['admin:repository:bitbucket'], accessTokens: true, admin: true },
  reportedAccess: { what: "Bitbucket's effective repository permissions", oauth: ['account'], apiToken: ['read:repository:bitbucket'], accessTokens: false, admin: true },
} as const satisfies Record<string, Requirement>;

/** Scopes each access-token kind can hold at all ("Access tokens" in the spec's authentication narrative). */
export const ACCESS_TOKEN_SCOPES: Record<'workspace-access-token' | 'project-access-token' | 'repository-access-token', readonly string[]> = {
  'repository-access-token': ['repository', 'repository:write', 'repository:admin', 'repository:delete', 'pullrequest', 'pullrequest:write', 'webhook', 'pipeline', 'pipeline:write', 'pipeline:variable', 'runner', 'runner:write'],
  'project-access-token': ['project', 'repository', 'repository:write', 'repository:admin', 'repository:delete', 'pullrequest', 'pullrequest:write', 'webhook', 'pipeline', 'pipeline:write', 'pipeline:variable', 'runner', 'runner:write'],
  'workspace-access-token': ['project', 'project:admin', 'repository', 'repository:write', 'repository:admin', 'repository:delete', 'pullrequest', 'pullrequest:write', 'webhook', 'account', 'pipeline', 'pipeline:write', 'pipeline:variable', 'runner', 'runner:write'],
};

/** Classic scope implications from the spec's "Bitbucket OAuth 2.0 scopes" narrative. */
const IMPLIED_BY: Record<string, readonly string[]> = {
  repository: ['repository:write', 'project', 'project:write', 'pullrequest', 'pullrequest:write'],
  'repository:write': ['pullrequest:write'],
  project: ['project:write'],
  pullrequest: ['pullrequest:write'],
  account: ['account:write'],
};

function holds(scopes: readonly string[], scope: string): boolean {
  if (scopes.includes(scope)) return true;
  return (IMPLIED_BY[scope] ?? []).some((s) => holds(scopes, s));
}

/** Granular scopes (`read:repository:bitbucket`) imply nothing; classic ones follow `IMPLIED_BY`. */
export function missingScopes(capabilities: Capabilities, req: Requirement): string[] {
  const scopes = capabilities.oauthScopes;
  if (scopes === null) return [];
  const granular = capabilities.credentialKind === 'api-token' || scopes.some((s) => s.endsWith(':bitbucket'));
  if (granular) return req.apiToken.filter((s) => !scopes.includes(s));
  return req.oauth.filter((s) => !holds(scopes, s));
}

/** The credentials that would cover `req`: "an Atlassian API token of a workspace admin with …, or an OAuth consumer with …". */
export function alternatives(req: Requirement): string {
  const api = req.apiToken.join(', ');
  const oauth = req.oauth.length > 0 ? req.oauth.join(', ') : 'no extra scope';
  return `an Atlassian API token of a workspace admin with ${api}, or an OAuth consumer with ${oauth}`;
}

function adviceFor(req: Requirement): string {
  return `use ${alternatives(req)}`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Null when `capabilities` can read what `req` describes; otherwise why not and what would. */
export function gapFor(capabilities: Capabilities, req: Requirement, workspace: string): CoverageGap | null {
  // Capabilities this connector detected carry its own credential kinds.
  const kind = capabilities.credentialKind as CredentialKind;
  const label = CREDENTIAL_LABELS[kind];
  if (isAccessToken(kind) && !req.accessTokens) {
    return {
      reason: `${capitalize(label)}s cannot read ${req.what}`,
      advice: `${capitalize(adviceFor(req))}.`,
    };
  }
  const missing = missingScopes(capabilities, req);
  if (missing.length > 0) {
    let fix: string;
    if (kind === 'api-token') fix = `Create an API token that also has ${missing.join(', ')} (API token scopes cannot be changed after creation)`;
    else if (kind === 'oauth-client-credentials') fix = `Add ${missing.join(', ')} to the OAuth consumer's permissions`;
    else if (kind === 'app-password') fix = `Replace the app password (end-of-life) with an Atlassian API token of a workspace admin with ${req.apiToken.join(', ')}`;
    else {
      const impossible = missing.filter((s) => !ACCESS_TOKEN_SCOPES[kind].includes(s));
      fix = `Create a ${label} with ${missing.join(', ')}`;
      if (impossible.length > 0) {
        const wat = kind === 'workspace-access-token' ? '' : `a workspace access token with ${missing.join(', ')}, `;
        return {
          reason: `The ${label} lacks the ${missing.join(', ')} scope${missing.length > 1 ? 's' : ''} needed to read ${req.what}`,
          advice: `${capitalize(label)}s cannot hold ${impossible.join(', ')}; use ${wat}${alternatives(req)}.`,
        };
      }
    }
    return {
      reason: `The ${label} lacks the ${missing.join(', ')} scope${missing.length > 1 ? 's' : ''} needed to read ${req.what}`,
      advice: `${fix}, or ${adviceFor(req)}.`,
    };
  }
  if (req.admin && capabilities.isWorkspaceAdmin === false) {
    return {
      reason: `The ${label} acts as an account that is not an admin of workspace "${workspace}"; ${req.what} are visible only to admins`,
      advice: `Connect with a workspace admin's credential: ${adviceFor(req)}.`,
    };
  }
  return null;
}

export interface Detection {
  capabilities: Capabilities;
  /** The workspace body when detection had to fetch it anyway; the workspace stream reuses it. */
  workspace: BitbucketWorkspace | null;
  /** The workspace uuid, when detection learned it. */
  workspaceUuid: string | null;
  /** An access token was refused the workspace itself (project and repository tokens). */
  workspaceForbidden: boolean;
}

const userWorkspacesPage = z.object({ values: z.array(workspaceAccessSchema), next: z.string().nullish() });

/**
 * Learns which credential this is, its scopes and whether it is a workspace admin — in one request,
 * which the later streams would otherwise not need: user credentials ask `/2.0/user/workspaces`
 * (filtered to this workspace) for the `administrator` flag; access tokens, which cannot call it,
 * fetch `/2.0/workspaces/{ws}`, and the workspace stream then reuses that body.
 */
export async function detectCapabilities(api: BitbucketApi, auth: Authorizer, kind: CredentialKind, signal?: AbortSignal): Promise<Detection> {
  const warnings: string[] = [];
  if (kind === 'app-password') warnings.push(APP_PASSWORD_EOL_WARNING);
  const ws = api.workspace;
  let isWorkspaceAdmin: boolean | null = null;
  let workspace: BitbucketWorkspace | null = null;
  let workspaceUuid: string | null = null;
  let errorScopes: string[] | null = null;
  let workspaceForbidden = false;

  if (isAccessToken(kind)) {
    const url = api.url(['2.0', 'workspaces', ws]);
    const res = await api.getRaw(url, signal);
    if (res.status === 200) {
      workspace = api.validate(url, workspaceSchema, api.parseJson(url, res.body));
      workspaceUuid = workspace.uuid;
    } else if (res.status === 404 && kind === 'workspace-access-token') {
      throw api.failure(url, res, { notFound: `Workspace "${ws}" does not exist or the token belongs to another workspace. Check the workspace slug.` });
    } else if (res.status !== 403 && res.status !== 404) {
      throw api.failure(url, res, {});
    } else {
      workspaceForbidden = true;
      errorScopes = parseSourceError(res.body).grantedScopes;
    }
  } else {
    // `/user/workspaces` takes no `q` (only `sort` and `administrator`); an account rarely belongs to
    // more than 100 workspaces, so this is one page.
    let url: URL | null = api.url(['2.0', 'user', 'workspaces'], { pagelen: '100' });
    const first = url;
    const followed = new Set<string>();
    const visible: string[] = [];
    while (url) {
      followed.add(url.href);
      const res = await api.getRaw(url, signal);
      if (res.status === 403) {
        // Without `account` / read:workspace the admin flag stays unknown; the streams find out per scope.
        errorScopes = parseSourceError(res.body).grantedScopes;
        break;
      }
      if (res.status !== 200) throw api.failure(url, res, {});
      const page: z.infer<typeof userWorkspacesPage> = api.validate(url, userWorkspacesPage, api.parseJson(url, res.body));
      const match = page.values.find((v) => v.workspace.slug.toLowerCase() === ws.toLowerCase());
      visible.push(...page.values.map((v) => v.workspace.slug));
      if (match) {
        isWorkspaceAdmin = match.administrator;
        workspaceUuid = match.workspace.uuid ?? null;
        break;
      }
      const next: URL | null = page.next ? new URL(page.next, url) : null;
      if (!next || next.origin !== first.origin || next.pathname !== first.pathname || followed.has(next.href)) {
        const seen = visible.length > 0 ? ` It can see: ${visible.slice(0, 10).join(', ')}${visible.length > 10 ? ', …' : ''}.` : ' It sees no workspace at all.';
        throw new ConnectorError('not_found', `The ${CREDENTIAL_LABELS[kind]} has no access to workspace "${ws}": check the slug (bitbucket.org/<slug>) and that its account is a member.${seen}`, {
          endpoint: api.endpointOf(first),
          httpStatus: 200,
          advice: `Check the workspace slug "${ws}", and that the credential's account is a member of that workspace.`,
        });
      }
      url = next;
    }
  }

  const oauthScopes = auth.grantedScopes() ?? api.lastScopesHeader ?? errorScopes;
  const capabilities: Capabilities = {
    credentialKind: kind,
    actor: null,
    oauthScopes: oauthScopes ? [...oauthScopes] : null,
    isWorkspaceAdmin,
    warnings,
  };
  if (api.lastCredentialType && !credentialTypeMatches(kind, api.lastCredentialType)) {
    warnings.push(`The integration is configured as a ${CREDENTIAL_LABELS[kind]}, but Bitbucket reports the credential type "${api.lastCredentialType}".`);
  }
  const rolesGap = gapFor(capabilities, REQUIREMENTS.workspacePermissions, ws);
  if (rolesGap && gapFor(capabilities, REQUIREMENTS.workspaceMembers, ws) === null) {
    // The members stream falls back to `/members` (scope `workspace-member-list`): people, no roles.
    warnings.push(`Workspace roles are not covered: ${rolesGap.reason}. Members are listed without their roles. ${rolesGap.advice}`);
  }
  if (isWorkspaceAdmin === false) {
    warnings.push(`The credential's account is not an admin of workspace "${ws}": groups, permissions, deploy keys and Bitbucket's effective permissions are not covered. Use a workspace admin's Atlassian API token.`);
  }
  return { capabilities, workspace, workspaceUuid, workspaceForbidden };
}

function credentialTypeMatches(kind: CredentialKind, reported: string): boolean {
  const r = reported.toLowerCase().replace(/[^a-z0-9]/g, '');
  const expected: Record<CredentialKind, readonly string[]> = {
    'workspace-access-token': ['workspaceaccesstoken', 'accesstoken', 'workspacetoken'],
    'project-access-token': ['projectaccesstoken', 'accesstoken', 'projecttoken'],
    'repository-access-token': ['repositoryaccesstoken', 'repoaccesstoken', 'accesstoken', 'repotoken'],
    'oauth-client-credentials': ['oauth2', 'oauth', 'oauthclientcredentials'],
    'api-token': ['apitoken', 'atlassianapitoken', 'apitokenbasic'],
    'app-password': ['apppassword', 'apppasswords'],
  };
  return expected[kind].some((e) => r.includes(e));
}

export { splitScopes };
