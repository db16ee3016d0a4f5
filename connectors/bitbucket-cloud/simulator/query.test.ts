/** BBQL and partial responses, without a server. */
import { describe, expect, it } from 'vitest';
import { QueryError, compileQuery, dt, enm, num, sortBy, str } from './bbql.ts';
import { parseFields } from './fields.ts';

interface Item {
  name: string;
  updated: string;
  size: number;
  perm: string;
}
const FIELDS = {
  name: (i: Item) => str(i.name),
  updated_on: (i: Item) => dt(i.updated),
  size: (i: Item) => num(i.size),
  permission: (i: Item) => enm(i.perm, ['read', 'write', 'admin']),
};
const ITEMS: Item[] = [
  { name: 'Alpha', updated: '2025-01-01T00:00:00+00:00', size: 10, perm: 'read' },
  { name: 'beta', updated: '2025-06-01T12:00:00+00:00', size: 20, perm: 'admin' },
  { name: 'Gamma ray', updated: '2026-01-01T00:00:00+00:00', size: 30, perm: 'write' },
];
const names = (q: string): string[] => {
  const c = compileQuery(q, FIELDS);
  return ITEMS.filter((i) => c.test(i)).map((i) => i.name);
};

describe('BBQL', () => {
  it('compares strings, numbers, datetimes and ranked vocabularies', () => {
    expect(names('name = "beta"')).toEqual(['beta']);
    expect(names('name != "beta"')).toEqual(['Alpha', 'Gamma ray']);
    expect(names('name ~ "A"')).toEqual(['Alpha', 'beta', 'Gamma ray']);
    expect(names('name !~ "ray"')).toEqual(['Alpha', 'beta']);
    expect(names('size >= 20')).toEqual(['beta', 'Gamma ray']);
    expect(names('updated_on > 2025-06-01')).toEqual(['beta', 'Gamma ray']);
    expect(names('updated_on > 2025-06-01T12:00:00Z')).toEqual(['Gamma ray']);
    expect(names('updated_on <= 2025-06-01T14:00:00+02:00')).toEqual(['Alpha', 'beta']);
    expect(names('permission > "read"')).toEqual(['beta', 'Gamma ray']);
    expect(names('permission >= "admin"')).toEqual(['beta']);
  });

  it('combines with AND, OR (any case), parentheses, IN and NOT IN', () => {
    expect(names('size > 10 and (name = "beta" OR name = "Alpha")')).toEqual(['beta']);
    expect(names('name IN ("Alpha", "beta")')).toEqual(['Alpha', 'beta']);
    expect(names('name NOT IN ("Alpha")')).toEqual(['beta', 'Gamma ray']);
    expect(names('name = "x" or size = 30')).toEqual(['Gamma ray']);
    expect(names('name = null')).toEqual([]);
    expect(names('name != null')).toHaveLength(3);
  });

  it('refuses unknown fields, bad syntax and unknown vocabulary', () => {
    expect(() => names('colour = "red"')).toThrow(/Invalid field name: colour/);
    for (const q of ['', 'name', 'name =', '(name = "x"', 'name = "unterminated', 'name ! "x"', 'name = "x" junk', 'permission > "root"']) {
      expect(() => names(q), q).toThrow(QueryError);
    }
  });

  it('sorts by one field, descending with -, stably', () => {
    expect(sortBy(ITEMS, '-size', FIELDS).map((i) => i.size)).toEqual([30, 20, 10]);
    expect(sortBy(ITEMS, 'permission', FIELDS).map((i) => i.perm)).toEqual(['read', 'write', 'admin']);
    expect(sortBy(ITEMS, 'name', FIELDS).map((i) => i.name)).toEqual(['Alpha', 'Gamma ray', 'beta']);
    expect(() => sortBy(ITEMS, 'colour', FIELDS)).toThrow(/Invalid sort field/);
  });
});

describe('fields=', () => {
  const doc = {
    pagelen: 10,
    next: 'http://x/?page=2',
    values: [{ uuid: 'u', slug: 's', links: { self: { href: 'h' }, html: { href: 'w' } }, owner: { uuid: 'o', display_name: 'O' } }],
  };
  it('implements inclusion, removal, addition and wildcards', () => {
    expect(parseFields('values.uuid,next').apply(doc)).toEqual({ next: doc.next, values: [{ uuid: 'u' }] });
    expect(parseFields('-values.links,-pagelen').apply(doc)).toEqual({ next: doc.next, values: [{ uuid: 'u', slug: 's', owner: { uuid: 'o', display_name: 'O' } }] });
    expect(parseFields('-values.links.*').apply(doc).values).toEqual([{ uuid: 'u', slug: 's', links: {}, owner: { uuid: 'o', display_name: 'O' } }]);
    expect(parseFields('-*,+next').apply(doc)).toEqual({ next: doc.next });
    expect(parseFields('values.owner,-values.owner.display_name').apply(doc)).toEqual({ values: [{ owner: { uuid: 'o' } }] });
    expect(parseFields('*').apply(doc)).toEqual(doc);
    expect(parseFields('+values.unknown').apply(doc)).toEqual(doc);
  });
});
