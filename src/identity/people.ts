import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { type Kysely, sql } from 'kysely';
import type { Database, PeopleTable } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { type PeopleField, type PersonRecord, type PresetName, parsePeopleFile } from './people-file.ts';

/**
 * `roster people import`: one file, one snapshot of one source, with history like a sync (see the
 * 2026-12-01T1320 migration). Within one transaction: the import row, then for every person of the
 * file either their current version confirmed (unchanged), closed and replaced (changed), or a first
 * version (new); every current version of the source the file does not list is closed — gone.
 *
 * "Gone" is decided only from a file that was read whole: `parsePeopleFile` refuses a file with any
 * bad line, so a truncated or mis-mapped export never marks the people it failed to read as gone.
 */

export const DEFAULT_PEOPLE_SOURCE = 'people';
const SOURCE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface PeopleImportOutcome {
  importId: string;
  source: string;
  people: number;
  added: number;
  changed: number;
  unchanged: number;
  gone: number;
  mapping: Partial<Record<PeopleField, string>>;
}

type Versioned = Pick<PersonRecord, 'accountId' | 'name' | 'employeeId' | 'status' | 'terminationDate' | 'managerEmail' | 'department' | 'type' | 'email'>;

function sameValues(a: Versioned, b: Versioned): boolean {
  return (
    a.email === b.email &&
    a.accountId === b.accountId &&
    a.name === b.name &&
    a.employeeId === b.employeeId &&
    a.status === b.status &&
    a.terminationDate === b.terminationDate &&
    a.managerEmail === b.managerEmail &&
    a.department === b.department &&
    a.type === b.type
  );
}

export async function importPeople(
  db: Kysely<Database>,
  file: { name: string; bytes: Buffer },
  options: { source?: string; preset?: PresetName; map?: Partial<Record<PeopleField, string>>; now?: Date } = {},
): Promise<PeopleImportOutcome> {
  const source = (options.source ?? DEFAULT_PEOPLE_SOURCE).trim();
  if (!SOURCE.test(source)) throw new RosterError('input_invalid', `--source "${source}" must be lower-case letters, digits, '.', '_' or '-' (up to 63), e.g. workday or okta.`);
  const preset = options.preset ?? 'plain';
  const parsed = parsePeopleFile(file.name, file.bytes, { preset, map: options.map });
  const sha256 = createHash('sha256').update(file.bytes).digest('hex');

  return db.transaction().execute(async (trx) => {
    // One import of a source at a time: the second waits, then sees the first one's versions.
    await sql`select pg_advisory_xact_lock(hashtext(${`roster.people.${source}`}))`.execute(trx);
    const inserted = await trx
      .insertInto('people_imports')
      .values({ source, file_name: basename(file.name), file_sha256: sha256, preset, mapping: JSON.stringify(parsed.mapping), rows: parsed.people.length, ...(options.now ? { imported_at: options.now } : {}) })
      .returning('id')
      .executeTakeFirstOrThrow();
    const importId = String(inserted.id);
    const current = await trx.selectFrom('people').selectAll().where('source', '=', source).where('removed_import', 'is', null).execute();
    const byKey = new Map(current.map((c) => [c.email_key, c]));

    const unchanged: string[] = [];
    const closed: string[] = [];
    const fresh: PersonRecord[] = [];
    for (const p of parsed.people) {
      const c = byKey.get(p.emailKey);
      byKey.delete(p.emailKey);
      if (!c) {
        fresh.push(p);
        continue;
      }
      const was: Versioned = {
        email: c.email,
        accountId: c.account_id,
        name: c.name,
        employeeId: c.employee_id,
        status: c.status,
        terminationDate: c.termination_date,
        managerEmail: c.manager_email,
        department: c.department,
        type: c.type,
      };
      if (sameValues(was, p)) unchanged.push(String(c.id));
      else {
        closed.push(String(c.id));
        fresh.push(p);
      }
    }
    // Everyone left in byKey is a current person of this source the file does not list: gone.
    const gone = [...byKey.values()].map((c) => String(c.id));

    if (unchanged.length > 0) {
      await sql`update people set last_seen_import = ${importId} where id = any(${unchanged}::bigint[])`.execute(trx);
    }
    if (closed.length + gone.length > 0) {
      await sql`update people set removed_import = ${importId} where id = any(${[...closed, ...gone]}::bigint[])`.execute(trx);
    }
    for (let i = 0; i < fresh.length; i += 1000) {
      const chunk = fresh.slice(i, i + 1000);
      await trx
        .insertInto('people')
        .values(
          chunk.map((p) => ({
            source,
            email: p.email,
            email_key: p.emailKey,
            account_id: p.accountId,
            name: p.name,
            employee_id: p.employeeId,
            status: p.status,
            termination_date: p.terminationDate,
            manager_email: p.managerEmail,
            department: p.department,
            type: p.type,
            line: p.line,
            first_seen_import: importId,
            last_seen_import: importId,
          })),
        )
        .execute();
    }
    return { importId, source, people: parsed.people.length, added: fresh.length - closed.length, changed: closed.length, unchanged: unchanged.length, gone: gone.length, mapping: parsed.mapping };
  });
}

// ─── Reading people as of a time ────────────────────────────────────────────────────────────

/** A person as the people file said, with the import it came from. */
export interface PersonAt extends PersonRecord {
  id: string;
  source: string;
  importId: string;
  importedAt: Date;
  fileName: string;
}

/**
 * The people of every source as of `asOf` (null: now): per source, the latest import at or before
 * that time, and the versions present in it. A person listed by several sources appears once per source.
 */
export async function peopleAt(db: Kysely<Database>, asOf: Date | null): Promise<PersonAt[]> {
  const rows = await sql<
    { id: string; import_id: string; imported_at: Date; file_name: string } & Pick<
      PeopleTable,
      'source' | 'line' | 'email' | 'email_key' | 'account_id' | 'name' | 'employee_id' | 'status' | 'termination_date' | 'manager_email' | 'department' | 'type'
    >
  >`
    with latest as (
      select distinct on (i.source) i.id, i.source, i.imported_at, i.file_name
        from people_imports i
       where ${asOf === null ? sql`true` : sql`i.imported_at <= ${asOf}`}
       order by i.source, i.id desc
    )
    select p.id::text as id, p.source, l.id::text as import_id, l.imported_at, l.file_name, p.line, p.email, p.email_key, p.account_id,
           p.name, p.employee_id, p.status, p.termination_date, p.manager_email, p.department, p.type
      from latest l
      join people p on p.source = l.source and p.first_seen_import <= l.id and (p.removed_import is null or p.removed_import > l.id)
     order by p.source collate "C", p.email_key collate "C", p.id`.execute(db);
  return rows.rows.map((r) => ({
    id: r.id,
    source: r.source,
    importId: r.import_id,
    importedAt: new Date(r.imported_at),
    fileName: r.file_name,
    line: Number(r.line),
    email: r.email,
    emailKey: r.email_key,
    accountId: r.account_id,
    name: r.name,
    employeeId: r.employee_id,
    status: r.status,
    terminationDate: r.termination_date,
    managerEmail: r.manager_email,
    department: r.department,
    type: r.type,
  }));
}
