import fs from 'node:fs/promises';
import path from 'node:path';
import ExcelJS from 'exceljs';
import type { Kysely } from 'kysely';
import { csvLines } from '../../reports/format.ts';
import type { Database } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { ITEM_COLUMNS, type ItemView, reviewerLabel } from './columns.ts';
import { decisionWords } from './decisions.ts';
import { matchCampaignReviewer } from './reviewers.ts';
import { type CampaignRow, findCampaign } from './sql/campaigns.ts';
import { loadItemViews } from './sql/items.ts';
import { campaignReviewers } from './sql/reviewers.ts';
import { ladderOf } from './snapshot.ts';
import type { ReviewerInfo } from './types.ts';

export interface ExportOptions {
  outDir: string;
  /** Only this reviewer's file. Default: one file per reviewer with items. */
  reviewer?: string;
  format?: 'csv' | 'xlsx';
}

export interface ExportedFile {
  reviewer: string;
  reviewerKey: string;
  file: string;
  items: number;
  undecided: number;
}

/**
 * One file per reviewer with the items assigned to them (carried-forward items are not for review):
 * the item id, the context to decide on, and the decision, comment and reassign_to columns, already
 * filled where a decision is recorded. CSV is the reports' CSV (RFC 4180, UTF-8 with a byte order
 * mark for Excel, formula-like cells neutralised); XLSX has a drop-down of the decisions each row allows.
 */
export async function exportCampaign(db: Kysely<Database>, ref: string, options: ExportOptions): Promise<{ campaign: CampaignRow; files: ExportedFile[] }> {
  const format = options.format ?? 'csv';
  if (format !== 'csv' && format !== 'xlsx') throw new RosterError('input_invalid', `--format "${String(format)}": use csv or xlsx.`);
  const campaign = await findCampaign(db, ref);
  const reviewers = await campaignReviewers(db, campaign.id);
  const byId = new Map(reviewers.map((r) => [r.id, r]));
  const only = options.reviewer === undefined ? null : matchCampaignReviewer(reviewers, options.reviewer, '--reviewer');
  const items = (await loadItemViews(db, campaign.id, byId, only ? { reviewerId: only.id } : {})).filter((i) => !i.carried_forward);
  const groups = new Map<string, ItemView[]>();
  for (const item of items) groups.set(item.reviewer.id, [...(groups.get(item.reviewer.id) ?? []), item]);
  if (only && !groups.has(only.id)) groups.set(only.id, []);
  await fs.mkdir(options.outDir, { recursive: true });
  const files: ExportedFile[] = [];
  for (const [reviewerId, list] of groups) {
    const reviewer = byId.get(reviewerId) as ReviewerInfo;
    const file = path.join(options.outDir, `${campaign.id}-${fileSlug(reviewerLabel(reviewer))}-${reviewer.id}.${format}`);
    const bytes = format === 'csv' ? csvFile(list) : await xlsxFile(campaign, reviewer, list);
    try {
      await fs.writeFile(file, bytes, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new RosterError('input_invalid', `${file} already exists (it may hold a reviewer's decisions): export into another --out directory.`);
      throw error;
    }
    files.push({ reviewer: reviewerLabel(reviewer), reviewerKey: reviewer.key, file, items: list.length, undecided: list.filter((i) => i.decision === null).length });
  }
  files.sort((a, b) => (a.file < b.file ? -1 : 1));
  return { campaign, files };
}

/** A file-name-safe form of a name: ASCII letters and digits, dashes between. */
export function fileSlug(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return slug || 'reviewer';
}

function csvFile(items: readonly ItemView[]): Buffer {
  const text = csvLines([ITEM_COLUMNS.map((c) => c.name), ...items.map((i) => ITEM_COLUMNS.map((c) => c.value(i)))]);
  return Buffer.from(`\ufeff${text}`, 'utf8');
}

async function xlsxFile(campaign: CampaignRow, reviewer: ReviewerInfo, items: readonly ItemView[]): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook();
  workbook.creator = 'Roster';
  workbook.created = new Date(campaign.created_at);
  const sheet = workbook.addWorksheet('Review', { views: [{ state: 'frozen', ySplit: 1 }] });
  sheet.columns = ITEM_COLUMNS.map((c) => ({ header: c.name, key: c.name, width: c.name === 'paths' || c.name === 'comment' ? 48 : c.name.endsWith('_id') ? 20 : 16 }));
  sheet.getRow(1).font = { bold: true };
  const decisionColumn = ITEM_COLUMNS.findIndex((c) => c.name === 'decision') + 1;
  for (const item of items) {
    // Cells are written as strings: a workbook stores text as text, so a name like `=cmd|…` is never a formula.
    const row = sheet.addRow(ITEM_COLUMNS.map((c) => c.value(item)));
    row.getCell(decisionColumn).dataValidation = {
      type: 'list',
      allowBlank: true,
      formulae: [`"${decisionWords(ladderOf(item.integration_kind, item.resource_kind), item.permission).join(',')}"`],
      showErrorMessage: true,
      errorStyle: 'stop',
      errorTitle: 'Not a decision',
      error: `Choose ${decisionWords(ladderOf(item.integration_kind, item.resource_kind), item.permission).join(', ')}; revoke and reduce need a comment.`,
    };
  }
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: Math.max(1, items.length + 1), column: ITEM_COLUMNS.length } };
  const about = workbook.addWorksheet('About');
  about.columns = [{ width: 22 }, { width: 100 }];
  for (const [k, v] of [
    ['Campaign', `${campaign.id} "${campaign.name}"`],
    ['Reviewer', `${reviewerLabel(reviewer)} (${reviewer.key})`],
    ['Due', campaign.due_on ?? 'no due date'],
    ['Items', String(items.length)],
    ['How to decide', 'In the Review sheet, pick a decision for each row: keep, revoke, or reduce:<permission>. Revoke and reduce need a comment.'],
    ['Cannot judge it?', 'Write who should judge it in reassign_to (e-mail, uuid or name) and the reason in comment; leave decision empty.'],
    ['Do not edit', 'Leave the other columns as they are: Roster refuses a row whose context was changed.'],
    ['Send back', `roster review import ${campaign.id} THIS-FILE.xlsx`],
  ]) {
    about.addRow([k, v]).getCell(1).font = { bold: true };
  }
  return Buffer.from(await workbook.xlsx.writeBuffer());
}
