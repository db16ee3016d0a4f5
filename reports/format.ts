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

/** Numbers stay numbers, so a negative one is not taken for a formula. */
function csvCell<Row>(column: Column<Row>, row: Row): string | number {
  if (column.csv) return column.csv(row);
  const value = column.value(row);
  return typeof value === 'number' ? value : cellText(value);
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
        await writeText(out, csvLines(rows.map((row) => columns.map((c) => csvCell(c, row)))));
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
