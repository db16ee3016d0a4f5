import { Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { cellText, createWriter, csvField, csvLines, csvRecords } from '../../reports/format.ts';
import type { Column } from '../../reports/types.ts';

interface Row {
  name: string;
  tags: string[];
  n: number | null;
  ok: boolean;
}

const columns: Column<Row>[] = [
  { name: 'name', description: '', value: (r) => r.name },
  { name: 'tags', description: '', value: (r) => r.tags },
  { name: 'n', description: '', value: (r) => r.n },
  { name: 'ok', description: '', value: (r) => r.ok, csv: (r) => (r.ok ? 'yes' : 'no') },
];

/** A sink that says "full" after every write and drains on the next tick, like a slow pipe. */
function slowSink(): { out: Writable; text: () => string; waits: () => number } {
  const chunks: string[] = [];
  let waits = 0;
  const out = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      setImmediate(cb);
    },
  });
  out.on('drain', () => waits++);
  return { out, text: () => chunks.join(''), waits: () => waits };
}

const tricky: Row[] = [
  { name: "=cmd|' /C calc'!A0", tags: ['+a', 'b'], n: 1, ok: true },
  { name: 'Smith, "Jo"', tags: [], n: null, ok: false },
  { name: 'line\nbreak', tags: ['x'], n: -2, ok: true },
  { name: '\tTabbed', tags: [], n: 0, ok: true },
  { name: '\rCR', tags: [], n: 0, ok: true },
  { name: '@SUM(1+1)', tags: [], n: 0, ok: true },
  { name: '-2+3', tags: [], n: 0, ok: true },
  { name: 'Ελένη Παπαδοπούλου 李雷 😀', tags: [], n: 3, ok: true },
  { name: ' padded ', tags: [], n: 0, ok: true },
];

describe('report writers', () => {
  it('CSV: RFC 4180 quoting, CRLF, unicode, and formula cells made inert', async () => {
    const sink = slowSink();
    const writer = createWriter('csv', columns, sink.out);
    await writer.write(tricky.slice(0, 4));
    await writer.write(tricky.slice(4));
    await writer.finish();
    const text = sink.text();
    expect(sink.waits()).toBeGreaterThan(0);
    expect(text.split('\r\n')[0]).toBe('name,tags,n,ok');
    expect(text).toContain('"Smith, ""Jo"""');
    const records = parse(text, { columns: true, relax_quotes: false }) as Array<Record<string, string>>;
    expect(records.map((r) => r.name)).toEqual([
      "'=cmd|' /C calc'!A0",
      'Smith, "Jo"',
      'line\nbreak',
      "'\tTabbed",
      "'\rCR",
      "'@SUM(1+1)",
      "'-2+3",
      'Ελένη Παπαδοπούλου 李雷 😀',
      ' padded ',
    ]);
    expect(records[0]).toMatchObject({ tags: "'+a; b", n: '1', ok: 'yes' });
    expect(records[1]).toMatchObject({ tags: '', n: '', ok: 'no' });
    // Numbers are never altered; only text cells are neutralised.
    expect(records[2]?.n).toBe('-2');
  });

  it('CSV: a byte order mark only when asked, and a header even with no rows', async () => {
    const a = slowSink();
    const withBom = createWriter('csv', columns, a.out, { bom: true });
    await withBom.finish();
    expect(a.text()).toBe('\ufeffname,tags,n,ok\r\n');
    const b = slowSink();
    const plain = createWriter('csv', columns, b.out);
    await plain.write([]);
    await plain.finish();
    expect(b.text()).toBe('name,tags,n,ok\r\n');
  });

  it('JSON is one array of objects with raw values; NDJSON one object per line', async () => {
    const a = slowSink();
    const json = createWriter('json', columns, a.out);
    await json.write(tricky.slice(0, 2));
    await json.write([]);
    await json.write(tricky.slice(2, 3));
    await json.finish();
    expect(JSON.parse(a.text())).toEqual([
      { name: "=cmd|' /C calc'!A0", tags: ['+a', 'b'], n: 1, ok: true },
      { name: 'Smith, "Jo"', tags: [], n: null, ok: false },
      { name: 'line\nbreak', tags: ['x'], n: -2, ok: true },
    ]);
    const empty = slowSink();
    const none = createWriter('json', columns, empty.out);
    await none.finish();
    expect(JSON.parse(empty.text())).toEqual([]);
    const b = slowSink();
    const nd = createWriter('ndjson', columns, b.out);
    await nd.write(tricky.slice(0, 2));
    await nd.finish();
    expect(b.text().split('\n')).toEqual([JSON.stringify({ name: "=cmd|' /C calc'!A0", tags: ['+a', 'b'], n: 1, ok: true }), JSON.stringify({ name: 'Smith, "Jo"', tags: [], n: null, ok: false }), '']);
  });

  it('renders JSON cells as CSV text', () => {
    expect(cellText(null)).toBe('');
    expect(cellText(['a', 2, null, true])).toBe('a; 2; ; true');
    expect(cellText({ a: 1 })).toBe('{"a":1}');
  });

  it('CSV: the report writer writes byte for byte what csv-stringify writes, for awkward and random cells', () => {
    const awkward = ['', ' ', '  x', 'x ', '\u00a0nbsp', 'tail\u2003', '"', '""', 'a"b', ',', 'a,b', '\r', '\n', 'a\r\nb', '=1', '+1', '-1', '@a', '\t', '\tx', '\rx', '\uff1dx', '\uff0bx', '\uff0dx', '\uff20x', "'", "'=x", 'x=1', 'Ελένη 😀', '\ud83d', '=a,"b"', ' =x ', '-', '0'];
    // A seeded generator over the characters that matter, so a failure reproduces.
    let seed = 1009;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = ['a', 'Z', ' ', '"', ',', '\r', '\n', '\t', '=', '+', '-', '@', "'", ';', '\u00a0', '\uff1d', 'é', '😀', '\u2028'];
    const random = Array.from({ length: 3000 }, () => Array.from({ length: next(7) }, () => alphabet[next(alphabet.length)]).join(''));
    const numbers = [0, 1, -1, -2.5, 1e21, 1003];
    for (const cell of [...awkward, ...random, ...numbers]) expect(csvField(cell)).toBe(csvLines([[cell]]).slice(0, -2));
    interface Cells {
      cells: Array<string | number>;
    }
    const cols: Column<Cells>[] = [0, 1, 2].map((i) => ({ name: `c${i}`, description: '', value: (r) => r.cells[i] ?? null }));
    const rows: Cells[] = Array.from({ length: 500 }, (_, i) => ({ cells: [random[i] ?? '', awkward[i % awkward.length] ?? '', numbers[i % numbers.length] ?? 0] }));
    expect(csvRecords(cols, rows)).toBe(csvLines(rows.map((r) => r.cells)));
  });
});
