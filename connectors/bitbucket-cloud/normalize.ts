import { createHash } from 'node:crypto';
import type { PrincipalRecord, ResourceRecord, ResourceRef } from '../../src/interfaces.ts';
import type { BitbucketAccount, BitbucketDeployKey, BitbucketProject, BitbucketRepository, BitbucketWorkspace } from './schemas.ts';

/** Bitbucket objects → Roster's normalized records. Identity is always the source's stable id. */

export function userRecord(user: BitbucketAccount): PrincipalRecord {
  return {
    kind: 'user',
    externalId: user.uuid,
    displayName: user.display_name ?? null,
    handle: user.nickname ?? null,
    accountId: user.account_id ?? null,
  };
}

/** A 1.0 user (group member): `nickname` when sent, else the legacy `username`. */
export function user1Record(user: { uuid: string; display_name?: string | null; nickname?: string | null; username?: string | null; account_id?: string | null }): PrincipalRecord {
  return {
    kind: 'user',
    externalId: user.uuid,
    displayName: user.display_name ?? null,
    handle: user.nickname ?? user.username ?? null,
    accountId: user.account_id ?? null,
  };
}

/** Groups are keyed by slug: Bitbucket gives groups no uuid. */
export function groupRecord(group: { slug: string; name?: string | null }): PrincipalRecord {
  return { kind: 'group', externalId: group.slug, displayName: group.name ?? group.slug, handle: group.slug };
}

export function workspaceRecord(ws: BitbucketWorkspace): ResourceRecord {
  return {
    kind: 'workspace',
    externalId: ws.uuid,
    name: ws.name ?? ws.slug,
    handle: ws.slug,
    parent: null,
    attributes: {
      isPrivate: ws.is_private ?? null,
      isPrivacyEnforced: ws.is_privacy_enforced ?? null,
      forkingMode: ws.forking_mode ?? null,
      createdOn: ws.created_on ?? null,
    },
  };
}

export function projectRecord(project: BitbucketProject, workspace: ResourceRef | null): ResourceRecord {
  return {
    kind: 'project',
    externalId: project.uuid,
    name: project.name,
    handle: project.key,
    parent: workspace,
    attributes: {
      isPrivate: project.is_private ?? null,
      description: project.description ?? null,
      createdOn: project.created_on ?? null,
      updatedOn: project.updated_on ?? null,
    },
  };
}

/** The slug from `slug`, or the part of `full_name` after the workspace. */
export function repositorySlug(repo: { slug?: string | null; full_name?: string | null }): string | null {
  if (repo.slug) return repo.slug;
  const full = repo.full_name ?? '';
  const slash = full.indexOf('/');
  return slash >= 0 ? full.slice(slash + 1) : null;
}

export function repositoryRecord(repo: BitbucketRepository, workspace: ResourceRef | null): ResourceRecord {
  const parent: ResourceRef | null = repo.project ? { kind: 'project', externalId: repo.project.uuid } : workspace;
  return {
    kind: 'repository',
    externalId: repo.uuid,
    name: repo.name,
    handle: repositorySlug(repo),
    parent,
    attributes: {
      fullName: repo.full_name,
      isPrivate: repo.is_private ?? null,
      createdOn: repo.created_on ?? null,
      updatedOn: repo.updated_on ?? null,
    },
  };
}

/** The project a repository names: enough to resolve the reference, not a full listing. */
export function projectRefRecord(project: { uuid: string; key?: string | null; name?: string | null }, workspace: ResourceRef | null): ResourceRecord {
  return {
    kind: 'project',
    externalId: project.uuid,
    name: project.name ?? project.key ?? project.uuid,
    handle: project.key ?? null,
    parent: workspace,
  };
}

/**
 * The OpenSSH fingerprint of a public key line (`type base64 [comment]`): `SHA256:` and the unpadded
 * base64 of the SHA-256 of the decoded key blob — what `ssh-keygen -lf` prints.
 */
export function sshKeyFacts(line: string): { keyType: string | null; fingerprint: string | null; comment: string | null } {
  const parts = line.trim().split(/\s+/).filter((p) => p.length > 0);
  const keyType = parts[0] ?? null;
  const blob = parts[1];
  const comment = parts.length > 2 ? parts.slice(2).join(' ') : null;
  if (!keyType || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return { keyType, fingerprint: null, comment };
  const bytes = Buffer.from(blob, 'base64');
  // A public key blob starts with its own type as an SSH string (uint32 length, then the name).
  const nameLength = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
  if (nameLength <= 0 || 4 + nameLength > bytes.length || bytes.subarray(4, 4 + nameLength).toString('latin1') !== keyType) {
    return { keyType, fingerprint: null, comment };
  }
  const digest = createHash('sha256').update(bytes).digest('base64').replace(/=+$/, '');
  return { keyType, fingerprint: `SHA256:${digest}`, comment };
}

export function deployKeyRecord(key: BitbucketDeployKey): PrincipalRecord {
  const facts = sshKeyFacts(key.key);
  return {
    kind: 'deploy_key',
    externalId: String(key.id),
    displayName: key.label ?? null,
    handle: null,
    attributes: {
      fingerprint: facts.fingerprint,
      keyType: facts.keyType,
      comment: key.comment ?? facts.comment,
      createdOn: key.created_on ?? key.added_on ?? null,
      addedOn: key.added_on ?? key.created_on ?? null,
      lastUsed: key.last_used ?? null,
      key: key.key,
    },
  };
}

/** Adds a record to a list unless one with the same id is already there (referenced rows only). */
export function addUnique<T extends { kind: string; externalId: string }>(list: T[], seen: Set<string>, record: T): void {
  const id = `${record.kind}\u0000${record.externalId}`;
  if (seen.has(id)) return;
  seen.add(id);
  list.push(record);
}
