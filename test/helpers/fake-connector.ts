import { ConnectorError } from '../../src/errors.ts';
import type { Batch, Capabilities, Connector, ConnectorStats, Scope, StreamContext, StreamDeclaration } from '../../src/interfaces.ts';

/**
 * An in-memory source for engine tests: a tiny workspace whose listings can be changed and whose
 * scopes can be made to fail, with no HTTP in between.
 */
export interface FakeWorld {
  users: Array<{ id: string; name: string; role: 'member' | 'collaborator' | 'owner' }>;
  groups: Array<{ slug: string; members: string[] }>;
  projects: Array<{ id: string; key: string }>;
  repos: Array<{ id: string; slug: string; project: string }>;
  projectGrants: Array<{ principal: { kind: 'user' | 'group'; id: string }; project: string; permission: 'read' | 'write' | 'create-repo' | 'admin' }>;
  repoGrants: Array<{ principal: { kind: 'user' | 'group'; id: string }; repo: string; permission: 'read' | 'write' | 'admin' }>;
  /** Scope id → error to throw when it is read. */
  failures: Map<string, ConnectorError>;
  reads: string[];
}

export function smallWorld(): FakeWorld {
  return {
    users: [
      { id: '{u-owner}', name: 'Olga Owner', role: 'owner' },
      { id: '{u-alice}', name: 'Alice', role: 'member' },
      { id: '{u-bob}', name: 'Bob', role: 'member' },
      { id: '{u-carol}', name: '=Carol', role: 'collaborator' },
    ],
    groups: [
      { slug: 'devs', members: ['{u-alice}', '{u-bob}'] },
      { slug: 'empty', members: [] },
    ],
    projects: [
      { id: '{p-core}', key: 'CORE' },
      { id: '{p-ops}', key: 'OPS' },
    ],
    repos: [
      { id: '{r-api}', slug: 'api', project: '{p-core}' },
      { id: '{r-web}', slug: 'web', project: '{p-core}' },
      { id: '{r-infra}', slug: 'infra', project: '{p-ops}' },
    ],
    projectGrants: [
      { principal: { kind: 'group', id: 'devs' }, project: '{p-core}', permission: 'write' },
      { principal: { kind: 'user', id: '{u-carol}' }, project: '{p-ops}', permission: 'create-repo' },
    ],
    repoGrants: [
      { principal: { kind: 'user', id: '{u-alice}' }, repo: '{r-api}', permission: 'admin' },
      { principal: { kind: 'group', id: 'devs' }, repo: '{r-infra}', permission: 'read' },
    ],
    failures: new Map(),
    reads: [],
  };
}

const WS = '{ws-1}';

/** A stream of one scope (named like the stream) whose one page `read` gives; `lists` as the declaration says. */
export function staticStream(name: string, dependsOn: string[], read: (scope: Scope) => AsyncIterable<Batch>, lists?: string): StreamDeclaration {
  return {
    name,
    description: name,
    dependsOn,
    lists,
    coverage: () => null,
    scopes: async () => [{ id: name, stream: name, resource: null, label: name }],
    read,
  };
}

/** A connector over fixed streams, for engine tests of any kind. */
export function staticConnector(kind: string, streams: StreamDeclaration[], capabilities: Capabilities, stats: () => ConnectorStats = () => ({ requests: 0, retries: 0, rateLimitWaits: 0, rateLimitWaitMs: 0, responses429: 0 })): Connector {
  return { kind, streams, detectCapabilities: async () => capabilities, stats, close: async () => {} };
}

export function fakeConnector(world: FakeWorld): Connector {
  let requests = 0;
  const read = async function* (scope: Scope, make: () => Batch): AsyncIterable<Batch> {
    requests++;
    world.reads.push(scope.id);
    const failure = world.failures.get(scope.id);
    if (failure) throw failure;
    yield make();
  };
  const user = (id: string) => ({ kind: 'user' as const, externalId: id, displayName: world.users.find((u) => u.id === id)?.name ?? null, handle: null });
  const simple = (name: string, dependsOn: string[], make: () => Batch): StreamDeclaration => staticStream(name, dependsOn, (scope) => read(scope, make));
  const perResource = (name: string, kind: 'project' | 'repository', make: (externalId: string) => Batch): StreamDeclaration => ({
    name,
    description: name,
    dependsOn: [kind === 'project' ? 'projects' : 'repositories', 'members', 'groups'],
    coverage: () => null,
    scopes: async (ctx: StreamContext) => (await ctx.resources(kind)).map((r) => ({ id: `${name}:${r.externalId}`, stream: name, resource: { kind, externalId: r.externalId }, label: r.handle ?? r.externalId })),
    read: (scope) => read(scope, () => make(scope.resource?.externalId ?? '')),
  });
  const streams: StreamDeclaration[] = [
    simple('workspace', [], () => ({ resources: [{ kind: 'workspace', externalId: WS, name: 'Acme', handle: 'acme', parent: null }] })),
    simple('members', ['workspace'], () => ({
      principals: world.users.map((u) => user(u.id)),
      grants: world.users.map((u) => ({ principal: { kind: 'user' as const, externalId: u.id }, resource: { kind: 'workspace' as const, externalId: WS }, permission: u.role })),
    })),
    simple('groups', ['members'], () => ({
      principals: world.groups.map((g) => ({ kind: 'group' as const, externalId: g.slug, displayName: g.slug, handle: g.slug })),
      referencedPrincipals: world.groups.flatMap((g) => g.members.map(user)),
      memberships: world.groups.flatMap((g) => g.members.map((m) => ({ group: { kind: 'group' as const, externalId: g.slug }, member: { kind: 'user' as const, externalId: m } }))),
    })),
    simple('projects', ['workspace'], () => ({ resources: world.projects.map((p) => ({ kind: 'project' as const, externalId: p.id, name: p.key, handle: p.key, parent: { kind: 'workspace' as const, externalId: WS } })) })),
    simple('repositories', ['projects'], () => ({ resources: world.repos.map((r) => ({ kind: 'repository' as const, externalId: r.id, name: r.slug, handle: r.slug, parent: { kind: 'project' as const, externalId: r.project } })) })),
    perResource('project-permissions', 'project', (id) => ({
      grants: world.projectGrants.filter((g) => g.project === id).map((g) => ({ principal: { kind: g.principal.kind, externalId: g.principal.id }, resource: { kind: 'project' as const, externalId: id }, permission: g.permission })),
    })),
    perResource('repository-permissions', 'repository', (id) => ({
      grants: world.repoGrants.filter((g) => g.repo === id).map((g) => ({ principal: { kind: g.principal.kind, externalId: g.principal.id }, resource: { kind: 'repository' as const, externalId: id }, permission: g.permission })),
    })),
  ];
  const capabilities: Capabilities = { credentialKind: 'api-token', actor: { externalId: '{u-owner}', displayName: 'Olga Owner' }, oauthScopes: null, isWorkspaceAdmin: true, warnings: [] };
  return staticConnector('bitbucket-cloud', streams, capabilities, () => ({ requests, retries: 0, rateLimitWaits: 0, rateLimitWaitMs: 0, responses429: 0 }));
}
