import { sql } from 'kysely';
import { apiLimitsOf } from '../src/connectors.ts';
import { RosterError } from '../src/errors.ts';
import { type Health, integrationHealth } from '../src/access/health.ts';
import { DEFAULT_MAX_AGE_MS, coverageGaps } from './context.ts';
import { directoryGroupsAt, reconcileDirectoryGroups, workspaceGroupsAt } from '../src/identity/directory-groups.ts';
import { loadIdentity } from '../src/identity/view.ts';
import { accountsWithAccess } from './identity-findings.ts';
import { plural } from '../src/text.ts';
import type { Column, CoverageGapInfo, ReportDefinition } from './types.ts';

// ─── coverage: what the reflected run could not read ────────────────────────────────────────

const coverageColumns: Column<CoverageGapInfo & { runStatus: string }>[] = [
  { name: 'integration', description: 'Integration name', value: (r) => r.integration },
  { name: 'run_id', description: 'The run the other reports reflect', value: (r) => r.runId },
  { name: 'run_status', description: 'succeeded, partial or failed', value: (r) => r.runStatus },
  { name: 'stream', description: 'What was being read (members, groups, repository-permissions, …)', value: (r) => r.stream },
  { name: 'scope', description: 'The listing that was not read', value: (r) => r.scope },
  { name: 'label', description: 'Human label, e.g. the repository', value: (r) => r.label },
  { name: 'status', description: 'failed, not_covered, or not_listable (no credential can list it)', value: (r) => r.status },
  {
    name: 'kind',
    description:
      "credential-gap: this credential kind cannot read it (expected; see advice). failure: it should have been read. api-limit: the source's API cannot list it with any credential (standing; see message). identity-gap: an account with access that the Atlassian organization has no managed record of. directory-group-gap: a group of the organization's directory that the workspace's /1.0/groups does not list (scope directory-group-not-in-workspace:…) or lists with other members (scope group-membership-differs:…); its access through the workspace may be missing. skipped-by-setting: left unread on purpose (reconcile: weekly or off; only the cross-check is postponed, no access is missing)",
    value: (r) => r.kind,
  },
  { name: 'endpoint', description: 'API path that failed', value: (r) => r.endpoint },
  { name: 'http_status', description: 'HTTP status', value: (r) => r.httpStatus },
  { name: 'error_code', description: "Roster's error code", value: (r) => r.errorCode },
  { name: 'message', description: 'What went wrong', value: (r) => r.message },
  { name: 'advice', description: 'What would fix it (which credential, scope or permission)', value: (r) => r.advice },
  { name: 'data_from_run', description: 'The latest earlier run that read this scope completely: the reports show its data for this scope. Empty: never read', value: (r) => r.dataFromRun },
  { name: 'data_from_run_finished_at', description: 'When that run finished', value: (r) => r.dataFromRunFinishedAt },
];

export const coverage: ReportDefinition<CoverageGapInfo & { runStatus: string }> = {
  name: 'coverage',
  title: 'Coverage',
  description:
    "Every scope the reflected run could not read, why, what would fix it, and which earlier run the reports use for it instead; then what the source's API cannot list with any credential (kind api-limit, the same for every integration of the kind). Only api-limit rows: everything that can be read was read.",
  sort: 'stream, then scope',
  options: ['asOf'],
  readsSyncedState: true,
  columns: () => coverageColumns,
  notes: (integration) => apiLimitsOf(integration.kind).map((l) => l.statement),
  pages: async function* (ctx) {
    const gaps = await coverageGaps(ctx.db, ctx.integration, ctx.run);
    const limits = apiLimitsOf(ctx.integration.kind).map((l): CoverageGapInfo => ({
      integration: ctx.integration.name,
      runId: ctx.run.id,
      stream: l.id,
      scope: `api-limit:${l.id}`,
      label: l.what,
      status: 'not_listable',
      kind: 'api-limit',
      endpoint: null,
      httpStatus: null,
      errorCode: null,
      message: l.statement,
      advice: `No credential can list these through the API (${l.source}); review them in the source's own settings.`,
      dataFromRun: null,
      dataFromRunFinishedAt: null,
    }));
    // Which accounts with access the organization has no managed record of: their e-mail, status and
    // activity are unknown (the organization API lists managed accounts only).
    const identity = await loadIdentity(ctx.db, ctx.options.asOf ?? null);
    const orgSource = identity.orgSources[0];
    const missing: CoverageGapInfo[] = [];
    if (orgSource) {
      for await (const account of accountsWithAccess(ctx)) {
        // Without an Atlassian account id (Data Center's own users) the organization cannot know the account.
        if (account.accountId === null || identity.accounts.has(account.accountId)) continue;
        missing.push({
          integration: ctx.integration.name,
          runId: ctx.run.id,
          stream: 'org-accounts',
          scope: `no-org-record:${account.accountId ?? account.externalId}`,
          label: `${account.displayName ?? account.externalId} (${account.accountId ?? 'no account id'})`,
          status: 'not_covered',
          kind: 'identity-gap',
          endpoint: null,
          httpStatus: null,
          errorCode: null,
          message: `No managed account in the organization ${identity.orgSources.map((s) => `"${s.integration}" (run ${s.runId})`).join(', ')}: its e-mail, account status and last activity are unknown.`,
          advice: 'An account of an unverified domain, an external or unmanaged account, or a service account: verify the domain or claim the account in admin.atlassian.com, or review it by hand (identity-findings lists it as not-in-directory).',
          dataFromRun: null,
          dataFromRunFinishedAt: null,
        });
      }
      missing.sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0));
      // The organization's directory groups the workspace's /1.0/groups does not show, or shows with
      // other people: what the access reports (read from /1.0/groups) may be missing.
      const names = (ids: readonly string[]): string => {
        const shown = ids.slice(0, 5).map((id) => identity.accounts.get(id)?.name ?? id);
        return `${shown.join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''}`;
      };
      const groupGaps = reconcileDirectoryGroups(await directoryGroupsAt(ctx.db, identity.orgSources), await workspaceGroupsAt(ctx.db, ctx.integration.id, ctx.run.id));
      for (const g of groupGaps) {
        const where = `the directory "${g.group.directoryName ?? g.group.directoryId}" of "${g.group.integration}" (run ${g.group.runId})`;
        const differs = g.kind === 'group-membership-differs';
        missing.push({
          integration: ctx.integration.name,
          runId: ctx.run.id,
          stream: 'org-groups',
          scope: `${g.kind}:${g.group.groupId}`,
          label: `${g.group.name} (${plural(g.group.memberAccountIds.length, 'member')} in the organization)`,
          status: 'not_covered',
          kind: 'directory-group-gap',
          endpoint: null,
          httpStatus: null,
          errorCode: null,
          message: differs
            ? `The group "${g.group.name}" of ${where} and the workspace's group "${g.workspaceGroup?.slug}" have other members: only in the organization: ${g.onlyInDirectory.length ? names(g.onlyInDirectory) : 'none'}; only in the workspace: ${g.onlyInWorkspace.length ? names(g.onlyInWorkspace) : 'none'}.`
            : `The group "${g.group.name}" of ${where} is not among the workspace's groups (/1.0/groups): access it gives in Bitbucket is not in the access reports.`,
          advice: differs
            ? "Roster's access reports follow the workspace's /1.0/groups: check the group's members in admin.atlassian.com → Directory → Groups and in the workspace settings, then sync both again."
            : "If the group has Bitbucket product or repository access (admin.atlassian.com → Directory → Groups → the group → Product access), review its members there by hand: Bitbucket's 1.0 groups API does not list it.",
          dataFromRun: null,
          dataFromRunFinishedAt: null,
        });
      }
    }
    const rows = [...gaps, ...limits, ...missing];
    for (let i = 0; i < rows.length; i += ctx.pageSize) yield rows.slice(i, i + ctx.pageSize).map((g) => ({ ...g, runStatus: ctx.run.status }));
  },
};

// ─── sync-status: one row per integration ───────────────────────────────────────────────────

export interface SyncStatusRow {
  integration: string;
  workspace: string | null;
  credential_kind: string;
  integration_status: string;
  health: Health;
  reason: string;
  last_run_id: string | null;
  last_run_status: string | null;
  last_run_started_at: string | null;
  last_run_finished_at: string | null;
  data_age_seconds: number | null;
  last_success_at: string | null;
  open_run_id: string | null;
  open_run_status: string | null;
  scopes_complete: number;
  scopes_failed: number;
  credential_gaps: number;
  users: number | null;
  groups: number | null;
  projects: number | null;
  repositories: number | null;
  grants: number | null;
  deploy_keys: number | null;
  api_requests: number | null;
  summary: string | null;
}

interface RunFacts {
  id: string;
  counts: { live?: Record<string, number> } | null;
  api_requests: number;
  scopes_complete: number;
}

const statusColumns: Column<SyncStatusRow>[] = [
  { name: 'integration', description: 'Integration name', value: (r) => r.integration },
  { name: 'workspace', description: 'Bitbucket workspace slug', value: (r) => r.workspace },
  { name: 'credential_kind', description: 'Kind of credential the integration uses', value: (r) => r.credential_kind },
  { name: 'integration_status', description: 'active, revoked (the credential was rejected) or disabled', value: (r) => r.integration_status },
  { name: 'health', description: 'The verdict roster status gives: healthy, degraded (fresh, but scopes not covered by this credential), stale (nothing finished within the maximum age, or never synced) or failing (credential rejected, last run failed or partial)', value: (r) => r.health },
  { name: 'reason', description: 'Why that health', value: (r) => r.reason },
  { name: 'last_run_id', description: 'Latest finished run', value: (r) => r.last_run_id },
  { name: 'last_run_status', description: 'succeeded, partial or failed', value: (r) => r.last_run_status },
  { name: 'last_run_started_at', description: 'When it started', value: (r) => r.last_run_started_at },
  { name: 'last_run_finished_at', description: 'When it finished', value: (r) => r.last_run_finished_at },
  { name: 'data_age_seconds', description: 'Seconds from that finish to the report time', value: (r) => r.data_age_seconds },
  { name: 'last_success_at', description: 'When the latest succeeded run finished', value: (r) => r.last_success_at },
  { name: 'open_run_id', description: 'A run in progress or paused for the rate limit, if any', value: (r) => r.open_run_id },
  { name: 'open_run_status', description: 'in-progress, paused (for the API rate limit) or interrupted (its process is gone; the next sync continues it)', value: (r) => r.open_run_status },
  { name: 'scopes_complete', description: 'Scopes the latest finished run read completely', value: (r) => r.scopes_complete },
  { name: 'scopes_failed', description: 'Scopes it could not read although it should have (see coverage)', value: (r) => r.scopes_failed },
  { name: 'credential_gaps', description: 'Scopes this credential kind cannot read (see coverage)', value: (r) => r.credential_gaps },
  { name: 'users', description: 'Users known after that run', value: (r) => r.users },
  { name: 'groups', description: 'Groups', value: (r) => r.groups },
  { name: 'projects', description: 'Projects', value: (r) => r.projects },
  { name: 'repositories', description: 'Repositories', value: (r) => r.repositories },
  { name: 'grants', description: 'Explicit grants', value: (r) => r.grants },
  { name: 'deploy_keys', description: 'Deploy keys', value: (r) => r.deploy_keys },
  { name: 'api_requests', description: 'API requests the run made', value: (r) => r.api_requests },
  { name: 'summary', description: "The run's one-paragraph summary", value: (r) => r.summary },
];

export const syncStatus: ReportDefinition<SyncStatusRow> = {
  name: 'sync-status',
  title: 'Sync status',
  description: 'Per integration: the latest run, its status, what it could not read, the age of the data and a health verdict (the one roster status gives). All integrations unless --integration.',
  sort: 'integration name',
  options: [],
  readsSyncedState: false,
  columns: () => statusColumns,
  pages: async function* (ctx) {
    const name = ctx.options.integration;
    if (name !== undefined) {
      const found = await ctx.db.selectFrom('integrations').select('id').where('name', '=', name).executeTakeFirst();
      if (!found) throw new RosterError('integration_not_found', `No integration named "${name}".`);
    }
    // The verdict is roster status's own, so the two can never disagree.
    const health = await integrationHealth(ctx.db, { maxAgeMs: ctx.options.maxAgeMs ?? DEFAULT_MAX_AGE_MS, now: ctx.now, integration: name });
    health.sort((a, b) => Buffer.compare(Buffer.from(a.integration), Buffer.from(b.integration)));
    const runIds = health.flatMap((h) => (h.lastRun ? [h.lastRun.id] : []));
    const facts = new Map<string, RunFacts>();
    if (runIds.length > 0) {
      const result = await sql<RunFacts>`
        select r.id::text as id, r.counts, r.api_requests,
               (select count(*) from sync_scopes x where x.run_id = r.id and x.status = 'complete')::int as scopes_complete
          from sync_runs r where r.id in (${sql.join(runIds)})`.execute(ctx.db);
      for (const row of result.rows) facts.set(row.id, row);
    }
    yield health.map((h): SyncStatusRow => {
      const run = h.lastRun ? facts.get(h.lastRun.id) : undefined;
      const live = run?.counts?.live ?? null;
      const count = (k: string): number | null => (live && typeof live[k] === 'number' ? live[k] : null);
      return {
        integration: h.integration,
        workspace: h.workspace,
        credential_kind: h.credentialKind,
        integration_status: h.integrationStatus,
        health: h.verdict,
        reason: h.reason,
        last_run_id: h.lastRun?.id ?? null,
        last_run_status: h.lastRun?.status ?? null,
        last_run_started_at: h.lastRun?.startedAt ?? null,
        last_run_finished_at: h.lastRun?.finishedAt ?? null,
        data_age_seconds: h.dataAgeSeconds,
        last_success_at: h.lastSuccessAt,
        open_run_id: h.openRun?.id ?? null,
        open_run_status: h.openRun?.state ?? null,
        scopes_complete: run?.scopes_complete ?? 0,
        scopes_failed: h.failedScopes.length,
        credential_gaps: h.coverageGaps.length,
        users: count('users'),
        groups: count('groups'),
        projects: count('projects'),
        repositories: count('repositories'),
        grants: count('grants'),
        deploy_keys: count('deploy_keys'),
        api_requests: run?.api_requests ?? null,
        summary: h.lastRun?.summary ?? null,
      };
    });
  },
};
