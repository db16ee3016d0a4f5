import { sql } from 'kysely';
import type { PathJson } from './access.ts';
import { type RenderedAccessRow, accessPages, grantColumns, identityColumns, principalColumns, resourceColumns } from './access-review.ts';
import { resolveUser } from './context.ts';
import { principalsAt } from '../src/access/history.ts';
import type { Column, ReportDefinition } from './types.ts';

/** What would have to be undone for this path to stop giving access (offboarding). */
export function removalFor(row: RenderedAccessRow, p: PathJson): string {
  switch (p.category) {
    case 'root-direct':
      return p.privilegedGrant ? `remove from ${row.resource_kind} (${p.granted})` : `remove from ${row.resource_kind}`;
    case 'root-role':
      return `remove ${p.kind.replace(/-/g, ' ')} role`;
    case 'direct':
      return `revoke ${row.resource_kind} permission on ${row.resource_handle ?? row.resource_name} (${p.granted})`;
    case 'inherited':
      return `revoke ${p.kind} permission on ${p.project ?? '?'} (${p.granted})`;
    case 'group':
    case 'inherited-group':
    case 'root-role-group':
      return `remove from group ${p.group ?? '?'}`;
    case 'implicit':
      return p.undo ?? `turn off ${p.kind} access to ${row.resource_handle ?? row.resource_name}`;
  }
}

const USER_DESCRIPTIONS: Record<string, string> = { principal_id: "The user's Bitbucket uuid", principal_name: 'Display name' };
const userColumns = principalColumns.filter((c) => c.name !== 'principal_kind').map((c): Column<RenderedAccessRow> => ({ ...c, description: USER_DESCRIPTIONS[c.name] ?? c.description }));

export const userAccess: ReportDefinition<RenderedAccessRow> = {
  name: 'user-access',
  title: 'User access',
  description:
    'Per user: everything they can reach (their workspace role, projects, repositories), the effective permission, every path, and what would have to be removed to take the access away. With --user, one person (offboarding check).',
  sort: 'user (display name, then uuid), then resource (the workspace, then projects, then repositories, each by key/slug)',
  options: ['asOf', 'user', 'dormantDays', 'domains'],
  readsSyncedState: true,
  columns: () => [
    ...userColumns,
    ...resourceColumns,
    ...grantColumns,
    ...identityColumns,
    {
      name: 'to_remove',
      description: 'What must be undone for the user to lose this access: group memberships, grants on the resource or its project, the workspace owner role',
      value: (r) => [...new Set(r.paths.map((p) => removalFor(r, p)))],
    },
  ],
  pages: async function* (ctx) {
    let principalId: string | undefined;
    if (ctx.options.user !== undefined) {
      const user = await resolveUser(ctx.db, ctx.integration, ctx.options.user);
      principalId = user.id;
      const present = await sql<{ n: number }>`
        select count(*)::int as n from ${principalsAt(ctx.integration.id, ctx.run.id, ['user'])} p where p.id = ${user.id}`.execute(ctx.db);
      if ((present.rows[0]?.n ?? 0) === 0) {
        ctx.warnings.push(`User ${user.displayName ?? user.externalId} (${user.externalId}) was not present in "${ctx.integration.name}" at the end of run ${ctx.run.id}: no access to report.`);
      }
    }
    yield* accessPages(ctx, { order: 'principal', usersOnly: true, principalId });
  },
};
