/**
 * Test helper: Atlassian's Bitbucket Data Center 9.2 spec (`datacenter-9.2/swagger.v3.json` beside the
 * Cloud spec, found the same way) as ajv validators. `#/components/schemas/X` becomes a definition,
 * `nullable` allows null, OpenAPI-only keywords are dropped; `readOnly`/`writeOnly` are kept as
 * annotations (a response may carry either: the spec marks `links` write-only although every
 * Data Center response sends them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { bitbucketApiDir } from '../../bitbucket-cloud/simulator/spec.ts';

type AnyJson = null | boolean | number | string | AnyJson[] | { [k: string]: AnyJson };
type JsonMap = { [k: string]: AnyJson };

export interface DcSpec {
  paths: Record<string, { parameters?: Array<{ name: string; in: string }>; get?: { parameters?: Array<{ name: string; in: string }>; responses: Record<string, { content?: Record<string, { schema?: JsonMap }> }> } }>;
  components: { schemas: Record<string, AnyJson> };
}

export function loadDcSpec(): DcSpec {
  return JSON.parse(fs.readFileSync(path.join(bitbucketApiDir(), 'datacenter-9.2', 'swagger.v3.json'), 'utf8')) as DcSpec;
}

function convert(node: AnyJson): AnyJson {
  if (Array.isArray(node)) return node.map(convert);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonMap = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'discriminator' || k === 'example' || k === 'xml' || k === 'externalDocs' || k === 'nullable' || k.startsWith('x-')) continue;
    if (k === '$ref' && typeof v === 'string') out.$ref = v.replace('#/components/schemas/', 'dc#/definitions/');
    else if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) out.properties = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, convert(s)]));
    else out[k] = convert(v);
  }
  if ((node as JsonMap).nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

export interface DcSpecValidator {
  spec: DcSpec;
  /** Problems with a body of `GET specPath` answered `status` (empty: valid). */
  response(specPath: string, status: number, data: unknown): string[];
}

export function createDcSpecValidator(spec: DcSpec = loadDcSpec()): DcSpecValidator {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  (addFormatsModule as unknown as (a: Ajv) => Ajv)(ajv);
  ajv.addSchema({ $id: 'dc', definitions: Object.fromEntries(Object.entries(spec.components.schemas).map(([k, v]) => [k, convert(v)])) });
  const compiled = new Map<string, ValidateFunction>();
  return {
    spec,
    response(specPath, status, data) {
      const schema = spec.paths[specPath]?.get?.responses[String(status)]?.content?.['application/json']?.schema;
      if (!schema) return [`the spec declares no JSON body for GET ${specPath} ${status}`];
      const key = `${specPath} ${status}`;
      let fn = compiled.get(key);
      if (!fn) compiled.set(key, (fn = ajv.compile(convert(schema) as object)));
      return fn(data) ? [] : (fn.errors ?? []).slice(0, 8).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
    },
  };
}
