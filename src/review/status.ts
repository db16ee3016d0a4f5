import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { reviewerLabel } from './columns.ts';
import { remediationCounts, remediationTasks } from './remediation.ts';
import { type CampaignRow, campaignRuns, findCampaign, listCampaignRows } from './sql/campaigns.ts';
import { loadItemViews } from './sql/items.ts';
import { campaignReviewers } from './sql/reviewers.ts';
import type { CampaignSummary, StatusReport } from './types.ts';

function summary(c: CampaignRow, counts: { items: number; decided: number }, runs: CampaignSummary['runs']): CampaignSummary {
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    reviewerRule: c.reviewer_rule,
    undecidedPolicy: c.undecided_policy,
    due: c.due_on,
    createdAt: new Date(c.created_at).toISOString(),
    closedAt: c.closed_at ? new Date(c.closed_at).toISOString() : null,
    items: counts.items,
    decided: counts.decided,
    baseCampaign: c.base_campaign_id,
    baseRun: c.base_run_id,
    runs,
  };
}

export async function listCampaigns(db: Kysely<Database>): Promise<CampaignSummary[]> {
  const rows = await listCampaignRows(db);
  const out: CampaignSummary[] = [];
  for (const r of rows) {
    const runs = await campaignRuns(db, r.id);
    out.push(summary(r, r, runs.map((x) => ({ integration: x.integration, runId: x.run_id, snapshotSha256: x.snapshot_sha256 }))));
  }
  return out;
}

/** A due date has passed once its whole day (UTC) is over. */
export const isOverdue = (due: string | null, now: Date): boolean => due !== null && now.getTime() > new Date(`${due}T23:59:59.999Z`).getTime();

/** Items, decided per reviewer, overdue, and the remediation state: what `roster review status` shows. */
export async function campaignStatus(db: Kysely<Database>, ref: string, options: { now?: Date } = {}): Promise<StatusReport> {
  const now = options.now ?? new Date();
  const campaign = await findCampaign(db, ref);
  const reviewers = await campaignReviewers(db, campaign.id);
  const items = await loadItemViews(db, campaign.id, new Map(reviewers.map((r) => [r.id, r])));
  const runs = await campaignRuns(db, campaign.id);
  const decided = items.filter((i) => i.decision !== null).length;
  const late = campaign.status === 'open' && isOverdue(campaign.due_on, now);
  const per = new Map<string, { reviewer: string; key: string; items: number; decided: number }>();
  for (const i of items) {
    if (i.carried_forward) continue;
    const entry = per.get(i.reviewer.key) ?? { reviewer: reviewerLabel(i.reviewer), key: i.reviewer.key, items: 0, decided: 0 };
    entry.items += 1;
    if (i.decision !== null) entry.decided += 1;
    per.set(i.reviewer.key, entry);
  }
  const tasks = await remediationTasks(db, campaign.id, { now });
  return {
    campaign: summary(campaign, { items: items.length, decided }, runs.map((x) => ({ integration: x.integration, runId: x.run_id, snapshotSha256: x.snapshot_sha256 }))),
    items: items.length,
    decided,
    undecided: items.length - decided,
    carriedForward: items.filter((i) => i.carried_forward).length,
    decisions: { keep: items.filter((i) => i.decision === 'keep').length, revoke: items.filter((i) => i.decision === 'revoke').length, reduce: items.filter((i) => i.decision === 'reduce').length },
    overdue: late && decided < items.length,
    reviewers: [...per.values()]
      .map((r) => ({ ...r, undecided: r.items - r.decided, overdue: late && r.decided < r.items }))
      .sort((a, b) => b.undecided - a.undecided || (a.reviewer < b.reviewer ? -1 : 1)),
    remediation: remediationCounts(tasks),
  };
}
