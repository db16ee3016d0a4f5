import { randomBytes } from 'node:crypto';
import type { RosterDatabase } from '../../src/db/index.ts';
import type { Integration } from '../../src/db/types.ts';
import { createCampaign, reviewerQueue, reviewersOf } from '../../src/review/index.ts';
import { startStatusServer } from '../../src/server/index.ts';
import { type LinkClaims, linkUrl, signLink } from '../../src/server/review/links.ts';
import type { ReviewServerOptions } from '../../src/server/review/routes.ts';
import type { Simulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { HTML_DANGEROUS_LABEL } from '../../connectors/bitbucket-cloud/simulator/names.ts';
import { connectSim, syncSim } from './sim-sync.ts';

/**
 * The world of the reviewer page's tests and of `npm run screenshots`: the small simulator synced, a
 * campaign reviewed by each resource's admins, and `roster serve`'s HTTP server with the review pages.
 */
export interface ReviewWorld {
  integration: Integration;
  campaignId: string;
  /** Reviewers by Roster key with their item count, most items first. */
  reviewers: Array<{ key: string; items: number }>;
  /** The reviewer of the deploy key whose label is markup. */
  dangerousReviewer: string;
  url: string;
  linkKey: Buffer;
  link(claims: Omit<LinkClaims, 'campaignId' | 'expiresAt'> & { expiresAt?: Date; campaignId?: string }): string;
  close(): Promise<void>;
}

export async function reviewWorld(handle: RosterDatabase, sim: Simulator, options: { name?: string; server?: Partial<ReviewServerOptions>; due?: string } = {}): Promise<ReviewWorld> {
  const name = options.name ?? 'acme';
  const integration = await connectSim(handle, sim, name);
  const outcome = await syncSim(handle, integration);
  if (outcome.status !== 'succeeded') throw new Error(`sync ${outcome.status}`);
  const created = await createCampaign(handle.db, { name: `Q4 2026 ${name}`, integrations: [name], reviewers: 'resource-admins', due: options.due ?? '2027-01-15' });
  const linkKey = randomBytes(32);
  const server = await startStatusServer({ handle, host: '127.0.0.1', port: 0, maxAgeMs: 26 * 3_600_000, review: { linkKey, ...options.server } });
  const { reviewers } = await reviewersOf(handle.db, created.id);
  const counted: Array<{ key: string; items: number }> = [];
  let dangerousReviewer: string | null = null;
  for (const r of reviewers) {
    const q = await reviewerQueue(handle.db, created.id, r.key);
    if (q.items.length > 0) counted.push({ key: r.key, items: q.items.length });
    if (q.items.some((i) => i.principal_name === HTML_DANGEROUS_LABEL)) dangerousReviewer = r.key;
  }
  counted.sort((a, b) => b.items - a.items || (a.key < b.key ? -1 : 1));
  if (!dangerousReviewer) throw new Error(`no item of the deploy key labelled ${HTML_DANGEROUS_LABEL}`);
  return {
    integration,
    campaignId: created.id,
    reviewers: counted,
    dangerousReviewer,
    url: server.url,
    linkKey,
    link: (c) => {
      const claims: LinkClaims = { campaignId: c.campaignId ?? created.id, reviewer: c.reviewer, owner: c.owner, expiresAt: c.expiresAt ?? new Date(Date.now() + 86_400_000) };
      return linkUrl(server.url, claims, signLink(linkKey, claims));
    },
    close: () => server.close(),
  };
}
