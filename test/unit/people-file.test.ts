import { describe, expect, it } from 'vitest';
import { parseMapping, parsePeopleFile } from '../../src/identity/people-file.ts';

const csv = (text: string): Buffer => Buffer.from(text, 'utf8');
const reject = (text: string, options: Parameters<typeof parsePeopleFile>[2] = {}): string => {
  try {
    parsePeopleFile('people.csv', csv(text), options);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the file was accepted');
};

describe('people file presets', () => {
  it('plain reads its eight columns (and account_id), e-mails keyed in lower case', () => {
    const { people, mapping } = parsePeopleFile(
      'hr.csv',
      csv(
        'email,name,employee_id,status,termination_date,manager_email,department,type\n' +
          'Grace.Hopper@Acme.example,Grace Hopper,E100,terminated,2026-10-31,Ada.Lovelace@acme.example,Engineering,employee\n' +
          'svc-build@acme.example,Build bot,,active,,,Platform,service\n' +
          'carol@contractors.example,Carol,,leave,,,,contractor\n',
      ),
    );
    expect(mapping).toMatchObject({ email: 'email', status: 'status', type: 'type' });
    expect(people).toEqual([
      { line: 2, email: 'Grace.Hopper@Acme.example', emailKey: 'grace.hopper@acme.example', accountId: null, name: 'Grace Hopper', employeeId: 'E100', status: 'terminated', terminationDate: '2026-10-31', managerEmail: 'ada.lovelace@acme.example', department: 'Engineering', type: 'employee' },
      { line: 3, email: 'svc-build@acme.example', emailKey: 'svc-build@acme.example', accountId: null, name: 'Build bot', employeeId: null, status: 'active', terminationDate: null, managerEmail: null, department: 'Platform', type: 'service' },
      { line: 4, email: 'carol@contractors.example', emailKey: 'carol@contractors.example', accountId: null, name: 'Carol', employeeId: null, status: 'leave', terminationDate: null, managerEmail: null, department: null, type: 'contractor' },
    ]);
  });

  it("okta reads Okta's user export: profile attributes, DEPROVISIONED terminated, SUSPENDED leave", () => {
    const { people } = parsePeopleFile(
      'okta.csv',
      csv(
        'id,status,login,email,firstName,lastName,employeeNumber,department,userType\n' +
          '00u1,ACTIVE,ada@acme.example,Ada@Acme.example,Ada,Lovelace,1,Eng,Employee\n' +
          '00u2,DEPROVISIONED,grace@acme.example,grace@acme.example,Grace,Hopper,2,Eng,\n' +
          '00u3,SUSPENDED,linus@acme.example,linus@acme.example,Linus,T,3,,Contractor\n',
      ),
      { preset: 'okta' },
    );
    expect(people.map((p) => [p.emailKey, p.name, p.employeeId, p.status, p.type])).toEqual([
      ['ada@acme.example', 'Ada Lovelace', '1', 'active', 'employee'],
      ['grace@acme.example', 'Grace Hopper', '2', 'terminated', null],
      ['linus@acme.example', 'Linus T', '3', 'leave', 'contractor'],
    ]);
  });

  it("entra reads Entra ID's Download users CSV: accountEnabled, userType Member/Guest, mail before userPrincipalName", () => {
    const { people, mapping } = parsePeopleFile(
      'entra.csv',
      csv(
        'userPrincipalName,displayName,surname,mail,givenName,objectId,userType,jobTitle,department,accountEnabled\n' +
          'ada@acme.onmicrosoft.com,Ada Lovelace,Lovelace,Ada@acme.example,Ada,1,Member,,Eng,True\n' +
          'grace@acme.onmicrosoft.com,Grace Hopper,Hopper,grace@acme.example,Grace,2,Member,,Eng,False\n' +
          'ext_x#EXT#@acme.onmicrosoft.com,Xavier,X,xavier@partner.example,Xavier,3,Guest,,,True\n',
      ),
      { preset: 'entra' },
    );
    expect(mapping.email).toBe('mail');
    expect(people.map((p) => [p.emailKey, p.name, p.status, p.type, p.department])).toEqual([
      ['ada@acme.example', 'Ada Lovelace', 'active', 'employee', 'Eng'],
      ['grace@acme.example', 'Grace Hopper', 'terminated', 'employee', 'Eng'],
      ['xavier@partner.example', 'Xavier', 'active', 'contractor', null],
    ]);
  });

  it('--map overrides the preset, matching headers ignoring case', () => {
    const map = parseMapping('email=Work Email,status=Employment Status');
    const { people } = parsePeopleFile('hr.csv', csv('Work Email,Employment Status,email\nada@acme.example,terminated,other@acme.example\n'), { map });
    expect(people[0]).toMatchObject({ emailKey: 'ada@acme.example', status: 'terminated' });
    expect(() => parseMapping('mail=Work Email')).toThrow(/unknown field "mail"/);
    expect(() => parseMapping('email=')).toThrow(/give the column/);
  });
});

describe('bad people files are rejected whole, with line numbers', () => {
  it('a file that does not parse', () => {
    expect(reject('email,name\n"ada@acme.example,Ada\n')).toMatch(/people\.csv line \d+: not valid CSV .*nothing was imported/s);
    expect(() => parsePeopleFile('x.csv', Buffer.from([0xff, 0xfe, 0x00]))).toThrow(/not UTF-8/);
    expect(reject('')).toMatch(/is empty/);
  });
  it('no e-mail column', () => {
    expect(reject('name,status\nAda,active\n')).toMatch(/no e-mail column: the plain preset looks for "email".*columns are name, status.*--map email=Column/s);
    expect(reject('name\nAda\n', { map: { email: 'Work Email' } })).toMatch(/--map email=Work Email: the file has no column "Work Email"/);
  });
  it('duplicate e-mails, compared ignoring case', () => {
    const message = reject('email,name\nada@acme.example,Ada\ngrace@acme.example,Grace\nADA@Acme.Example,Ada again\n');
    expect(message).toMatch(/line 4: ADA@Acme\.Example again \(first on line 2; e-mails are compared ignoring case\)/);
  });
  it('bad status, date, type, e-mail and manager e-mail — every problem listed at once', () => {
    const message = reject(
      'email,status,termination_date,type,manager_email\n' +
        'a@acme.example,fired,,,\n' +
        'b@acme.example,terminated,31/10/2026,,\n' +
        'c@acme.example,active,2026-02-30,,\n' +
        'd@acme.example,active,,robot,\n' +
        'not-an-email,active,,,\n' +
        ',active,,,\n' +
        'e@acme.example,active,,,the boss\n',
    );
    expect(message).toMatch(/7 problems/);
    for (const expected of [
      /line 2: status "fired" is not one the plain preset knows \(active, terminated or leave\)/,
      /line 3: termination date "31\/10\/2026" is not a date \(use YYYY-MM-DD\)/,
      /line 4: termination date "2026-02-30" is not a date/,
      /line 5: type "robot" is not employee, contractor or service/,
      /line 6: "not-an-email" is not an e-mail address/,
      /line 7: no e-mail/,
      /line 8: manager e-mail "the boss" is not an e-mail address/,
    ])
      expect(message).toMatch(expected);
  });
  it('a header with nobody under it would mark everyone gone, so it is refused', () => {
    expect(reject('email,name\n')).toMatch(/no people in the file/);
  });
});
