/**
 * Faults on demand. The string form (`--faults`, `SimulatorOptions.faults`) is a `;`-separated
 * list of `kind[:key=value]…`, e.g. `5xx:path=/repositories/*\/permissions-config/*:count=2;reset:nth=10`.
 * See README.md for every kind and key.
 */
import { FAULT_KINDS, type ActiveFault, type FaultKind, type FaultSpec, type SimCredentialName, type SimFaults } from './types.ts';

const CREDENTIAL_NAMES: readonly SimCredentialName[] = [
  'adminApiToken', 'memberApiToken', 'oauth', 'workspaceAccessToken', 'projectAccessToken', 'repositoryAccessToken', 'appPassword',
];

const NUMERIC_KEYS = ['nth', 'count', 'after', 'status', 'ms'] as const;

export class FaultSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

/** Parses the compact string form. Throws `FaultSpecError` listing what is wrong. */
export function parseFaults(spec: string): FaultSpec[] {
  const out: FaultSpec[] = [];
  for (const entry of spec.split(/[;\n]/).map((s) => s.trim()).filter(Boolean)) {
    const [kindRaw, ...pairs] = entry.split(':');
    const kind = (kindRaw ?? '').trim() as FaultKind;
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw new FaultSpecError(`unknown fault kind ${JSON.stringify(kindRaw)} in ${JSON.stringify(entry)}; kinds: ${FAULT_KINDS.join(', ')}`);
    const fault: FaultSpec = { kind };
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq < 0) throw new FaultSpecError(`expected key=value, got ${JSON.stringify(pair)} in ${JSON.stringify(entry)}`);
      const key = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if ((NUMERIC_KEYS as readonly string[]).includes(key)) {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw new FaultSpecError(`${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
        fault[key as (typeof NUMERIC_KEYS)[number]] = n;
      } else if (key === 'path') {
        fault.path = value;
      } else if (key === 'repo') {
        fault.repo = value;
      } else if (key === 'cred' || key === 'credential') {
        if (!(CREDENTIAL_NAMES as readonly string[]).includes(value)) throw new FaultSpecError(`unknown credential ${JSON.stringify(value)}; names: ${CREDENTIAL_NAMES.join(', ')}`);
        fault.credential = value as SimCredentialName;
      } else {
        throw new FaultSpecError(`unknown key ${JSON.stringify(key)} in ${JSON.stringify(entry)}`);
      }
    }
    out.push(validateFault(fault));
  }
  return out;
}

function validateFault(f: FaultSpec): FaultSpec {
  if (!(FAULT_KINDS as readonly string[]).includes(f.kind)) throw new FaultSpecError(`unknown fault kind ${JSON.stringify(f.kind)}`);
  if (f.kind === 'forbid' && !f.repo) throw new FaultSpecError('forbid needs repo=SLUG (or repo={UUID})');
  if (f.kind === 'slow' && f.ms === undefined) throw new FaultSpecError('slow needs ms=N');
  if (f.status !== undefined && (f.status < 400 || f.status > 599)) throw new FaultSpecError(`status must be 400–599, got ${f.status}`);
  if (f.nth !== undefined && f.nth < 1) throw new FaultSpecError('nth counts from 1');
  return f;
}

/** `*` and `**` match any run of characters, `/` included; the match is anchored at both ends. */
function globToRegExp(glob: string): RegExp {
  const body = glob
    .split(/\*+/)
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

interface Runtime extends ActiveFault {
  regex: RegExp | null;
}

export interface FaultRequest {
  /** Raw request path without the query, e.g. `/2.0/repositories/acme/api/permissions-config/users`. */
  path: string;
  credential: string | null;
  /** Set on repository permission routes: the slug of the repository the request is about (by slug or `{uuid}`). */
  permissionRepoSlug: string | null;
  /** Its uuid, when the repository exists. */
  permissionRepoUuid?: string | null;
  /** The `page` asked for (1 when absent): `repeat` only concerns pages after the first. */
  page: number;
}

export class FaultEngine implements SimFaults {
  private faults: Runtime[] = [];
  private nextId = 1;
  fired = 0;

  add(spec: string | FaultSpec | FaultSpec[]): number[] {
    const list = typeof spec === 'string' ? parseFaults(spec) : (Array.isArray(spec) ? spec : [spec]).map((f) => validateFault({ ...f }));
    return list.map((f) => {
      const id = this.nextId++;
      this.faults.push({ ...f, id, seen: 0, fired: 0, regex: f.path ? globToRegExp(f.path) : null });
      return id;
    });
  }

  clear(id?: number): void {
    this.faults = id === undefined ? [] : this.faults.filter((f) => f.id !== id);
  }

  list(): ActiveFault[] {
    return this.faults.map(({ regex: _regex, ...f }) => ({ ...f }));
  }

  /** The faults that fire on this request (each counts the request as seen when its selectors match). */
  evaluate(req: FaultRequest): ActiveFault[] {
    if (this.faults.length === 0) return [];
    const firing: ActiveFault[] = [];
    const shortPath = req.path.replace(/^\/2\.0(?=\/)/, '');
    for (const f of this.faults) {
      if (f.regex && !f.regex.test(req.path) && !f.regex.test(shortPath)) continue;
      if (f.credential && f.credential !== req.credential) continue;
      if (f.kind === 'forbid' && req.permissionRepoSlug !== f.repo && (req.permissionRepoUuid ?? null) !== (f.repo ?? '').toLowerCase()) continue;
      if (f.kind === 'repeat' && req.page < 2) continue;
      f.seen++;
      if (f.after !== undefined && f.seen <= f.after) continue;
      if (f.nth !== undefined && f.seen !== f.nth) continue;
      const limit = f.count ?? (f.kind === 'revoke' ? 1 : Infinity);
      if (f.fired >= limit) continue;
      f.fired++;
      this.fired++;
      firing.push(f);
    }
    return firing;
  }
}
