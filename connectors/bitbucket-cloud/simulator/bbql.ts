/**
 * A small implementation of Bitbucket's query language (the `q` and `sort` parameters, "Filter and
 * sort API objects" in the spec): comparisons `= != ~ !~ > >= < <= IN, NOT IN`, `AND`/`OR`,
 * parentheses; strings, numbers, booleans, `null`, unquoted ISO-8601 datetimes and lists.
 * Each endpoint declares which fields it can filter and sort on; anything else is a 400, as on
 * Bitbucket.
 */

export type FieldValue =
  | { type: 'string'; value: string | null }
  | { type: 'datetime'; value: string | null }
  | { type: 'number'; value: number | null }
  | { type: 'boolean'; value: boolean | null }
  /** An ordered vocabulary: `permission > "read"` compares by rank. */
  | { type: 'enum'; value: string | null; order: readonly string[] };

export type FieldAccessor<T> = Record<string, (item: T) => FieldValue>;

export class QueryError extends Error {
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

type Literal = { kind: 'string'; value: string } | { kind: 'number'; value: number } | { kind: 'boolean'; value: boolean } | { kind: 'null' } | { kind: 'datetime'; value: string };

type Node =
  | { op: 'and'; left: Node; right: Node }
  | { op: 'or'; left: Node; right: Node }
  | { op: 'cmp'; field: string; cmp: string; value: Literal }
  | { op: 'in'; field: string; negate: boolean; values: Literal[] };

type Token = { t: 'str'; v: string } | { t: 'word'; v: string } | { t: 'op'; v: string } | { t: '('; v: '(' } | { t: ')'; v: ')' } | { t: ','; v: ',' };

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let s = '';
      i++;
      while (i < q.length && q[i] !== '"') {
        if (q[i] === '\\' && i + 1 < q.length) i++;
        s += q[i];
        i++;
      }
      if (i >= q.length) throw new QueryError('Invalid query', 'unterminated string literal');
      i++;
      out.push({ t: 'str', v: s });
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ t: c, v: c } as Token);
      i++;
    } else if ('=!~<>'.includes(c)) {
      const two = q.slice(i, i + 2);
      if (['!=', '!~', '>=', '<='].includes(two)) {
        out.push({ t: 'op', v: two });
        i += 2;
      } else if (c === '!') {
        throw new QueryError('Invalid query', `unexpected "!" at ${i}`);
      } else {
        out.push({ t: 'op', v: c });
        i++;
      }
    } else {
      let s = '';
      while (i < q.length && !/[\s()",=!~<>]/.test(q[i] as string)) s += q[i++];
      // A datetime with an offset may contain characters the loop above stops at ("+", ":" do not).
      out.push({ t: 'word', v: s });
    }
  }
  return out;
}

function parse(q: string): Node {
  const tokens = tokenize(q);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isWord = (tok: Token | undefined, w: string): boolean => tok?.t === 'word' && tok.v.toUpperCase() === w;

  const literal = (): Literal => {
    const tok = tokens[pos++];
    if (!tok) throw new QueryError('Invalid query', 'expected a value');
    if (tok.t === 'str') return { kind: 'string', value: tok.v };
    if (tok.t !== 'word') throw new QueryError('Invalid query', `unexpected ${tok.v}`);
    const w = tok.v;
    if (w === 'null') return { kind: 'null' };
    if (w === 'true' || w === 'false') return { kind: 'boolean', value: w === 'true' };
    if (/^-?\d+(\.\d+)?$/.test(w)) return { kind: 'number', value: Number(w) };
    if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(w)) {
      const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(w) && w.includes('T');
      const iso = w.length === 10 ? `${w}T00:00:00Z` : hasZone ? w : `${w}Z`;
      if (Number.isNaN(Date.parse(iso))) throw new QueryError('Invalid query', `invalid datetime ${w}`);
      return { kind: 'datetime', value: iso };
    }
    throw new QueryError('Invalid query', `unexpected ${w}`);
  };

  const primary = (): Node => {
    const tok = peek();
    if (tok?.t === '(') {
      pos++;
      const node = or();
      if (peek()?.t !== ')') throw new QueryError('Invalid query', 'missing ")"');
      pos++;
      return node;
    }
    if (tok?.t !== 'word') throw new QueryError('Invalid query', `expected a field name${tok ? `, got ${tok.v}` : ''}`);
    pos++;
    const field = tok.v;
    if (isWord(peek(), 'IN') || (isWord(peek(), 'NOT') && isWord(tokens[pos + 1], 'IN'))) {
      const negate = isWord(peek(), 'NOT');
      pos += negate ? 2 : 1;
      if (peek()?.t !== '(') throw new QueryError('Invalid query', 'IN needs a list');
      pos++;
      const values: Literal[] = [];
      while (peek() && peek()?.t !== ')') {
        values.push(literal());
        if (peek()?.t === ',') pos++;
      }
      if (peek()?.t !== ')') throw new QueryError('Invalid query', 'missing ")"');
      pos++;
      return { op: 'in', field, negate, values };
    }
    const op = peek();
    if (op?.t !== 'op') throw new QueryError('Invalid query', `expected an operator after ${field}`);
    pos++;
    return { op: 'cmp', field, cmp: op.v, value: literal() };
  };

  const and = (): Node => {
    let node = primary();
    while (isWord(peek(), 'AND')) {
      pos++;
      node = { op: 'and', left: node, right: primary() };
    }
    return node;
  };

  function or(): Node {
    let node = and();
    while (isWord(peek(), 'OR')) {
      pos++;
      node = { op: 'or', left: node, right: and() };
    }
    return node;
  }

  if (tokens.length === 0) throw new QueryError('Invalid query', 'empty query');
  const node = or();
  if (pos < tokens.length) throw new QueryError('Invalid query', `unexpected ${tokens[pos]?.v}`);
  return node;
}

function fieldsOf(node: Node): string[] {
  if (node.op === 'and' || node.op === 'or') return [...fieldsOf(node.left), ...fieldsOf(node.right)];
  return [node.field];
}

function compareValues(a: FieldValue, lit: Literal): number | null {
  if (lit.kind === 'null' || a.value === null) return null;
  switch (a.type) {
    case 'string':
      return lit.kind === 'string' ? (a.value < lit.value ? -1 : a.value > lit.value ? 1 : 0) : null;
    case 'number':
      return lit.kind === 'number' ? a.value - lit.value : null;
    case 'boolean':
      return lit.kind === 'boolean' ? Number(a.value) - Number(lit.value) : null;
    case 'datetime': {
      if (lit.kind !== 'datetime' && lit.kind !== 'string') return null;
      const t = Date.parse(lit.value);
      if (Number.isNaN(t)) throw new QueryError('Invalid query', `invalid datetime ${lit.value}`);
      return Date.parse(a.value) - t;
    }
    case 'enum': {
      if (lit.kind !== 'string') return null;
      const ra = a.order.indexOf(a.value);
      const rb = a.order.indexOf(lit.value);
      if (rb < 0) throw new QueryError('Invalid query', `invalid value ${JSON.stringify(lit.value)}; expected one of ${a.order.join(', ')}`);
      return ra - rb;
    }
  }
}

function matchCmp(v: FieldValue, cmp: string, lit: Literal): boolean {
  if (lit.kind === 'null') {
    if (cmp === '=') return v.value === null;
    if (cmp === '!=') return v.value !== null;
    return false;
  }
  if (cmp === '~' || cmp === '!~') {
    const hay = v.value === null ? '' : String(v.value).toLowerCase();
    const needle = lit.kind === 'string' ? lit.value.toLowerCase() : '';
    return cmp === '~' ? hay.includes(needle) : !hay.includes(needle);
  }
  const c = compareValues(v, lit);
  if (c === null) return cmp === '!=';
  switch (cmp) {
    case '=': return c === 0;
    case '!=': return c !== 0;
    case '>': return c > 0;
    case '>=': return c >= 0;
    case '<': return c < 0;
    case '<=': return c <= 0;
    default: return false;
  }
}

export interface CompiledQuery<T> {
  test(item: T): boolean;
}

/** Parses `q` for an endpoint whose filterable fields are `fields`. Throws `QueryError`. */
export function compileQuery<T>(q: string, fields: FieldAccessor<T>): CompiledQuery<T> {
  const node = parse(q);
  for (const f of fieldsOf(node)) {
    if (!Object.hasOwn(fields, f)) throw new QueryError(`Invalid field name: ${f}`, `Fields you can filter on here: ${Object.keys(fields).join(', ')}`);
  }
  const evalNode = (n: Node, item: T): boolean => {
    if (n.op === 'and') return evalNode(n.left, item) && evalNode(n.right, item);
    if (n.op === 'or') return evalNode(n.left, item) || evalNode(n.right, item);
    const v = (fields[n.field] as (item: T) => FieldValue)(item);
    if (n.op === 'in') {
      const hit = n.values.some((lit) => matchCmp(v, '=', lit));
      return n.negate ? !hit : hit;
    }
    return matchCmp(v, n.cmp, n.value);
  };
  return { test: (item) => evalNode(node, item) };
}

/** Sorts by one field (`-` prefix: descending), stable. Throws `QueryError` for unknown fields. */
export function sortBy<T>(items: readonly T[], sort: string, fields: FieldAccessor<T>): T[] {
  const desc = sort.startsWith('-');
  const name = desc ? sort.slice(1) : sort;
  const get = fields[name];
  if (!get) throw new QueryError(`Invalid sort field: ${name}`, `Fields you can sort on here: ${Object.keys(fields).join(', ')}`);
  const keyed = items.map((item, i) => ({ item, i, v: get(item) }));
  keyed.sort((a, b) => {
    const c = compareField(a.v, b.v);
    return (desc ? -c : c) || a.i - b.i;
  });
  return keyed.map((k) => k.item);
}

function compareField(a: FieldValue, b: FieldValue): number {
  if (a.value === null || b.value === null) return a.value === null ? (b.value === null ? 0 : -1) : 1;
  if (a.type === 'enum' && b.type === 'enum') return a.order.indexOf(a.value) - b.order.indexOf(b.value);
  if (a.type === 'datetime' && b.type === 'datetime') return Date.parse(a.value) - Date.parse(b.value);
  if (typeof a.value === 'number' && typeof b.value === 'number') return a.value - b.value;
  const x = String(a.value);
  const y = String(b.value);
  return x < y ? -1 : x > y ? 1 : 0;
}

export const str = (value: string | null): FieldValue => ({ type: 'string', value });
export const dt = (value: string | null): FieldValue => ({ type: 'datetime', value });
export const num = (value: number | null): FieldValue => ({ type: 'number', value });
export const bool = (value: boolean | null): FieldValue => ({ type: 'boolean', value });
export const enm = (value: string | null, order: readonly string[]): FieldValue => ({ type: 'enum', value, order });
