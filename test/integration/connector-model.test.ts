import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { registerConnector, unregisterConnector } from '../../src/connectors.ts';
import { saveIntegration } from '../../src/db/integrations.ts';
import type { Integration } from '../../src/db/types.ts';
import type { Batch, Connector, ConnectorDefinition, IntegrationSpec, PermissionModel, SimFlags, StreamDeclaration } from '../../src/interfaces.ts';
import { Secret } from '../../src/secrets/index.ts';
import { connectIntegration } from '../../src/sync/connect.ts';
import { runSync } from '../../src/sync/runner.ts';
import { describeCli } from '../helpers/cli.ts';
import { describeWithDb } from '../helpers/db.ts';
import { staticConnector, staticStream } from '../helpers/fake-connector.ts';
import { keyring } from '../helpers/sim-sync.ts';
import { type ReportRow, reportRows } from './reports-helpers.ts';

/**
 * A source unlike Bitbucket — organisations hold teams, teams hold repositories, with their own
 * ladders, one server and no workspaces, a credential of its own — plugged in through its definition
 * alone: `registerConnector` is the one line a new source adds to the engine. Integration add, sync,
 * effective access, every report and status then work for it without any engine file knowing it.
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
  const stream = (name: string, dependsOn: string[], batch: Batch, lists?: string): StreamDeclaration =>
    staticStream(name, dependsOn, async function* () {
      yield batch;
    }, lists);
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
  return staticConnector('fake-org', streams, { credentialKind: 'forge-token', actor: null, oauthScopes: null, isWorkspaceAdmin: true, warnings: [] });
}

const FORGE_TOKEN_WARNING = 'Forge tokens expire after a year: renew this one before it does.';

/** What `create()` was given, to check the engine handed over the credential and options as declared. */
interface Created {
  integration: IntegrationSpec;
  token: string;
  user: string;
}

/** What the fake simulator was asked: `roster sim`'s flags, `roster demo`'s profile and seed, and closes. */
interface SimCalls {
  served: SimFlags[];
  started: Array<{ profile: string; seed: number }>;
  closed: number;
}

/** The whole of the fake source, as a definition: what `connectors/<kind>/definition.ts` exports. */
function fakeDefinition(created: Created[], sim: SimCalls = { served: [], started: [], closed: 0 }): ConnectorDefinition {
  const part = (what: string) => z.instanceof(Secret).refine((s) => s.reveal() !== '', `${what} is empty`);
  return {
    kind: 'fake-org',
    title: 'Fake Forge',
    permissionModel: MODEL,
    apiLimits: [{ id: 'forge-bots', what: 'forge bots', statement: 'Fake Forge cannot list its bots.', source: 'https://forge.example/docs/bots' }],
    settings: { workspace: null, baseUrl: { description: 'the forge server URL', default: null } },
    credentials: [
      {
        kind: 'forge-token',
        description: 'a Fake Forge token; --username is the account it belongs to',
        fields: { user: { from: 'username', slot: 'forge_user', description: 'the forge account' }, token: { from: 'secret', slot: 'forge_token', description: 'the forge token' } },
        schema: z.object({ user: part('the forge account (--username)'), token: part('the forge token') }),
        warning: FORGE_TOKEN_WARNING,
      },
    ],
    options: [{ name: 'pageSize', type: 'integer', flag: '--page-size', description: 'rows per page', min: 1, max: 50, default: 20 }],
    async create(integration, credential) {
      const parts = await credential.open();
      created.push({ integration, token: parts.token?.reveal() ?? '', user: parts.user?.reveal() ?? '' });
      return fakeConnector();
    },
    simulator: async () => ({
      profiles: ['tiny', 'small', 'big'],
      serve: async (flags) => {
        sim.served.push(flags);
      },
      start: async (options) => {
        sim.started.push(options);
        return {
          baseUrl: 'http://forge.example',
          workspace: null,
          label: 'Fake Forge server',
          integration: { credentialKind: 'forge-token', credential: { secret: new Secret('demo-token'), username: 'demo-bot' }, options: { pageSize: 5 } },
          close: async () => {
            sim.closed++;
          },
        };
      },
    }),
  };
}

describeWithDb('a connector with its own permission model, through the registry alone', (get) => {
  let integration: Integration;
  const created: Created[] = [];
  beforeAll(async () => {
    registerConnector(fakeDefinition(created));
    ({ integration } = await saveIntegration(
      get().db,
      keyring,
      { name: 'fake', kind: 'fake-org', workspace: null, baseUrl: 'http://forge.example', credentialKind: 'forge-token', schedule: null, timezone: 'UTC', credential: { secret: new Secret('forge-secret-1'), username: 'robot' } },
      false,
    ));
    const outcome = await runSync(get(), { integration, mode: 'full', trigger: 'test', connect: (hooks) => connectIntegration(get(), keyring, integration, hooks) });
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe('succeeded');
  });
  afterAll(() => unregisterConnector('fake-org'));

  it('builds the connector through its definition: the credential in its own slots, options with their defaults', async () => {
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ token: 'forge-secret-1', user: 'robot', integration: { name: 'fake', kind: 'fake-org', workspace: null, baseUrl: 'http://forge.example', credentialKind: 'forge-token', options: { pageSize: 20 } } });
    const slots = await get().db.selectFrom('credentials').select('name').where('integration_id', '=', integration.id).orderBy('name').execute();
    expect(slots.map((s) => s.name)).toEqual(['forge_token', 'forge_user']);
  });

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

describeCli('a new source through the command line: integration add → sync → reports → status, sim and demo, no engine change', (cli) => {
  const created: Created[] = [];
  const sim: SimCalls = { served: [], started: [], closed: 0 };
  beforeAll(() => registerConnector(fakeDefinition(created, sim)));
  afterAll(() => unregisterConnector('fake-org'));

  it('integration add reads the kind, its settings, credential and options from the definition', async () => {
    const help = await cli().run(['integration', 'add', '--help']);
    expect(help.stdout).toContain('fake-org (Fake Forge)');
    expect(help.stdout).toContain('forge-token = a Fake Forge token');
    expect(help.stdout).toMatch(/--page-size <n>\s+rows per page \(default 20, 1 to 50\) \(fake-org\)/);

    const refused = await cli().run(['integration', 'add', 'forge', '--kind', 'fake-org', '--workspace', 'acme', '--credential-kind', 'api-token', '--page-size', '99', '--concurrency', '4', '--secret-env', 'FT'], { env: { FT: 'forge-secret-2' } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--workspace: Fake Forge has no workspaces; leave it out');
    expect(refused.stderr).toContain('--base-url: is required for Fake Forge: the forge server URL');
    expect(refused.stderr).toContain('--credential-kind: Fake Forge has no credential kind "api-token": use one of forge-token');
    expect(refused.stderr).toContain('--page-size: must be a whole number from 1 to 50 (got 99)');
    const noUser = await cli().run(['integration', 'add', 'forge', '--kind', 'fake-org', '--base-url', 'http://forge.example', '--credential-kind', 'forge-token', '--secret-env', 'FT'], { env: { FT: 'forge-secret-2' } });
    expect(noUser.code).toBe(1);
    expect(noUser.stderr).toContain('--credential-kind forge-token needs --username: the forge account.');
    const foreign = await cli().run(['integration', 'add', 'forge', '--kind', 'fake-org', '--base-url', 'http://forge.example', '--credential-kind', 'forge-token', '--username', 'robot', '--concurrency', '4', '--secret-env', 'FT'], { env: { FT: 'forge-secret-2' } });
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain('Fake Forge takes no --concurrency');

    const added = await cli().run(['integration', 'add', 'forge', '--kind', 'fake-org', '--base-url', 'http://forge.example', '--credential-kind', 'forge-token', '--username', 'robot', '--page-size', '7', '--secret-env', 'FT'], { env: { FT: 'forge-secret-2' } });
    expect(added.stderr).toBe(`roster: warning: ${FORGE_TOKEN_WARNING}\n`);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('Added integration "forge" for http://forge.example (forge-token');
    const listed = JSON.parse((await cli().run(['integration', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(listed).toMatchObject([{ name: 'forge', kind: 'fake-org', workspace: null, credentialKind: 'forge-token', warning: FORGE_TOKEN_WARNING }]);
  });

  it('sync builds it through the definition, and reports and status speak its model', async () => {
    const synced = await cli().run(['sync', '--integration', 'forge']);
    expect(synced.stderr).not.toContain('error');
    expect(synced.code).toBe(0);
    expect(created.at(-1)).toMatchObject({ token: 'forge-secret-2', user: 'robot', integration: { kind: 'fake-org', options: { pageSize: 7 } } });

    const review = await cli().run(['report', 'access-review', '--integration', 'forge', '--format', 'ndjson']);
    expect(review.code).toBe(0);
    const rows = review.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.filter((r) => r.resource_kind === 'repo').map((r) => `${String(r.resource)} ${String(r.principal_name)} ${String(r.permission)}`)).toEqual([
      'api Ana Admin maintain',
      'api Ben Member pull',
      'api Cy Member pull',
      'api Dee Outsider push',
      'docs Ana Admin maintain',
      'docs Ben Member pull',
      'docs Cy Member pull',
      'etl anyone pull',
      'etl Ana Admin maintain',
      'etl Cy Member maintain',
    ]);
    const coverage = await cli().run(['report', 'coverage', '--integration', 'forge', '--format', 'ndjson']);
    expect(coverage.code).toBe(0);
    expect(coverage.stdout).toContain('Fake Forge cannot list its bots.');

    const status = await cli().run(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ verdict: 'healthy', integrations: [{ integration: 'forge', verdict: 'healthy', credentialKind: 'forge-token', warnings: [FORGE_TOKEN_WARNING] }] });
  });

  it('roster sim and roster demo find its simulator through the registry', async () => {
    const served = await cli().run(['sim', '--source', 'fake-org', '--profile', 'big', '--seed', '7', '--rate-limit', 'off']);
    expect(served.stderr).toBe('');
    expect(served.code).toBe(0);
    expect(sim.served).toEqual([{ port: 0, profile: 'big', seed: 7, faults: undefined, rateLimit: 'off', reportedPermissions: undefined }]);
    const badProfile = await cli().run(['sim', '--source', 'fake-org', '--profile', 'small-ish']);
    expect(badProfile.stderr).toBe('roster: Unknown profile "small-ish": use tiny, small or big.\n');

    const refused = await cli().run(['demo', '--source', 'fake-org', '--profile', 'big']);
    expect(refused.stderr).toContain('--profile must be tiny or small for the demo (got "big")');
    const demo = await cli().run(['demo', '--source', 'fake-org', '--profile', 'tiny', '--seed', '3']);
    expect(demo.code).toBe(0);
    expect(sim.started).toEqual([{ profile: 'tiny', seed: 3 }]);
    expect(sim.closed).toBe(1);
    expect(demo.stdout).toContain('Started a simulated Fake Forge server (tiny profile) at http://forge.example');
    expect(demo.stdout).toContain('Org admins (maintain on every repo): Ana Admin');
    expect(demo.stdout).toMatch(/USER\s+REPOS\s+AS MAINTAIN\s+ONLY VIA GROUPS/);
    expect(demo.stdout).toMatch(/Ana Admin\s+3\s+3\s+0/);
    expect(demo.stdout).toMatch(/Ben Member\s+2\s+0\s+2/);
    expect(created.at(-1)).toMatchObject({ token: 'demo-token', user: 'demo-bot', integration: { name: 'demo', kind: 'fake-org', options: { pageSize: 5 } } });
  });
});
