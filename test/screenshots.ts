/**
 * `npm run screenshots`: the README's pictures of the reviewer page (docs/review-queue.png and
 * docs/review-overview.png, 1280×800), taken in Debian's Chromium from the small simulator synced
 * into a throwaway embedded database, with a few decisions made as a reviewer would.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { recordReviewActions, reviewerQueue } from '../src/review/index.ts';
import { startSimulator } from '../connectors/bitbucket-cloud/simulator/index.ts';
import { CHROMIUM_MISSING, chromiumPath, launchChromium } from './helpers/browser.ts';
import { reviewWorld } from './helpers/review-world.ts';

const docs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs');

if (!chromiumPath()) {
  console.error(`screenshots: ${CHROMIUM_MISSING}`);
  process.exit(1);
}
const sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
const handle = await openDatabase({ kind: 'embedded', dataDir: null });
await migrateToLatest(handle.db);
const world = await reviewWorld(handle, sim);
const browser = await launchChromium();
try {
  const reviewer = world.dangerousReviewer;
  const queue = await reviewerQueue(handle.db, world.campaignId, reviewer);
  const [first, second, third] = queue.items;
  const actions = [
    ...(first ? [{ kind: 'decide' as const, itemId: first.id, actor: reviewer, decision: 'keep', comment: null }] : []),
    ...(second ? [{ kind: 'decide' as const, itemId: second.id, actor: reviewer, decision: 'keep', comment: null }] : []),
    ...(third ? [{ kind: 'decide' as const, itemId: third.id, actor: reviewer, decision: 'revoke', comment: 'left the team in October' }] : []),
  ];
  await recordReviewActions(handle.db, world.campaignId, actions, { source: 'screenshots' });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(world.link({ reviewer, owner: false }));
  await page.screenshot({ path: path.join(docs, 'review-queue.png') });
  await page.goto(world.link({ reviewer: null, owner: true }));
  await page.screenshot({ path: path.join(docs, 'review-overview.png') });
  console.log(`screenshots: wrote ${path.join(docs, 'review-queue.png')} and ${path.join(docs, 'review-overview.png')}`);
} finally {
  await browser.close();
  await world.close();
  await handle.close();
  await sim.close();
}
