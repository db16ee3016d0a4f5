import type { PersonStatus, PersonType } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { readCsv } from '../review/files.ts';
import { plural } from '../text.ts';

/**
 * Reading a people file (an HR or identity-provider export) into people: pure, bytes in, people out.
 * A file is taken whole or not at all — one bad line rejects it with every problem listed by line,
 * so a half-read file can never mark the other half of the company gone.
 */

export const PEOPLE_FIELDS = ['email', 'name', 'employee_id', 'status', 'termination_date', 'manager_email', 'department', 'type', 'account_id'] as const;
export type PeopleField = (typeof PEOPLE_FIELDS)[number];

export interface PersonRecord {
  line: number;
  email: string;
  emailKey: string;
  accountId: string | null;
  name: string | null;
  employeeId: string | null;
  status: PersonStatus;
  terminationDate: string | null;
  managerEmail: string | null;
  department: string | null;
  type: PersonType | null;
}

export interface PeopleFile {
  /** field -> the header of the column it was read from (lower case, as matched). */
  mapping: Partial<Record<PeopleField, string>>;
  people: PersonRecord[];
}

interface Preset {
  /** Candidate headers per field, first present wins (compared in lower case). */
  columns: Partial<Record<PeopleField, readonly string[]>>;
  /** A name built from two columns when no name column is present (first, last). */
  nameParts?: readonly [string, string];
  /** The file's status value (lower case) -> ours; undefined: not a status this preset knows. */
  status(value: string): PersonStatus | undefined;
  type(value: string): PersonType | null | undefined;
}

const PLAIN_STATUS: Record<string, PersonStatus> = { active: 'active', terminated: 'terminated', leave: 'leave' };
const PLAIN_TYPE: Record<string, PersonType> = { employee: 'employee', contractor: 'contractor', service: 'service' };
const OKTA_STATUS: Record<string, PersonStatus> = {
  active: 'active',
  provisioned: 'active',
  staged: 'active',
  recovery: 'active',
  locked_out: 'active',
  password_expired: 'active',
  suspended: 'leave',
  deprovisioned: 'terminated',
};
const ENTRA_STATUS: Record<string, PersonStatus> = { true: 'active', false: 'terminated' };
const ENTRA_TYPE: Record<string, PersonType> = { member: 'employee', guest: 'contractor' };

/**
 * `plain`: the columns named as Roster's fields. `okta`: Okta's user export (profile attributes and
 * the user status; DEPROVISIONED is terminated, SUSPENDED is leave, every other status an account
 * that can sign in). `entra`: Microsoft Entra ID's "Download users" CSV (accountEnabled false is
 * read as terminated; userType Member is an employee, Guest — a B2B account from outside — a contractor).
 */
export const PRESETS = {
  plain: {
    columns: {
      email: ['email'],
      name: ['name'],
      employee_id: ['employee_id'],
      status: ['status'],
      termination_date: ['termination_date'],
      manager_email: ['manager_email'],
      department: ['department'],
      type: ['type'],
      account_id: ['account_id'],
    },
    status: (v) => PLAIN_STATUS[v],
    type: (v) => PLAIN_TYPE[v],
  },
  okta: {
    columns: {
      email: ['email', 'login'],
      name: ['displayname'],
      employee_id: ['employeenumber'],
      status: ['status'],
      manager_email: ['manageremail'],
      department: ['department'],
      type: ['usertype'],
    },
    nameParts: ['firstname', 'lastname'],
    status: (v) => OKTA_STATUS[v],
    // Okta's userType is free text: the three words Roster knows are read, anything else is left unknown.
    type: (v) => PLAIN_TYPE[v] ?? null,
  },
  entra: {
    columns: {
      email: ['mail', 'userprincipalname'],
      name: ['displayname'],
      employee_id: ['employeeid'],
      status: ['accountenabled'],
      department: ['department'],
      type: ['usertype'],
    },
    nameParts: ['givenname', 'surname'],
    status: (v) => ENTRA_STATUS[v],
    type: (v) => ENTRA_TYPE[v],
  },
} satisfies Record<string, Preset>;
export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** `--map email=Work Email,status=Employment Status`: field -> column header. */
export function parseMapping(text: string | undefined): Partial<Record<PeopleField, string>> {
  const mapping: Partial<Record<PeopleField, string>> = {};
  if (text === undefined || text.trim() === '') return mapping;
  const problems: string[] = [];
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const field = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const column = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (!(PEOPLE_FIELDS as readonly string[]).includes(field)) {
      problems.push(`"${part.trim()}": unknown field "${field}" (fields: ${PEOPLE_FIELDS.join(', ')})`);
      continue;
    }
    if (column === '') {
      problems.push(`"${part.trim()}": give the column, as field=Column Header`);
      continue;
    }
    mapping[field as PeopleField] = column;
  }
  if (problems.length > 0) throw new RosterError('input_invalid', `--map: ${problems.join('; ')}. Example: --map "email=Work Email,status=Employment Status"`);
  return mapping;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/;

function isoDate(value: string): string | null {
  const m = DATE.exec(value);
  if (!m) return null;
  const [, y, mo, d] = m;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (date.getUTCFullYear() !== Number(y) || date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d)) return null;
  return `${y}-${mo}-${d}`;
}

/** Parses a people file. Every problem of the file is listed at once; any problem rejects the whole file. */
export function parsePeopleFile(file: string, bytes: Buffer, options: { preset?: PresetName; map?: Partial<Record<PeopleField, string>> } = {}): PeopleFile {
  const presetName = options.preset ?? 'plain';
  const preset: Preset = PRESETS[presetName];
  const sheet = readCsv(file, bytes, {
    invalid: 'Export the people file again (CSV, UTF-8) and import the fresh copy; nothing was imported.',
    empty: 'a people file needs a header row and one row per person; nothing was imported.',
  });
  const header = new Set(sheet.header);
  const mapping: Partial<Record<PeopleField, string>> = {};
  const problems: string[] = [];
  for (const field of PEOPLE_FIELDS) {
    const given = options.map?.[field];
    if (given !== undefined) {
      const column = given.trim().toLowerCase();
      if (!header.has(column)) problems.push(`--map ${field}=${given}: the file has no column "${given}" (columns: ${sheet.header.join(', ')})`);
      else mapping[field] = column;
      continue;
    }
    const found = preset.columns[field]?.find((c) => header.has(c));
    if (found) mapping[field] = found;
  }
  if (!mapping.email && problems.length === 0) {
    problems.push(
      `no e-mail column: the ${presetName} preset looks for ${(preset.columns.email ?? []).map((c) => `"${c}"`).join(' or ')}, and the file's columns are ${sheet.header.join(', ') || 'none'}. Name the column with --map email=Column${presetName === 'plain' ? ', or choose --preset okta|entra for those exports' : ''}`,
    );
  }
  if (problems.length > 0) throw new RosterError('input_invalid', `${file}: nothing was imported:\n  ${problems.join('\n  ')}`);

  const cell = (cells: Record<string, string>, field: PeopleField): string => {
    const column = mapping[field];
    return column === undefined ? '' : (cells[column] ?? '').trim();
  };
  const nameParts = !mapping.name && preset.nameParts && preset.nameParts.every((c) => header.has(c)) ? preset.nameParts : null;
  const people: PersonRecord[] = [];
  const seen = new Map<string, number>();
  for (const row of sheet.rows) {
    const at = `line ${row.line}`;
    const email = cell(row.cells, 'email');
    if (email === '') {
      problems.push(`${at}: no e-mail (column "${mapping.email}"); every person needs one`);
      continue;
    }
    if (!EMAIL.test(email)) {
      problems.push(`${at}: "${email}" is not an e-mail address`);
      continue;
    }
    const emailKey = email.toLowerCase();
    const earlier = seen.get(emailKey);
    if (earlier !== undefined) {
      problems.push(`${at}: ${email} again (first on line ${earlier}; e-mails are compared ignoring case); keep one row per person`);
      continue;
    }
    seen.set(emailKey, row.line);

    const statusText = cell(row.cells, 'status');
    let status: PersonStatus = 'active';
    if (statusText !== '') {
      const s = preset.status(statusText.toLowerCase());
      if (!s) {
        problems.push(`${at}: status "${statusText}" is not one the ${presetName} preset knows (${presetName === 'plain' ? 'active, terminated or leave' : 'see the README'})`);
        continue;
      }
      status = s;
    }
    const dateText = cell(row.cells, 'termination_date');
    let terminationDate: string | null = null;
    if (dateText !== '') {
      terminationDate = isoDate(dateText);
      if (!terminationDate) {
        problems.push(`${at}: termination date "${dateText}" is not a date (use YYYY-MM-DD)`);
        continue;
      }
    }
    const typeText = cell(row.cells, 'type');
    let type: PersonType | null = null;
    if (typeText !== '') {
      const t = preset.type(typeText.toLowerCase());
      if (t === undefined) {
        problems.push(`${at}: type "${typeText}" is not employee, contractor or service`);
        continue;
      }
      type = t;
    }
    const managerEmail = cell(row.cells, 'manager_email');
    if (managerEmail !== '' && !EMAIL.test(managerEmail)) {
      problems.push(`${at}: manager e-mail "${managerEmail}" is not an e-mail address`);
      continue;
    }
    const name = nameParts ? [row.cells[nameParts[0]] ?? '', row.cells[nameParts[1]] ?? ''].map((s) => s.trim()).filter(Boolean).join(' ') : cell(row.cells, 'name');
    const orNull = (s: string): string | null => (s === '' ? null : s);
    people.push({
      line: row.line,
      email,
      emailKey,
      accountId: orNull(cell(row.cells, 'account_id')),
      name: orNull(name),
      employeeId: orNull(cell(row.cells, 'employee_id')),
      status,
      terminationDate,
      managerEmail: managerEmail === '' ? null : managerEmail.toLowerCase(),
      department: orNull(cell(row.cells, 'department')),
      type,
    });
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 50);
    const more = problems.length > shown.length ? `\n  … and ${plural(problems.length - shown.length, 'more problem')}` : '';
    throw new RosterError('input_invalid', `${file}: nothing was imported (${plural(problems.length, 'problem')}):\n  ${shown.join('\n  ')}${more}`);
  }
  if (people.length === 0) throw new RosterError('input_invalid', `${file}: no people in the file (only a header); nothing was imported. An empty file would mark everyone gone.`);
  return { mapping, people };
}
