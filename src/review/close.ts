import fs from 'node:fs/promises';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { pathText } from '../../reports/effective-access-changes.ts';
import { ensureEmptyDir, sha256File, writeManifestAndSums } from '../../reports/evidence.ts';
import { csvLines } from '../../reports/format.ts';
import { rosterVersion } from '../../reports/registry.ts';
import type { Database } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { ITEM_COLUMNS, type ItemView, reviewerLabel } from './columns.ts';
import { sha256Hex, verifyChain } from './decisions.ts';
import { REMEDIATION_COLUMNS, remediationCounts, remediationRow, remediationTasks } from './remediation.ts';
import { describeReviewer } from './reviewers.ts';
import { assertOpen, campaignRuns, findCampaign } from './sql/campaigns.ts';
import { type StateWrite, loadItemViews, writeStates } from './sql/items.ts';
import { type NewLogEntry, appendLog, readLog } from './sql/log.ts';
import { campaignReviewers } from './sql/reviewers.ts';
import { itemsDigest } from './snapshot.ts';
import { plural } from '../text.ts';

export interface CloseOptions {
  outDir: string;
  /** Close with items still undecided: they follow the campaign's undecided policy and are listed. */
  force?: boolean;
  now?: Date;
}

export interface CloseResult {
  campaignId: string;
  outDir: string;
  manifestSha256: string;
  files: Array<{ file: string; rows: number; sha256: string }>;
  undecided: number;
  policy: 'flag' | 'keep' | 'revoke';
}

/** The extra columns of `items.csv` in the bundle: how each item ended. */
const OUTCOME_COLUMNS: Array<{ name: string; value: (i: ItemView, policy: string) => string }> = [
  { name: 'final_decision', value: (i, policy) => (i.decision === null ? (policy === 'flag' ? 'flagged' : policy) : i.decision === 'reduce' ? `reduce:${i.reduce_to ?? ''}` : i.decision) },
  { name: 'decided_by', value: (i) => (i.decided_by ? reviewerLabel(i.decided_by) : i.decided_via === 'policy' ? 'undecided policy' : '') },
  { name: 'decided_by_id', value: (i) => i.decided_by?.key ?? '' },
  { name: 'decided_at', value: (i) => i.decided_at ?? '' },
  { name: 'decided_via', value: (i) => i.decided_via ?? 'undecided' },
  { name: 'assigned_to', value: (i) => i.assigned.key },
  { name: 'carried_forward', value: (i) => String(i.carried_forward) },
  { name: 'base_item_id', value: (i) => i.base_item_id ?? '' },
];

/**
 * Closes a campaign and writes its evidence bundle. Refused while items are undecided unless
 * `force`, and then the undecided follow the campaign's policy (`flag`: listed as flagged; `keep` /
 * `revoke`: decided so by the policy, logged as such, revocations becoming remediation tasks). The
 * items are checked against the digest taken at creation (the chain starts from it), the policy and
 * `close` entries are appended to the decision log, and the bundle is written — all in one
 * transaction: if a file cannot be written, the campaign stays open.
 */
export async function closeCampaign(db: Kysely<Database>, ref: string, options: CloseOptions): Promise<CloseResult> {
  const now = options.now ?? new Date();
  const outDir = path.resolve(options.outDir);
  return db.transaction().execute(async (trx) => {
    const campaign = await findCampaign(trx, ref, { forUpdate: true });
    assertOpen(campaign);
    const reviewers = await campaignReviewers(trx, campaign.id);
    const byId = new Map(reviewers.map((r) => [r.id, r]));
    let items = await loadItemViews(trx, campaign.id, byId);
    const undecided = items.filter((i) => i.decision === null);
    if (undecided.length > 0 && !options.force) {
      const per = new Map<string, number>();
      for (const i of undecided) per.set(describeReviewer(i.reviewer), (per.get(describeReviewer(i.reviewer)) ?? 0) + 1);
      throw new RosterError(
        'input_invalid',
        `Campaign ${campaign.id} "${campaign.name}" has ${plural(undecided.length, 'undecided item')} of ${items.length}: ${[...per].map(([r, n]) => `${r}: ${n}`).join('; ')}. Import the missing decisions, or close with --force: the undecided then follow the campaign's policy (${campaign.undecided_policy}) and the evidence lists them.`,
      );
    }
    const definition = JSON.parse(campaign.definition) as { itemsSha256: string };
    const digest = itemsDigest(
      items.map((i) => ({
        integration: i.integration,
        principal_kind: i.principal_kind,
        principal_external_id: i.principal_external_id,
        resource_kind: i.resource_kind,
        resource_external_id: i.resource_external_id,
        permission: i.permission,
        pathTexts: i.paths.map(pathText),
        flags: i.flags,
        reviewerKey: i.assigned.key,
        rule: i.reviewer_rule,
        change: i.change,
      })),
    );
    if (digest !== definition.itemsSha256) {
      throw new RosterError('internal', `Campaign ${campaign.id}: its items no longer match the digest taken when it was created (${definition.itemsSha256.slice(0, 12)}… now ${digest.slice(0, 12)}…): the review_items table was changed. Not closed; investigate before trusting this campaign.`);
    }

    const entries: NewLogEntry[] = [];
    const policy = campaign.undecided_policy;
    if (policy !== 'flag') {
      for (const i of undecided) entries.push({ itemId: i.id, action: 'policy', fields: { policy, decision: policy, reason: 'undecided at close' } });
    }
    entries.push({ itemId: null, action: 'close', fields: { forced: options.force === true, items: items.length, undecided: undecided.length, undecided_policy: policy, items_sha256: digest } });
    const written = await appendLog(trx, campaign.id, campaign.definition_sha256, now, entries);
    if (policy !== 'flag' && undecided.length > 0) {
      const states: StateWrite[] = undecided.map((i, n) => ({
        itemId: i.id,
        reviewerId: i.reviewer.id,
        decision: policy,
        reduceTo: null,
        comment: `undecided at close: the campaign's policy is ${policy}`,
        decidedBy: null,
        decidedAt: now.toISOString(),
        decidedVia: 'policy',
        logSeq: (written[n] as { seq: number }).seq,
      }));
      await writeStates(trx, campaign.id, states);
      items = await loadItemViews(trx, campaign.id, byId);
    }
    await sql`update review_campaigns set status = 'closed', closed_at = ${now.toISOString()}, close_forced = ${options.force === true} where id = ${campaign.id}`.execute(trx);

    // ─── The bundle ───
    await ensureEmptyDir(outDir);
    const log = await readLog(trx, campaign.id);
    const chain = verifyChain(log, campaign.definition_sha256);
    if (!chain.ok) throw new RosterError('internal', `Campaign ${campaign.id}: its decision log does not verify (${chain.problems[0]}). Not closed.`);
    const tasks = await remediationTasks(trx, campaign.id, { now });
    const runs = await campaignRuns(trx, campaign.id);
    const undecidedIds = new Set(undecided.map((i) => i.id));
    const itemHeader = [...ITEM_COLUMNS.filter((c) => c.name !== 'reassign_to').map((c) => c.name), ...OUTCOME_COLUMNS.map((c) => c.name)];
    const itemRow = (i: ItemView): string[] => [...ITEM_COLUMNS.filter((c) => c.name !== 'reassign_to').map((c) => c.value(i)), ...OUTCOME_COLUMNS.map((c) => c.value(i, policy))];
    const per = new Map<string, { reviewer: string; key: string; items: number; keep: number; revoke: number; reduce: number; undecided: number; decided_by_them: number; own_access_items_received: number }>();
    for (const i of items) {
      if (i.carried_forward) continue;
      const e = per.get(i.reviewer.key) ?? { reviewer: reviewerLabel(i.reviewer), key: i.reviewer.key, items: 0, keep: 0, revoke: 0, reduce: 0, undecided: 0, decided_by_them: 0, own_access_items_received: 0 };
      e.items += 1;
      if (undecidedIds.has(i.id)) e.undecided += 1;
      else if (i.decision) e[i.decision] += 1;
      if (i.decided_by?.key === i.reviewer.key) e.decided_by_them += 1;
      if ((i.reviewer_note ?? '').startsWith('own access')) e.own_access_items_received += 1;
      per.set(i.reviewer.key, e);
    }
    const reviewerRows = [...per.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    const files: Array<{ file: string; text: string; rows: number }> = [
      { file: 'campaign.json', text: campaign.definition, rows: 1 },
      { file: 'items.csv', text: csvLines([itemHeader, ...items.map(itemRow)]), rows: items.length },
      { file: 'undecided.csv', text: csvLines([itemHeader, ...items.filter((i) => undecidedIds.has(i.id)).map(itemRow)]), rows: undecided.length },
      { file: 'decision-log.ndjson', text: log.map((e) => `${JSON.stringify({ seq: e.seq, prev_sha256: e.prev_sha256, sha256: e.sha256, body: e.body })}\n`).join(''), rows: log.length },
      { file: 'remediation.csv', text: csvLines([[...REMEDIATION_COLUMNS], ...tasks.map((t) => REMEDIATION_COLUMNS.map((c) => remediationRow(t)[c] ?? ''))]), rows: tasks.length },
      {
        file: 'remediation.json',
        text: `${JSON.stringify(tasks.map((t) => ({ item: t.item.id, action: t.action, target: t.target, status: t.status, verifiedRun: t.verifiedRun, verifiedAt: t.verifiedAt, permissionNow: t.permissionNow, note: t.note, changes: t.changes })), null, 2)}\n`,
        rows: tasks.length,
      },
      { file: 'reviewers.csv', text: csvLines([['reviewer', 'reviewer_id', 'items', 'keep', 'revoke', 'reduce', 'undecided', 'decided_by_them', 'own_access_items_received'], ...reviewerRows.map((r) => [r.reviewer, r.key, r.items, r.keep, r.revoke, r.reduce, r.undecided, r.decided_by_them, r.own_access_items_received])]), rows: reviewerRows.length },
    ];
    const manifestFiles: Array<{ file: string; rows: number; bytes: number; sha256: string }> = [];
    for (const f of files) {
      await fs.writeFile(path.join(outDir, f.file), f.text, { flag: 'wx' });
      manifestFiles.push({ file: f.file, rows: f.rows, bytes: Buffer.byteLength(f.text), sha256: await sha256File(path.join(outDir, f.file)) });
    }
    const decided = items.length - (policy === 'flag' ? undecided.length : 0);
    const manifest = {
      kind: 'roster-review-evidence',
      manifestVersion: 1,
      generatedAt: now.toISOString(),
      roster: { version: rosterVersion() },
      campaign: {
        id: campaign.id,
        name: campaign.name,
        reviewerRule: campaign.reviewer_rule,
        undecidedPolicy: policy,
        due: campaign.due_on,
        createdAt: new Date(campaign.created_at).toISOString(),
        closedAt: now.toISOString(),
        forced: options.force === true,
        definitionSha256: campaign.definition_sha256,
        baseCampaign: campaign.base_campaign_id,
        baseRun: campaign.base_run_id,
      },
      snapshots: runs.map((r) => ({ integration: r.integration, runId: r.run_id, snapshotSha256: r.snapshot_sha256, accessRows: r.access_rows, items: r.items })),
      counts: {
        items: items.length,
        decided,
        undecided: undecided.length,
        undecidedAs: policy === 'flag' ? 'flagged' : policy,
        carriedForward: items.filter((i) => i.carried_forward).length,
        keep: items.filter((i) => i.decision === 'keep').length,
        revoke: items.filter((i) => i.decision === 'revoke').length,
        reduce: items.filter((i) => i.decision === 'reduce').length,
      },
      remediation: remediationCounts(tasks),
      decisionLog: { entries: log.length, genesis: campaign.definition_sha256, lastSha256: chain.last, rule: 'sha256 = SHA-256(prev_sha256 + "\\n" + body); the first prev_sha256 is SHA-256 of campaign.json' },
      files: manifestFiles,
      verify: 'sha256sum -c SHA256SUMS; then roster review verify DIR (recomputes the decision log chain from campaign.json)',
    };
    const manifestSha = await writeManifestAndSums(outDir, manifest, manifestFiles);
    if (sha256Hex(campaign.definition) !== campaign.definition_sha256) throw new RosterError('internal', `Campaign ${campaign.id}: its definition does not hash to the recorded value. Not closed.`);
    await sql`update review_campaigns set evidence_manifest_sha256 = ${manifestSha} where id = ${campaign.id}`.execute(trx);
    return { campaignId: campaign.id, outDir, manifestSha256: manifestSha, files: manifestFiles, undecided: undecided.length, policy };
  });
}
