import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import type { ItemView } from './columns.ts';
import { decisionWords } from './decisions.ts';
import { matchCampaignReviewer } from './reviewers.ts';
import { ladderOf } from './snapshot.ts';
import { findCampaign } from './sql/campaigns.ts';
import { loadItemViews } from './sql/items.ts';
import { campaignReviewers } from './sql/reviewers.ts';
import { isOverdue } from './status.ts';
import type { ReviewerInfo, ReviewerName } from './types.ts';

/** What the reviewer web page and `roster review link` need to know about a campaign. */
export interface CampaignHead {
  id: string;
  name: string;
  status: 'open' | 'closed';
  due: string | null;
  overdue: boolean;
  closedAt: string | null;
  evidenceManifestSha256: string | null;
}

export interface QueueItem extends ItemView {
  /** The decision words this item accepts: keep, revoke, reduce:<each lower permission>. */
  choices: string[];
}

export interface ReviewerQueue {
  campaign: CampaignHead;
  reviewer: ReviewerInfo;
  /** The items assigned to the reviewer now (carried-forward items are not for review), in item order. */
  items: QueueItem[];
}

async function head(db: Kysely<Database>, ref: string, now: Date): Promise<CampaignHead> {
  const c = await findCampaign(db, ref);
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    due: c.due_on,
    overdue: c.status === 'open' && isOverdue(c.due_on, now),
    closedAt: c.closed_at ? new Date(c.closed_at).toISOString() : null,
    evidenceManifestSha256: c.evidence_manifest_sha256,
  };
}

export async function campaignHead(db: Kysely<Database>, ref: string, options: { now?: Date } = {}): Promise<CampaignHead> {
  return head(db, ref, options.now ?? new Date());
}

/** A reviewer of the campaign, named as anywhere else (e-mail, uuid, account id, nickname, display name, Roster key). */
export async function campaignReviewer(db: Kysely<Database>, ref: string, who: ReviewerName): Promise<{ campaign: CampaignHead; reviewer: ReviewerInfo }> {
  const campaign = await head(db, ref, new Date());
  const reviewers = await campaignReviewers(db, campaign.id);
  return { campaign, reviewer: matchCampaignReviewer(reviewers, who, '--reviewer') };
}

/** Every reviewer of the campaign (including reviewers an item was reassigned to). */
export async function reviewersOf(db: Kysely<Database>, ref: string): Promise<{ campaign: CampaignHead; reviewers: ReviewerInfo[] }> {
  const campaign = await head(db, ref, new Date());
  return { campaign, reviewers: await campaignReviewers(db, campaign.id) };
}

/** The items one reviewer (by Roster key) has to decide. */
export async function reviewerQueue(db: Kysely<Database>, ref: string, reviewerKey: string, options: { now?: Date } = {}): Promise<ReviewerQueue> {
  const campaign = await head(db, ref, options.now ?? new Date());
  const reviewers = await campaignReviewers(db, campaign.id);
  const reviewer = reviewers.find((r) => r.key === reviewerKey);
  if (!reviewer) throw new RosterError('input_invalid', `${reviewerKey} is not a reviewer of campaign ${campaign.id} "${campaign.name}".`);
  const views = await loadItemViews(db, campaign.id, new Map(reviewers.map((r) => [r.id, r])), { reviewerId: reviewer.id });
  const items = views.filter((i) => !i.carried_forward).map((i) => ({ ...i, choices: decisionWords(ladderOf(i.integration_kind, i.resource_kind), i.permission) }));
  return { campaign, reviewer, items };
}
