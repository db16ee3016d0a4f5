import { once } from 'node:events';
import { stringify } from 'csv-stringify/sync';
import type { Cell, Column, ReportFormat } from './types.ts';

/**
 * The shared writers. Rows arrive in pages and leave at once, waiting for the output to drain, so a
 * report holds one page in memory however large it is.
 *
 * CSV is RFC 4180 (CRLF records, fields quoted when they hold a comma, quote or line break, quotes
 * doubled), UTF-8, one header row. Cells that begin with `=`, `+`, `-`, `@`, tab or carriage return
 * get a leading `'` (csv-stringify's `escape_formulas`), so a spreadsheet shows them as text instead
 * of evaluating them. JSON is one array; NDJSON one object per line. JSON values are never altered.
 */

export interface ReportWriter<Row> {
  write(rows: readonly Row[]): Promise<void>;
  /** Closes the array (JSON); never ends `out`, which belongs to the caller. */
  finish(): Promise<void>;
}

/** Writes text, waiting for `drain` when the stream asks for it. */
export async function writeText(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (text.length === 0) return;
  if (!out.write(text)) await once(out as NodeJS.EventEmitter, 'drain');
}

/** The CSV text of a JSON cell: arrays joined with `; `, objects as JSON, null as empty. */
export function cellText(value: Cell): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return (value as readonly Cell[]).map(cellText).join('; ');
  return JSON.stringify(value);
}

const CSV_OPTIONS = { record_delimiter: 'windows', escape_formulas: true, quoted_match: /^\s|\s$/ } as const;

export function csvLines(records: ReadonlyArray<ReadonlyArray<string | number>>): string {
  return stringify(records as Array<Array<string | number>>, CSV_OPTIONS);
}

/**
 * Quoted: a quote, a comma or a CRLF anywhere, or white space at either end (`quoted_match` above).
 * A lone LF or CR inside a cell is not quoted: csv-stringify, given an explicit `record_delimiter`,
 * quotes only that delimiter (its `quote_record_delimiter` then defaults to false), and this writer
 * must stay byte-identical to it. A cell that begins or ends with one is quoted (white space).
 */
const NEEDS_QUOTES = /[",]|\r\n|^\s|\s$/;

/**
 * One CSV field, byte for byte what `csvLines` (csv-stringify with `CSV_OPTIONS`) writes for it: the
 * report writer's hot path, where csv-stringify's per-field option handling was a quarter of a large
 * report's time. A text cell that starts like a formula (`=`, `+`, `-`, `@`, tab, carriage return, or
 * their full-width forms) gets a leading `'`; numbers are never altered. The decisions are made on the
 * cell as given, as csv-stringify makes them. test/unit/report-format.test.ts holds the two equal.
 */
export function csvField(value: string | number): string {
  if (typeof value === 'number') return String(value);
  if (value === '') return '';
  let text = value;
  switch (value.charCodeAt(0)) {
    case 0x3d: // =
    case 0x2b: // +
    case 0x2d: // -
    case 0x40: // @
    case 0x09: // tab
    case 0x0d: // carriage return
    case 0xff1d:
    case 0xff0b:
    case 0xff0d:
    case 0xff20:
      text = `'${value}`;
  }
  if (!NEEDS_QUOTES.test(value)) return text;
  return `"${text.includes('"') ? text.replaceAll('"', '""') : text}"`;
}

/** Numbers stay numbers, so a negative one is not taken for a formula. */
function csvCell<Row>(column: Column<Row>, row: Row): string | number {
  if (column.csv) return column.csv(row);
  const value = column.value(row);
  return typeof value === 'number' ? value : cellText(value);
}

/** One CSV record per row, CRLF after each (as `csvLines`). */
export function csvRecords<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  let text = '';
  const last = columns.length - 1;
  for (const row of rows) {
    for (let i = 0; i <= last; i++) {
      text += csvField(csvCell(columns[i] as Column<Row>, row));
      text += i === last ? '\r\n' : ',';
    }
  }
  return text;
}

export function createWriter<Row>(format: ReportFormat, columns: readonly Column<Row>[], out: NodeJS.WritableStream, options: { bom?: boolean } = {}): ReportWriter<Row> {
  if (format === 'csv') {
    let started = false;
    const start = async (): Promise<void> => {
      if (started) return;
      started = true;
      await writeText(out, (options.bom ? '\ufeff' : '') + csvLines([columns.map((c) => c.name)]));
    };
    return {
      async write(rows) {
        await start();
        if (rows.length === 0) return;
        await writeText(out, csvRecords(columns, rows));
      },
      finish: start,
    };
  }
  const object = (row: Row): Record<string, Cell> => {
    const o: Record<string, Cell> = {};
    for (const c of columns) o[c.name] = c.value(row);
    return o;
  };
  if (format === 'ndjson') {
    return {
      async write(rows) {
        if (rows.length === 0) return;
        await writeText(out, rows.map((row) => `${JSON.stringify(object(row))}\n`).join(''));
      },
      async finish() {},
    };
  }
  let first = true;
  return {
    async write(rows) {
      if (rows.length === 0) return;
      const body = rows.map((row) => JSON.stringify(object(row))).join(',\n');
      await writeText(out, `${first ? '[\n' : ',\n'}${body}`);
      first = false;
    },
    async finish() {
      await writeText(out, first ? '[]\n' : '\n]\n');
    },
  };
}
