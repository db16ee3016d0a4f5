/**
 * Test-only: drives a connector the way the engine does — detect, then per stream in dependency
 * order: coverage, scopes, read — keeping committed records in memory so per-resource streams can
 * enumerate what earlier streams listed. It infers nothing and writes nothing.
 */
import { ConnectorError, errorMessage } from '../../src/errors.ts';
import type {
  Batch,
  Capabilities,
  Connector,
  CoverageGap,
  PrincipalKind,
  PrincipalRecord,
  ResourceKind,
  ResourceRecord,
  Scope,
  StreamContext,
} from '../../src/interfaces.ts';

export interface ScopeOutcome {
  scope: Scope;
  status: 'complete' | 'failed';
  batches: Batch[];
  error: ConnectorError | null;
}

export interface HarnessResult {
  capabilities: Capabilities;
  gaps: Map<string, CoverageGap>;
  scopes: Map<string, ScopeOutcome>;
  resources: Map<string, ResourceRecord>;
  principals: Map<string, PrincipalRecord>;
  /** Everything every complete scope yielded, merged. */
  all: Required<Batch>;
  /** Set when a run-fatal error stopped the run. */
  fatal: ConnectorError | null;
}

const FATAL = new Set(['unauthorized', 'oauth_revoked', 'budget_exhausted']);

export interface HarnessOptions {
  since?: Date | null;
  only?: string[];
  /** A resumed run: capabilities from the first attempt (no detection), and what it already read. */
  resume?: HarnessResult;
}

export async function runConnector(connector: Connector, opts: HarnessOptions = {}): Promise<HarnessResult> {
  const controller = new AbortController();
  const capabilities = opts.resume?.capabilities ?? (await connector.detectCapabilities(controller.signal));
  const resources = opts.resume?.resources ?? new Map<string, ResourceRecord>();
  const principals = opts.resume?.principals ?? new Map<string, PrincipalRecord>();
  const result: HarnessResult = {
    capabilities,
    gaps: opts.resume?.gaps ?? new Map(),
    scopes: opts.resume?.scopes ?? new Map(),
    resources,
    principals,
    all: opts.resume?.all ?? { principals: [], referencedPrincipals: [], resources: [], referencedResources: [], memberships: [], grants: [], reportedAccess: [], goneResources: [] },
    fatal: null,
  };
  const ctx: StreamContext = {
    capabilities,
    since: opts.since ?? null,
    signal: controller.signal,
    resources: (kind: ResourceKind) => Promise.resolve([...resources.values()].filter((r) => r.kind === kind)),
    principals: (kind: PrincipalKind) => Promise.resolve([...principals.values()].filter((p) => p.kind === kind)),
  };
  const done = new Set<string>();
  const pending = connector.streams.filter((s) => !opts.only || opts.only.includes(s.name));
  while (pending.length > 0) {
    const index = pending.findIndex((s) => s.dependsOn.every((d) => done.has(d) || !pending.some((p) => p.name === d)));
    if (index < 0) throw new Error('stream dependency cycle');
    const [stream] = pending.splice(index, 1);
    if (!stream) break;
    done.add(stream.name);
    const gap = stream.coverage(capabilities);
    if (gap) {
      result.gaps.set(stream.name, gap);
      continue;
    }
    for (const scope of await stream.scopes(ctx)) {
      if (result.scopes.get(scope.id)?.status === 'complete') continue;
      const outcome: ScopeOutcome = { scope, status: 'complete', batches: [], error: null };
      result.scopes.set(scope.id, outcome);
      try {
        for await (const batch of stream.read(scope, ctx)) outcome.batches.push(batch);
      } catch (error) {
        if (!(error instanceof ConnectorError)) throw new Error(`${scope.id}: ${errorMessage(error)}`, { cause: error });
        outcome.status = 'failed';
        outcome.error = error;
        if (FATAL.has(error.code)) {
          result.fatal = error;
          return result;
        }
        continue;
      }
      for (const b of outcome.batches) {
        for (const key of Object.keys(result.all) as Array<keyof Batch>) {
          const rows = b[key];
          if (rows) (result.all[key] as unknown[]).push(...rows);
        }
        for (const r of [...(b.resources ?? []), ...(b.referencedResources ?? [])]) {
          const id = `${r.kind}:${r.externalId}`;
          if (!resources.has(id) || b.resources?.includes(r)) resources.set(id, r);
        }
        for (const p of [...(b.principals ?? []), ...(b.referencedPrincipals ?? [])]) principals.set(`${p.kind}:${p.externalId}`, p);
      }
    }
  }
  return result;
}
