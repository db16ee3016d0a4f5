import fs from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { RosterError } from '../../errors.ts';
import type { CliContext } from '../context.ts';
import type { CliHost } from '../host.ts';
import { formatTable } from '../table.ts';
import { plural } from '../../text.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The key reviewer links are signed with (see src/server/review/links.ts); says so when it was just generated. */
export async function linkKeyOf(ctx: CliContext): Promise<Buffer> {
  const { loadLinkKey } = await import('../../server/review/links.ts');
  const embedded = !ctx.env.DATABASE_URL?.trim();
  const key = loadLinkKey(ctx.env, embedded ? ctx.dataDir : null, () => ctx.keyring());
  if (key.generatedAt) ctx.err(`roster: generated the key that signs reviewer links at ${key.generatedAt} (mode 0600). Set ROSTER_LINK_KEY to use your own; a new key invalidates every link handed out.`);
  return key.key;
}

/** Where reviewers open the page: --base-url, else server.publicUrl from the config file, else the local address of roster serve. */
function baseUrlOf(ctx: CliContext, given: string | undefined): string {
  const raw = given ?? ctx.config.file.server.publicUrl ?? `http://${/^(0\.0\.0\.0|::)$/.test(ctx.config.file.server.host) ? '127.0.0.1' : ctx.config.file.server.host}:${ctx.config.env.ROSTER_PORT ?? ctx.config.file.server.port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RosterError('input_invalid', `--base-url "${raw}" is not a URL: give the address reviewers open, e.g. https://roster.acme.example.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RosterError('input_invalid', `--base-url "${raw}" must be an http or https URL.`);
  return url.toString().replace(/\/+$/, '');
}

interface CreateCli {
  integration: string[];
  name: string;
  reviewer?: string;
  reviewers?: string;
  reviewersFile?: string;
  fallbackReviewer?: string;
  privilegedOnly?: boolean;
  project: string[];
  repository: string[];
  changesSince?: string;
  due?: string;
  undecided: 'flag' | 'keep' | 'revoke';
  json?: boolean;
}

/** `roster review …`: access review campaigns (see README "A quarterly access review"). */
export function registerReview(program: Command, host: CliHost): void {
  const review = program.command('review').description('access review campaigns: create, export, import, status, remediation, close, verify');
  const load = () => import('../../review/index.ts');

  review
    .command('create')
    .description('freeze the latest finished run into a campaign of items and assign reviewers; prints the campaign id')
    .option('--integration <name>', 'integration to review (repeat for several; default: the only one)', collect, [])
    .requiredOption('--name <name>', 'campaign name, e.g. "Q4 2026" (unique)')
    .option('--reviewer <who>', 'one reviewer for every item: e-mail, Bitbucket uuid, account id or display name')
    .addOption(new Option('--reviewers <rule>', 'resource-admins: repository admins, else project admins, else workspace owners').choices(['resource-admins']))
    .option('--reviewers-file <file.csv>', 'CSV with columns project, repository, reviewer (a row with neither is the default)')
    .option('--fallback-reviewer <who>', 'reviews what the rule cannot give anyone else (someone\'s own access); default none: such a campaign is refused')
    .option('--privileged-only', 'only admin and owner access (default: all access)')
    .option('--project <key>', 'only this project and its repositories (repeat; default: everything)', collect, [])
    .option('--repository <slug>', 'only this repository (repeat; default: everything)', collect, [])
    .option('--changes-since <campaign|run>', 'delta review: only what changed since a closed campaign (id or name; campaign:N) or a run (run:N); certified unchanged items are carried forward')
    .option('--due <date>', 'due date, YYYY-MM-DD (default: none)')
    .addOption(new Option('--undecided <policy>', 'what items still undecided at close become').choices(['flag', 'keep', 'revoke']).default('flag'))
    .option('--json', 'print the result as JSON instead of the id')
    .action(
      host.run(async (ctx, options: CreateCli) => {
        const { createCampaign } = await load();
        const handle = await ctx.database();
        const started = Date.now();
        const result = await createCampaign(handle.db, {
          name: options.name,
          integrations: options.integration,
          reviewer: options.reviewer,
          reviewers: options.reviewers as 'resource-admins' | undefined,
          reviewersFile: options.reviewersFile ? { name: options.reviewersFile, text: await readText(options.reviewersFile) } : undefined,
          fallbackReviewer: options.fallbackReviewer,
          privilegedOnly: options.privilegedOnly === true,
          projects: options.project,
          repositories: options.repository,
          changesSince: options.changesSince,
          due: options.due,
          undecided: options.undecided,
        });
        if (options.json) ctx.out(JSON.stringify(result, null, 2));
        else ctx.out(result.id);
        ctx.err(
          `roster: created campaign ${result.id} "${result.name}": ${plural(result.items, 'item')}${result.carriedForward > 0 ? `, ${result.carriedForward} carried forward` : ''} from ${result.runs.map((r) => `run ${r.runId} of ${r.integration} (snapshot ${r.snapshotSha256.slice(0, 12)}…)`).join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s; ${plural(result.reviewers.length, 'reviewer')}${result.ownAccessReassigned > 0 ? `; ${plural(result.ownAccessReassigned, 'own-access item')} went to the next reviewer up` : ''}. Next: roster review export ${result.id} --out DIR`,
        );
        for (const w of result.warnings) ctx.err(`roster: warning: ${w}`);
        return 0;
      }),
    );

  review
    .command('list')
    .description('every campaign with its status and progress')
    .option('--json', 'JSON array')
    .action(
      host.run(async (ctx, options: { json?: boolean }) => {
        const { listCampaigns } = await load();
        const campaigns = await listCampaigns((await ctx.database()).db);
        if (options.json) {
          ctx.out(JSON.stringify(campaigns, null, 2));
          return 0;
        }
        if (campaigns.length === 0) {
          ctx.out('No campaigns yet. Create one with roster review create --name "Q4 2026" --reviewers resource-admins');
          return 0;
        }
        ctx.out(formatTable(['id', 'name', 'status', 'decided', 'due', 'runs'], campaigns.map((c) => [c.id, c.name, c.status, `${c.decided}/${c.items}`, c.due ?? '', c.runs.map((r) => `${r.integration}@${r.runId}`).join(' ')])));
        return 0;
      }),
    );

  review
    .command('export')
    .description('one file per reviewer: item id, context columns, decision, comment')
    .argument('<campaign>', 'campaign id or name')
    .requiredOption('--out <dir>', 'directory to write the files into')
    .option('--reviewer <who>', "only this reviewer's file")
    .addOption(new Option('--format <format>', 'file format').choices(['csv', 'xlsx']).default('csv'))
    .action(
      host.run(async (ctx, campaign: string, options: { out: string; reviewer?: string; format: 'csv' | 'xlsx' }) => {
        const { exportCampaign } = await load();
        const result = await exportCampaign((await ctx.database()).db, campaign, { outDir: path.resolve(options.out), reviewer: options.reviewer, format: options.format });
        ctx.out(formatTable(['reviewer', 'items', 'undecided', 'file'], result.files.map((f) => [f.reviewer, String(f.items), String(f.undecided), shown(f.file)])));
        ctx.err(`roster: exported ${plural(result.files.length, 'file')} of campaign ${result.campaign.id}. Reviewers fill decision (keep, revoke, reduce:<permission>) and comment; then roster review import ${result.campaign.id} FILE…`);
        return 0;
      }),
    );

  review
    .command('import')
    .description('validate the files and record their decisions (all or nothing)')
    .argument('<campaign>', 'campaign id or name')
    .argument('<files...>', 'CSV or XLSX files exported by roster review export')
    .option('--reviewer <who>', 'the reviewer deciding (default: the reviewer_id column of each row)')
    .action(
      host.run(async (ctx, campaign: string, files: string[], options: { reviewer?: string }) => {
        const { importReviewFiles } = await load();
        const inputs = [];
        for (const f of files) inputs.push({ name: f, bytes: await fs.readFile(f).catch((error: NodeJS.ErrnoException) => Promise.reject(new RosterError('input_invalid', `Cannot read ${f}: ${error.code ?? error.message}.`))) });
        const outcome = await importReviewFiles((await ctx.database()).db, campaign, inputs, { reviewer: options.reviewer });
        for (const f of outcome.files) ctx.out(`${f.file}: ${plural(f.rows, 'row')}: ${plural(f.decisions, 'decision')}, ${plural(f.reassignments, 'reassignment')}, ${f.empty} left undecided`);
        ctx.out(`Recorded ${plural(outcome.decided, 'decision')} (${outcome.unchanged} already recorded as given), ${plural(outcome.reassigned, 'reassignment')}; ${plural(outcome.logged, 'decision log entry', 'decision log entries')}.`);
        return 0;
      }),
    );

  review
    .command('reassign')
    .description('hand items to another reviewer, with a reason (logged)')
    .argument('<campaign>', 'campaign id or name')
    .argument('<items...>', 'item ids')
    .requiredOption('--to <who>', 'the new reviewer (never the item\'s own principal)')
    .requiredOption('--reason <text>', 'why')
    .requiredOption('--reviewer <who>', 'the reviewer handing them on (their current reviewer)')
    .action(
      host.run(async (ctx, campaign: string, items: string[], options: { to: string; reason: string; reviewer: string }) => {
        const { recordReviewActions, ReviewInputError } = await load();
        try {
          const outcome = await recordReviewActions(
            (await ctx.database()).db,
            campaign,
            items.map((itemId) => ({ kind: 'reassign' as const, itemId, actor: options.reviewer, to: options.to, reason: options.reason })),
            { source: 'cli:reassign' },
          );
          ctx.out(`Reassigned ${plural(outcome.reassigned, 'item')} to ${options.to}.`);
        } catch (error) {
          if (error instanceof ReviewInputError) throw new RosterError('input_invalid', `Nothing was reassigned:\n  ${error.problems.map((p) => `item ${items[p.index] ?? '?'}: ${p.message} — fix: ${p.fix}`).join('\n  ')}`);
          throw error;
        }
        return 0;
      }),
    );

  review
    .command('link')
    .description("print a signed, expiring link to the reviewer page for one reviewer (or the campaign owner's overview)")
    .argument('<campaign>', 'campaign id or name')
    .option('--reviewer <who>', 'the reviewer: e-mail, uuid, account id, nickname or display name (as in the export)')
    .option('--owner', "the campaign owner's link: the overview and the access explorer")
    .option('--expires <lifetime>', 'how long the link works, e.g. 14d or 36h (at most 366d)', '14d')
    .option('--base-url <url>', 'the address reviewers open (default: server.publicUrl from the config file, else http://127.0.0.1:PORT)')
    .action(
      host.run(async (ctx, campaign: string, options: { reviewer?: string; owner?: boolean; expires: string; baseUrl?: string }) => {
        const { campaignReviewer, campaignHead, describeReviewer } = await load();
        const { parseExpiry, signLink, linkUrl } = await import('../../server/review/links.ts');
        if ((options.reviewer === undefined) === (options.owner !== true)) throw new RosterError('input_invalid', 'give exactly one of --reviewer WHO (a reviewer\'s link) or --owner (the campaign owner\'s link).');
        const lifetime = parseExpiry(options.expires);
        const baseUrl = baseUrlOf(ctx, options.baseUrl);
        const db = (await ctx.database()).db;
        const expiresAt = new Date(Date.now() + lifetime);
        let claims;
        let whom: string;
        if (options.owner) {
          const head = await campaignHead(db, campaign);
          claims = { campaignId: head.id, reviewer: null, owner: true, expiresAt };
          whom = `the owner of campaign ${head.id} "${head.name}"`;
        } else {
          const { campaign: head, reviewer } = await campaignReviewer(db, campaign, options.reviewer as string);
          claims = { campaignId: head.id, reviewer: reviewer.key, owner: false, expiresAt };
          whom = `${describeReviewer(reviewer)} in campaign ${head.id} "${head.name}"`;
        }
        const key = await linkKeyOf(ctx);
        ctx.out(linkUrl(baseUrl, claims, signLink(key, claims)));
        ctx.err(`roster: link for ${whom}, valid until ${expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC. It is a credential: send it to that person only.`);
        return 0;
      }),
    );

  review
    .command('links')
    .description('a CSV of every reviewer with their signed link, for a mail merge')
    .argument('<campaign>', 'campaign id or name')
    .requiredOption('--out <file.csv>', 'the CSV to write (created with mode 0600: it holds credentials)')
    .option('--expires <lifetime>', 'how long the links work, e.g. 14d or 36h (at most 366d)', '14d')
    .option('--base-url <url>', 'the address reviewers open (default: server.publicUrl from the config file, else http://127.0.0.1:PORT)')
    .action(
      host.run(async (ctx, campaign: string, options: { out: string; expires: string; baseUrl?: string }) => {
        const { campaignStatus, reviewersOf, reviewerLabel } = await load();
        const { parseExpiry, signLink, linkUrl } = await import('../../server/review/links.ts');
        const lifetime = parseExpiry(options.expires);
        const baseUrl = baseUrlOf(ctx, options.baseUrl);
        const db = (await ctx.database()).db;
        const status = await campaignStatus(db, campaign);
        const { reviewers } = await reviewersOf(db, status.campaign.id);
        const counts = new Map(status.reviewers.map((r) => [r.key, r]));
        const key = await linkKeyOf(ctx);
        const expiresAt = new Date(Date.now() + lifetime);
        const rows = reviewers
          .filter((r) => counts.has(r.key))
          .map((r) => {
            const claims = { campaignId: status.campaign.id, reviewer: r.key, owner: false, expiresAt };
            const c = counts.get(r.key);
            return [reviewerLabel(r), r.key, r.email ?? '', String(c?.items ?? 0), String(c?.undecided ?? 0), expiresAt.toISOString(), linkUrl(baseUrl, claims, signLink(key, claims))];
          });
        const text = stringify([['reviewer', 'reviewer_id', 'email', 'items', 'undecided', 'expires_at', 'url'], ...rows], { record_delimiter: 'windows', escape_formulas: true });
        await fs.writeFile(path.resolve(options.out), text, { mode: 0o600 });
        ctx.out(`Wrote ${plural(rows.length, 'link')} of campaign ${status.campaign.id} "${status.campaign.name}" to ${shown(path.resolve(options.out))}, valid until ${expiresAt.toISOString().slice(0, 10)}. Each link is a credential: mail each to its reviewer only.`);
        return 0;
      }),
    );

  review
    .command('status')
    .description('items, decided per reviewer, overdue, remediation state')
    .argument('<campaign>', 'campaign id or name')
    .option('--json', 'JSON')
    .action(
      host.run(async (ctx, campaign: string, options: { json?: boolean }) => {
        const { campaignStatus } = await load();
        const s = await campaignStatus((await ctx.database()).db, campaign);
        if (options.json) {
          ctx.out(JSON.stringify(s, null, 2));
          return 0;
        }
        const c = s.campaign;
        ctx.out(`Campaign ${c.id} "${c.name}" (${c.status}${c.due ? `, due ${c.due}` : ''}${s.overdue ? ', OVERDUE' : ''}): ${s.decided} of ${s.items} decided${s.carriedForward > 0 ? ` (${s.carriedForward} carried forward)` : ''} — keep ${s.decisions.keep}, revoke ${s.decisions.revoke}, reduce ${s.decisions.reduce}.`);
        ctx.out(formatTable(['reviewer', 'items', 'decided', 'undecided', ''], s.reviewers.map((r) => [r.reviewer, String(r.items), String(r.decided), String(r.undecided), r.overdue ? 'overdue' : ''])));
        ctx.out(`Remediation: ${s.remediation.open} open, ${s.remediation.done} done, ${s.remediation.still_present} still present, ${s.remediation.moot} moot.`);
        return 0;
      }),
    );

  review
    .command('remediation')
    .description('revocations and reductions: what to change in Bitbucket, and what later syncs show')
    .argument('<campaign>', 'campaign id or name')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json']).default('csv'))
    .action(
      host.run(async (ctx, campaign: string, options: { format: 'csv' | 'json' }) => {
        const { remediationTasks, remediationRow, REMEDIATION_COLUMNS } = await load();
        const tasks = await remediationTasks((await ctx.database()).db, campaign);
        if (options.format === 'json') {
          ctx.out(JSON.stringify(tasks.map((t) => ({ ...remediationRow(t), changes: t.changes })), null, 2));
        } else {
          ctx.stdout.write(stringify([[...REMEDIATION_COLUMNS], ...tasks.map((t) => REMEDIATION_COLUMNS.map((c) => remediationRow(t)[c] ?? ''))], { record_delimiter: 'windows', escape_formulas: true }));
        }
        return 0;
      }),
    );

  review
    .command('close')
    .description('close the campaign and write its evidence bundle (manifest.json, SHA256SUMS)')
    .argument('<campaign>', 'campaign id or name')
    .requiredOption('--out <dir>', 'a new or empty directory for the bundle')
    .option('--force', "close with undecided items: they follow the campaign's --undecided policy and are listed")
    .action(
      host.run(async (ctx, campaign: string, options: { out: string; force?: boolean }) => {
        const { closeCampaign } = await load();
        const result = await closeCampaign((await ctx.database()).db, campaign, { outDir: path.resolve(options.out), force: options.force === true });
        ctx.out(`Closed campaign ${result.campaignId}; evidence in ${shown(result.outDir)}: ${result.files.map((f) => f.file).join(', ')}, manifest.json, SHA256SUMS.`);
        if (result.undecided > 0) ctx.err(`roster: ${plural(result.undecided, 'item')} ${result.undecided === 1 ? 'was' : 'were'} undecided: ${result.policy === 'flag' ? 'listed as flagged' : `decided ${result.policy} by the campaign's policy`} (undecided.csv).`);
        ctx.out(`Verify: (cd ${shown(result.outDir)} && sha256sum -c SHA256SUMS); roster review verify ${shown(result.outDir)}`);
        return 0;
      }),
    );

  review
    .command('verify')
    .description('check an evidence bundle: every SHA-256, and the decision log chain')
    .argument('<dir>', 'the bundle directory')
    .action(
      host.run(async (ctx, dir: string) => {
        const { verifyBundle } = await load();
        const v = await verifyBundle(path.resolve(dir));
        if (!v.ok) {
          for (const p of v.problems) ctx.err(`roster: ${p}`);
          ctx.out(`FAILED: ${plural(v.problems.length, 'problem')} in ${dir}.`);
          return 1;
        }
        ctx.out(`OK: ${plural(v.files, 'file')} ${v.files === 1 ? 'matches' : 'match'} SHA256SUMS; the decision log's ${v.logEntries} entries chain from campaign.json to the manifest's last hash.`);
        return 0;
      }),
    );
}

/** A path as the user would type it: relative when under the working directory. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new RosterError('input_invalid', `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
}
