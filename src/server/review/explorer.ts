import { type Kysely, sql } from 'kysely';
import type { AccessQuery } from '../../../reports/access.ts';
import { type RenderedAccessRow, accessPages } from '../../../reports/access-review.ts';
import { finishedRuns, resolveUser } from '../../../reports/context.ts';
import { inSnapshot } from '../../../reports/run.ts';
import type { RunInfo } from '../../../reports/types.ts';
import { resourcesAt } from '../../access/history.ts';
import type { Database, Integration } from '../../db/types.ts';
import { RosterError, errorMessage } from '../../errors.ts';
import { contextAt } from '../../review/snapshot.ts';

/**
 * The read-only access explorer of the campaign overview: "who can reach repository X and why" and
 * "what can person Y reach", as of any finished run. It reads through the reports' derivation
 * (reports/access.ts over src/access), so it shows exactly what `roster report access-review` and
 * `roster report user-access --user` would.
 */

export const EXPLORER_ROW_LIMIT = 1000;

export interface ExplorerRequest {
  integration?: string;
  run?: string;
  repository?: string;
  user?: string;
}

export interface ExplorerResult {
  integrations: string[];
  integration: Integration | null;
  runs: RunInfo[];
  run: RunInfo | null;
  repositories: string[];
  mode: 'repository' | 'user' | null;
  subject: string | null;
  rows: RenderedAccessRow[];
  truncated: boolean;
  /** A question that cannot be answered (unknown repository, ambiguous user): the message and its fix. */
  problem: string | null;
}

export async function exploreAccess(db: Kysely<Database>, request: ExplorerRequest, now = new Date()): Promise<ExplorerResult> {
  const all = await db.selectFrom('integrations').selectAll().orderBy('name').execute();
  const result: ExplorerResult = { integrations: all.map((i) => i.name), integration: null, runs: [], run: null, repositories: [], mode: null, subject: null, rows: [], truncated: false, problem: null };
  const integration = (request.integration ? all.find((i) => i.name === request.integration) : all[0]) ?? null;
  if (!integration) {
    result.problem = request.integration ? `No integration named "${request.integration}": choose one of the list.` : 'No integration is configured yet.';
    return result;
  }
  result.integration = integration;
  result.runs = await finishedRuns(db, integration.id);
  const wanted = request.run?.trim();
  const run = wanted ? result.runs.find((r) => r.id === wanted) : result.runs[result.runs.length - 1];
  if (!run) {
    result.problem = wanted ? `Run ${wanted} is not a finished run of "${integration.name}": choose one of the list.` : `"${integration.name}" has no finished run yet: run roster sync first.`;
    return result;
  }
  result.run = run;
  const runs = new Map(result.runs.map((r) => [r.id, r]));
  await inSnapshot(db, async (trx) => {
    const repos = await sql<{ id: string; handle: string }>`
      select r.id::text as id, r.handle from ${resourcesAt(integration.id, run.id, ['repository'])} r where r.handle is not null order by r.handle collate "C", r.id`.execute(trx);
    result.repositories = repos.rows.map((r) => r.handle);
    const ctx = contextAt(trx, integration, run, runs, now);
    let query: AccessQuery;
    if (request.repository?.trim()) {
      const slug = request.repository.trim();
      result.mode = 'repository';
      result.subject = slug;
      const repo = repos.rows.find((r) => r.handle === slug);
      if (!repo) {
        result.problem = `No repository "${slug}" at the end of run ${run.id} of "${integration.name}": choose one of the list (slugs, as in Bitbucket's URLs).`;
        return;
      }
      query = { order: 'resource', usersOnly: false, resourceId: repo.id };
    } else if (request.user?.trim()) {
      result.mode = 'user';
      result.subject = request.user.trim();
      try {
        const user = await resolveUser(trx, integration, request.user.trim(), 'user');
        result.subject = user.displayName ?? user.externalId;
        query = { order: 'principal', usersOnly: true, principalId: user.id };
      } catch (error) {
        if (!(error instanceof RosterError)) throw error;
        result.problem = errorMessage(error);
        return;
      }
    } else {
      return;
    }
    for await (const page of accessPages(ctx, query)) {
      for (const row of page) {
        if (result.rows.length >= EXPLORER_ROW_LIMIT) {
          result.truncated = true;
          return;
        }
        result.rows.push(row);
      }
    }
  });
  return result;
}
