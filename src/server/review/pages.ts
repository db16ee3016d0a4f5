import type { PathJson } from '../../../reports/access.ts';
import type { RenderedAccessRow } from '../../../reports/access-review.ts';
import type { CampaignHead, QueueItem, RemediationTask, ReviewerInfo, ReviewerQueue, StatusReport } from '../../review/index.ts';
import { decisionWord, reviewerLabel } from '../../review/index.ts';
import { plural } from '../../text.ts';
import type { ExplorerResult } from './explorer.ts';
import { type Html, type HtmlValue, html } from './html.ts';

/**
 * The reviewer web page's HTML: server-rendered, one stylesheet and one small script from
 * /review/static (the Content-Security-Policy allows nothing inline), every value escaped by `html`.
 */

export function layout(title: string, body: HtmlValue, options: { nav?: Html } = {}): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${title} · Roster</title>
<link rel="stylesheet" href="/review/static/review.css">
<script src="/review/static/review.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">Roster</span> <span class="where">access review</span>${options.nav ?? ''}</header>
<main id="main" tabindex="-1">
${body}
</main>
</body>
</html>
`;
}

export function errorPage(title: string, message: string, hint: string | null = null): Html {
  return layout(title, html`<h1>${title}</h1><p class="problem" role="alert">${message}</p>${hint ? html`<p>${hint}</p>` : ''}`);
}

const FLAG_WORDS: Record<string, string> = {
  admin: 'admin',
  'individual-grant': 'direct grant',
  'single-use-group': 'single-use group',
  'machine-credential': 'machine credential',
  'outside-workspace': 'outside the workspace',
  public: 'public',
};
export const flagWord = (flag: string): string => FLAG_WORDS[flag] ?? flag.replace(/-/g, ' ');

/** A path in words: "via group Developers on project Platform (grant: write)". */
export function pathWords(p: PathJson): string {
  const group = p.groupName ?? p.group ?? '?';
  const project = p.projectName ?? p.project ?? '?';
  const role = p.kind.replace(/-group$/, '').replace(/-/g, ' ');
  let words: string;
  switch (p.category) {
    case 'direct':
      words = 'granted directly';
      break;
    case 'root-direct':
      words = `as ${role} (${p.granted})`;
      return words;
    case 'group':
      words = `via group ${group}`;
      break;
    case 'inherited':
      words = `via project ${project}`;
      break;
    case 'inherited-group':
      words = `via group ${group} on project ${project}`;
      break;
    case 'root-role':
      words = `as ${role}`;
      break;
    case 'root-role-group':
      words = `as ${role} via group ${group}`;
      break;
    case 'implicit':
      return `${p.kind} repository: anyone can ${p.permission}${p.undo ? ` (undo: ${p.undo})` : ''}`;
    default:
      words = p.kind;
  }
  return p.granted && p.granted !== p.permission ? `${words} (grant: ${p.granted}, gives ${p.permission})` : `${words} (${p.granted})`;
}

function principalCell(i: Pick<QueueItem, 'principal_kind' | 'principal_name' | 'principal_handle' | 'principal_external_id' | 'account_id' | 'workspace_role'>): Html {
  if (i.principal_kind === 'anyone') return html`<span class="who">anyone</span> <span class="muted">(public)</span>`;
  if (i.principal_kind !== 'user') {
    return html`<span class="who">${i.principal_name ?? i.principal_external_id ?? '?'}</span> <span class="muted">${i.principal_kind.replace(/_/g, ' ')}</span>`;
  }
  const context = [i.principal_handle ? `@${i.principal_handle}` : null, i.workspace_role ? `workspace ${i.workspace_role}` : 'not a workspace member', i.account_id ? `account ${i.account_id}` : null].filter(Boolean).join(' · ');
  return html`<span class="who">${i.principal_name ?? i.principal_external_id ?? '?'}</span><br><span class="muted">${context}</span>`;
}

const flagBadges = (flags: readonly string[]): Html => html`${flags.map((f) => html`<span class="flag flag-${f.replace(/[^a-z0-9-]/g, '')}">${flagWord(f)}</span> `)}`;

const date = (iso: string | null): string => (iso ? iso.slice(0, 10) : '');

export interface QueueFilters {
  resource: string;
  permission: string;
  flag: string;
  undecided: boolean;
}

const resourceKey = (i: QueueItem): string => `${i.integration} ${i.resource_kind} ${i.resource_handle ?? i.resource_external_id}`;
const resourceTitle = (i: QueueItem): string => `${i.resource_kind} ${i.resource_handle ?? i.resource_name}`;

export function filterItems(items: readonly QueueItem[], f: QueueFilters): QueueItem[] {
  return items.filter(
    (i) => (f.resource === '' || resourceKey(i) === f.resource) && (f.permission === '' || i.permission === f.permission) && (f.flag === '' || i.flags.includes(f.flag)) && (!f.undecided || i.decision === null),
  );
}

function options(values: ReadonlyArray<[string, string]>, selected: string, anyLabel: string): Html {
  return html`<option value="">${anyLabel}</option>${values.map(([v, label]) => html`<option value="${v}"${v === selected ? html` selected` : ''}>${label}</option>`)}`;
}

const distinct = (pairs: Array<[string, string]>): Array<[string, string]> => [...new Map(pairs).entries()].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));

export interface QueuePageInput {
  queue: ReviewerQueue;
  filters: QueueFilters;
  csrf: string;
  base: string;
  /** The filters as a query string: forms carry it back, so a decision keeps the view. */
  filterQuery: string;
  notice: string | null;
  problems: string[];
  /** Values a refused form held, to give them back (by item id). */
  entered: Map<string, { decision: string; comment: string }>;
}

function progress(decided: number, total: number): Html {
  const pct = total === 0 ? 100 : Math.round((decided / total) * 100);
  return html`<p class="progress" id="progress"><strong>${decided} of ${total} decided</strong> <progress max="${total}" value="${decided}" aria-label="decided">${pct}%</progress></p>`;
}

export function queuePage(input: QueuePageInput): Html {
  const { queue, filters, csrf, base } = input;
  const c = queue.campaign;
  const open = c.status === 'open';
  const all = queue.items;
  const decided = all.filter((i) => i.decision !== null).length;
  const shown = filterItems(all, filters);
  const groups = new Map<string, QueueItem[]>();
  for (const i of shown) groups.set(resourceKey(i), [...(groups.get(resourceKey(i)) ?? []), i]);
  const who = reviewerLabel(queue.reviewer);
  const done = all.length > 0 && decided === all.length;

  const banner = !open
    ? html`<p class="notice" role="status">This campaign was closed on ${date(c.closedAt)}: the decisions below are final.</p>`
    : done
      ? html`<p class="done" role="status" id="done">All ${plural(all.length, 'item')} decided — thank you. You can change a decision until the campaign closes.</p>`
      : all.length === 0
        ? html`<p class="done" role="status">Nothing to review: no items are assigned to you in this campaign.</p>`
        : '';

  const filterForm = html`<form class="filters" method="get" action="${base}" aria-label="Filter items">
<label>Resource <select name="resource" id="f-resource">${options(distinct(all.map((i) => [resourceKey(i), `${resourceTitle(i)}${i.integration ? ` (${i.integration})` : ''}`])), filters.resource, 'all resources')}</select></label>
<label>Permission <select name="permission" id="f-permission">${options(distinct(all.map((i) => [i.permission, i.permission])), filters.permission, 'any permission')}</select></label>
<label>Flag <select name="flag" id="f-flag">${options(distinct(all.flatMap((i) => i.flags.map((f): [string, string] => [f, flagWord(f)]))), filters.flag, 'any flag')}</select></label>
<label class="check"><input type="checkbox" name="undecided" value="1" id="f-undecided"${filters.undecided ? html` checked` : ''}> undecided only</label>
<button type="submit">Filter</button> <a href="${base}">Clear filters</a>
</form>`;

  const rows = (items: QueueItem[]) =>
    items.map((i) => {
      const entered = input.entered.get(i.id);
      const current = decisionWord({ decision: i.decision, reduceTo: i.reduce_to });
      const chosen = entered?.decision ?? current;
      const label = `${i.principal_name ?? i.principal_external_id ?? 'anyone'} on ${resourceTitle(i)}`;
      return html`<tr id="item-${i.id}" data-item="${i.id}" class="${i.decision ? `decided decided-${i.decision}` : 'undecided'}">
<td class="sel">${open ? html`<input type="checkbox" form="bulk" name="item" value="${i.id}" id="sel-${i.id}" class="select-item" aria-label="Select ${label}">` : ''}</td>
<td>${principalCell(i)}</td>
<td class="perm">${i.permission}</td>
<td><ul class="paths">${i.paths.map((p) => html`<li>${pathWords(p)}</li>`)}</ul>${i.change ? html`<span class="muted">change since base: ${i.change}</span>` : ''}</td>
<td>${date(i.first_seen_at)}</td>
<td>${flagBadges(i.flags)}</td>
<td class="decision">${i.decision ? html`<p class="state">Decided: <strong>${current}</strong>${i.comment ? html` — “${i.comment}”` : ''}<br><span class="muted">${i.decided_at ? date(i.decided_at) : ''}${i.decided_via && i.decided_via !== 'reviewer' ? ` (${i.decided_via})` : ''}</span></p>` : html`<p class="state muted">Undecided</p>`}
${
  open
    ? html`<form method="post" action="${base}/decide" class="decide">
<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="back" value="${input.filterQuery}"><input type="hidden" name="item" value="${i.id}">
<label for="d-${i.id}" class="vh">Decision for ${label}</label>
<select name="decision" id="d-${i.id}">${i.choices.map((w) => html`<option value="${w}"${w === chosen ? html` selected` : ''}>${w.replace(':', ' to ')}</option>`)}</select>
<label for="c-${i.id}" class="vh">Comment for ${label} (required to revoke or reduce)</label>
<textarea name="comment" id="c-${i.id}" rows="1" placeholder="comment (required to revoke or reduce)">${entered?.comment ?? i.comment ?? ''}</textarea>
<button type="submit">Save</button>
</form>${
        i.decision === null
          ? html`<details class="reassign"><summary>Hand to someone else</summary><form method="post" action="${base}/reassign">
<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="back" value="${input.filterQuery}"><input type="hidden" name="item" value="${i.id}">
<label for="to-${i.id}">New reviewer <input name="to" id="to-${i.id}" placeholder="e-mail, nickname or name"></label>
<label for="why-${i.id}">Why <input name="reason" id="why-${i.id}" placeholder="why someone else should judge it"></label>
<button type="submit">Hand over</button></form></details>`
          : ''
      }`
    : ''
}</td>
</tr>`;
    });

  const body = html`<h1>${c.name}</h1>
<p class="sub">Reviewer: <strong>${who}</strong>${c.due ? html` · due ${c.due}` : ''}${c.overdue ? html` · <span class="overdue">overdue</span>` : ''} · campaign ${c.id}</p>
${progress(decided, all.length)}
${banner}
${input.notice ? html`<p class="notice" role="status" id="notice">${input.notice}</p>` : ''}
${input.problems.length > 0 ? html`<div class="problem" role="alert" id="problems"><p>Nothing was recorded:</p><ul>${input.problems.map((p) => html`<li>${p}</li>`)}</ul></div>` : ''}
${all.length > 0 ? filterForm : ''}
${
  open && shown.length > 0
    ? html`<form id="bulk" method="post" action="${base}/keep" class="bulk"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="back" value="${input.filterQuery}">
<label class="check"><input type="checkbox" id="select-all" aria-controls="items"> select all shown</label>
<button type="submit" id="keep-selected">Keep selected…</button> <span class="muted">asks for confirmation</span></form>`
    : ''
}
<p class="muted" id="shown">${shown.length === all.length ? `Showing all ${plural(all.length, 'item')}.` : `Showing ${shown.length} of ${plural(all.length, 'item')}.`}</p>
<div id="items">
${[...groups.values()].map((items) => {
  const first = items[0] as QueueItem;
  return html`<section class="resource" aria-labelledby="r-${first.id}">
<h2 id="r-${first.id}">${resourceTitle(first)} <span class="muted">${[first.resource_name !== first.resource_handle ? first.resource_name : null, first.project_handle ? `project ${first.project_handle}` : null, first.integration].filter(Boolean).join(' · ')}</span></h2>
<table><thead><tr><th scope="col"><span class="vh">Select</span></th><th scope="col">Who</th><th scope="col">Permission</th><th scope="col">Why (every path)</th><th scope="col">First seen</th><th scope="col">Flags</th><th scope="col">Decision</th></tr></thead>
<tbody>${rows(items)}</tbody></table></section>`;
})}
</div>`;
  return layout(`${c.name}: your review`, body);
}

export function confirmKeepPage(input: { queue: ReviewerQueue; itemIds: string[]; csrf: string; base: string; back: string }): Html {
  const byId = new Map(input.queue.items.map((i) => [i.id, i]));
  const items = input.itemIds.map((id) => byId.get(id)).filter((i): i is QueueItem => i !== undefined);
  const body = html`<h1>Keep ${plural(items.length, 'item')}?</h1>
<p>You confirm that each of these accesses is still needed, as it is now. The decision is recorded in the campaign's decision log under your name.</p>
<ul class="confirm-list">${items.map((i) => html`<li>${i.principal_name ?? i.principal_external_id ?? 'anyone'} — ${i.permission} on ${resourceTitle(i)}</li>`)}</ul>
<form method="post" action="${input.base}/keep">
<input type="hidden" name="_csrf" value="${input.csrf}"><input type="hidden" name="back" value="${input.back}"><input type="hidden" name="confirm" value="yes">
${items.map((i) => html`<input type="hidden" name="item" value="${i.id}">`)}
<button type="submit" id="confirm-keep" autofocus>Keep ${plural(items.length, 'item')}</button> <a href="${input.base}${input.back ? `?${input.back}` : ''}">Cancel</a>
</form>`;
  return layout('Confirm keep', body);
}

function ownerNav(base: string): Html {
  return html`<nav aria-label="Campaign"><a href="${base}/overview">Overview</a> <a href="${base}/access">Access explorer</a></nav>`;
}

export function overviewPage(input: { head: CampaignHead; status: StatusReport; tasks: RemediationTask[]; base: string }): Html {
  const { head: c, status: s, base } = input;
  const body = html`<h1>${c.name} <span class="muted">overview</span></h1>
<p class="sub">Campaign ${c.id} · ${c.status}${c.due ? ` · due ${c.due}` : ''}${c.overdue ? html` · <span class="overdue">overdue</span>` : ''} · ${s.campaign.runs.map((r) => `run ${r.runId} of ${r.integration}`).join(', ')}</p>
${progress(s.decided, s.items)}
<p>keep ${s.decisions.keep} · revoke ${s.decisions.revoke} · reduce ${s.decisions.reduce}${s.carriedForward > 0 ? ` · ${s.carriedForward} carried forward` : ''}</p>
<section aria-labelledby="h-reviewers"><h2 id="h-reviewers">Reviewers</h2>
<table id="reviewers"><thead><tr><th scope="col">Reviewer</th><th scope="col">Items</th><th scope="col">Decided</th><th scope="col">Undecided</th><th scope="col">State</th></tr></thead>
<tbody>${s.reviewers.map((r) => html`<tr data-reviewer="${r.key}"><td>${r.reviewer} <span class="muted">${r.key}</span></td><td>${r.items}</td><td>${r.decided}</td><td>${r.undecided}</td><td>${r.undecided === 0 ? html`<span class="ok">done</span>` : r.overdue ? html`<span class="overdue">overdue</span>` : 'in progress'}</td></tr>`)}</tbody></table></section>
<section aria-labelledby="h-remediation"><h2 id="h-remediation">Remediation</h2>
<p id="remediation-counts">${s.remediation.open} open · ${s.remediation.done} done · ${s.remediation.still_present} still present · ${s.remediation.moot} moot</p>
${
  input.tasks.length > 0
    ? html`<table><thead><tr><th scope="col">Item</th><th scope="col">Who</th><th scope="col">Resource</th><th scope="col">Action</th><th scope="col">Status</th><th scope="col">Note</th></tr></thead>
<tbody>${input.tasks.map((t) => html`<tr><td>${t.item.id}</td><td>${t.item.principal_name ?? t.item.principal_external_id ?? 'anyone'}</td><td>${t.item.resource_kind} ${t.item.resource_handle ?? t.item.resource_name}</td><td>${t.action}${t.target ? ` to ${t.target}` : ''}</td><td class="status-${t.status}">${t.status.replace('_', ' ')}</td><td>${t.note}</td></tr>`)}</tbody></table>`
    : html`<p class="muted">No revocations or reductions decided yet.</p>`
}</section>
<section aria-labelledby="h-evidence"><h2 id="h-evidence">Evidence</h2>
${
  c.status === 'closed'
    ? html`<p>Closed ${date(c.closedAt)}. The evidence bundle's manifest.json has SHA-256 <code>${c.evidenceManifestSha256 ?? '?'}</code>; check the bundle with <code>roster review verify DIR</code> or <code>sha256sum -c SHA256SUMS</code> in its directory.</p>`
    : html`<p class="muted">The evidence bundle is written when the campaign closes: <code>roster review close ${c.id} --out DIR</code>.</p>`
}</section>`;
  return layout(`${c.name}: overview`, body, { nav: ownerNav(base) });
}

function explorerTable(rows: readonly RenderedAccessRow[], mode: 'repository' | 'user'): Html {
  return html`<table id="explorer-rows"><thead><tr><th scope="col">${mode === 'repository' ? 'Who' : 'Resource'}</th><th scope="col">Permission</th><th scope="col">Why (every path)</th><th scope="col">First seen</th><th scope="col">Flags</th></tr></thead>
<tbody>${rows.map(
    (r) => html`<tr data-kind="${r.principal_kind}" data-principal="${r.principal_external_id ?? 'anyone'}" data-resource="${r.resource_external_id}" data-permission="${r.permission}"><td>${mode === 'repository' ? principalCell(r) : html`${r.resource_kind} ${r.resource_handle ?? r.resource_name}${r.project_handle ? html` <span class="muted">project ${r.project_handle}</span>` : ''}`}</td><td class="perm">${r.permission}</td><td><ul class="paths">${r.paths.map((p) => html`<li>${pathWords(p)}</li>`)}</ul></td><td>${date(r.firstSeen)}</td><td>${flagBadges(r.flags)}</td></tr>`,
  )}</tbody></table>`;
}

export function explorerPage(input: { head: CampaignHead; result: ExplorerResult; base: string; request: { repository?: string; user?: string } }): Html {
  const { result: x, base } = input;
  const runOptions = x.runs
    .slice()
    .reverse()
    .map((r) => html`<option value="${r.id}"${r.id === x.run?.id ? html` selected` : ''}>run ${r.id} · ${r.finishedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${r.status}</option>`);
  const common = html`<label>Integration <select name="integration">${x.integrations.map((n) => html`<option${n === x.integration?.name ? html` selected` : ''}>${n}</option>`)}</select></label>
<label>As of <select name="run">${runOptions}</select></label>`;
  const body = html`<h1>Access explorer <span class="muted">${input.head.name}</span></h1>
<p class="sub">Read-only: the effective access Roster derived at the end of a finished run, with every path — the same derivation as <code>roster report access-review</code> and <code>user-access</code>.</p>
<div class="explorer-forms">
<form method="get" action="${base}/access" aria-label="Who can reach a repository">
<h2>Who can reach a repository, and why</h2>${common}
<label>Repository <select name="repository" id="x-repository"><option value="">choose…</option>${x.repositories.map((slug) => html`<option${slug === input.request.repository ? html` selected` : ''}>${slug}</option>`)}</select></label>
<button type="submit">Show</button></form>
<form method="get" action="${base}/access" aria-label="What can a person reach">
<h2>What can a person reach</h2>${common}
<label>Person <input name="user" id="x-user" value="${input.request.user ?? ''}" placeholder="display name, nickname, uuid or account id"></label>
<button type="submit">Show</button></form>
</div>
${x.problem ? html`<p class="problem" role="alert">${x.problem}</p>` : ''}
${
  x.mode && !x.problem
    ? html`<h2 id="x-result">${x.mode === 'repository' ? `Who can reach repository ${x.subject ?? ''}` : `What ${x.subject ?? ''} can reach`} <span class="muted">at the end of run ${x.run?.id ?? ''}: ${plural(x.rows.length, 'row')}${x.truncated ? ' (first rows only: use the reports for everything)' : ''}</span></h2>${explorerTable(x.rows, x.mode)}`
    : ''
}`;
  return layout('Access explorer', body, { nav: ownerNav(base) });
}

export type { ReviewerInfo };
