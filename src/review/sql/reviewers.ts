import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/types.ts';
import type { ReviewerInfo } from '../types.ts';

type Db = Kysely<Database>;

/** A reviewer before it has a row: who they are, keyed by `user:{uuid}` or `email:…`. */
export type ReviewerIdentity = Omit<ReviewerInfo, 'id'>;

const columns = sql`id::text as id, kind, key, principal_id::text as principal_id, external_id, account_id, display_name, handle, email`;

interface Row {
  id: string;
  kind: 'user' | 'email';
  key: string;
  principal_id: string | null;
  external_id: string | null;
  account_id: string | null;
  display_name: string | null;
  handle: string | null;
  email: string | null;
}

const toInfo = (r: Row): ReviewerInfo => ({
  id: r.id,
  kind: r.kind,
  key: r.key,
  principalId: r.principal_id,
  externalId: r.external_id,
  accountId: r.account_id,
  displayName: r.display_name,
  handle: r.handle,
  email: r.email,
});

/** Inserts the reviewers a campaign does not have yet; returns every one given, with its id, by key. */
export async function ensureReviewers(db: Db, campaignId: string, reviewers: readonly ReviewerIdentity[]): Promise<Map<string, ReviewerInfo>> {
  const unique = [...new Map(reviewers.map((r) => [r.key, r])).values()];
  if (unique.length > 0) {
    const col = (pick: (r: ReviewerIdentity) => string | null) => unique.map(pick);
    await sql`
      insert into review_reviewers (campaign_id, kind, key, principal_id, external_id, account_id, display_name, handle, email)
      select ${campaignId}, t.kind, t.key, t.principal_id::bigint, t.external_id, t.account_id, t.display_name, t.handle, t.email
        from unnest(${col((r) => r.kind)}::text[], ${col((r) => r.key)}::text[], ${col((r) => r.principalId)}::text[], ${col((r) => r.externalId)}::text[],
                    ${col((r) => r.accountId)}::text[], ${col((r) => r.displayName)}::text[], ${col((r) => r.handle)}::text[], ${col((r) => r.email)}::text[])
          as t(kind, key, principal_id, external_id, account_id, display_name, handle, email)
      on conflict (campaign_id, key) do nothing`.execute(db);
  }
  const rows = await sql<Row>`select ${columns} from review_reviewers where campaign_id = ${campaignId} and key = any(${unique.map((r) => r.key)}::text[])`.execute(db);
  return new Map(rows.rows.map((r) => [r.key, toInfo(r)]));
}

export async function campaignReviewers(db: Db, campaignId: string): Promise<ReviewerInfo[]> {
  const rows = await sql<Row>`select ${columns} from review_reviewers where campaign_id = ${campaignId} order by review_reviewers.id`.execute(db);
  return rows.rows.map(toInfo);
}
