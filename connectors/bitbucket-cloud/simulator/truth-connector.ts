import type { Batch, Capabilities, Connector, ConnectorStats, GrantRecord, PrincipalRecord, StreamDeclaration } from '../../../src/interfaces.ts';
import type { GroundTruth, SimUser } from './types.ts';

/**
 * A connector that reads the simulator's ground truth in memory: the same workspace the simulator
 * serves, normalized the way the Bitbucket connector normalizes it, with no HTTP in between. Report
 * tests use it to check reports against the truth at sizes where an HTTP sync would be slow.
 */
export interface TruthConnectorOptions {
  /** Streams whose read fails (HTTP 503), for partial runs. */
  failStreams?: string[];
  /** Users outside the member list that grants may name. */
  outsiders?: Array<Omit<SimUser, 'member'>>;
}

export function truthConnector(truth: GroundTruth, options: TruthConnectorOptions = {}): Connector {
  const ws = { kind: 'workspace' as const, externalId: truth.workspace.uuid };
  const userRef = (uuid: string) => ({ kind: 'user' as const, externalId: uuid });
  const groupRef = (slug: string) => ({ kind: 'group' as const, externalId: slug });
  const users = new Map([...(options.outsiders ?? []), ...truth.users()].map((u) => [u.uuid, u]));
  const userRecord = (uuid: string): PrincipalRecord => {
    const u = users.get(uuid);
    return { kind: 'user', externalId: uuid, displayName: u?.displayName ?? null, handle: u?.nickname ?? null, accountId: u?.accountId ?? null };
  };
  const projectUuid = new Map(truth.projects().map((p) => [p.key, p.uuid]));
  const projectRef = (key: string) => ({ kind: 'project' as const, externalId: projectUuid.get(key) ?? key });
  const stream = (name: string, dependsOn: string[], make: () => Batch): StreamDeclaration => ({
    name,
    description: name,
    dependsOn,
    coverage: () => null,
    scopes: async () => [{ id: name, stream: name, resource: null, label: name }],
    read: async function* () {
      if (options.failStreams?.includes(name)) {
        const { ConnectorError } = await import('../../../src/errors.ts');
        throw new ConnectorError('server_error', `HTTP 503 reading ${name}`, { endpoint: `/2.0/${name}`, httpStatus: 503, retryable: true });
      }
      yield make();
    },
  });
  const streams: StreamDeclaration[] = [
    stream('workspace', [], () => ({ resources: [{ kind: 'workspace', externalId: ws.externalId, name: truth.workspace.name, handle: truth.workspace.slug, parent: null }] })),
    // Like Bitbucket since June 2022: only workspace members are in the member list; users outside the
    // workspace appear only in the grants they hold.
    stream('members', ['workspace'], () => {
      const members = truth.users().filter((u) => u.member !== false);
      return {
        principals: members.map((u) => userRecord(u.uuid)),
        grants: members.map((u): GrantRecord => ({ principal: userRef(u.uuid), resource: ws, permission: u.role })),
      };
    }),
    stream('groups', ['members'], () => ({
      principals: truth.groups().map((g) => ({ kind: 'group' as const, externalId: g.slug, displayName: g.name, handle: g.slug })),
      referencedPrincipals: truth.groups().flatMap((g) => g.memberUuids.map(userRecord)),
      memberships: truth.groups().flatMap((g) => g.memberUuids.map((m) => ({ group: groupRef(g.slug), member: userRef(m) }))),
    })),
    stream('projects', ['workspace'], () => ({
      resources: truth.projects().map((p) => ({ kind: 'project' as const, externalId: p.uuid, name: p.name, handle: p.key, parent: ws })),
    })),
    stream('repositories', ['projects'], () => ({
      resources: truth.repositories().map((r) => ({
        kind: 'repository' as const,
        externalId: r.uuid,
        name: r.name,
        handle: r.slug,
        parent: projectRef(r.projectKey),
        attributes: { isPrivate: r.isPrivate },
      })),
    })),
    stream('project-permissions', ['projects', 'members', 'groups'], () => ({
      referencedPrincipals: truth.projectUserGrants().map((g) => userRecord(g.userUuid)),
      grants: [
        ...truth.projectUserGrants().map((g): GrantRecord => ({ principal: userRef(g.userUuid), resource: projectRef(g.projectKey), permission: g.permission })),
        ...truth.projectGroupGrants().map((g): GrantRecord => ({ principal: groupRef(g.groupSlug), resource: projectRef(g.projectKey), permission: g.permission })),
      ],
    })),
    stream('repository-permissions', ['repositories', 'members', 'groups'], () => ({
      // Bitbucket embeds the user in each permission: a user outside the member list is still known.
      referencedPrincipals: truth.repoUserGrants().map((g) => userRecord(g.userUuid)),
      grants: [
        ...truth.repoUserGrants().map((g): GrantRecord => ({ principal: userRef(g.userUuid), resource: { kind: 'repository', externalId: g.repoUuid }, permission: g.permission })),
        ...truth.repoGroupGrants().map((g): GrantRecord => ({ principal: groupRef(g.groupSlug), resource: { kind: 'repository', externalId: g.repoUuid }, permission: g.permission })),
      ],
    })),
    stream('deploy-keys', ['repositories', 'projects'], () => {
      const keys = truth.deployKeys();
      return {
        principals: keys.map((k) => ({
          kind: 'deploy_key' as const,
          externalId: String(k.id),
          displayName: k.label,
          handle: null,
          attributes: { fingerprint: null, keyType: k.key.split(' ')[0] ?? null, comment: k.comment, createdOn: k.createdOn, addedOn: k.createdOn, lastUsed: k.lastUsed, key: k.key },
        })),
        grants: keys.map((k): GrantRecord => ({
          principal: { kind: 'deploy_key', externalId: String(k.id) },
          resource: k.repositoryUuid !== null ? { kind: 'repository', externalId: k.repositoryUuid } : projectRef(k.projectKey ?? ''),
          permission: 'read',
        })),
      };
    }),
  ];
  const capabilities: Capabilities = { credentialKind: 'api-token', actor: null, oauthScopes: null, isWorkspaceAdmin: true, warnings: [] };
  return {
    kind: 'bitbucket-cloud',
    streams,
    detectCapabilities: async () => capabilities,
    stats: (): ConnectorStats => ({ requests: 0, retries: 0, rateLimitWaits: 0, rateLimitWaitMs: 0, responses429: 0 }),
    close: async () => {},
  };
}

