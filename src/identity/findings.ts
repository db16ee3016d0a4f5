import type { PersonAt } from './people.ts';
import { type AccountIdentity, type IdentityView, matchAccount } from './view.ts';

/**
 * The identity findings of one account with access: pure, the view and the account's access in,
 * findings out. Used by the identity-findings report and, as flags, by access-review, user-access
 * and review items — one decision, every place that shows it.
 */

export const FINDING_KINDS = ['terminated-with-access', 'account-inactive-or-closed', 'dormant', 'not-in-directory', 'external-domain', 'shared-or-service-account'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export const DEFAULT_DORMANT_DAYS = 90;
const DAY_MS = 86_400_000;

export interface AccessHeld {
  resourceKind: string;
  resource: string;
  permission: string;
  admin: boolean;
}

export interface AccountWithAccess {
  /** Bitbucket's uuid. */
  externalId: string;
  accountId: string | null;
  displayName: string | null;
  handle: string | null;
  workspaceRole: string | null;
  access: AccessHeld[];
}

export interface Evidence {
  /** `people:SOURCE` or `org:INTEGRATION`. */
  source: string;
  /** The snapshot: `import N (file line L)` or `run N`. */
  snapshot: string;
  /** When that snapshot was taken (ISO 8601). */
  date: string;
  detail: string;
}

export interface IdentityFinding {
  kind: FindingKind;
  account: AccountWithAccess;
  identity: AccountIdentity;
  /** The person the finding is about (the matched person of its source), if any. */
  person: PersonAt | null;
  evidence: Evidence;
  /** Days since the termination date or the last activity, when the finding rests on one. */
  days: number | null;
}

export interface FindingOptions {
  /** The time the findings are judged at: the report's --as-of, else now. */
  reference: Date;
  dormantDays: number;
  /** Domains that count as the organization's besides its verified ones (lower case). */
  extraDomains: readonly string[];
  /** The Bitbucket workspace slug (which product entry of an account is this workspace's). */
  workspace: string | null;
}

/**
 * Names a service or shared account tends to have: `svc-build`, `ci.bot`, `deploy`, `noreply`,
 * `jenkins2`. A word followed by a dot is not enough (`ci.wang`, `build.bob` are people's first.last).
 */
const NON_PERSON = /^(svc|service|bot|robot|ci|cd|build|deploy|automation|jenkins|noreply|no-reply|shared|team|integration)([-_+\d]|$)|[-._](bot|svc|ci|service|automation|shared)$/i;
const NON_PERSON_NAME = /\b(bot|service account|svc|automation|shared account|ci)\b/i;

function nonPersonReason(account: AccountWithAccess, email: string | null): string | null {
  const local = email ? email.slice(0, email.indexOf('@')) : null;
  if (local && NON_PERSON.test(local)) return `the e-mail ${email} looks like a service or shared mailbox`;
  if (account.handle && NON_PERSON.test(account.handle)) return `the nickname ${account.handle} looks like a service or shared account`;
  if (account.displayName && NON_PERSON_NAME.test(account.displayName)) return `the display name "${account.displayName}" looks like a service or shared account`;
  return null;
}

const day = (d: Date): string => d.toISOString().slice(0, 10);
const daysBetween = (from: Date, to: Date): number => Math.floor((to.getTime() - from.getTime()) / DAY_MS);

function personEvidence(p: PersonAt, detail: string): Evidence {
  return { source: `people:${p.source}`, snapshot: `import ${p.importId} (${p.fileName} line ${p.line})`, date: p.importedAt.toISOString(), detail };
}

export function findingsFor(account: AccountWithAccess, view: IdentityView, options: FindingOptions): IdentityFinding[] {
  if (account.access.length === 0) return [];
  const identity = matchAccount(view, account.accountId, options.workspace);
  const { org, email, people } = identity;
  const out: IdentityFinding[] = [];
  const add = (kind: FindingKind, evidence: Evidence, person: PersonAt | null = null, days: number | null = null): void => {
    out.push({ kind, account, identity, person, evidence, days });
  };
  const orgEvidence = (detail: string): Evidence => {
    const source = org ? view.orgSources.find((s) => s.integration === org.integration) : view.orgSources[0];
    return { source: `org:${source?.integration ?? '?'}`, snapshot: `run ${source?.runId ?? '?'}`, date: (source?.finishedAt ?? options.reference).toISOString(), detail };
  };

  for (const p of people) {
    const terminatedBy = p.terminationDate !== null && new Date(`${p.terminationDate}T00:00:00Z`) <= options.reference;
    if (p.status !== 'terminated' && !terminatedBy) continue;
    const since = p.terminationDate ? daysBetween(new Date(`${p.terminationDate}T00:00:00Z`), options.reference) : null;
    const detail =
      p.terminationDate !== null
        ? `terminated on ${p.terminationDate} (${since} days before ${day(options.reference)})${p.status !== 'terminated' ? `; the file still says ${p.status}` : ''}`
        : 'terminated (no termination date in the file)';
    add('terminated-with-access', personEvidence(p, detail), p, since);
  }

  if (org && (org.accountStatus === 'inactive' || org.accountStatus === 'closed')) {
    add('account-inactive-or-closed', orgEvidence(`the Atlassian account is ${org.accountStatus} in the organization, yet still holds Bitbucket access`));
  }

  if (org) {
    const last = identity.bitbucketLastActive;
    const threshold = options.dormantDays;
    if (last) {
      const idle = daysBetween(last, options.reference);
      if (idle > threshold) add('dormant', orgEvidence(`last active in Bitbucket ${day(last)}, ${idle} days before ${day(options.reference)} (more than ${threshold})`), null, idle);
    } else {
      const since = org.addedToOrg ? daysBetween(org.addedToOrg, options.reference) : null;
      if (since === null || since > threshold) {
        add('dormant', orgEvidence(`no Bitbucket activity recorded${org.addedToOrg ? ` since joining the organization on ${day(org.addedToOrg)}` : ''}`), null, since);
      }
    }
  }

  const service = people.find((p) => p.type === 'service');
  // Only an Atlassian account can be in the organization: a source without account ids (Bitbucket Data
  // Center's own users) is unknown to it, not missing from it.
  if (view.orgSources.length > 0 && !org && account.accountId !== null) {
    const known = service ? `; the people file (${service.source}) says it is a service account` : people.length > 0 ? `; the people file knows the person (${people[0]?.email})` : '';
    add(
      'not-in-directory',
      orgEvidence(`no managed account of the organization: an account of another domain, an unmanaged or external account, or a service account — the organization API lists managed accounts only${known}`),
      service ?? people[0] ?? null,
    );
  }
  if (view.peopleSources.length > 0 && people.length === 0) {
    const sources = view.peopleSources.map((s) => `${s.source} (import ${s.importId})`).join(', ');
    add('not-in-directory', {
      source: `people:${view.peopleSources.map((s) => s.source).join(',')}`,
      snapshot: view.peopleSources.map((s) => `import ${s.importId}`).join(', '),
      date: (view.peopleSources[0]?.importedAt ?? options.reference).toISOString(),
      detail: email
        ? `nobody with the e-mail ${email} (ignoring case) or the account id in ${sources}: an orphan account, an outsider, or a service account not listed`
        : `no e-mail known for the account (no organization record) and no person with its account id in ${sources}`,
    });
  }

  const domains = new Set([...view.verifiedDomains, ...options.extraDomains]);
  if (email && domains.size > 0) {
    const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
    if (!domains.has(domain)) {
      const from = org ? orgEvidence('') : people[0] ? personEvidence(people[0], '') : orgEvidence('');
      add('external-domain', { ...from, detail: `${email} is outside the organization's domains (${[...domains].sort().join(', ')})` }, people[0] ?? null);
    }
  }

  const pattern = nonPersonReason(account, email);
  if (service) add('shared-or-service-account', personEvidence(service, 'marked as a service account (type service) in the people file: confirm who owns it'), service);
  else if (org && org.accountType !== 'atlassian') add('shared-or-service-account', orgEvidence(`the organization lists it as an account of type ${org.accountType}, not a person's: confirm who owns it`));
  else if (pattern) add('shared-or-service-account', { source: 'pattern', snapshot: '', date: options.reference.toISOString(), detail: `${pattern}: confirm who owns it` }, people[0] ?? null);
  return out;
}

/** What a reviewer sees of an account: admins first. `repository api-gateway (admin)`. */
export function accessLabels(access: readonly AccessHeld[]): string[] {
  return [...access].sort((a, b) => Number(b.admin) - Number(a.admin)).map((a) => `${a.resourceKind} ${a.resource} (${a.permission})`);
}
