import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { RosterError } from '../errors.ts';

/**
 * Reading the spreadsheets reviewers send back, and the reviewer mapping file: CSV (comma or
 * semicolon separated, as Excel writes it in locales with a decimal comma; CRLF or LF; with or
 * without a UTF-8 byte order mark) or XLSX. Pure: bytes in, rows out.
 */

export interface SheetRow {
  /** Line of the file (CSV) or row of the sheet (XLSX) the record starts on: what messages name. */
  line: number;
  cells: Record<string, string>;
}

export interface Sheet {
  file: string;
  header: string[];
  rows: SheetRow[];
}

const XLSX_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

export async function readSheet(file: string, bytes: Buffer): Promise<Sheet> {
  return bytes.subarray(0, 4).equals(XLSX_MAGIC) ? readXlsx(file, bytes) : readCsv(file, bytes);
}

/** The separator of the header line: the most frequent of comma, semicolon and tab (comma on a tie). */
export function detectDelimiter(headerLine: string): ',' | ';' | '\t' {
  const count = (c: string): number => headerLine.split(c).length - 1;
  const candidates: Array<',' | ';' | '\t'> = [',', ';', '\t'];
  let best: ',' | ';' | '\t' = ',';
  for (const c of candidates) if (count(c) > count(best)) best = c;
  return best;
}

/** What a message about an unreadable file tells its reader to do (default: the review export's advice). */
export interface CsvAdvice {
  invalid: string;
  empty: string;
}

const REVIEW_ADVICE: CsvAdvice = {
  invalid: 'Export the file again from Roster and decide in the fresh copy.',
  empty: 'export the campaign again and decide in the exported file.',
};

export function readCsv(file: string, bytes: Buffer, advice: CsvAdvice = REVIEW_ADVICE): Sheet {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new RosterError('input_invalid', `${file} is not UTF-8 text: in Excel, save it with "Save as type: CSV UTF-8 (Comma delimited)", or export it again from Roster.`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // One line ending everywhere, so the parser's line numbers are the file's (CRLF from Excel is fine).
  text = text.replace(/\r\n?/g, '\n');
  const delimiter = detectDelimiter(text.slice(0, text.indexOf('\n') >= 0 ? text.indexOf('\n') : text.length));
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { delimiter, info: true, skip_empty_lines: true, relax_column_count: true }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new RosterError('input_invalid', `${file}${line ? ` line ${line}` : ''}: not valid CSV (${(error as Error).message}). ${advice.invalid}`, { cause: error });
  }
  const [head, ...body] = records;
  if (!head) throw new RosterError('input_invalid', `${file} is empty: ${advice.empty}`);
  const header = head.record.map((h) => h.trim().toLowerCase());
  const rows: SheetRow[] = [];
  for (const { record, info } of body) {
    if (record.every((cell) => cell.trim() === '')) continue;
    const newlines = record.reduce((n, cell) => n + (cell.split('\n').length - 1), 0);
    const cells: Record<string, string> = {};
    header.forEach((h, i) => {
      cells[h] = record[i] ?? '';
    });
    if (record.length > header.length) cells['__extra__'] = record.slice(header.length).join(delimiter);
    rows.push({ line: info.lines - newlines, cells });
  }
  return { file, header, rows };
}

export async function readXlsx(file: string, bytes: Buffer): Promise<Sheet> {
  const workbook = new ExcelJS.Workbook();
  try {
    await workbook.xlsx.load(bytes as unknown as ArrayBuffer);
  } catch (error) {
    throw new RosterError('input_invalid', `${file} is not a readable XLSX workbook (${(error as Error).message}). Save it again as .xlsx, or export the campaign again.`, { cause: error });
  }
  const sheet = workbook.getWorksheet('Review') ?? workbook.worksheets[0];
  if (!sheet) throw new RosterError('input_invalid', `${file} has no worksheet: export the campaign again.`);
  const text = (cell: ExcelJS.Cell): string => {
    const v = cell.value;
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (v instanceof Date) return v.toISOString();
    return cell.text ?? '';
  };
  const header: string[] = [];
  sheet.getRow(1).eachCell({ includeEmpty: true }, (cell, col) => {
    header[col - 1] = text(cell).trim().toLowerCase();
  });
  const rows: SheetRow[] = [];
  sheet.eachRow({ includeEmpty: false }, (row, number) => {
    if (number === 1) return;
    const cells: Record<string, string> = {};
    header.forEach((h, i) => {
      cells[h] = text(row.getCell(i + 1));
    });
    if (Object.values(cells).every((c) => c.trim() === '')) return;
    rows.push({ line: number, cells });
  });
  return { file, header, rows };
}

/**
 * Undoes the export's protection against spreadsheet formulas: a cell Roster wrote as `'=cmd` (a
 * leading quote before `=`, `+`, `-`, `@`, tab or CR) reads back as `=cmd`, so it compares equal to
 * the item it came from.
 */
export function unescapeCell(value: string): string {
  return value.length > 1 && value[0] === "'" && /^[=+\-@\t\r]/.test(value.slice(1)) ? value.slice(1) : value;
}
