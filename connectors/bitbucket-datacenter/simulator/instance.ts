/**
 * The Bitbucket Data Center instance the simulator serves: users, groups, global permissions,
 * projects (normal and personal), repositories, their user and group permissions, the projects'
 * default permission for all licensed users, public access, SSH access keys and HTTP access tokens.
 * Plain data, generated from a seed (`generate.ts`) and changed by mutations (`mutations.ts`).
 */

export const GLOBAL_PERMISSIONS = ['LICENSED_USER', 'PROJECT_CREATE', 'ADMIN', 'SYS_ADMIN'] as const;
export const PROJECT_PERMISSIONS = ['PROJECT_READ', 'PROJECT_WRITE', 'REPO_CREATE', 'PROJECT_ADMIN'] as const;
export const REPOSITORY_PERMISSIONS = ['REPO_READ', 'REPO_WRITE', 'REPO_ADMIN'] as const;
export type GlobalPermission = (typeof GLOBAL_PERMISSIONS)[number];
export type ProjectPermission = (typeof PROJECT_PERMISSIONS)[number];
export type RepositoryPermission = (typeof REPOSITORY_PERMISSIONS)[number];

export interface DcUser {
  id: number;
  /** Username (`name`): what Basic auth and `filter` use. */
  name: string;
  slug: string;
  displayName: string;
  emailAddress: string;
  active: boolean;
  directoryName: string;
  /** Epoch ms of the last authentication, or null when the user never logged in. */
  lastAuthenticationTimestamp: number | null;
  type: 'NORMAL' | 'SERVICE';
}

export interface DcGroup {
  name: string;
  members: Set<number>;
}

export interface DcProject {
  id: number;
  key: string;
  name: string;
  description: string | null;
  public: boolean;
  type: 'NORMAL' | 'PERSONAL';
  /** The owner of a personal project (`~slug`). */
  ownerId: number | null;
  /** The permission every licensed user holds on the project (`permissions/{permission}/all`), or none. */
  defaultPermission: 'PROJECT_READ' | 'PROJECT_WRITE' | null;
}

export interface DcRepository {
  id: number;
  slug: string;
  name: string;
  projectKey: string;
  public: boolean;
  archived: boolean;
  hierarchyId: string;
  description: string | null;
}

export interface DcAccessKey {
  id: number;
  label: string;
  text: string;
  algorithmType: string;
  bitLength: number;
  fingerprint: string;
  createdDate: number;
  lastAuthenticated: number | null;
  expiryDays: number | null;
  /** The project (`PROJECT_READ|PROJECT_WRITE`) or repository (`REPO_READ|REPO_WRITE`) it is on. */
  projectKey: string;
  repositoryId: number | null;
  permission: 'PROJECT_READ' | 'PROJECT_WRITE' | 'REPO_READ' | 'REPO_WRITE';
}

export type TokenOwner = { kind: 'project'; projectKey: string } | { kind: 'repository'; repositoryId: number } | { kind: 'user'; userId: number };

export interface DcAccessToken {
  id: string;
  name: string;
  /** The secret; a Bearer token. */
  secret: string;
  createdDate: number;
  /** Epoch ms; null: never expires. */
  expiryDate: number | null;
  lastAuthenticated: number | null;
  permissions: string[];
  owner: TokenOwner;
}

export interface Instance {
  displayName: string;
  serverId: string;
  users: Map<number, DcUser>;
  groups: Map<string, DcGroup>;
  globalUsers: Map<number, GlobalPermission>;
  globalGroups: Map<string, GlobalPermission>;
  projects: Map<string, DcProject>;
  repositories: Map<number, DcRepository>;
  projectUsers: Map<string, Map<number, ProjectPermission>>;
  projectGroups: Map<string, Map<string, ProjectPermission>>;
  repoUsers: Map<number, Map<number, RepositoryPermission>>;
  repoGroups: Map<number, Map<string, RepositoryPermission>>;
  accessKeys: Map<number, DcAccessKey>;
  tokens: Map<string, DcAccessToken>;
  /** Basic-auth passwords by username (the simulator's credentials only). */
  passwords: Map<string, string>;
  /** `PROJECTKEY/slug` → repository id (project keys upper-cased), kept by the generator and every mutation. */
  repoIndex: Map<string, number>;
  nextId: { user: number; project: number; repository: number; key: number; token: number };
}

export const rank = <T extends string>(ladder: readonly T[], p: T | null | undefined): number => (p ? ladder.indexOf(p) + 1 : 0);

/** A user's global permission: the highest of their own and their groups'. */
export function globalPermissionOf(inst: Instance, userId: number): GlobalPermission | null {
  let best: GlobalPermission | null = inst.globalUsers.get(userId) ?? null;
  for (const [group, p] of inst.globalGroups) {
    if (inst.groups.get(group)?.members.has(userId) && rank(GLOBAL_PERMISSIONS, p) > rank(GLOBAL_PERMISSIONS, best)) best = p;
  }
  return best;
}

export function personalKey(user: DcUser): string {
  return `~${user.slug.toUpperCase()}`;
}

export const repoIndexKey = (projectKey: string, slug: string): string => `${projectKey.toUpperCase()}/${slug.toLowerCase()}`;

export function repositoryBySlug(inst: Instance, projectKey: string, slug: string): DcRepository | undefined {
  const id = inst.repoIndex.get(repoIndexKey(projectKey, slug));
  return id === undefined ? undefined : inst.repositories.get(id);
}
