import { expect, it } from 'vitest';
import { importPeople, peopleAt } from '../../src/identity/people.ts';
import { describeWithDb } from '../helpers/db.ts';

const file = (text: string) => ({ name: 'hr.csv', bytes: Buffer.from(text, 'utf8') });
const HEADER = 'email,name,status,termination_date,department\n';

describeWithDb('people import: snapshots with history', (db) => {
  it('a second import confirms, changes and marks gone — nobody is deleted — and as-of reads either snapshot', async () => {
    const { db: k } = db();
    const first = await importPeople(
      k,
      file(HEADER + 'ada@acme.example,Ada,active,,Eng\ngrace@acme.example,Grace,active,,Eng\nlinus@acme.example,Linus,active,,Ops\n'),
      { source: 'workday', now: new Date('2026-11-01T00:00:00Z') },
    );
    expect(first).toMatchObject({ people: 3, added: 3, changed: 0, unchanged: 0, gone: 0 });

    // Grace is terminated (same person, e-mail in another case), Linus left the file, Zoë is new.
    const second = await importPeople(
      k,
      file(HEADER + 'ada@acme.example,Ada,active,,Eng\nGrace@ACME.example,Grace,terminated,2026-11-15,Eng\nzoe@acme.example,Zoë,active,,Eng\n'),
      { source: 'workday', now: new Date('2026-11-20T00:00:00Z') },
    );
    expect(second).toMatchObject({ people: 3, added: 1, changed: 1, unchanged: 1, gone: 1 });

    // Another source is a separate snapshot: importing it marks nobody of workday gone.
    await importPeople(k, file('email,type\nsvc-build@acme.example,service\n'), { source: 'okta', now: new Date('2026-11-21T00:00:00Z') });

    const rows = await k.selectFrom('people').selectAll().where('source', '=', 'workday').orderBy('id').execute();
    expect(rows).toHaveLength(5);
    const linus = rows.filter((r) => r.email_key === 'linus@acme.example');
    expect(linus).toHaveLength(1);
    const ids = (r: (typeof rows)[number]) => [String(r.first_seen_import), String(r.last_seen_import), r.removed_import === null ? null : String(r.removed_import)];
    expect(linus.map(ids)).toEqual([[first.importId, first.importId, second.importId]]);
    const grace = rows.filter((r) => r.email_key === 'grace@acme.example');
    expect(grace.map((g) => [g.status, g.removed_import === null ? null : String(g.removed_import)])).toEqual([
      ['active', second.importId],
      ['terminated', null],
    ]);
    expect(grace[1]?.email).toBe('Grace@ACME.example');

    const now = await peopleAt(k, null);
    expect(now.filter((p) => p.source === 'workday').map((p) => [p.emailKey, p.status])).toEqual([
      ['ada@acme.example', 'active'],
      ['grace@acme.example', 'terminated'],
      ['zoe@acme.example', 'active'],
    ]);
    expect(now.filter((p) => p.source === 'okta').map((p) => [p.emailKey, p.type])).toEqual([['svc-build@acme.example', 'service']]);
    const before = await peopleAt(k, new Date('2026-11-10T00:00:00Z'));
    expect(before.map((p) => [p.emailKey, p.status, p.importId])).toEqual([
      ['ada@acme.example', 'active', first.importId],
      ['grace@acme.example', 'active', first.importId],
      ['linus@acme.example', 'active', first.importId],
    ]);
    expect(await peopleAt(k, new Date('2026-10-01T00:00:00Z'))).toEqual([]);
  });

  it('a rejected file leaves every snapshot as it was', async () => {
    const { db: k } = db();
    const before = await k.selectFrom('people_imports').select((e) => e.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    await expect(importPeople(k, file(HEADER + 'ada@acme.example,Ada,fired,,Eng\n'), { source: 'workday' })).rejects.toThrow(/line 2: status "fired"/);
    const after = await k.selectFrom('people_imports').select((e) => e.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    await expect(importPeople(k, file(HEADER + 'ada@acme.example,Ada,active,,Eng\n'), { source: 'Work Day' })).rejects.toThrow(/--source "Work Day" must be/);
  });
});
