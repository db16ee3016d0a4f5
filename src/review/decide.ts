import { type Kysely, sql } from 'kysely';
import type { Database, Integration } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { decisionWord, parseDecision, requiresComment } from './decisions.ts';
import { describeReviewer, matchCampaignReviewer, resolveReviewer } from './reviewers.ts';
import { assertOpen, findCampaign } from './sql/campaigns.ts';
import { type StateWrite, writeStates } from './sql/items.ts';
import { ladderOf } from './snapshot.ts';
import { type NewLogEntry, appendLog } from './sql/log.ts';
import { campaignReviewers, ensureReviewers } from './sql/reviewers.ts';
import type { ActionProblem, RecordOutcome, ReviewAction, ReviewerInfo } from './types.ts';
import { plural } from '../text.ts';

type Db = Kysely<Database>;

/** Thrown when any action is refused: nothing was recorded. `problems` name each action by its index. */
export class ReviewInputError extends RosterError {
  readonly problems: ActionProblem[];
  constructor(message: string, problems: ActionProblem[]) {
    super('input_invalid', message, { details: { problems } });
    this.name = 'ReviewInputError';
    this.problems = problems;
  }
}

interface ItemRow {
  id: string;
  campaign_id: string;
  campaign_name: string;
  principal_kind: string;
  principal_external_id: string | null;
  principal_name: string | null;
  resource_kind: string;
  resource_handle: string | null;
  permission: string;
  carried_forward: boolean;
  integration_kind: string;
  reviewer_id: string | null;
  decision: 'keep' | 'revoke' | 'reduce' | null;
  reduce_to: string | null;
  comment: string | null;
  decided_by: string | null;
}

/**
 * The one way a decision or a reassignment is recorded — used by `roster review import` and the
 * reviewer web page alike. All or nothing: every action is checked first (the item belongs to this
 * campaign, the campaign is open, the word is a decision and a reduce goes lower, revoke and reduce
 * carry a comment, the actor is the item's reviewer, a reassignment names someone else than the
 * item's own principal and gives a reason); any problem refuses the whole list. Then, under the
 * campaign row's lock, each change becomes an entry of the hash-chained log and the item's state.
 * A decision identical to the recorded one is not logged again, so importing a file twice is harmless.
 * `validateOnly` checks and records nothing (the import uses it to list every problem of a file at once).
 */
export async function recordReviewActions(db: Db, campaignRef: string, actions: readonly ReviewAction[], options: { source: string; now?: Date; validateOnly?: boolean }): Promise<RecordOutcome> {
  const now = options.now ?? new Date();
  return db.transaction().execute(async (trx) => {
    const campaign = await findCampaign(trx, campaignRef, { forUpdate: true });
    assertOpen(campaign);
    const reviewers = await campaignReviewers(trx, campaign.id);
    const byId = new Map(reviewers.map((r) => [r.id, r]));
    const ids = [...new Set(actions.map((a) => a.itemId.trim()).filter((id) => /^\d+$/.test(id)))];
    const items = await sql<ItemRow>`
      select i.id::text as id, i.campaign_id::text as campaign_id, c.name as campaign_name, i.principal_kind, i.principal_external_id, i.principal_name,
             i.resource_kind, i.resource_handle, i.permission, i.carried_forward, ig.kind as integration_kind, s.reviewer_id::text as reviewer_id, s.decision, s.reduce_to, s.comment,
             s.decided_by::text as decided_by
        from review_items i join review_campaigns c on c.id = i.campaign_id join integrations ig on ig.id = i.integration_id
        left join review_item_states s on s.item_id = i.id
       where i.id = any(${ids}::bigint[])`.execute(trx);
    const itemById = new Map(items.rows.map((i) => [i.id, i]));
    const integrations = await sql<Integration>`
      select i.* from integrations i join review_campaign_runs cr on cr.integration_id = i.id where cr.campaign_id = ${campaign.id} order by i.name`.execute(trx);

    const problems: ActionProblem[] = [];
    const actorCache = new Map<string, ReviewerInfo | Error>();
    const actor = (name: string): ReviewerInfo | Error => {
      let found = actorCache.get(name);
      if (!found) {
        try {
          found = matchCampaignReviewer(reviewers, name, 'reviewer');
        } catch (error) {
          found = error as Error;
        }
        actorCache.set(name, found);
      }
      return found;
    };
    const planned: Array<{ action: ReviewAction; item: ItemRow; by: ReviewerInfo; decision?: { decision: 'keep' | 'revoke' | 'reduce'; reduceTo: string | null; comment: string | null }; to?: string }> = [];
    const newReviewers = new Map<string, Awaited<ReturnType<typeof resolveReviewer>>>();

    for (const [index, action] of actions.entries()) {
      const problem = (message: string, fix: string): void => {
        problems.push({ index, message, fix });
      };
      const id = action.itemId.trim();
      if (!/^\d+$/.test(id)) {
        problem(`item id "${action.itemId}" is not a number`, 'keep the item_id column as exported');
        continue;
      }
      const item = itemById.get(id);
      if (!item) {
        problem(`item ${id} does not exist`, `keep the item_id column as exported from campaign ${campaign.id}; export again if the file is from elsewhere`);
        continue;
      }
      if (item.campaign_id !== campaign.id) {
        problem(`item ${id} belongs to campaign ${item.campaign_id} ("${item.campaign_name}"), not to campaign ${campaign.id} ("${campaign.name}")`, `import this file into campaign ${item.campaign_id}, or decide in a file exported from campaign ${campaign.id}`);
        continue;
      }
      const by = actor(action.actor);
      if (by instanceof Error) {
        problem(by.message.replace(/^reviewer /, `reviewer `), 'name the reviewer as the export did (the reviewer_id column), or pass --reviewer');
        continue;
      }
      const assignee = item.reviewer_id ? byId.get(item.reviewer_id) : undefined;
      if (!assignee || assignee.id !== by.id) {
        problem(`item ${id} is assigned to ${assignee ? describeReviewer(assignee) : 'nobody'}, not to ${describeReviewer(by)}`, `leave it to its reviewer (or ask them to reassign it to you); decide only the items in your own export`);
        continue;
      }
      if (item.carried_forward) {
        problem(`item ${id} was carried forward from the base campaign (certified and unchanged): it is not for review`, 'leave its decision empty');
        continue;
      }
      const what = `${item.principal_name ?? item.principal_external_id ?? 'anyone'} on ${item.resource_kind} ${item.resource_handle ?? ''}`.trim();
      if (action.kind === 'decide') {
        const parsed = parseDecision(action.decision, item.resource_kind, ladderOf(item.integration_kind, item.resource_kind), item.permission);
        if (!parsed.ok) {
          problem(`item ${id} (${what}, ${item.permission}): ${parsed.message}`, parsed.fix);
          continue;
        }
        const comment = action.comment?.trim() ? action.comment.trim() : null;
        if (requiresComment(parsed.value) && comment === null) {
          problem(`item ${id} (${what}): ${decisionWord(parsed.value)} needs a comment`, 'say why in the comment column (for the auditor and for whoever carries it out)');
          continue;
        }
        planned.push({ action, item, by, decision: { ...parsed.value, comment } });
      } else {
        const reason = action.reason?.trim() ? action.reason.trim() : null;
        if (reason === null) {
          problem(`item ${id} (${what}): a reassignment needs a reason`, 'say in the comment column why someone else should judge it');
          continue;
        }
        if (item.decision !== null) {
          problem(`item ${id} (${what}) is already decided (${decisionWord({ decision: item.decision, reduceTo: item.reduce_to })})`, 'change the decision instead of reassigning, or leave reassign_to empty');
          continue;
        }
        let target: ReviewerInfo | Awaited<ReturnType<typeof resolveReviewer>>;
        try {
          target = matchCampaignReviewer(reviewers, action.to, 'reassign_to');
        } catch {
          try {
            target = await resolveReviewer(trx, integrations.rows, action.to, 'reassign_to');
          } catch (error) {
            problem(`item ${id}: ${(error as Error).message}`, 'name the new reviewer by e-mail, uuid, account id or an unambiguous display name');
            continue;
          }
        }
        if (item.principal_kind === 'user' && target.kind === 'user' && target.externalId === item.principal_external_id) {
          problem(`item ${id} (${what}): cannot be reassigned to ${describeReviewer(target)}, whose own access it is`, 'nobody reviews their own access: choose someone else');
          continue;
        }
        if (target.key === assignee.key) {
          problem(`item ${id} (${what}) is already assigned to ${describeReviewer(target)}`, 'leave reassign_to empty, or name someone else');
          continue;
        }
        if (!('id' in target)) newReviewers.set(target.key, target);
        planned.push({ action, item, by, to: target.key });
      }
    }
    const seen = new Map<string, number>();
    for (const [index, a] of actions.entries()) {
      const earlier = seen.get(a.itemId.trim());
      if (earlier !== undefined) problems.push({ index, message: `item ${a.itemId.trim()} appears twice (also at ${earlier + 1})`, fix: 'keep one row per item' });
      else seen.set(a.itemId.trim(), index);
    }
    if (problems.length > 0) {
      problems.sort((a, b) => a.index - b.index);
      throw new ReviewInputError(`Nothing was recorded: ${plural(problems.length, 'problem')}.`, problems);
    }
    if (options.validateOnly) return { decided: 0, unchanged: 0, reassigned: 0, logged: 0 };

    const added = await ensureReviewers(trx, campaign.id, [...newReviewers.values()]);
    const keyToId = new Map([...reviewers.map((r) => [r.key, r.id] as const), ...[...added.values()].map((r) => [r.key, r.id] as const)]);
    const entries: NewLogEntry[] = [];
    const states: Array<Omit<StateWrite, 'logSeq'>> = [];
    let decided = 0;
    let unchanged = 0;
    let reassigned = 0;
    for (const p of planned) {
      const reviewerId = p.item.reviewer_id as string;
      if (p.decision) {
        const d = p.decision;
        if (p.item.decision === d.decision && p.item.reduce_to === d.reduceTo && (p.item.comment ?? null) === d.comment) {
          unchanged += 1;
          continue;
        }
        decided += 1;
        entries.push({
          itemId: p.item.id,
          action: 'decide',
          fields: {
            reviewer: p.by.key,
            decision: d.decision,
            reduce_to: d.reduceTo,
            comment: d.comment,
            previous: p.item.decision === null ? null : { decision: p.item.decision, reduce_to: p.item.reduce_to, comment: p.item.comment },
            source: options.source,
          },
        });
        states.push({ itemId: p.item.id, reviewerId, decision: d.decision, reduceTo: d.reduceTo, comment: d.comment, decidedBy: p.by.id, decidedAt: now.toISOString(), decidedVia: 'reviewer' });
      } else {
        reassigned += 1;
        const to = p.to as string;
        entries.push({
          itemId: p.item.id,
          action: 'reassign',
          fields: { by: p.by.key, from: p.by.key, to, reason: (p.action as Extract<ReviewAction, { kind: 'reassign' }>).reason?.trim() ?? null, source: options.source },
        });
        states.push({ itemId: p.item.id, reviewerId: keyToId.get(to) as string, decision: null, reduceTo: null, comment: null, decidedBy: null, decidedAt: null, decidedVia: null });
      }
    }
    const written = await appendLog(trx, campaign.id, campaign.definition_sha256, now, entries);
    await writeStates(
      trx,
      campaign.id,
      states.map((s, i) => ({ ...s, logSeq: (written[i] as { seq: number }).seq })),
    );
    return { decided, unchanged, reassigned, logged: written.length };
  });
}
