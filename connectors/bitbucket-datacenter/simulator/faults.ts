/**
 * Faults on demand, in the same string form as the Cloud simulator's (`kind[:key=value]…`, `;`-separated):
 * `5xx:path=/rest/api/latest/projects/*:count=2;reset:nth=10;forbid:repo=PLAT/api-gateway`.
 * See README.md ("Faults") for every kind and key.
 */
import { DC_CREDENTIAL_NAMES, type DcCredentialName } from './generate.ts';

export const DC_FAULT_KINDS = ['5xx', 'reset', 'slow', 'malformed', 'truncate', 'loop', 'repeat', 'forbid', 'revoke'] as const;
export type DcFaultKind = (typeof DC_FAULT_KINDS)[number];

export interface DcFaultSpec {
  kind: DcFaultKind;
  /** Glob over the request path without the query (`*` matches anything, `/` included). */
  path?: string;
  nth?: number;
  count?: number;
  after?: number;
  credential?: DcCredentialName;
  status?: number;
  ms?: number;
  /** `forbid`: `PROJECTKEY/slug` whose permission, key and token listings answer 401 (not permitted). */
  repo?: string;
}

export interface DcActiveFault extends DcFaultSpec {
  id: number;
  seen: number;
  fired: number;
}

export class DcFaultSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DcFaultSpecError';
  }
}

const NUMERIC = ['nth', 'count', 'after', 'status', 'ms'] as const;

export function parseDcFaults(spec: string): DcFaultSpec[] {
  const out: DcFaultSpec[] = [];
  for (const entry of spec.split(/[;\n]/).map((s) => s.trim()).filter(Boolean)) {
    const [kindRaw, ...pairs] = entry.split(':');
    const kind = (kindRaw ?? '').trim();
    if (!(DC_FAULT_KINDS as readonly string[]).includes(kind)) throw new DcFaultSpecError(`unknown fault kind ${JSON.stringify(kindRaw)} in ${JSON.stringify(entry)}; kinds: ${DC_FAULT_KINDS.join(', ')}`);
    const fault: DcFaultSpec = { kind: kind as DcFaultKind };
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq < 0) throw new DcFaultSpecError(`expected key=value, got ${JSON.stringify(pair)} in ${JSON.stringify(entry)}`);
      const key = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if ((NUMERIC as readonly string[]).includes(key)) {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw new DcFaultSpecError(`${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
        fault[key as (typeof NUMERIC)[number]] = n;
      } else if (key === 'path') fault.path = value;
      else if (key === 'repo') fault.repo = value;
      else if (key === 'cred' || key === 'credential') {
        if (!(DC_CREDENTIAL_NAMES as readonly string[]).includes(value)) throw new DcFaultSpecError(`unknown credential ${JSON.stringify(value)}; names: ${DC_CREDENTIAL_NAMES.join(', ')}`);
        fault.credential = value as DcCredentialName;
      } else throw new DcFaultSpecError(`unknown key ${JSON.stringify(key)} in ${JSON.stringify(entry)}`);
    }
    out.push(validate(fault));
  }
  return out;
}

function validate(f: DcFaultSpec): DcFaultSpec {
  if (!(DC_FAULT_KINDS as readonly string[]).includes(f.kind)) throw new DcFaultSpecError(`unknown fault kind ${JSON.stringify(f.kind)}`);
  if (f.kind === 'forbid' && !f.repo?.includes('/')) throw new DcFaultSpecError('forbid needs repo=PROJECTKEY/slug');
  if (f.kind === 'slow' && f.ms === undefined) throw new DcFaultSpecError('slow needs ms=N');
  if (f.status !== undefined && (f.status < 400 || f.status > 599)) throw new DcFaultSpecError(`status must be 400–599, got ${f.status}`);
  if (f.nth !== undefined && f.nth < 1) throw new DcFaultSpecError('nth counts from 1');
  return f;
}

const glob = (g: string): RegExp => new RegExp(`^${g.split(/\*+/).map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

export interface DcFaultRequest {
  path: string;
  credential: string | null;
  /** `PROJECTKEY/slug` for per-repository routes. */
  repo: string | null;
  /** The `start` asked for: `repeat` concerns pages after the first only. */
  start: number;
}

export class DcFaultEngine {
  private faults: Array<DcActiveFault & { regex: RegExp | null }> = [];
  private nextId = 1;
  fired = 0;

  add(spec: string | DcFaultSpec | DcFaultSpec[]): number[] {
    const list = typeof spec === 'string' ? parseDcFaults(spec) : (Array.isArray(spec) ? spec : [spec]).map((f) => validate({ ...f }));
    return list.map((f) => {
      const id = this.nextId++;
      this.faults.push({ ...f, id, seen: 0, fired: 0, regex: f.path ? glob(f.path) : null });
      return id;
    });
  }

  clear(id?: number): void {
    this.faults = id === undefined ? [] : this.faults.filter((f) => f.id !== id);
  }

  list(): DcActiveFault[] {
    return this.faults.map(({ regex: _r, ...f }) => ({ ...f }));
  }

  evaluate(req: DcFaultRequest): DcActiveFault[] {
    const firing: DcActiveFault[] = [];
    const short = req.path.replace(/^\/rest(?=\/)/, '');
    for (const f of this.faults) {
      if (f.regex && !f.regex.test(req.path) && !f.regex.test(short)) continue;
      if (f.credential && f.credential !== req.credential) continue;
      if (f.kind === 'forbid' && (req.repo === null || req.repo.toUpperCase() !== (f.repo ?? '').toUpperCase())) continue;
      if (f.kind === 'repeat' && req.start < 1) continue;
      f.seen++;
      if (f.after !== undefined && f.seen <= f.after) continue;
      if (f.nth !== undefined && f.seen !== f.nth) continue;
      if (f.fired >= (f.count ?? (f.kind === 'revoke' ? 1 : Infinity))) continue;
      f.fired++;
      this.fired++;
      firing.push(f);
    }
    return firing;
  }
}
