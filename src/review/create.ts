import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { type AccessRow, accessFlags, accessRowPages, memberListKnown, toAccessRow } from '../../reports/access.ts';
import { chooseRun, coverageGaps, ensurePlannerStatistics, finishedRuns, resolveIntegration, stateWarnings, DEFAULT_MAX_AGE_MS } from '../../reports/context.ts';
import { type AccessState, type WindowFacts, accessState, accessStates, changeCauses, compareStates, pathText, stateKey, windowFacts } from '../../reports/effective-access-changes.ts';
import type { RunInfo } from '../../reports/types.ts';
import type { Database, Integration } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { resourcesAt } from '../access/history.ts';
import { type Candidate, type Level, chooseReviewer } from './assign.ts';
import { sha256Hex } from './decisions.ts';
import { type MappingRow, parseMappingFile } from './mapping-file.ts';
import { describeReviewer, emailReviewer, resolveReviewer } from './reviewers.ts';
import { type CampaignRow, findCampaign } from './sql/campaigns.ts';
import { type NewItem, type StateWrite, insertItems, writeStates } from './sql/items.ts';
import { type NewLogEntry, appendLog } from './sql/log.ts';
import { type ReviewerIdentity, ensureReviewers } from './sql/reviewers.ts';
import { PAGE_SIZE, contextAt, itemFlags, itemsDigest, rulesOf, snapshotLine } from './snapshot.ts';
import { type CreateCampaignOptions, type CreateCampaignResult, type DeltaChange, UNDECIDED_POLICIES, type AssignmentRule } from './types.ts';
import { plural } from '../text.ts';
import { identityLookup } from '../../reports/access-review.ts';
import { loadIdentity, matchAccount } from '../identity/view.ts';

type Db = Kysely<Database>;

/**
 * Creates a campaign: freezes the access of one finished run per integration into items, one per
 * (principal, resource, permission), each with its paths, first seen and flags, and assigns each to a
 * reviewer by the campaign's rule. Items come from the reports' own derivation (`accessQuery` /
 * `toAccessRow` / `accessFlags`), read in one REPEATABLE READ transaction that also writes the
 * campaign, so the items, the snapshot hash and the access review of that run are the same thing.
 *
 * Refused, with nothing written, when some item would have no reviewer (most often: someone's own
 * access, with no one else up the rule and no `--fallback-reviewer`).
 */
export async function createCampaign(db: Db, options: CreateCampaignOptions): Promise<CreateCampaignResult> {
  const now = options.now ?? new Date();
  const name = options.name.trim();
  if (name === '') throw new RosterError('input_invalid', '--name is empty: give the campaign a name, e.g. --name "Q4 2026".');
  const rules = [options.reviewer !== undefined, options.reviewers !== undefined, options.reviewersFile !== undefined].filter(Boolean).length;
  if (rules !== 1) {
    throw new RosterError('input_invalid', `${rules === 0 ? 'No reviewer rule' : 'More than one reviewer rule'}: give exactly one of --reviewer WHO, --reviewers resource-admins, --reviewers-file FILE.csv.`);
  }
  if (options.reviewers !== undefined && options.reviewers !== 'resource-admins' && options.reviewers !== 'manager') {
    throw new RosterError('input_invalid', `--reviewers "${String(options.reviewers)}" is not a rule: use --reviewers resource-admins or --reviewers manager (or --reviewer WHO, or --reviewers-file FILE.csv).`);
  }
  const ruleName = options.reviewer !== undefined ? 'reviewer' : options.reviewersFile !== undefined ? 'reviewers-file' : (options.reviewers ?? 'resource-admins');
  const policy = options.undecided ?? 'flag';
  if (!(UNDECIDED_POLICIES as readonly string[]).includes(policy)) throw new RosterError('input_invalid', `--undecided "${policy}": use flag, keep or revoke.`);
  const due = options.due === undefined ? null : parseDue(options.due);
  if ((await sql<{ n: number }>`select count(*)::int as n from review_campaigns where name = ${name}`.execute(db)).rows[0]?.n) {
    throw new RosterError('input_invalid', `A campaign named "${name}" already exists: choose another --name (see roster review list).`);
  }

  const integrations: Integration[] = [];
  for (const n of options.integrations && options.integrations.length > 0 ? options.integrations : [undefined]) {
    const integration = await resolveIntegration(db, n);
    if (!integrations.some((i) => i.id === integration.id)) integrations.push(integration);
  }
  const snapshots: Array<{ integration: Integration; run: RunInfo; runs: Map<string, RunInfo>; warnings: string[] }> = [];
  for (const integration of integrations) {
    const list = await finishedRuns(db, integration.id);
    const wanted = options.asOfRun?.[integration.name];
    const run = wanted === undefined ? chooseRun(list, integration, undefined) : list.find((r) => r.id === wanted);
    if (!run) throw new RosterError('input_invalid', `Run ${wanted} is not a finished run of "${integration.name}".`);
    const gaps = await coverageGaps(db, integration, run);
    snapshots.push({ integration, run, runs: new Map(list.map((r) => [r.id, r])), warnings: stateWarnings({ integration, run, gaps, now, asOf: undefined, maxAgeMs: DEFAULT_MAX_AGE_MS }) });
  }

  const fallback = options.fallbackReviewer === undefined ? null : await resolveReviewer(db, integrations, options.fallbackReviewer, '--fallback-reviewer');
  const single = options.reviewer === undefined ? null : await resolveReviewer(db, integrations, options.reviewer, '--reviewer');
  const mapping = options.reviewersFile ? await resolveMapping(db, snapshots, options.reviewersFile) : null;
  const scope = await resolveScope(db, snapshots, options);
  const base = options.changesSince === undefined ? null : await resolveBase(db, options.changesSince, snapshots);

  // Who is behind each account now: shown on every item, and the managers of the `manager` rule.
  const identity = await loadIdentity(db, null);
  if (ruleName === 'manager' && ![...identity.peopleByEmail.values()].flat().some((p) => p.managerEmail !== null)) {
    throw new RosterError(
      'input_invalid',
      identity.peopleSources.length === 0
        ? '--reviewers manager needs a people file with manager e-mails: import one first (roster people import FILE.csv, column manager_email or --map manager_email=Column).'
        : `--reviewers manager: the people files (${identity.peopleSources.map((s) => s.source).join(', ')}) name no manager; import one with a manager_email column (or --map manager_email=Column).`,
    );
  }

  await ensurePlannerStatistics(db);
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`set local jit = off`.execute(trx);
      await sql`set local work_mem = '32MB'`.execute(trx);
      const inserted = await sql<{ id: string }>`
        insert into review_campaigns (name, reviewer_rule, undecided_policy, due_on, base_campaign_id, base_run_id, definition, definition_sha256, created_at)
        values (${name}, ${ruleName}, ${policy}, ${due}, ${base?.campaign?.id ?? null},
                ${base?.runId ?? null}, '{}', ${'0'.repeat(64)}, ${now.toISOString()})
        returning id::text as id`.execute(trx);
      const campaignId = (inserted.rows[0] as { id: string }).id;
      const identities = new Map<string, ReviewerIdentity>();
      const remember = (r: ReviewerIdentity): Candidate => {
        if (!identities.has(r.key)) identities.set(r.key, r);
        return { key: r.key, externalId: r.kind === 'user' ? r.externalId : null, label: describeReviewer(r) };
      };
      const fallbackCandidate = fallback ? remember(fallback) : null;
      const singleCandidate = single ? remember(single) : null;
      const mappingCandidates = mapping ? new Map([...mapping.entries()].map(([k, v]) => [k, remember(v)])) : null;

      const pending: Array<Omit<NewItem, 'reviewerId'> & { reviewerKey: string; carry: CarryForward | null }> = [];
      const unassignable: string[] = [];
      const runRows: Array<{ integration: Integration; run: RunInfo; snapshot: string; accessRows: number; items: number }> = [];
      const delta = { new: 0, raised: 0, lowered: 0, 'paths-changed': 0, 'not-certified': 0, lost: 0 };
      let ownAccess = 0;

      for (const snap of snapshots) {
        const ctx = contextAt(trx, snap.integration, snap.run, snap.runs, now);
        const flagOptions = { memberListKnown: await memberListKnown(ctx) };
        const rules = rulesOf(snap.integration.kind);
        const identityOf = identityLookup(ctx, identity);
        // The manager of the person behind a user's account, by e-mail; never the person themself.
        const managerOf = (row: AccessRow): Candidate | undefined => {
          if (ruleName !== 'manager' || row.principal_kind !== 'user') return undefined;
          const matched = matchAccount(identity, row.account_id, snap.integration.workspace);
          const person = matched.people.find((p) => p.managerEmail !== null && p.managerEmail !== p.emailKey);
          return person?.managerEmail ? remember(emailReviewer(person.managerEmail)) : undefined;
        };
        const baseline = base ? await loadBaseline(trx, base, snap, now) : null;
        const facts: WindowFacts | null = baseline ? { ...(await windowFacts(ctx, baseline.sinceRun, snap.run.id)), projectBefore: baseline.projectBefore } : null;
        const hash = createHash('sha256');
        let accessRows = 0;
        let items = 0;
        const owners: Candidate[] = [];
        const projectAdmins = new Map<string, Candidate[]>();
        let group: AccessRow[] = [];

        const flush = (): void => {
          const first = group[0];
          if (!first) return;
          // Admins of a resource: an administrator's grant on the resource itself, to them or a group they are in.
          const admins = group.filter((r) => r.principal_kind === 'user' && r.paths.some((p) => (p.category === 'direct' || p.category === 'group') && p.privilegedGrant)).map((r) => remember(userIdentity(r)));
          // By the model: administrators of a root resource (Bitbucket Cloud: workspace owners), and of a
          // resource grants are inherited from (a project), keyed by its handle.
          if (rules.model.resources[first.resource_kind]?.parents.length === 0) owners.push(...group.filter((r) => r.principal_kind === 'user' && r.admin).map((r) => remember(userIdentity(r))));
          else if (rules.model.inheritance.some((i) => i.from === first.resource_kind) && first.resource_handle !== null) projectAdmins.set(first.resource_handle, admins);
          for (const row of group) {
            const flags = itemFlags(row, accessFlags(row, flagOptions));
            if (!scope.includes(row, flags)) continue;
            const state = accessState(row, flags);
            let change: DeltaChange | null = null;
            let causes: string[] | null = null;
            let carry: CarryForward | null = null;
            let baseItemId: string | null = null;
            if (baseline) {
              const before = baseline.states.get(stateKey(state));
              baseline.states.delete(stateKey(state));
              const kind = compareStates(before?.state, state, rules.rank);
              baseItemId = before?.itemId ?? null;
              if (kind === null) {
                if (baseline.runOnly) continue;
                if (before?.certified) carry = before.certified;
                else change = 'not-certified';
              } else {
                // `lost` cannot happen here: `state` is the access now.
                change = kind === 'gained' || kind === 'lost' ? 'new' : kind;
                causes = changeCauses(before?.state, state, facts as WindowFacts);
              }
              if (change !== null) delta[change as keyof typeof delta] += 1;
              if (carry) change = 'unchanged';
            }
            const levels = levelsFor(row, { single: singleCandidate, mapping: mappingCandidates, manager: managerOf(row), owners, projectAdmins, repositoryAdmins: admins });
            const assignment = chooseReviewer({ kind: row.principal_kind, externalId: row.principal_external_id ?? '', name: row.principal_name ?? 'anyone' }, levels, fallbackCandidate, row.resource_external_id);
            if (!assignment.ok) {
              unassignable.push(`${row.principal_name ?? row.principal_external_id ?? 'anyone'} (${row.principal_kind}) ${row.permission} on ${row.resource_kind} ${row.resource_handle ?? row.resource_name}${assignment.reason === 'own-access' ? ': own access, and nobody else up the rule' : ': the rule names no reviewer'}`);
              continue;
            }
            if (assignment.ownAccess) ownAccess += 1;
            const firstSeen = snap.runs.get(row.first_seen_run);
            pending.push({
              integrationId: snap.integration.id,
              runId: snap.run.id,
              principal_id: row.principal_id,
              principal_kind: row.principal_kind,
              principal_external_id: row.principal_external_id,
              principal_name: row.principal_name,
              principal_handle: row.principal_handle,
              account_id: row.account_id,
              workspace_role: row.workspace_role,
              resource_id: row.resource_id,
              resource_kind: row.resource_kind,
              resource_external_id: row.resource_external_id,
              resource_handle: row.resource_handle,
              resource_name: row.resource_name,
              project_handle: row.project_handle,
              permission: row.permission,
              paths: row.paths,
              first_seen_run: row.first_seen_run,
              first_seen_at: firstSeen ? firstSeen.finishedAt.toISOString() : null,
              flags,
              reviewerKey: assignment.candidate.key,
              rule: assignment.rule,
              note: assignment.note,
              change,
              causes,
              baseItemId,
              carriedForward: carry !== null,
              carry,
              identity: row.principal_kind === 'user' ? (({ email, personStatus, lastActive, department, flags: kinds }) => ({ email, person_status: personStatus, last_active: lastActive, department, identity_flags: kinds }))(identityOf(row.account_id, row.principal_external_id)) : null,
            });
            items += 1;
          }
          group = [];
        };

        for await (const page of accessRowPages(ctx, { order: 'resource', usersOnly: false }, PAGE_SIZE)) {
          for (const db of page) {
            const row = toAccessRow(db, rules);
            accessRows += 1;
            hash.update(snapshotLine(row, itemFlags(row, accessFlags(row, flagOptions))));
            if (group.length > 0 && group[0]?.resource_id !== row.resource_id) flush();
            group.push(row);
          }
        }
        flush();
        if (baseline && !baseline.runOnly) delta.lost += baseline.states.size;
        runRows.push({ integration: snap.integration, run: snap.run, snapshot: hash.digest('hex'), accessRows, items });
      }

      if (unassignable.length > 0) {
        throw new RosterError(
          'input_invalid',
          `Nothing was created: ${plural(unassignable.length, 'item')} would have no reviewer. Nobody reviews their own access; give --fallback-reviewer WHO (someone who is not among them)${mapping ? ', or add a default row (no project, no repository) to the reviewers file' : ''}:\n  ${unassignable.slice(0, 25).join('\n  ')}${unassignable.length > 25 ? `\n  … and ${unassignable.length - 25} more` : ''}`,
        );
      }

      const reviewers = await ensureReviewers(trx, campaignId, [...identities.values()]);
      const carriedDeciders = await ensureReviewers(trx, campaignId, pending.flatMap((p) => (p.carry ? [p.carry.decidedBy] : [])));
      const idOf = (key: string): string => {
        const r = reviewers.get(key) ?? carriedDeciders.get(key);
        if (!r) throw new RosterError('internal', `reviewer ${key} was not stored`);
        return r.id;
      };
      const itemIds = await insertItems(trx, campaignId, pending.map((p) => ({ ...p, reviewerId: idOf(p.reviewerKey) })));
      for (const r of runRows) {
        await sql`insert into review_campaign_runs (campaign_id, integration_id, run_id, snapshot_sha256, access_rows, items)
                  values (${campaignId}, ${r.integration.id}, ${r.run.id}, ${r.snapshot}, ${r.accessRows}, ${r.items})`.execute(trx);
      }
      const digest = itemsDigest(
        pending.map((p) => ({
          integration: integrations.find((i) => i.id === p.integrationId)?.name ?? '',
          principal_kind: p.principal_kind,
          principal_external_id: p.principal_external_id,
          resource_kind: p.resource_kind,
          resource_external_id: p.resource_external_id,
          permission: p.permission,
          pathTexts: p.paths.map(pathText),
          flags: p.flags,
          reviewerKey: p.reviewerKey,
          rule: p.rule,
          change: p.change,
        })),
      );
      const carried = pending.filter((p) => p.carry !== null).length;
      const definition = JSON.stringify(
        {
          kind: 'roster-review-campaign',
          version: 1,
          id: campaignId,
          name,
          createdAt: now.toISOString(),
          due,
          undecidedPolicy: policy,
          reviewerRule: {
            rule: ruleName,
            reviewer: single?.key ?? null,
            reviewersFile: options.reviewersFile ? { name: options.reviewersFile.name, sha256: sha256Hex(options.reviewersFile.text) } : null,
            fallback: fallback?.key ?? null,
            ownAccess: 'nobody reviews their own access: such items go to the next reviewer up the rule, else the fallback reviewer',
          },
          scope: { integrations: integrations.map((i) => i.name), projects: options.projects ?? null, repositories: options.repositories ?? null, privilegedOnly: options.privilegedOnly === true },
          base: base ? { campaign: base.campaign ? { id: base.campaign.id, name: base.campaign.name, definitionSha256: base.campaign.definition_sha256 } : null, run: base.runId } : null,
          snapshots: runRows.map((r) => ({
            integration: r.integration.name,
            workspace: r.integration.workspace,
            runId: r.run.id,
            runStatus: r.run.status,
            runFinishedAt: r.run.finishedAt.toISOString(),
            snapshotSha256: r.snapshot,
            accessRows: r.accessRows,
            items: r.items,
          })),
          snapshotHash: 'SHA-256 over one JSON line per access row of the run ([principal_kind, principal_id, resource_kind, resource_id, permission, paths, flags] and a line feed), in access-review order',
          items: pending.length,
          itemsSha256: digest,
          carriedForward: carried,
          delta: base ? delta : null,
          warnings: snapshots.flatMap((s) => s.warnings),
        },
        null,
        2,
      );
      const definitionSha = sha256Hex(`${definition}\n`);
      await sql`update review_campaigns set definition = ${`${definition}\n`}, definition_sha256 = ${definitionSha} where id = ${campaignId}`.execute(trx);

      const entries: NewLogEntry[] = [{ itemId: null, action: 'create', fields: { definition_sha256: definitionSha, items: pending.length, items_sha256: digest } }];
      const carriedItems = pending.filter((p) => p.carry !== null);
      for (const p of carriedItems) {
        const c = p.carry as CarryForward;
        entries.push({
          itemId: itemIds.get(`${p.principal_id} ${p.resource_id}`) ?? null,
          action: 'carry-forward',
          fields: { decision: 'keep', decided_by: c.decidedBy.key, base_campaign: c.campaignId, base_item: c.itemId, base_entry_sha256: c.entrySha256 },
        });
      }
      const written = await appendLog(trx, campaignId, definitionSha, now, entries);
      const seqOf = new Map(written.filter((w) => w.item_id !== null).map((w) => [w.item_id as string, w.seq]));
      const states: StateWrite[] = pending.map((p) => {
        const itemId = itemIds.get(`${p.principal_id} ${p.resource_id}`) as string;
        const c = p.carry;
        return {
          itemId,
          reviewerId: idOf(p.reviewerKey),
          decision: c ? 'keep' : null,
          reduceTo: null,
          comment: c ? `carried forward from campaign ${c.campaignId} (item ${c.itemId}, kept by ${describeReviewer(c.decidedBy)} on ${c.decidedAt}): unchanged since` : null,
          decidedBy: c ? idOf(c.decidedBy.key) : null,
          decidedAt: c ? now.toISOString() : null,
          decidedVia: c ? 'carried-forward' : null,
          logSeq: seqOf.get(itemId) ?? 1,
        };
      });
      await writeStates(trx, campaignId, states);

      const counts = new Map<string, number>();
      for (const p of pending) counts.set(p.reviewerKey, (counts.get(p.reviewerKey) ?? 0) + 1);
      return {
        id: campaignId,
        name,
        items: pending.length,
        carriedForward: carried,
        runs: runRows.map((r) => ({ integration: r.integration.name, runId: r.run.id, snapshotSha256: r.snapshot, accessRows: r.accessRows, items: r.items })),
        reviewers: [...counts].map(([key, items]) => ({ reviewer: describeReviewer(identities.get(key) as ReviewerIdentity), items })).sort((a, b) => b.items - a.items || (a.reviewer < b.reviewer ? -1 : 1)),
        ownAccessReassigned: ownAccess,
        warnings: snapshots.flatMap((s) => s.warnings),
      };
    });
}

function parseDue(value: string): string {
  const v = value.trim();
  const date = new Date(`${v}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== v) {
    throw new RosterError('input_invalid', `--due "${value}" is not a date: use YYYY-MM-DD, e.g. --due 2027-01-15.`);
  }
  return v;
}

function userIdentity(row: AccessRow): ReviewerIdentity {
  return {
    kind: 'user',
    key: `user:${row.principal_external_id ?? ''}`,
    principalId: row.principal_id,
    externalId: row.principal_external_id,
    accountId: row.account_id,
    displayName: row.principal_name,
    handle: row.principal_handle,
    email: null,
  };
}

interface RuleCandidates {
  single: Candidate | null;
  mapping: Map<string, Candidate> | null;
  /** `--reviewers manager`: the item's person's manager, when the people files name one. */
  manager?: Candidate | undefined;
  owners: readonly Candidate[];
  projectAdmins: ReadonlyMap<string, readonly Candidate[]>;
  repositoryAdmins: readonly Candidate[];
}

/** The rule's levels for one item, in the order "next reviewer up" walks them. */
function levelsFor(row: AccessRow, c: RuleCandidates): Level[] {
  if (c.single) return [{ rule: 'reviewer', candidates: [c.single] }];
  const level = (rule: AssignmentRule, candidates: readonly (Candidate | undefined)[]): Level => ({ rule, candidates: candidates.filter((x): x is Candidate => x !== undefined) });
  if (c.mapping) {
    const m = c.mapping;
    if (row.resource_kind === 'repository') {
      return [
        level('mapping:repository', [m.get(`repository:${row.resource_handle ?? ''}`) ?? m.get(`repository:${row.resource_external_id}`)]),
        level('mapping:project', [m.get(`project:${row.project_handle ?? ''}`)]),
        level('mapping:default', [m.get('default')]),
      ];
    }
    if (row.resource_kind === 'project') return [level('mapping:project', [m.get(`project:${row.resource_handle ?? ''}`)]), level('mapping:default', [m.get('default')])];
    return [level('mapping:default', [m.get('default')])];
  }
  // `manager`: the person's manager first; items with none (no person, no manager, a machine
  // credential, a public repository) go up the resource's admins as under `resource-admins`.
  const managerLevel = c.manager ? [level('manager', [c.manager])] : [];
  if (row.resource_kind === 'repository') {
    return [...managerLevel, level('repository-admin', c.repositoryAdmins), level('project-admin', c.projectAdmins.get(row.project_handle ?? '') ?? []), level('workspace-owner', c.owners)];
  }
  if (row.resource_kind === 'project') return [...managerLevel, level('project-admin', c.repositoryAdmins), level('workspace-owner', c.owners)];
  return [...managerLevel, level('workspace-owner', c.owners)];
}

/** Mapping rows resolved: keys `repository:SLUG|UUID`, `project:KEY`, `default` → reviewer. */
async function resolveMapping(db: Db, snapshots: ReadonlyArray<{ integration: Integration; run: RunInfo }>, file: { name: string; text: string }): Promise<Map<string, ReviewerIdentity>> {
  const rows: MappingRow[] = parseMappingFile(file.name, file.text);
  const known = await knownResources(db, snapshots);
  const problems: string[] = [];
  const out = new Map<string, ReviewerIdentity>();
  const integrations = snapshots.map((s) => s.integration);
  for (const r of rows) {
    if (r.project && !known.projects.has(r.project)) problems.push(`line ${r.line}: no project with key ${r.project} (projects: ${[...known.projects].slice(0, 10).join(', ')}${known.projects.size > 10 ? ', …' : ''})`);
    if (r.repository && !known.repositories.has(r.repository)) problems.push(`line ${r.line}: no repository ${r.repository} (give its slug or uuid)`);
    try {
      const reviewer = await resolveReviewer(db, integrations, r.reviewer, `line ${r.line}: reviewer`);
      out.set(r.repository ? `repository:${r.repository}` : r.project ? `project:${r.project}` : 'default', reviewer);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new RosterError('input_invalid', `${file.name}: nothing was created:\n  ${problems.join('\n  ')}`);
  return out;
}

async function knownResources(db: Db, snapshots: ReadonlyArray<{ integration: Integration; run: RunInfo }>): Promise<{ projects: Set<string>; repositories: Set<string> }> {
  const projects = new Set<string>();
  const repositories = new Set<string>();
  for (const s of snapshots) {
    const rows = await sql<{ kind: string; handle: string | null; external_id: string }>`
      select r.kind, r.handle, r.external_id from ${resourcesAt(s.integration.id, s.run.id, ['project', 'repository'])} r`.execute(db);
    for (const r of rows.rows) {
      const set = r.kind === 'project' ? projects : repositories;
      if (r.handle) set.add(r.handle);
      set.add(r.external_id);
    }
  }
  return { projects, repositories };
}

interface Scope {
  includes(row: AccessRow, flags: readonly string[]): boolean;
}

async function resolveScope(db: Db, snapshots: ReadonlyArray<{ integration: Integration; run: RunInfo }>, options: CreateCampaignOptions): Promise<Scope> {
  const projects = options.projects?.map((p) => p.trim()).filter((p) => p !== '') ?? [];
  const repositories = options.repositories?.map((p) => p.trim()).filter((p) => p !== '') ?? [];
  if (projects.length > 0 || repositories.length > 0) {
    const known = await knownResources(db, snapshots);
    const unknown = [...projects.filter((p) => !known.projects.has(p)).map((p) => `project ${p}`), ...repositories.filter((r) => !known.repositories.has(r)).map((r) => `repository ${r}`)];
    if (unknown.length > 0) throw new RosterError('input_invalid', `Not in the reviewed run: ${unknown.join(', ')}. Give project keys (--project) and repository slugs or uuids (--repository) as Bitbucket shows them.`);
  }
  const narrowed = projects.length > 0 || repositories.length > 0;
  return {
    includes(row, flags) {
      if (options.privilegedOnly === true && !flags.includes('admin')) return false;
      if (!narrowed) return true;
      if (row.resource_kind === 'project') return projects.includes(row.resource_handle ?? '') || projects.includes(row.resource_external_id);
      if (row.resource_kind === 'repository') {
        return repositories.includes(row.resource_handle ?? '') || repositories.includes(row.resource_external_id) || projects.includes(row.project_handle ?? '');
      }
      return false;
    },
  };
}

// ─── Delta campaigns ────────────────────────────────────────────────────────────────────────

interface Base {
  campaign: CampaignRow | null;
  runId: string | null;
}

/** `--changes-since`: a closed campaign (id, name, `campaign:N`) or a run (`run:N`; a bare number that is only a run). */
async function resolveBase(db: Db, ref: string, snapshots: ReadonlyArray<{ integration: Integration; runs: Map<string, RunInfo> }>): Promise<Base> {
  const v = ref.trim();
  const runMatch = /^run:(\d+)$/.exec(v);
  const isRun = (id: string) => snapshots.every((s) => s.runs.has(id));
  let campaign: CampaignRow | null = null;
  if (!runMatch) {
    try {
      campaign = await findCampaign(db, v);
    } catch (error) {
      if (!/^\d+$/.test(v) || !isRun(v)) throw error;
    }
    if (campaign && /^\d+$/.test(v) && isRun(v)) {
      throw new RosterError('input_invalid', `--changes-since ${v} is both campaign ${v} and run ${v}: write campaign:${v} or run:${v}.`);
    }
  }
  if (campaign) {
    if (campaign.status !== 'closed') {
      throw new RosterError('input_invalid', `--changes-since: campaign ${campaign.id} "${campaign.name}" is still open. A delta review carries forward what a closed campaign certified: close it first (roster review close ${campaign.id} --out DIR).`);
    }
    const covered = await sql<{ integration_id: string }>`select integration_id::text as integration_id from review_campaign_runs where campaign_id = ${campaign.id}`.execute(db);
    const missing = snapshots.filter((s) => !covered.rows.some((r) => r.integration_id === String(s.integration.id)));
    if (missing.length > 0) throw new RosterError('input_invalid', `--changes-since: campaign ${campaign.id} "${campaign.name}" did not review ${missing.map((m) => `"${m.integration.name}"`).join(', ')}.`);
    return { campaign, runId: null };
  }
  const runId = runMatch?.[1] ?? v;
  if (!isRun(runId)) throw new RosterError('input_invalid', `--changes-since "${ref}" is neither a campaign nor a finished run of ${snapshots.map((s) => `"${s.integration.name}"`).join(', ')}.`);
  return { campaign: null, runId };
}

interface CarryForward {
  campaignId: string;
  itemId: string;
  decidedBy: ReviewerIdentity;
  decidedAt: string;
  entrySha256: string;
}

interface Baseline {
  sinceRun: string;
  /** A run, not a campaign: nothing was certified, so unchanged access is simply not in the delta. */
  runOnly: boolean;
  states: Map<string, { state: AccessState; itemId: string | null; certified: CarryForward | null }>;
  /** Each repository's project in the base, for the causes of access that is new. */
  projectBefore: Map<string, string | null>;
}

/**
 * What the delta compares with: the base campaign's frozen items (a repository moved since shows,
 * whatever the history can say about the base run), or the derivation at the base run.
 */
async function loadBaseline(db: Db, base: Base, snap: { integration: Integration; run: RunInfo; runs: Map<string, RunInfo> }, now: Date): Promise<Baseline> {
  const states: Baseline['states'] = new Map();
  if (!base.campaign) {
    const run = snap.runs.get(base.runId as string) as RunInfo;
    for await (const page of accessStates(contextAt(db, snap.integration, run, snap.runs, now))) {
      for (const s of page) states.set(stateKey(s), { state: s, itemId: null, certified: null });
    }
    return { sinceRun: run.id, runOnly: true, states, projectBefore: projectsOf(states) };
  }
  const rows = await sql<{
    id: string;
    run_id: string;
    state: AccessState;
    decision: string | null;
    decided_via: string | null;
    decided_at: Date | null;
    entry_sha256: string | null;
    kind: 'user' | 'email';
    key: string;
    principal_id: string | null;
    external_id: string | null;
    account_id: string | null;
    display_name: string | null;
    handle: string | null;
    email: string | null;
  }>`
    select i.id::text as id, i.run_id::text as run_id,
           json_build_object('principal_id', i.principal_id::text, 'principal_kind', i.principal_kind, 'principal_external_id', i.principal_external_id,
             'principal_name', i.principal_name, 'principal_handle', i.principal_handle, 'account_id', i.account_id, 'resource_id', i.resource_id::text,
             'resource_kind', i.resource_kind, 'resource_external_id', i.resource_external_id, 'resource_handle', i.resource_handle, 'resource_name', i.resource_name,
             'project_handle', i.project_handle, 'permission', i.permission, 'paths', i.paths, 'flags', i.flags) as state,
           s.decision, s.decided_via, s.decided_at, l.sha256 as entry_sha256,
           r.kind, r.key, r.principal_id::text as principal_id, r.external_id, r.account_id, r.display_name, r.handle, r.email
      from review_items i
      join review_item_states s on s.item_id = i.id
      left join review_reviewers r on r.id = s.decided_by
      left join review_decision_log l on l.campaign_id = i.campaign_id and l.seq = s.log_seq
     where i.campaign_id = ${base.campaign.id} and i.integration_id = ${snap.integration.id}`.execute(db);
  let sinceRun = '0';
  for (const r of rows.rows) {
    const raw = typeof r.state === 'string' ? (JSON.parse(r.state) as AccessState & { paths: Array<Parameters<typeof pathText>[0]> }) : (r.state as AccessState & { paths: Array<Parameters<typeof pathText>[0]> });
    // Items keep the reports' paths; a comparison needs them as labels, the way accessState makes them.
    const paths = (raw.paths as unknown as Array<Parameters<typeof pathText>[0]>).map((p) => ({ kind: p.kind, category: p.category, group: p.group, project: p.project, granted: p.granted, label: pathText(p) }));
    paths.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    const state: AccessState = { ...raw, paths };
    // Certified: a reviewer kept it (or kept it in an earlier campaign and it was carried forward). A keep
    // by the undecided policy is not a reviewer's judgement, so it is reviewed again.
    const certified = r.decision === 'keep' && (r.decided_via === 'reviewer' || r.decided_via === 'carried-forward') && r.entry_sha256 !== null;
    states.set(stateKey(state), {
      state,
      itemId: r.id,
      certified: certified
        ? {
            campaignId: base.campaign.id,
            itemId: r.id,
            decidedBy: { kind: r.kind, key: r.key, principalId: r.principal_id, externalId: r.external_id, accountId: r.account_id, displayName: r.display_name, handle: r.handle, email: r.email },
            decidedAt: r.decided_at ? new Date(r.decided_at).toISOString() : '?',
            entrySha256: r.entry_sha256 as string,
          }
        : null,
    });
    sinceRun = r.run_id;
  }
  if (rows.rows.length === 0) {
    const run = await sql<{ run_id: string }>`select run_id::text as run_id from review_campaign_runs where campaign_id = ${base.campaign.id} and integration_id = ${snap.integration.id}`.execute(db);
    sinceRun = run.rows[0]?.run_id ?? '0';
  }
  return { sinceRun, runOnly: false, states, projectBefore: projectsOf(states) };
}

function projectsOf(states: Baseline['states']): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const { state } of states.values()) if (state.resource_kind === 'repository') out.set(state.resource_id, state.project_handle);
  return out;
}
