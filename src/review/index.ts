/**
 * Access review campaigns: the public entry points for the CLI and the reviewer web page.
 *
 *   const { id } = await createCampaign(db, { name: 'Q4 2026', reviewers: 'resource-admins' });
 *   await exportCampaign(db, id, { outDir: 'review/', format: 'xlsx' });
 *   await importReviewFiles(db, id, [{ name, bytes }]);        // or recordReviewActions(db, id, actions, …)
 *   await campaignStatus(db, id); await remediationTasks(db, id);
 *   await closeCampaign(db, id, { outDir: 'evidence/q4' }); await verifyBundle('evidence/q4');
 */
export { createCampaign } from './create.ts';
export { ReviewInputError, recordReviewActions } from './decide.ts';
export { exportCampaign, type ExportedFile, type ExportOptions } from './export.ts';
export { importReviewFiles, type ImportFile, type ImportOutcome } from './import.ts';
export { REMEDIATION_COLUMNS, remediationCounts, remediationRow, remediationTasks, type RemediationChange, type RemediationTask } from './remediation.ts';
export { campaignStatus, listCampaigns } from './status.ts';
export { closeCampaign, type CloseOptions, type CloseResult } from './close.ts';
export { verifyBundle, type BundleVerification } from './verify.ts';
export { decisionWord, decisionWords, parseDecision, verifyChain } from './decisions.ts';
export { campaignHead, campaignReviewer, reviewerQueue, reviewersOf, type CampaignHead, type QueueItem, type ReviewerQueue } from './queue.ts';
export { describeReviewer } from './reviewers.ts';
export { reviewerLabel, type ItemView } from './columns.ts';
export type * from './types.ts';
