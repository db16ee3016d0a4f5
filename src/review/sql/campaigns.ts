import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/types.ts';
import { RosterError } from '../../errors.ts';

type Db = Kysely<Database>;

export interface CampaignRow {
  id: string;
  name: string;
  status: 'open' | 'closed';
  reviewer_rule: 'reviewer' | 'resource-admins' | 'reviewers-file';
  undecided_policy: 'flag' | 'keep' | 'revoke';
  due_on: string | null;
  base_campaign_id: string | null;
  base_run_id: string | null;
  definition: string;
  definition_sha256: string;
  created_at: Date;
  closed_at: Date | null;
  close_forced: boolean | null;
  evidence_manifest_sha256: string | null;
}

export interface CampaignRunRow {
  integration_id: string;
  integration: string;
  run_id: string;
  snapshot_sha256: string;
  access_rows: number;
  items: number;
}

const columns = sql`id::text as id, name, status, reviewer_rule, undecided_policy, due_on, base_campaign_id::text as base_campaign_id,
  base_run_id::text as base_run_id, definition, definition_sha256, created_at, closed_at, close_forced, evidence_manifest_sha256`;

/** A campaign by id (digits, or `campaign:N`) or name; the error lists the campaigns there are. */
export async function findCampaign(db: Db, ref: string, options: { forUpdate?: boolean } = {}): Promise<CampaignRow> {
  const wanted = ref.trim().replace(/^campaign:/, '');
  const lock = options.forUpdate ? sql`for update` : sql``;
  const byId = /^\d+$/.test(wanted) ? await sql<CampaignRow>`select ${columns} from review_campaigns where id = ${wanted} ${lock}`.execute(db) : { rows: [] };
  const found = byId.rows[0] ?? (await sql<CampaignRow>`select ${columns} from review_campaigns where name = ${ref.trim()} ${lock}`.execute(db)).rows[0];
  if (found) return found;
  const known = await sql<{ id: string; name: string }>`select id::text as id, name from review_campaigns order by review_campaigns.id desc limit 10`.execute(db);
  throw new RosterError(
    'input_invalid',
    `No review campaign "${ref}".${known.rows.length > 0 ? ` Campaigns: ${known.rows.map((c) => `${c.id} "${c.name}"`).join(', ')}.` : ' Create one with roster review create.'}`,
  );
}

export async function campaignRuns(db: Db, campaignId: string): Promise<CampaignRunRow[]> {
  const rows = await sql<CampaignRunRow>`
    select cr.integration_id::text as integration_id, i.name as integration, cr.run_id::text as run_id, cr.snapshot_sha256, cr.access_rows, cr.items
      from review_campaign_runs cr join integrations i on i.id = cr.integration_id
     where cr.campaign_id = ${campaignId} order by i.name`.execute(db);
  return rows.rows;
}

export async function listCampaignRows(db: Db): Promise<Array<CampaignRow & { items: number; decided: number }>> {
  const rows = await sql<CampaignRow & { items: number; decided: number }>`
    select ${columns},
           (select count(*) from review_item_states s where s.campaign_id = c.id)::int as items,
           (select count(*) from review_item_states s where s.campaign_id = c.id and s.decision is not null)::int as decided
      from review_campaigns c order by c.id`.execute(db);
  return rows.rows;
}

/** Refuses any change to a closed campaign: its evidence is written. */
export function assertOpen(campaign: CampaignRow): void {
  if (campaign.status === 'closed') {
    throw new RosterError('input_invalid', `Campaign ${campaign.id} "${campaign.name}" was closed at ${new Date(campaign.closed_at ?? 0).toISOString()}: its decisions are final and its evidence is written. Nothing was recorded; start a new campaign (a delta review: roster review create --changes-since ${campaign.id}).`);
  }
}
