import { permissionModelOf } from '../src/connectors.ts';
import { type AccessQuery, type AccessRow, accessFlags, accessRowPages, accessRules, memberListKnown, pathJson, pathLabel, runTime, toAccessRow } from './access.ts';
import { mapPages } from './cursor.ts';
import type { Cell, Column, ReportContext, ReportDefinition } from './types.ts';
import { type FindingKind, findingsFor } from '../src/identity/findings.ts';
import { type IdentityView, loadIdentity, matchAccount } from '../src/identity/view.ts';
import { findingOptions } from './identity-findings.ts';

/** A row of an access report, ready to render: the database row plus what needs the run list. */
export interface RenderedAccessRow extends AccessRow {
  firstSeen: string | null;
  flags: string[];
  /** The run list, for the times of each path (JSON only). */
  runs: ReportContext['runs'];
  /** Who is behind the account (users only; null otherwise or when no identity source knows). */
  identity?: RowIdentity | null;
}

/** What the identity sources say about a row's user: the identity columns. */
export interface RowIdentity {
  email: string | null;
  personStatus: string | null;
  lastActive: string | null;
  department: string | null;
  /** The identity-findings kinds that apply to the account. */
  flags: FindingKind[];
}

/** One lookup per account per report: the same user appears on many rows. */
export function identityLookup(ctx: ReportContext, view: IdentityView): (accountId: string | null, externalId: string | null) => RowIdentity {
  const options = findingOptions(ctx);
  const cache = new Map<string, RowIdentity>();
  return (accountId, externalId) => {
    const key = accountId ?? `uuid:${externalId ?? ''}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const identity = matchAccount(view, accountId, ctx.integration.workspace);
    const person = identity.people[0] ?? null;
    // Access is what makes a finding; the row itself is access, so one placeholder entry stands for it.
    const findings = findingsFor({ externalId: externalId ?? '', accountId, displayName: null, handle: null, workspaceRole: null, access: [{ resourceKind: '', resource: '', permission: '', admin: false }] }, view, options);
    const found: RowIdentity = {
      email: identity.email,
      personStatus: person?.status ?? null,
      lastActive: identity.bitbucketLastActive?.toISOString() ?? null,
      department: person?.department ?? null,
      flags: [...new Set(findings.map((f) => f.kind))],
    };
    cache.set(key, found);
    return found;
  };
}

export function renderAccessRow(ctx: ReportContext, row: AccessRow, flagOptions: { memberListKnown: boolean }, identity?: ReturnType<typeof identityLookup>): RenderedAccessRow {
  const rendered = row as RenderedAccessRow;
  rendered.firstSeen = runTime(ctx, row.first_seen_run);
  rendered.flags = accessFlags(row, flagOptions);
  rendered.runs = ctx.runs;
  rendered.identity = identity && row.principal_kind === 'user' ? identity(row.account_id, row.principal_external_id) : null;
  return rendered;
}

/** Streams an access query's rows, rendered. */
export async function* accessPages(ctx: ReportContext, q: AccessQuery): AsyncGenerator<RenderedAccessRow[]> {
  const flagOptions = { memberListKnown: await memberListKnown(ctx) };
  const rules = accessRules(permissionModelOf(ctx.integration.kind));
  const identity = identityLookup(ctx, await loadIdentity(ctx.db, ctx.options.asOf ?? null));
  yield* mapPages(accessRowPages(ctx, q, ctx.pageSize), (row) => renderAccessRow(ctx, toAccessRow(row, rules), flagOptions, identity));
}

/** Who is behind the account, from the organization and the people files (users; empty when unknown). */
export const identityColumns: Column<RenderedAccessRow>[] = [
  { name: 'email', description: "E-mail of the user: the Atlassian organization's record, else the people file's", value: (r) => r.identity?.email ?? null },
  { name: 'person_status', description: 'active, terminated or leave in the people file; empty when no person matched', value: (r) => r.identity?.personStatus ?? null },
  { name: 'last_active', description: 'Last Bitbucket activity the organization recorded', value: (r) => r.identity?.lastActive ?? null },
  { name: 'department', description: 'Department in the people file', value: (r) => r.identity?.department ?? null },
  {
    name: 'identity_flags',
    description: 'The identity-findings kinds that apply to the user: terminated-with-access, account-inactive-or-closed, dormant, not-in-directory, external-domain, shared-or-service-account',
    value: (r) => r.identity?.flags ?? [],
  },
];

export const resourceColumns: Column<RenderedAccessRow>[] = [
  { name: 'resource_kind', description: 'workspace, project or repository', value: (r) => r.resource_kind },
  { name: 'resource', description: 'Workspace slug, project key or repository slug', value: (r) => r.resource_handle },
  { name: 'resource_name', description: 'Name as Bitbucket shows it', value: (r) => r.resource_name },
  { name: 'resource_id', description: "Bitbucket's uuid of the resource", value: (r) => r.resource_external_id },
  { name: 'project', description: "Repository rows: the key of the repository's project", value: (r) => r.project_handle },
];

export const principalColumns: Column<RenderedAccessRow>[] = [
  { name: 'principal_kind', description: 'user, deploy_key or access_token', value: (r) => r.principal_kind },
  { name: 'principal_id', description: "Bitbucket's uuid of the user (deploy keys: the key id)", value: (r) => r.principal_external_id },
  { name: 'principal_name', description: 'Display name (deploy keys: the label)', value: (r) => r.principal_name },
  { name: 'principal_handle', description: 'Nickname', value: (r) => r.principal_handle },
  { name: 'account_id', description: 'Atlassian account id', value: (r) => r.account_id },
  { name: 'workspace_role', description: 'member, collaborator or owner; empty when the user is not in the workspace member list', value: (r) => r.workspace_role },
];

export const grantColumns: Column<RenderedAccessRow>[] = [
  { name: 'permission', description: 'Effective permission on the resource: the highest over all paths', value: (r) => r.permission },
  {
    name: 'paths',
    description: 'Every path that gives the access, with the permission of the grant behind it: direct, group:G, project:P, project:P group:G, workspace-owner, workspace-role',
    value: (r): Cell => r.paths.map((p) => pathJson(r, p)),
    csv: (r) => r.paths.map(pathLabel).join('; '),
  },
  { name: 'path_count', description: 'Number of paths', value: (r) => r.paths.length },
  { name: 'first_seen', description: 'When Roster first saw the access as it is now: the end of the earliest run since which one of its paths has held unchanged', value: (r) => r.firstSeen },
  { name: 'first_seen_run', description: 'That run', value: (r) => r.first_seen_run },
  {
    name: 'flags',
    description: 'admin; individual-grant (granted to the user, not a group); single-use-group (only through groups that have no other member and no other grant); collaborator; not-in-member-list',
    value: (r) => r.flags,
  },
];

export const accessReview: ReportDefinition<RenderedAccessRow> = {
  name: 'access-review',
  title: 'Access review',
  description:
    'Per repository, project and the workspace: every principal with access, its effective permission, every path that gives it, when it was first seen and review flags, with empty decision/reviewer/comment columns for reviewers.',
  sort: 'resource (the workspace, then projects, then repositories, each by key/slug), then principal (users, then deploy keys and tokens, each by display name, then uuid)',
  options: ['asOf', 'dormantDays', 'domains'],
  readsSyncedState: true,
  columns: () => [
    ...resourceColumns,
    ...principalColumns,
    ...grantColumns,
    ...identityColumns,
    { name: 'decision', description: 'For the reviewer: keep / revoke / change', value: () => '' },
    { name: 'reviewer', description: 'For the reviewer', value: () => '' },
    { name: 'comment', description: 'For the reviewer', value: () => '' },
  ],
  pages: (ctx) => accessPages(ctx, { order: 'resource', usersOnly: false }),
};
