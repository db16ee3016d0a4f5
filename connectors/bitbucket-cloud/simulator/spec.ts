/**
 * Test helper: loads Atlassian's `swagger.v3.json` and turns its component schemas into JSON
 * Schema for ajv (`#/components/schemas/X` → `#/definitions/X`, `nullable` → `null` allowed,
 * OpenAPI-only keywords dropped).
 *
 * Where the spec lives: `ROSTER_BITBUCKET_API_DIR` if set, else the first of
 * `<repo>/../shared/bitbucket-api` and `<repo>/test/fixtures/bitbucket-api` that holds it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

type AnyJson = null | boolean | number | string | AnyJson[] | { [k: string]: AnyJson };
type JsonMap = { [k: string]: AnyJson };

export interface OpenApiOperation {
  parameters?: Array<{ name: string; in: string }>;
  security?: Array<Record<string, string[]>>;
  'x-atlassian-oauth2-scopes'?: Array<{ scheme: string; scopes: string[] }>;
  responses: Record<string, { content?: Record<string, { schema?: JsonMap }> }>;
}

export interface OpenApiSpec {
  paths: Record<string, { parameters?: Array<{ name: string; in: string }>; get?: OpenApiOperation }>;
  components: { schemas: Record<string, AnyJson> };
  'x-atlassian-narrative'?: { documents: Array<{ anchor: string; body: string }> };
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function bitbucketApiDir(): string {
  // The committed copy first, so every machine (CI included) tests against the same spec and payloads.
  const candidates = [process.env.ROSTER_BITBUCKET_API_DIR, path.resolve(REPO_ROOT, 'test/fixtures/bitbucket-api'), path.resolve(REPO_ROOT, '../shared/bitbucket-api')].filter(
    (p): p is string => typeof p === 'string' && p.length > 0,
  );
  for (const dir of candidates) if (fs.existsSync(path.join(dir, 'swagger.v3.json'))) return dir;
  throw new Error(`swagger.v3.json not found; set ROSTER_BITBUCKET_API_DIR (looked in ${candidates.join(', ')})`);
}

export function loadSpec(): OpenApiSpec {
  return JSON.parse(fs.readFileSync(path.join(bitbucketApiDir(), 'swagger.v3.json'), 'utf8')) as OpenApiSpec;
}

/**
 * Properties that real, recorded Bitbucket bodies send as `null` although the spec types them
 * (an object, a string, a boolean). Where the spec and a real payload disagree the payload wins,
 * so the simulator sends these nulls and the validator accepts `null` there — and nowhere else.
 */
export const RECORDED_NULLS: ReadonlyArray<{ schema: string; property: string; recording: string }> = [
  { schema: 'repository', property: 'parent', recording: 'real-payloads/cloud-2.0_repositories_list.nango-2026.json (every value)' },
  { schema: 'project', property: 'description', recording: 'real-payloads/cloud-2.0_workspaces_projects.nango-2026.json (values[0])' },
  { schema: 'user', property: 'has_2fa_enabled', recording: 'real-payloads/cloud-2.0_user.nango-2026.json' },
];

function withRecordedNulls(schemas: Record<string, AnyJson>): Record<string, AnyJson> {
  const out = structuredClone(schemas);
  for (const { schema, property } of RECORDED_NULLS) {
    const root = out[schema] as JsonMap | undefined;
    const parts = [root, ...((root?.allOf as JsonMap[] | undefined) ?? [])];
    const props = parts.map((p) => p?.properties as JsonMap | undefined).find((p) => p && property in p);
    if (!props) throw new Error(`RECORDED_NULLS: the spec has no ${schema}.${property}`);
    props[property] = { ...(props[property] as JsonMap), nullable: true };
  }
  return out;
}

function convert(node: AnyJson, partial = false): AnyJson {
  if (Array.isArray(node)) return node.map((n) => convert(n, partial));
  if (node === null || typeof node !== 'object') return node;
  const out: JsonMap = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'discriminator' || k === 'example' || k === 'xml' || k === 'externalDocs' || k.startsWith('x-')) continue;
    if (k === '$ref' && typeof v === 'string') {
      out.$ref = v.replace('#/components/schemas/', partial ? 'bitbucket-partial#/definitions/' : 'bitbucket#/definitions/');
    } else if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
      out.properties = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, convert(s, partial)]));
    } else if (k === 'required' && partial) {
      continue;
    } else if (k !== 'nullable') {
      out[k] = convert(v, partial);
    }
  }
  if ((node as JsonMap).nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else return { anyOf: [out, { type: 'null' }] };
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  }
  return out;
}

export interface SpecValidator {
  spec: OpenApiSpec;
  /** Validates against a component schema by name; returns readable errors (empty = valid). */
  component(name: string, data: unknown): string[];
  /**
   * Validates a body of `GET specPath` against the schema the spec declares for that status.
   * `partial`: for `fields=` responses, which legitimately omit required properties.
   */
  response(specPath: string, status: number, data: unknown, partial?: boolean): string[];
  /** Validates against an ad-hoc JSON schema (the 1.0 shapes). */
  custom(schema: object, data: unknown): string[];
}

export function createSpecValidator(spec: OpenApiSpec = loadSpec()): SpecValidator {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
  addFormats(ajv);
  const schemas = withRecordedNulls(spec.components.schemas);
  ajv.addSchema({ $id: 'bitbucket', definitions: Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, convert(v)])) });
  ajv.addSchema({ $id: 'bitbucket-partial', definitions: Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, convert(v, true)])) });
  const compiled = new Map<string, ValidateFunction>();
  const run = (key: string, schema: () => object, data: unknown): string[] => {
    let fn = compiled.get(key);
    if (!fn) compiled.set(key, (fn = ajv.compile(schema())));
    return fn(data) ? [] : (fn.errors ?? []).slice(0, 8).map(describe);
  };
  return {
    spec,
    component: (name, data) => run(`c:${name}`, () => ({ $ref: `bitbucket#/definitions/${name}` }), data),
    response(specPath, status, data, partial = false) {
      const op = spec.paths[specPath]?.get;
      const schema = op?.responses[String(status)]?.content?.['application/json']?.schema;
      if (!schema) return [`the spec declares no JSON body for GET ${specPath} ${status}`];
      return run(`r:${specPath}:${status}:${partial}`, () => convert(schema, partial) as object, data);
    },
    custom: (schema, data) => run(`x:${JSON.stringify(schema)}`, () => schema, data),
  };
}

function describe(e: ErrorObject): string {
  return `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`;
}
