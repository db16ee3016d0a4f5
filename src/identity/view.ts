import { type Kysely, sql } from 'kysely';
import type { Database, ProductAccess } from '../db/types.ts';
import { isIdentitySource, sourceKinds } from '../connectors.ts';
import { type PersonAt, peopleAt } from './people.ts';

/**
 * Everything Roster knows about who is behind the accounts, as of a time: the managed accounts and
 * domains of every organization integration (at the end of its latest run finished by then) and the
 * people of every people source (its latest import by then). Reports and review items read this one
 * view, and `match` is the one place an account is joined to its identity.
 */


export interface OrgAccountAt {
  integration: string;
  runId: string;
  runFinishedAt: Date;
  accountId: string;
  email: string | null;
  emailKey: string | null;
  name: string | null;
  accountType: string;
  accountStatus: string;
  lastActive: Date | null;
  productAccess: ProductAccess[];
  addedToOrg: Date | null;
}

export interface OrgSourceAt {
  integration: string;
  runId: string;
  runStatus: string;
  finishedAt: Date;
}

export interface PeopleSourceAt {
  source: string;
  importId: string;
  importedAt: Date;
  fileName: string;
}

export interface IdentityView {
  orgSources: OrgSourceAt[];
  peopleSources: PeopleSourceAt[];
  accounts: Map<string, OrgAccountAt>;
  /** Verified domains of the organizations (lower case). */
  verifiedDomains: Set<string>;
  peopleByEmail: Map<string, PersonAt[]>;
  peopleByAccountId: Map<string, PersonAt[]>;
}

export async function loadIdentity(db: Kysely<Database>, asOf: Date | null): Promise<IdentityView> {
  const kinds = sourceKinds().filter(isIdentitySource);
  const runs = await sql<{ integration_id: string; name: string; run_id: string; status: string; finished_at: Date }>`
    select distinct on (i.id) i.id::text as integration_id, i.name, r.id::text as run_id, r.status, r.finished_at
      from integrations i join sync_runs r on r.integration_id = i.id
     where i.kind in (${sql.join(kinds.length > 0 ? kinds.map((k) => sql`${k}`) : [sql`null`])}) and r.finished_at is not null and r.status in ('succeeded', 'partial', 'failed')
       and ${asOf === null ? sql`true` : sql`r.finished_at <= ${asOf}`}
     order by i.id, r.id desc`.execute(db);
  const orgSources = runs.rows.map((r) => ({ integration: r.name, runId: r.run_id, runStatus: r.status, finishedAt: new Date(r.finished_at) }));
  const accounts = new Map<string, OrgAccountAt>();
  const verifiedDomains = new Set<string>();
  for (const run of runs.rows) {
    const rows = await sql<{
      account_id: string;
      email: string | null;
      email_key: string | null;
      name: string | null;
      account_type: string;
      account_status: string;
      last_active: Date | null;
      product_access: ProductAccess[] | string;
      added_to_org: Date | null;
    }>`
      select a.account_id, a.email, a.email_key, a.name, a.account_type, a.account_status, a.last_active, a.product_access, a.added_to_org
        from org_accounts a
       where a.integration_id = ${run.integration_id} and a.first_seen_run <= ${run.run_id} and (a.removed_run is null or a.removed_run > ${run.run_id})
       order by a.account_id collate "C"`.execute(db);
    for (const a of rows.rows) {
      // Two organizations listing one account: the first keeps it (an account belongs to one organization).
      if (accounts.has(a.account_id)) continue;
      accounts.set(a.account_id, {
        integration: run.name,
        runId: run.run_id,
        runFinishedAt: new Date(run.finished_at),
        accountId: a.account_id,
        email: a.email,
        emailKey: a.email_key,
        name: a.name,
        accountType: a.account_type,
        accountStatus: a.account_status,
        lastActive: a.last_active ? new Date(a.last_active) : null,
        productAccess: typeof a.product_access === 'string' ? (JSON.parse(a.product_access) as ProductAccess[]) : a.product_access,
        addedToOrg: a.added_to_org ? new Date(a.added_to_org) : null,
      });
    }
    const domains = await sql<{ domain: string }>`
      select d.domain from org_domains d
       where d.integration_id = ${run.integration_id} and d.verified and d.first_seen_run <= ${run.run_id} and (d.removed_run is null or d.removed_run > ${run.run_id})`.execute(db);
    for (const d of domains.rows) verifiedDomains.add(d.domain);
  }

  const people = await peopleAt(db, asOf);
  const peopleSources = new Map<string, PeopleSourceAt>();
  const peopleByEmail = new Map<string, PersonAt[]>();
  const peopleByAccountId = new Map<string, PersonAt[]>();
  const push = (map: Map<string, PersonAt[]>, key: string, p: PersonAt): void => {
    const list = map.get(key);
    if (list) list.push(p);
    else map.set(key, [p]);
  };
  for (const p of people) {
    if (!peopleSources.has(p.source)) peopleSources.set(p.source, { source: p.source, importId: p.importId, importedAt: p.importedAt, fileName: p.fileName });
    push(peopleByEmail, p.emailKey, p);
    if (p.accountId) push(peopleByAccountId, p.accountId, p);
  }
  return { orgSources, peopleSources: [...peopleSources.values()], accounts, verifiedDomains, peopleByEmail, peopleByAccountId };
}

/** An account and what the identity sources say about it. */
export interface AccountIdentity {
  org: OrgAccountAt | null;
  /** The e-mail: the organization's record, else the people file's (matched by account id). */
  email: string | null;
  /** People matched, every source: by account id when the file has one, else by e-mail ignoring case. */
  people: PersonAt[];
  matchedBy: 'account_id' | 'email' | null;
  /** Last Bitbucket activity the organization recorded (in this workspace when it can tell). */
  bitbucketLastActive: Date | null;
}

export function matchAccount(view: IdentityView, accountId: string | null, workspace: string | null): AccountIdentity {
  const org = accountId ? (view.accounts.get(accountId) ?? null) : null;
  const byAccount = accountId ? (view.peopleByAccountId.get(accountId) ?? []) : [];
  let email = org?.email ?? byAccount[0]?.email ?? null;
  let people = byAccount;
  let matchedBy: AccountIdentity['matchedBy'] = byAccount.length > 0 ? 'account_id' : null;
  if (people.length === 0 && email) {
    people = view.peopleByEmail.get(email.toLowerCase()) ?? [];
    if (people.length > 0) matchedBy = 'email';
  }
  if (!email && people[0]) email = people[0].email;
  return { org, email, people, matchedBy, bitbucketLastActive: org ? bitbucketActivity(org.productAccess, workspace) : null };
}

/**
 * Bitbucket's entry of an account's product access. An account in several workspaces has one entry
 * per workspace (its URL names it): this workspace's when one matches, else the latest of them.
 */
export function bitbucketActivity(products: readonly ProductAccess[], workspace: string | null): Date | null {
  const entries = products.filter((p) => p.key.toLowerCase().includes('bitbucket'));
  const here = workspace ? entries.filter((p) => (p.url ?? '').toLowerCase().replace(/\/+$/, '').endsWith(`/${workspace.toLowerCase()}`)) : [];
  const pick = here.length > 0 ? here : entries;
  let latest: Date | null = null;
  for (const p of pick) {
    if (!p.last_active) continue;
    const d = new Date(p.last_active);
    if (!Number.isNaN(d.getTime()) && (latest === null || d > latest)) latest = d;
  }
  return latest;
}
