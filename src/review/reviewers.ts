import type { Kysely } from 'kysely';
import { resolveUser } from '../../reports/context.ts';
import type { Database, Integration } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { reviewerLabel } from './columns.ts';
import type { ReviewerIdentity } from './sql/reviewers.ts';
import type { ReviewerInfo } from './types.ts';

/**
 * Naming reviewers. A reviewer is a Bitbucket user — named by uuid, account id, nickname or display
 * name, exactly as `--user` finds people in the reports (an ambiguous name is refused with every
 * candidate) — or anyone with an e-mail address, who need not be in Bitbucket at all.
 */

/** An address, not a display name: `@channel Bot` has a space, so it is a name. */
export const isEmail = (s: string): boolean => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s.trim());

export function emailReviewer(address: string): ReviewerIdentity {
  const email = address.trim().toLowerCase();
  return { kind: 'email', key: `email:${email}`, principalId: null, externalId: null, accountId: null, displayName: null, handle: null, email };
}

/**
 * Finds who `who` names among the users of the campaign's integrations (the first integration that
 * knows them; Bitbucket uuids are global, so one person in two workspaces is one reviewer). Bitbucket
 * does not tell Roster anyone's e-mail, so an address is always a reviewer outside Bitbucket.
 */
export async function resolveReviewer(db: Kysely<Database>, integrations: readonly Integration[], who: string, flag: string): Promise<ReviewerIdentity> {
  const q = who.trim();
  if (q === '') throw new RosterError('input_invalid', `${flag} is empty: name the reviewer by e-mail, Bitbucket uuid, account id, nickname or display name.`);
  if (isEmail(q)) return emailReviewer(q);
  let last: unknown;
  for (const integration of integrations) {
    try {
      const user = await resolveUser(db, integration, q, flag);
      return { kind: 'user', key: `user:${user.externalId}`, principalId: user.id, externalId: user.externalId, accountId: user.accountId, displayName: user.displayName, handle: user.handle, email: null };
    } catch (error) {
      // "Matches no user" here may still match in the next integration; an ambiguous name never does.
      if (!(error instanceof RosterError) || !/matches no user/.test(error.message)) throw error;
      last = error;
    }
  }
  throw new RosterError(
    'input_invalid',
    `${flag} "${q}" matches no user of ${integrations.map((i) => `"${i.name}"`).join(', ')} (by uuid, account_id, nickname or display name). A reviewer outside Bitbucket is named by e-mail (e.g. security-lead@acme.example).`,
    { cause: last },
  );
}

/**
 * Finds who `who` names among a campaign's reviewers: by Roster key, e-mail, uuid (braces optional),
 * account id, nickname or display name; ambiguous names are refused with the candidates.
 */
export function matchCampaignReviewer(reviewers: readonly ReviewerInfo[], who: string, flag: string): ReviewerInfo {
  const q = who.trim();
  const fold = (s: string | null): string => (s ?? '').normalize('NFC').toLocaleLowerCase('en-US');
  const bare = (s: string | null): string => fold(s).replace(/^\{|\}$/g, '');
  const tiers: Array<[string, (r: ReviewerInfo) => boolean]> = [
    ['key', (r) => r.key === q],
    ['e-mail', (r) => r.email !== null && fold(r.email) === fold(q)],
    ['uuid', (r) => r.externalId !== null && bare(r.externalId) === bare(q)],
    ['account id', (r) => r.accountId === q],
    ['nickname', (r) => r.handle !== null && r.handle.normalize('NFC') === q.normalize('NFC')],
    ['display name', (r) => r.displayName !== null && r.displayName.normalize('NFC') === q.normalize('NFC')],
    ['name ignoring case', (r) => fold(r.handle) === fold(q) || fold(r.displayName) === fold(q)],
  ];
  for (const [what, match] of tiers) {
    const found = reviewers.filter(match);
    if (found.length === 1 && found[0]) return found[0];
    if (found.length > 1) {
      throw new RosterError('input_invalid', `${flag} "${q}" matches ${found.length} reviewers of this campaign by ${what}: ${found.map(describeReviewer).join('; ')}. Give the reviewer_id column's value (e.g. ${found[0]?.key}).`);
    }
  }
  const list = reviewers.slice(0, 12).map(describeReviewer).join('; ');
  throw new RosterError('input_invalid', `${flag} "${q}" is not a reviewer of this campaign. Reviewers: ${list}${reviewers.length > 12 ? `; and ${reviewers.length - 12} more` : ''}.`);
}

export function describeReviewer(r: ReviewerInfo | ReviewerIdentity): string {
  if (r.kind === 'email') return r.email ?? r.key;
  return `${reviewerLabel({ ...r, id: '' })} (${r.externalId ?? '?'}${r.accountId ? `, account_id ${r.accountId}` : ''})`;
}
