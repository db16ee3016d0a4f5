import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { presentAt, principalsAt, resourcesAt } from '../src/access/history.ts';
import { apiLimitsOf } from '../src/connectors.ts';
import { permissionModelOf } from '../src/connectors.ts';
import { resourceKindRank, runTime } from './access.ts';
import { cursorPages } from './cursor.ts';
import type { Column, ReportContext, ReportDefinition } from './types.ts';

interface MachineRow {
  principal_kind: 'deploy_key' | 'access_token';
  external_id: string;
  label: string | null;
  attributes: Record<string, unknown>;
  resource_kind: 'workspace' | 'project' | 'repository';
  resource_handle: string | null;
  resource_name: string;
  resource_external_id: string;
  project_handle: string | null;
  permission: string;
  repositories: number;
  first_seen_run: string;
}

export interface MachineCredentialRow extends MachineRow {
  keyType: string | null;
  fingerprint: string | null;
  comment: string | null;
  createdOn: string | null;
  lastUsed: string | null;
  /** When the credential stops working (access tokens); null: the source gives no expiry. */
  expiresOn: string | null;
  ageDays: number | null;
  daysSinceUse: number | null;
  firstSeen: string | null;
  flags: string[];
  publicKey: string | null;
}

export const UNUSED_DAYS = 90;
const DAY_MS = 86_400_000;

/** OpenSSH's fingerprint of a public key line (`ssh-keygen -lf`): `SHA256:` + unpadded base64 of the blob's digest. */
export function sshFingerprint(line: string): string | null {
  const [type, blob] = line.trim().split(/\s+/);
  if (!type || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return null;
  // The blob starts with its own key type (SSH wire format): anything else is not a public key.
  const bytes = Buffer.from(blob, 'base64');
  if (bytes.length < 4 || bytes.subarray(4, 4 + bytes.readUInt32BE(0)).toString('latin1') !== type) return null;
  return `SHA256:${createHash('sha256').update(bytes).digest('base64').replace(/=+$/, '')}`;
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function daysBetween(from: string | null, to: Date): number | null {
  if (!from) return null;
  const t = Date.parse(from);
  return Number.isNaN(t) ? null : Math.max(0, Math.floor((to.getTime() - t) / DAY_MS));
}

/** Key facts from the principal's attributes; the fingerprint is computed from the key when the source gave none. */
export function renderMachineRow(ctx: ReportContext, row: MachineRow, reference: Date): MachineCredentialRow {
  const a = row.attributes;
  const key = text(a.key);
  const createdOn = text(a.createdOn) ?? text(a.addedOn);
  const lastUsed = text(a.lastUsed);
  const ageDays = daysBetween(createdOn, reference);
  const daysSinceUse = daysBetween(lastUsed, reference);
  const expiresOn = text(a.expiresOn);
  const flags: string[] = [];
  // A source that records use says so with a lastUsed attribute (null: never); deploy keys always do.
  if (lastUsed === null && (row.principal_kind === 'deploy_key' || 'lastUsed' in a)) flags.push('never-used');
  if (daysSinceUse !== null && daysSinceUse > UNUSED_DAYS) flags.push(`unused-${UNUSED_DAYS}-days`);
  if (a.writeAccess === true) flags.push('write-capable');
  if (a.neverExpires === true) flags.push('no-expiry');
  else if (expiresOn !== null && Date.parse(expiresOn) <= reference.getTime()) flags.push('expired');
  return {
    ...row,
    keyType: text(a.keyType) ?? (key ? (key.trim().split(/\s+/)[0] ?? null) : null),
    fingerprint: text(a.fingerprint) ?? (key ? sshFingerprint(key) : null),
    comment: text(a.comment),
    createdOn,
    lastUsed,
    expiresOn,
    ageDays,
    daysSinceUse,
    firstSeen: runTime(ctx, row.first_seen_run),
    flags,
    publicKey: ctx.options.includeKeyBody ? key : null,
  };
}

const columns: Column<MachineCredentialRow>[] = [
  { name: 'credential_kind', description: 'deploy_key (or access_token)', value: (r) => r.principal_kind },
  { name: 'credential_id', description: "Bitbucket's id of the key", value: (r) => r.external_id },
  { name: 'label', description: 'Label given when the key was added', value: (r) => r.label },
  { name: 'resource_kind', description: 'repository (repository key) or project (project key: reaches every repository in the project)', value: (r) => r.resource_kind },
  { name: 'resource', description: 'Repository slug or project key', value: (r) => r.resource_handle },
  { name: 'resource_name', description: 'Name as Bitbucket shows it', value: (r) => r.resource_name },
  { name: 'resource_id', description: "Bitbucket's uuid of the resource", value: (r) => r.resource_external_id },
  { name: 'project', description: "Repository keys: the repository's project", value: (r) => r.project_handle },
  { name: 'permission', description: 'What the credential can do here (Bitbucket Cloud deploy keys are read-only; Data Center access keys read or write, tokens as granted)', value: (r) => r.permission },
  { name: 'repositories', description: 'Repositories the key reaches through this grant', value: (r) => r.repositories },
  { name: 'key_type', description: 'ssh-ed25519, ssh-rsa, …', value: (r) => r.keyType },
  { name: 'fingerprint', description: 'SHA256 fingerprint as ssh-keygen -lf prints it', value: (r) => r.fingerprint },
  { name: 'comment', description: 'Comment of the key', value: (r) => r.comment },
  { name: 'created_on', description: 'When the key was added (Bitbucket)', value: (r) => r.createdOn },
  { name: 'age_days', description: 'Days since it was added, at the report time (or --as-of)', value: (r) => r.ageDays },
  { name: 'last_used', description: 'Last use Bitbucket recorded; empty: never', value: (r) => r.lastUsed },
  { name: 'days_since_last_used', description: 'Days since that use', value: (r) => r.daysSinceUse },
  { name: 'expires_on', description: 'Access tokens: when the token expires; empty: no expiry given (see the no-expiry flag)', value: (r) => r.expiresOn },
  { name: 'first_seen', description: 'When Roster first saw this grant', value: (r) => r.firstSeen },
  { name: 'flags', description: `never-used; unused-${UNUSED_DAYS}-days (last used more than ${UNUSED_DAYS} days before the report time); write-capable (a key that can push: Data Center access keys with write); no-expiry (a token that never expires); expired (expired at the report time, still listed by the source)`, value: (r) => r.flags },
  { name: 'public_key', description: 'The public key body: empty unless --include-key-body', value: (r) => r.publicKey },
];

export const machineCredentials: ReportDefinition<MachineCredentialRow> = {
  name: 'machine-credentials',
  title: 'Machine credentials',
  description: 'Machine credentials (deploy and access keys, access tokens where the source lists them): label, fingerprint, age, last use, expiry, and where each grants access, flagged when never used, unused for 90 days, write-capable, without expiry or expired. The key body only with --include-key-body.',
  sort: 'resource (projects, then repositories, each by key/slug), then label, then key id',
  options: ['asOf', 'includeKeyBody'],
  readsSyncedState: true,
  notes: (integration) => apiLimitsOf(integration.kind).map((l) => l.statement),
  columns: () => columns,
  pages: async function* (ctx) {
    const I = ctx.integration.id;
    const R = ctx.run.id;
    const reference = ctx.options.asOf ?? ctx.now;
    const query = sql<MachineRow>`
      with rv as ${resourcesAt(I, R)}
      select * from (
        select k.kind as principal_kind, k.external_id, k.display_name as label, k.attributes,
               r.kind as resource_kind, r.handle as resource_handle, r.name as resource_name, r.external_id as resource_external_id,
               proj.handle as project_handle, g.permission,
               case when r.kind = 'repository' then 1
                    else (select count(*) from rv x where x.parent_id = r.id and x.kind = 'repository') end::int as repositories,
               greatest(g.first_seen_run, k.present_since_run)::text as first_seen_run,
               ${resourceKindRank(permissionModelOf(ctx.integration.kind), sql.ref('r.kind'))} as resource_rank, r.id as rid, k.id as kid
          from grants g
          join ${principalsAt(I, R, ['deploy_key', 'access_token'])} k on k.id = g.principal_id
          join rv r on r.id = g.resource_id
          left join rv proj on proj.id = r.parent_id and proj.kind = 'project' and r.kind = 'repository'
         where g.integration_id = ${I} and ${presentAt('g', R)}
      ) x
      order by x.resource_rank, x.resource_handle collate "C", x.rid, x.label collate "C", x.external_id collate "C", x.kid`;
    for await (const page of cursorPages(ctx.db, query, ctx.pageSize)) yield page.map((row) => renderMachineRow(ctx, row, reference));
  },
};
