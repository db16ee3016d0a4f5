import { connectorTitleOf, permissionModelOf } from '../connectors.ts';
import type { RosterError } from '../errors.ts';
import type { Capabilities } from '../interfaces.ts';
import { scrubSecrets } from '../log.ts';
import type { SyncRequest } from './contract.ts';
import { type ReconcileOutcome, describeReconciliation } from './effective.ts';
import type { RemovalCounts } from './history.ts';
import type { LiveCounts } from './sql/run-counts.ts';
import { plural } from '../text.ts';

/** The prose of a run: the one paragraph `roster sync` prints and the run row keeps as `summary`. */


/** A run left open at its checkpoint: interrupted, or paused until the API budget returns. */
export function describeStop(args: { runId: string; integrationName: string; code: 'budget_exhausted' | 'sync_aborted'; resumeAfter: Date | null }): string {
  return args.code === 'sync_aborted'
    ? `Run ${args.runId} was interrupted; what it read so far is kept as a checkpoint, and the next \`roster sync\` of "${args.integrationName}" continues from there.`
    : `Run ${args.runId} paused: the API budget for this credential is spent. It resumes from its checkpoint${args.resumeAfter ? ` after ${args.resumeAfter.toISOString()}` : ''} (roster serve does this on its own; or run roster sync again then).`;
}

export interface RunFigures {
  request: SyncRequest;
  runId: string;
  status: string;
  /** "in 37.9 s", or a resumed run's whole time with its segments. */
  duration: string;
  live: LiveCounts;
  added: Record<string, number>;
  removed: RemovalCounts;
  failures: Array<{ label: string; message: string | null; http_status: number | null }>;
  gaps: Array<{ label: string; message: string | null; advice: string | null }>;
  reconcile: ReconcileOutcome;
  runError: RosterError | null;
  stats: { api_requests: number; api_retries: number; rate_limit_waits: number; responses_429: number };
  capabilities: Capabilities | null;
  sanitized: Array<{ record_kind: string; record_id: string; detail: string }>;
}

/** A finished run: what it read, what changed, what it could not read and why, and the reconciliation. */
export function describeRun(args: RunFigures): string {
  const { request, live, added, removed, failures, gaps, reconcile, runError, stats } = args;
  const parts: string[] = [];
  parts.push(
    `Run ${args.runId} of "${request.integration.name}"${request.integration.workspace ? ` (workspace ${request.integration.workspace})` : ''} ${args.status} ${args.duration} with ${plural(stats.api_requests, 'API request')} (${plural(stats.api_retries, 'retry')}, ${plural(stats.rate_limit_waits, 'rate-limit wait')}, ${plural(stats.responses_429, '429 response')}).`,
  );
  if (runError) parts.push(`It stopped early: ${scrubSecrets(runError.message).replace(/([^.!?])$/, '$1.')}`);
  const readAnything = live.users + live.repositories + live.projects > 0 || failures.length > 0;
  if (runError && !readAnything) return parts.join(' ');
  parts.push(
    `Now known: ${plural(live.users, 'user')}, ${plural(live.groups, 'group')}, ${plural(live.projects, 'project')}, ${plural(live.repositories, 'repository')}, ${plural(live.grants, 'explicit grant')}, ${plural(live.deploy_keys, 'deploy key')}; ${plural(live.effective_access_paths, 'access path')}.`,
  );
  const changes = [
    ['grant', (added.grants ?? 0), removed.grants],
    ['membership', (added.memberships ?? 0), removed.memberships],
    ['principal', (added.principals ?? 0), removed.principals],
    ['resource', (added.resources ?? 0), removed.resources],
  ] as const;
  parts.push(`Changes: ${changes.map(([what, plus, minus]) => `+${plus}/−${minus} ${what}s`).join(', ')}.`);
  if (failures.length > 0) {
    const sample = failures.slice(0, 3).map((f) => `${f.label}${f.http_status ? ` (HTTP ${f.http_status})` : ''}`);
    parts.push(`${plural(failures.length, 'scope')} could not be read and kept ${failures.length === 1 ? 'its' : 'their'} previous data: ${sample.join('; ')}${failures.length > 3 ? '; …' : ''}.`);
  }
  if (args.sanitized.length > 0) {
    const n = args.sanitized.length;
    const sample = args.sanitized.slice(0, 3).map((x) => `${x.record_kind} ${x.record_id} (${x.detail.replace(/:.*$/, '')})`);
    parts.push(`${plural(n, 'record')} ${n === 1 ? 'was' : 'were'} stored with characters replaced (NUL or unpaired surrogates, which PostgreSQL cannot store): ${sample.join('; ')}${n > 3 ? '; …' : ''}.`);
  }
  if (gaps.length > 0) {
    parts.push(`Not covered by this credential: ${gaps.map((g) => g.label).join('; ')} — see \`roster report coverage\` for what would cover them.`);
  }
  for (const warning of args.capabilities?.warnings ?? []) parts.push(`Warning: ${warning}`);
  const reconciliation = describeReconciliation(reconcile, connectorTitleOf(request.integration.kind), permissionModelOf(request.integration.kind).leaf);
  if (reconciliation) parts.push(reconciliation);
  return parts.join(' ');
}
