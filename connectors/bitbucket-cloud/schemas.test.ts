import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { parseSourceError } from './api.ts';
import { deployKeyRecord, repositoryRecord, sshKeyFacts, userRecord } from './normalize.ts';
import {
  accountSchema,
  deployKeySchema,
  errorBodySchema,
  groupRefSchema,
  pageEnvelopeSchema,
  projectGroupPermissionSchema,
  projectSchema,
  projectUserPermissionSchema,
  repositoryGroupPermissionSchema,
  repositoryPermissionSchema,
  repositorySchema,
  repositoryUserPermissionSchema,
  workspaceAccessSchema,
  workspaceMemberSchema,
  workspaceMembershipSchema,
  workspaceSchema,
} from './schemas.ts';
import { bitbucketApiDir } from './simulator/spec.ts';

const PAYLOADS = join(bitbucketApiDir(), 'real-payloads');

function load(name: string): unknown {
  return JSON.parse(readFileSync(join(PAYLOADS, name), 'utf8'));
}

function parsePage<T>(body: unknown, item: z.ZodType<T>): T[] {
  const page = pageEnvelopeSchema.parse(body);
  return page.values.map((v) => item.parse(v));
}

/** How each recorded payload is read; a new file without an entry fails the suite. */
const READERS: Record<string, (body: unknown) => unknown> = {
  'cloud-2.0_workspace.nango-2026.json': (b) => workspaceSchema.parse(b),
  'cloud-2.0_workspaces_members.nango-2026.json': (b) => parsePage(b, workspaceMemberSchema),
  'cloud-2.0_user_permissions_workspaces.codecov-2021.json': (b) => parsePage(b, workspaceMembershipSchema),
  'cloud-2.0_workspaces_projects.nango-2026.json': (b) => parsePage(b, projectSchema),
  'cloud-2.0_repositories_list.nango-2026.json': (b) => parsePage(b, repositorySchema),
  'cloud-2.0_repositories_list.codecov-2019.json': (b) => parsePage(b, repositorySchema),
  'cloud-2.0_repository.gildas-2023.json': (b) => repositorySchema.parse(b),
  'cloud-2.0_user_permissions_repositories.codecov-2019.json': (b) => parsePage(b, repositoryPermissionSchema),
  'cloud-2.0_user_workspaces.nango-2026.json': (b) => parsePage(b, workspaceAccessSchema),
  'cloud-2.0_user.nango-2026.json': (b) => accountSchema.parse(b),
  'cloud-error_insufficient_scopes.gildas.json': (b) => errorBodySchema.parse(b),
  'cloud-error_no_api.gildas.json': (b) => errorBodySchema.parse(b),
  'cloud-error_repo_not_found.goscm.json': (b) => errorBodySchema.parse(b),
  // Not an endpoint Roster reads, but it carries the only real embedded 2.0 group and users.
  'cloud-2.0_branch_restrictions_values.codacy.json': (b) =>
    (b as Array<{ users: unknown[]; groups: unknown[] }>).flatMap((r) => [...r.users.map((u) => accountSchema.parse(u)), ...r.groups.map((g) => groupRefSchema.parse(g))]),
  // Not read by Roster; the envelope must still parse.
  'cloud-2.0_repository_hooks.nango-2026.json': (b) => pageEnvelopeSchema.parse(b),
};

describe('real Bitbucket payloads parse with the connector schemas', () => {
  const files = readdirSync(PAYLOADS).filter((f) => f.endsWith('.json'));

  it('has a reader for every recorded payload', () => {
    expect(files.length).toBeGreaterThan(10);
    expect(files.filter((f) => !(f in READERS))).toEqual([]);
  });

  for (const file of files) {
    it(file, () => {
      const reader = READERS[file];
      expect(reader).toBeDefined();
      expect(() => reader?.(load(file))).not.toThrow();
    });
  }

  it('keeps the fields Roster keys on', () => {
    const members = parsePage(load('cloud-2.0_workspaces_members.nango-2026.json'), workspaceMemberSchema);
    expect(userRecord(members[0]!.user)).toEqual({
      kind: 'user',
      externalId: '{a35738e8-3d79-470d-a80f-2a2fe4336964}',
      displayName: 'Nango Developer',
      handle: 'Nango Developer',
      accountId: '712020:7bf45758-6986-4e0e-aefc-a3000196d8d2',
    });
    const roles = parsePage(load('cloud-2.0_user_permissions_workspaces.codecov-2021.json'), workspaceMembershipSchema);
    expect(new Set(roles.map((r) => r.permission))).toEqual(new Set(['owner', 'collaborator', 'member']));
    // `added_on` may be null or absent, and has no timezone when present.
    expect(roles.some((r) => r.added_on == null)).toBe(true);

    const repos = parsePage(load('cloud-2.0_repositories_list.nango-2026.json'), repositorySchema);
    const record = repositoryRecord(repos[0]!, null);
    expect(record).toMatchObject({ kind: 'repository', externalId: repos[0]!.uuid, handle: 'nango-secondary-repo', parent: { kind: 'project', externalId: '{1ab2b594-8c17-44f1-a1ee-1bc2ef4ff2ae}' } });
    expect(record.attributes).toMatchObject({ fullName: 'nangodev/nango-secondary-repo', isPrivate: false });
  });

  it('reads error bodies whose detail is a string or a scope object', () => {
    const scopes = parseSourceError(readFileSync(join(PAYLOADS, 'cloud-error_insufficient_scopes.gildas.json'), 'utf8'));
    expect(scopes).toEqual({
      message: 'Your credentials lack one or more required privilege scopes.',
      detail: null,
      requiredScopes: ['project'],
      grantedScopes: ['runner:write', 'pipeline:variable', 'issue:write', 'pullrequest:write', 'account'],
      fields: null,
    });
    expect(parseSourceError(readFileSync(join(PAYLOADS, 'cloud-error_no_api.gildas.json'), 'utf8'))).toMatchObject({ message: 'Resource not found', detail: 'There is no API hosted at this URL' });
    expect(parseSourceError('<html>oops</html>')).toMatchObject({ message: null });
    // A 400 names the fields it refused; the message keeps them.
    expect(parseSourceError('{"type":"error","error":{"message":"Bad request","fields":{"q":["Invalid field name: bogus"],"sort":"bad"}}}')).toMatchObject({
      message: 'Bad request',
      fields: ['q: Invalid field name: bogus', 'sort: bad'],
    });
  });
});

describe("the spec's own examples parse (no real recordings exist for these endpoints)", () => {
  const spec = JSON.parse(readFileSync(join(bitbucketApiDir(), 'swagger.v3.json'), 'utf8')) as {
    paths: Record<string, { get: { responses: Record<string, { content?: Record<string, { examples?: Record<string, { value: unknown }> }> }> } }>;
  };
  const example = (path: string): unknown => spec.paths[path]?.get.responses['200']?.content?.['application/json']?.examples?.response?.value;
  const cases: Array<[string, z.ZodType<unknown>]> = [
    ['/workspaces/{workspace}/permissions', workspaceMembershipSchema],
    ['/workspaces/{workspace}/permissions/repositories', repositoryPermissionSchema],
    ['/workspaces/{workspace}/projects/{project_key}/permissions-config/users', projectUserPermissionSchema],
    ['/workspaces/{workspace}/projects/{project_key}/permissions-config/groups', projectGroupPermissionSchema],
    ['/workspaces/{workspace}/projects/{project_key}/deploy-keys', deployKeySchema],
    ['/repositories/{workspace}/{repo_slug}/permissions-config/users', repositoryUserPermissionSchema],
    ['/repositories/{workspace}/{repo_slug}/permissions-config/groups', repositoryGroupPermissionSchema],
    ['/repositories/{workspace}/{repo_slug}/deploy-keys', deployKeySchema],
  ];
  for (const [path, schema] of cases) {
    it(path, () => {
      const body = example(path);
      expect(body).toBeDefined();
      expect(parsePage(body, schema).length).toBeGreaterThan(0);
    });
  }

  it('derives deploy key facts like ssh-keygen -lf', () => {
    const body = example('/repositories/{workspace}/{repo_slug}/deploy-keys');
    const key = parsePage(body, deployKeySchema)[0]!;
    const record = deployKeyRecord(key);
    expect(record).toMatchObject({ kind: 'deploy_key', externalId: '123', displayName: 'mykey', handle: null });
    expect(record.attributes).toMatchObject({ keyType: 'ssh-rsa', comment: 'mleu@C02W454JHTD8', lastUsed: null, createdOn: '2018-08-15T23:50:59.993890+00:00' });
    expect(String(record.attributes?.fingerprint)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('sshKeyFacts', () => {
  it('matches the fingerprints ssh-keygen -lf printed for these keys', () => {
    // Generated with ssh-keygen; `ssh-keygen -lf` printed the fingerprints below.
    const ed25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICzCsyUIK1E/JCEdpyHVHM706/xPUPDfb8z6BMCa5Y39 roster@test';
    expect(sshKeyFacts(ed25519)).toEqual({ keyType: 'ssh-ed25519', fingerprint: 'SHA256:MX6wyum7rWysh1qgU/OG0a1X3uT5O4EXUHtdAxcl37M', comment: 'roster@test' });
    const rsa =
      'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDu3G15ajmZjD0XUrgFxAN/IxXaahe7vnfOgQkxTHjP41w/Sw2UhfI3W8RfZDToJ+coAyIXCsrrOko5CbPfUVNKaIZI+K69OH6HyIESC8GVHkLrD8f1oVcCLvES3u2DoIzOS14ypQlCgKi1PwHBaeKTNiwR27r7rFTJG5Lf4UnI7wItkF5OVhcwVd+mZjExyCtm+dTimXp2FXq/L3eiwjKJR6Sq7Ort59DoRn4URaqwiW7yPIy9X4efM031tBenzQeGNWrT+rhpfsSsTg1fgEek+u2Igh0av3HpjaWbdFRGrv6ehd92NBugF0KiJi7FFlnT/p97bAyqzVgsMMDXjRw7 ci';
    expect(sshKeyFacts(rsa).fingerprint).toBe('SHA256:xfS+5AcJIEt/qfLM/xQ8tQJqQwSbn6ooK7i9QIPCAh8');
  });

  it('gives no fingerprint for a body that is not a key', () => {
    expect(sshKeyFacts('not a key!').fingerprint).toBeNull();
    expect(sshKeyFacts('ssh-rsa aGVsbG8=').fingerprint).toBeNull();
    expect(sshKeyFacts('')).toEqual({ keyType: null, fingerprint: null, comment: null });
  });
});
