import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerConnector, unregisterConnector } from '../../src/connectors.ts';
import type { Integration } from '../../src/db/types.ts';
import type { Batch, Connector, PermissionModel, StreamDeclaration } from '../../src/interfaces.ts';
import { runSync } from '../../src/sync/runner.ts';
import { describeWithDb } from '../helpers/db.ts';
import { type ReportRow, reportRows } from './reports-helpers.ts';

/**
 * A source unlike Bitbucket — organisations hold teams, teams hold repositories, with their own
 * ladders — plugged in through the registry alone: its permission model is a declaration, and the
 * engine derives effective access and every report from it without knowing the source.
 */

const MODEL: PermissionModel = {
  resources: {
    org: { ladder: ['member', 'admin'], privileged: ['admin'], parents: [], directPath: 'org-role' },
    team: { ladder: ['member', 'maintainer'], privileged: ['maintainer'], parents: ['org'] },
    repo: { ladder: ['pull', 'push', 'maintain'], privileged: ['maintain'], parents: ['team'] },
  },
  leaf: 'repo',
  inheritance: [{ from: 'team', to: 'repo', path: 'team', map: { member: 'pull', maintainer: 'maintain' } }],
  rootRoles: [{ on: 'org', permission: 'admin', gives: { team: 'maintainer', repo: 'maintain' }, path: 'org-admin' }],
  implicit: [{ resource: 'repo', attribute: 'visibility', equals: 'internal', permission: 'pull', path: 'internal', undo: 'make {resource} private' }],
};

const org = { kind: 'org', externalId: 'o-acme' };
const team = (id: string) => ({ kind: 'team', externalId: `t-${id}` });
const repo = (id: string) => ({ kind: 'repo', externalId: `r-${id}` });
const user = (id: string) => ({ kind: 'user' as const, externalId: `u-${id}` });
const person = (id: string, name: string) => ({ ...user(id), displayName: name, handle: id });

function fakeConnector(): Connector {
  const stream = (name: string, dependsOn: string[], batch: Batch, lists?: string): StreamDeclaration => ({
    name,
    description: name,
    dependsOn,
    lists,
    coverage: () => null,
    scopes: async () => [{ id: name, stream: name, resource: null, label: name }],
    read: async function* () {
      yield batch;
    },
  });
  const streams = [
    stream('orgs', [], { resources: [{ ...org, name: 'Acme', handle: 'acme', parent: null }] }, 'org'),
    stream('people', ['orgs'], {
      principals: [person('ana', 'Ana Admin'), person('ben', 'Ben Member'), person('cy', 'Cy Member')],
      grants: [
        { principal: user('ana'), resource: org, permission: 'admin' },
        { principal: user('ben'), resource: org, permission: 'member' },
        { principal: user('cy'), resource: org, permission: 'member' },
      ],
    }),
    stream('teams', ['orgs'], {
      resources: [
        { ...team('platform'), name: 'Platform', handle: 'platform', parent: org },
        { ...team('data'), name: 'Data', handle: 'data', parent: org },
      ],
      principals: [{ kind: 'group', externalId: 'core', displayName: 'Core', handle: 'core' }],
      memberships: [
        { group: { kind: 'group', externalId: 'core' }, member: user('ben') },
        { group: { kind: 'group', externalId: 'core' }, member: user('cy') },
      ],
    }, 'team'),
    stream('repos', ['teams'], {
      resources: [
        { ...repo('api'), name: 'api', handle: 'api', parent: team('platform'), attributes: { visibility: 'private' } },
        { ...repo('docs'), name: 'docs', handle: 'docs', parent: team('platform'), attributes: { visibility: 'private' } },
        { ...repo('etl'), name: 'etl', handle: 'etl', parent: team('data'), attributes: { visibility: 'internal' } },
      ],
    }, 'repo'),
    stream('access', ['people', 'repos'], {
      referencedPrincipals: [person('dee', 'Dee Outsider')],
      grants: [
        { principal: { kind: 'group', externalId: 'core' }, resource: team('platform'), permission: 'member' },
        { principal: user('cy'), resource: team('data'), permission: 'maintainer' },
        { principal: user('dee'), resource: repo('api'), permission: 'push' },
      ],
    }),
  ];
  return {
    kind: 'fake-org' as Connector['kind'],
    streams,
    detectCapabilities: async () => ({ credentialKind: 'api-token', actor: null, oauthScopes: null, isWorkspaceAdmin: true, warnings: [] }),
    stats: () => ({ requests: 0, retries: 0, rateLimitWaits: 0, rateLimitWaitMs: 0, responses429: 0 }),
    close: async () => {},
  };
}

describeWithDb('a connector with its own permission model, through the registry alone', (get) => {
  let integration: Integration;
  beforeAll(async () => {
    registerConnector({ kind: 'fake-org', title: 'Fake Org', permissionModel: MODEL, apiLimits: [] });
    integration = await get()
      .db.insertInto('integrations')
      .values({ name: 'fake', kind: 'fake-org' as Integration['kind'], workspace: null, base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, options: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const outcome = await runSync(get(), { integration, mode: 'full', trigger: 'test', connect: async () => fakeConnector() });
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe('succeeded');
  });
  afterAll(() => unregisterConnector('fake-org'));

  it('materializes effective access on its leaf kind by its own rules', async () => {
    const rows = await get()
      .db.selectFrom('effective_access as e')
      .innerJoin('principals as u', 'u.id', 'e.user_id')
      .innerJoin('resources as r', 'r.id', 'e.repository_id')
      .select(['u.handle as user', 'r.handle as repo', 'e.path_kind', 'e.permission'])
      .where('e.integration_id', '=', integration.id)
      .execute();
    expect(rows.map((r) => `${r.repo} ${r.user} ${r.path_kind} ${r.permission}`).sort()).toEqual([
      'api ana org-admin maintain',
      'api ben team-group pull',
      'api cy team-group pull',
      'api dee direct push',
      'docs ana org-admin maintain',
      'docs ben team-group pull',
      'docs cy team-group pull',
      'etl ana org-admin maintain',
      'etl cy team maintain',
    ]);
  });

  it('every access report speaks its vocabulary: ranks, paths, flags, implicit access', async () => {
    const brief = (rows: ReportRow[]) =>
      rows.map((r) => `${String(r.resource_kind)}:${String(r.resource)} ${String(r.principal_name)} ${String(r.permission)} [${String(r.paths_csv ?? '')}] ${(r.flags as string[]).join(',')}`);
    const review = (await reportRows(get().db, 'access-review', { integration: 'fake' })).rows.map((r) => ({
      ...r,
      paths_csv: (r.paths as Array<{ kind: string; grantedPermission: string; group: string | null; project: string | null }>).map((p) => `${p.kind}${p.project ? `:${p.project}` : ''}${p.group ? `:${p.group}` : ''}=${p.grantedPermission}`).join(' '),
    }));
    expect(brief(review)).toEqual([
      'org:acme Ana Admin admin [org-role=admin] admin',
      'org:acme Ben Member member [org-role=member] ',
      'org:acme Cy Member member [org-role=member] ',
      'team:data Ana Admin maintainer [org-admin=admin] admin',
      'team:data Cy Member maintainer [direct=maintainer] admin,individual-grant',
      'team:platform Ana Admin maintainer [org-admin=admin] admin',
      'team:platform Ben Member member [group:core=member] ',
      'team:platform Cy Member member [group:core=member] ',
      'repo:api Ana Admin maintain [org-admin=admin] admin',
      'repo:api Ben Member pull [team-group:platform:core=member] ',
      'repo:api Cy Member pull [team-group:platform:core=member] ',
      'repo:api Dee Outsider push [direct=push] individual-grant,outside-workspace',
      'repo:docs Ana Admin maintain [org-admin=admin] admin',
      'repo:docs Ben Member pull [team-group:platform:core=member] ',
      'repo:docs Cy Member pull [team-group:platform:core=member] ',
      'repo:etl anyone pull [internal=pull] internal',
      'repo:etl Ana Admin maintain [org-admin=admin] admin,internal',
      'repo:etl Cy Member maintain [team:data=maintainer] admin,internal,individual-grant',
    ]);
    const csv = (await reportRows(get().db, 'user-access', { integration: 'fake', user: 'ben' })).rows;
    expect(csv.map((r) => `${String(r.resource)} ${(r.to_remove as string[]).join('; ')}`)).toEqual(['acme remove from org', 'platform remove from group core', 'api remove from group core', 'docs remove from group core']);
    const privileged = (await reportRows(get().db, 'privileged-access', { integration: 'fake' })).rows;
    expect(privileged.map((r) => `${String(r.resource)} ${String(r.principal_name)} ${String(r.privilege)} ${String(r.admins_on_resource)}`)).toEqual([
      'acme Ana Admin admin 1',
      'data Cy Member maintainer 2',
    ]);
  });
});
