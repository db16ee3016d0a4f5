import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { CONTEXT_COLUMNS, ITEM_COLUMNS } from './columns.ts';
import { ReviewInputError, recordReviewActions } from './decide.ts';
import { type Sheet, readSheet, unescapeCell } from './files.ts';
import { assertOpen, findCampaign } from './sql/campaigns.ts';
import { loadItemViews } from './sql/items.ts';
import { campaignReviewers } from './sql/reviewers.ts';
import type { RecordOutcome, ReviewAction } from './types.ts';
import { plural } from '../text.ts';

export interface ImportFile {
  name: string;
  bytes: Buffer;
}

export interface ImportOutcome extends RecordOutcome {
  files: Array<{ file: string; rows: number; decisions: number; reassignments: number; empty: number }>;
}

const REQUIRED = ['item_id', 'decision', 'comment'];

/**
 * Imports reviewers' files (CSV from Roster or Excel — comma or semicolon, CRLF, byte order mark —
 * or XLSX). All or nothing across every file given: a row whose context columns differ from the item
 * (the reviewer may have decided on something else), and everything `recordReviewActions` refuses,
 * is named with its file, line and the fix, and nothing is recorded.
 */
export async function importReviewFiles(db: Kysely<Database>, ref: string, files: readonly ImportFile[], options: { reviewer?: string; now?: Date } = {}): Promise<ImportOutcome> {
  const campaign = await findCampaign(db, ref);
  assertOpen(campaign);
  const reviewers = await campaignReviewers(db, campaign.id);
  const byId = new Map(reviewers.map((r) => [r.id, r]));
  const sheets: Sheet[] = [];
  for (const f of files) sheets.push(await readSheet(f.name, f.bytes));

  const fileProblems: string[] = [];
  for (const sheet of sheets) {
    const missing = [...REQUIRED, ...CONTEXT_COLUMNS.map((c) => c.name)].filter((c) => !sheet.header.includes(c));
    if (missing.length > 0) fileProblems.push(`${sheet.file}: the header lacks ${missing.join(', ')}: decide in a file exported by roster review export ${campaign.id}, without deleting or renaming columns`);
    const unknown = sheet.header.filter((h) => h !== '' && !ITEM_COLUMNS.some((c) => c.name === h));
    if (unknown.length > 0) fileProblems.push(`${sheet.file}: unknown ${unknown.length === 1 ? 'column' : 'columns'} ${unknown.join(', ')}: remove them (Roster reads decision, comment and reassign_to)`);
  }
  if (fileProblems.length > 0) throw new RosterError('input_invalid', `Nothing was imported:\n  ${fileProblems.join('\n  ')}`);

  const ids = sheets.flatMap((s) => s.rows.map((r) => (r.cells.item_id ?? '').trim())).filter((id) => /^\d+$/.test(id));
  const items = new Map((await loadItemViews(db, campaign.id, byId, { itemIds: ids })).map((i) => [i.id, i]));
  const actions: ReviewAction[] = [];
  const origin: Array<{ file: string; line: number }> = [];
  const rowProblems: Array<{ file: string; line: number; text: string }> = [];
  const perFile: ImportOutcome['files'] = [];
  for (const sheet of sheets) {
    const stats = { file: sheet.file, rows: sheet.rows.length, decisions: 0, reassignments: 0, empty: 0 };
    perFile.push(stats);
    for (const row of sheet.rows) {
      const cell = (name: string): string => unescapeCell((row.cells[name] ?? '').trim());
      const itemId = cell('item_id');
      const decision = cell('decision');
      const comment = cell('comment');
      const reassignTo = cell('reassign_to');
      const problem = (text: string): void => {
        rowProblems.push({ file: sheet.file, line: row.line, text });
      };
      if (row.cells.__extra__ !== undefined) {
        problem(`more cells than the header has columns (a separator inside an unquoted cell?) — fix: export again and edit only decision, comment and reassign_to`);
        continue;
      }
      if (decision === '' && reassignTo === '') {
        stats.empty += 1;
        continue;
      }
      if (decision !== '' && reassignTo !== '') {
        problem(`item ${itemId}: both a decision and reassign_to — fix: decide it, or reassign it (with the reason in comment), not both`);
        continue;
      }
      const item = items.get(itemId);
      if (item) {
        const edited = CONTEXT_COLUMNS.filter((c) => cell(c.name) !== c.value(item).trim());
        if (edited.length > 0) {
          const first = edited[0] as (typeof edited)[number];
          problem(
            `item ${itemId}: ${edited.map((c) => c.name).join(', ')} ${edited.length === 1 ? 'differs' : 'differ'} from the item (${first.name} says "${cell(first.name)}", the item has "${first.value(item)}"): the row was edited, so the decision may be about something else — fix: restore the row from a fresh export (roster review export ${campaign.id}) and decide again`,
          );
          continue;
        }
      }
      const actor = options.reviewer ?? (cell('reviewer_id') || cell('reviewer'));
      if (decision !== '') {
        stats.decisions += 1;
        actions.push({ kind: 'decide', itemId, actor, decision, comment: comment || null });
      } else {
        stats.reassignments += 1;
        actions.push({ kind: 'reassign', itemId, actor, to: reassignTo, reason: comment || null });
      }
      origin.push({ file: sheet.file, line: row.line });
    }
  }

  const source = `import:${files.map((f) => f.name.split(/[\\/]/).pop()).join(',')}`;
  const collect = (error: unknown): never => {
    if (!(error instanceof ReviewInputError)) throw error;
    for (const p of error.problems) {
      const o = origin[p.index] as { file: string; line: number };
      rowProblems.push({ file: o.file, line: o.line, text: `${p.message} — fix: ${p.fix}` });
    }
    throw refusal(rowProblems);
  };
  if (rowProblems.length > 0) {
    // Still ask the decision rules about the other rows, so one pass lists everything to fix.
    await recordReviewActions(db, campaign.id, actions, { source, now: options.now, validateOnly: true }).catch(collect);
    throw refusal(rowProblems);
  }
  const outcome = await recordReviewActions(db, campaign.id, actions, { source, now: options.now }).catch(collect);
  return { ...outcome, files: perFile };
}

function refusal(problems: Array<{ file: string; line: number; text: string }>): RosterError {
  const sorted = [...problems].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
  const list = sorted.slice(0, 50).map((p) => `${p.file} line ${p.line}: ${p.text}`);
  return new RosterError(
    'input_invalid',
    `Nothing was imported: ${plural(problems.length, 'row')} ${problems.length === 1 ? 'needs' : 'need'} fixing. Fix them and import the files again:\n  ${list.join('\n  ')}${sorted.length > 50 ? `\n  … and ${sorted.length - 50} more` : ''}`,
  );
}
