import { permissionModelOf } from '../src/connectors.ts';
import { type AccountWithAccess, DEFAULT_DORMANT_DAYS, FINDING_KINDS, type FindingOptions, type IdentityFinding, accessLabels, findingsFor } from '../src/identity/findings.ts';
import { loadIdentity } from '../src/identity/view.ts';
import { accessRowPages, accessRules, toAccessRow } from './access.ts';
import type { Cell, Column, ReportContext, ReportDefinition } from './types.ts';

/**
 * Who is behind each account with access, and what auditors ask first: people who left and still
 * hold access, accounts the organization deactivated or closed, accounts unused for months, accounts
 * no directory knows, e-mails outside the organization's domains, and service or shared accounts.
 * Joins the reflected Bitbucket run with the organization's accounts (the latest org sync finished by
 * the report time) and the people files (each source's latest import by then), on account id and
 * e-mail (ignoring case).
 */

export function findingOptions(ctx: ReportContext): FindingOptions {
  return {
    reference: ctx.options.asOf ?? ctx.now,
    dormantDays: ctx.options.dormantDays ?? DEFAULT_DORMANT_DAYS,
    extraDomains: (ctx.options.domains ?? []).map((d) => d.toLowerCase()),
    workspace: ctx.integration.workspace,
  };
}

/** Every user with access at the end of the run, with what they hold (one pass over the access query, by user). */
export async function* accountsWithAccess(ctx: ReportContext): AsyncGenerator<AccountWithAccess> {
  const rules = accessRules(permissionModelOf(ctx.integration.kind));
  let current: AccountWithAccess | null = null;
  let currentId: string | null = null;
  for await (const page of accessRowPages(ctx, { order: 'principal', usersOnly: true }, ctx.pageSize)) {
    for (const db of page) {
      const row = toAccessRow(db, rules);
      if (row.principal_id === null) continue;
      if (row.principal_id !== currentId) {
        if (current) yield current;
        currentId = row.principal_id;
        current = { externalId: row.principal_external_id ?? '', accountId: row.account_id, displayName: row.principal_name, handle: row.principal_handle, workspaceRole: row.workspace_role, access: [] };
      }
      current?.access.push({ resourceKind: row.resource_kind, resource: row.resource_handle ?? row.resource_external_id, permission: row.permission, admin: row.admin });
    }
  }
  if (current) yield current;
}

const KIND_RANK = new Map(FINDING_KINDS.map((k, i) => [k, i]));
const byText = (a: string | null, b: string | null): number => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0);

export function compareFindings(a: IdentityFinding, b: IdentityFinding): number {
  return (
    (KIND_RANK.get(a.kind) ?? 0) - (KIND_RANK.get(b.kind) ?? 0) ||
    Number(b.account.access.some((x) => x.admin)) - Number(a.account.access.some((x) => x.admin)) ||
    byText(a.account.displayName, b.account.displayName) ||
    byText(a.account.externalId, b.account.externalId) ||
    byText(a.evidence.source, b.evidence.source)
  );
}

const personCell = (f: IdentityFinding): Cell => {
  const p = f.person ?? f.identity.people[0] ?? null;
  if (!p) return null;
  return {
    source: p.source,
    email: p.email,
    name: p.name,
    employee_id: p.employeeId,
    status: p.status,
    termination_date: p.terminationDate,
    manager_email: p.managerEmail,
    department: p.department,
    type: p.type,
  };
};

const columns: Column<IdentityFinding>[] = [
  { name: 'kind', description: 'terminated-with-access, account-inactive-or-closed, dormant, not-in-directory, external-domain or shared-or-service-account', value: (f) => f.kind },
  { name: 'account_id', description: 'Atlassian account id', value: (f) => f.account.accountId },
  { name: 'principal_id', description: "The user's Bitbucket uuid", value: (f) => f.account.externalId },
  { name: 'display_name', description: 'Display name in Bitbucket', value: (f) => f.account.displayName },
  { name: 'email', description: "E-mail: the organization's record of the account, else the people file's (empty: unknown)", value: (f) => f.identity.email },
  {
    name: 'person',
    description: 'The person matched in a people file (source, e-mail, name, employee id, status, termination date, manager, department, type); empty when none',
    value: personCell,
    csv: (f) => {
      const p = f.person ?? f.identity.people[0];
      return p ? `${p.name ?? ''} <${p.email}> (${p.status}, ${p.source})`.trim() : '';
    },
  },
  { name: 'matched_by', description: 'How the person was found: account_id (the file has the account id) or email (ignoring case); empty when no person matched', value: (f) => f.identity.matchedBy },
  { name: 'org_status', description: "The account's status in the organization: active, inactive or closed; empty without an organization record", value: (f) => f.identity.org?.accountStatus ?? null },
  { name: 'last_active', description: 'Last Bitbucket activity the organization recorded (empty: none recorded, or no organization record)', value: (f) => f.identity.bitbucketLastActive?.toISOString() ?? null },
  { name: 'days', description: 'terminated-with-access: days since the termination date; dormant: days since the last Bitbucket activity (or since joining the organization)', value: (f) => f.days },
  { name: 'workspace_role', description: 'member, collaborator or owner; empty when the user is not in the workspace member list', value: (f) => f.account.workspaceRole },
  { name: 'admin', description: 'The account administers something (workspace owner, project or repository admin)', value: (f) => f.account.access.some((a) => a.admin) },
  {
    name: 'evidence',
    description: 'What the finding rests on: source (people:SOURCE, org:INTEGRATION or pattern), snapshot (import or run), date, detail',
    value: (f): Cell => ({ source: f.evidence.source, snapshot: f.evidence.snapshot, date: f.evidence.date, detail: f.evidence.detail }),
    csv: (f) => [f.evidence.source, f.evidence.snapshot, f.evidence.date, f.evidence.detail].filter(Boolean).join('; '),
  },
  { name: 'access', description: 'What the account holds, admins first: kind, resource and effective permission', value: (f) => accessLabels(f.account.access) },
];

export const identityFindings: ReportDefinition<IdentityFinding> = {
  name: 'identity-findings',
  title: 'Identity findings',
  description:
    'Who is behind each account with access: terminated people who still hold access, accounts inactive or closed in the organization, dormant accounts, accounts in no directory, e-mails outside the organization domains, service or shared accounts — each with the person matched, its evidence and the access it concerns.',
  sort: 'kind (in the order above), then accounts that administer something first, then display name, then uuid',
  options: ['asOf', 'dormantDays', 'domains'],
  readsSyncedState: true,
  columns: () => columns,
  pages: async function* (ctx) {
    const view = await loadIdentity(ctx.db, ctx.options.asOf ?? null);
    // Which sources there are is a statement, not a warning: the Bitbucket data is as complete without them.
    const note = (text: string): void => void (ctx.notes ?? ctx.warnings).push(text);
    if (view.orgSources.length === 0 && view.peopleSources.length === 0) {
      note(
        `No identity source${ctx.options.asOf ? ` as of ${ctx.options.asOf.toISOString()}` : ''}: import a people file (roster people import FILE.csv) or connect the Atlassian organization (roster integration add NAME --kind atlassian-org …) and sync it; only pattern-based service accounts can be found without one.`,
      );
    } else {
      if (view.orgSources.length === 0) note('No Atlassian organization is synced: e-mails, account status and last activity are unknown, so account-inactive-or-closed and dormant cannot be found (roster integration add NAME --kind atlassian-org …).');
      if (view.peopleSources.length === 0) note('No people file is imported: terminated-with-access cannot be found (roster people import FILE.csv).');
    }
    for (const s of view.orgSources) if (s.runStatus !== 'succeeded') ctx.warnings.push(`The organization sync "${s.integration}" used (run ${s.runId}) is ${s.runStatus}: accounts it could not read keep their earlier state.`);
    const options = findingOptions(ctx);
    const all: IdentityFinding[] = [];
    for await (const account of accountsWithAccess(ctx)) all.push(...findingsFor(account, view, options));
    all.sort(compareFindings);
    for (let i = 0; i < all.length; i += ctx.pageSize) yield all.slice(i, i + ctx.pageSize);
  },
};
