import { z } from 'zod';
import { PROJECT_PERMISSIONS as PROJECT_LADDER, REPOSITORY_PERMISSIONS as REPOSITORY_LADDER, WORKSPACE_PERMISSIONS } from './model.ts';

/**
 * zod schemas for the Bitbucket Cloud objects Roster reads. Strict on what Roster keys on or records
 * as access (uuids, slugs, keys, permissions, deploy key ids); lenient on everything else: unknown
 * fields are dropped, optional fields may be missing or null (real payloads carry link kinds the spec
 * forbids, omit `added_on`, send `owner.type: "team"`, and put objects in `error.detail`). `links` are
 * never validated: Roster does not read them.
 */

const text = z.string();
const optionalText = z.string().nullish();
const optionalBool = z.boolean().nullish();
/** Bitbucket's stable object ids: `{…}` uuids. Required wherever Roster keys on them. */
const uuid = z.string().min(1);

export const accountSchema = z.object({
  type: optionalText,
  uuid,
  display_name: optionalText,
  nickname: optionalText,
  account_id: optionalText,
  account_status: optionalText,
});
export type BitbucketAccount = z.infer<typeof accountSchema>;

export const workspaceSchema = z.object({
  type: optionalText,
  uuid,
  slug: text.min(1),
  name: optionalText,
  is_private: optionalBool,
  is_privacy_enforced: optionalBool,
  forking_mode: optionalText,
  created_on: optionalText,
  updated_on: optionalText,
});
export type BitbucketWorkspace = z.infer<typeof workspaceSchema>;

/** The condensed workspace embedded in other objects. */
export const workspaceRefSchema = z.object({ uuid, slug: optionalText, name: optionalText });

export const workspaceAccessSchema = z.object({
  administrator: z.boolean(),
  workspace: z.object({ uuid: optionalText, slug: text.min(1) }),
});

export const WORKSPACE_ROLES = WORKSPACE_PERMISSIONS;

export const workspaceMembershipSchema = z.object({
  permission: z.enum(WORKSPACE_ROLES),
  user: accountSchema,
  workspace: workspaceRefSchema.nullish(),
  added_on: optionalText,
  last_accessed: optionalText,
});

/** `/members` carries no role (real payloads and spec agree). */
export const workspaceMemberSchema = z.object({
  user: accountSchema,
  workspace: workspaceRefSchema.nullish(),
});

export const projectRefSchema = z.object({
  uuid,
  key: optionalText,
  name: optionalText,
});

export const projectSchema = z.object({
  uuid,
  key: text.min(1),
  name: text,
  description: optionalText,
  is_private: optionalBool,
  created_on: optionalText,
  updated_on: optionalText,
  has_publicly_visible_repos: optionalBool,
  workspace: workspaceRefSchema.nullish(),
});
export type BitbucketProject = z.infer<typeof projectSchema>;

export const repositorySchema = z.object({
  uuid,
  /** Absent from the spec's schema but sent by the API; otherwise derived from `full_name`. */
  slug: optionalText,
  full_name: text.min(1),
  name: text,
  is_private: optionalBool,
  created_on: optionalText,
  updated_on: optionalText,
  project: projectRefSchema.nullish(),
  workspace: workspaceRefSchema.nullish(),
});
export type BitbucketRepository = z.infer<typeof repositorySchema>;

export const repositoryRefSchema = z.object({
  uuid,
  full_name: optionalText,
  name: optionalText,
  slug: optionalText,
});

/** What the API sends: the model's ladders plus `none` (no permission; never a grant). */
export const REPOSITORY_PERMISSIONS = [...REPOSITORY_LADDER, 'none'] as const;
export const PROJECT_PERMISSIONS = [...PROJECT_LADDER, 'none'] as const;

export const groupRefSchema = z.object({
  slug: text.min(1),
  name: optionalText,
  full_slug: optionalText,
});

export const repositoryUserPermissionSchema = z.object({
  permission: z.enum(REPOSITORY_PERMISSIONS),
  user: accountSchema,
});

export const repositoryGroupPermissionSchema = z.object({
  permission: z.enum(REPOSITORY_PERMISSIONS),
  group: groupRefSchema,
});

export const projectUserPermissionSchema = z.object({
  permission: z.enum(PROJECT_PERMISSIONS),
  user: accountSchema,
});

export const projectGroupPermissionSchema = z.object({
  permission: z.enum(PROJECT_PERMISSIONS),
  group: groupRefSchema,
});

/** `/workspaces/{ws}/permissions/repositories` and the older `/user/permissions/repositories`. */
export const repositoryPermissionSchema = z.object({
  permission: z.enum(REPOSITORY_PERMISSIONS),
  user: accountSchema,
  repository: repositoryRefSchema,
});

/** Repository and project deploy keys share this shape (`added_on` in the spec, `created_on` in practice). */
export const deployKeySchema = z.object({
  id: z.number().int(),
  key: text.min(1),
  label: optionalText,
  comment: optionalText,
  added_on: optionalText,
  created_on: optionalText,
  last_used: optionalText,
  owner: accountSchema.nullish(),
  created_by: accountSchema.nullish(),
});
export type BitbucketDeployKey = z.infer<typeof deployKeySchema>;

// ─── 1.0 API (groups exist only there) ───────────────────────────────────────────────────────

/** A 1.0 user object: `username`, `display_name`, `uuid`, sometimes `nickname` / `account_id`. */
export const user1Schema = z.object({
  uuid,
  display_name: optionalText,
  nickname: optionalText,
  username: optionalText,
  account_id: optionalText,
  is_team: optionalBool,
});

export const group1Schema = z.object({
  slug: text.min(1),
  name: text,
  /** The default permission new repositories give the group; not a grant by itself. */
  permission: optionalText,
  auto_add: optionalBool,
  members: z.array(user1Schema),
});
export type BitbucketGroup1 = z.infer<typeof group1Schema>;

/** `/1.0/group-privileges/{ws}`: every repository group grant in the workspace, one unpaginated array. */
export const groupPrivilege1Schema = z.object({
  /** `workspace/repo_slug`. */
  repo: text.min(1),
  privilege: z.enum(REPOSITORY_PERMISSIONS),
  group: z.object({ slug: text.min(1), name: optionalText }),
  repository: z.object({ slug: optionalText, uuid: optionalText, name: optionalText }).nullish(),
});

// ─── Envelopes and errors ─────────────────────────────────────────────────────────────────────

export const pageEnvelopeSchema = z.object({
  values: z.array(z.unknown()),
  next: z.string().nullish(),
  size: z.number().nullish(),
  page: z.number().nullish(),
  pagelen: z.number().nullish(),
});

/** Bitbucket's error body. `detail` is a string in the spec and an object (`required`/`granted` scopes) in practice. */
export const errorBodySchema = z.object({
  type: optionalText,
  error: z.object({
    message: optionalText,
    detail: z
      .union([
        z.string(),
        z.object({ required: z.array(z.string()).nullish(), granted: z.array(z.string()).nullish() }).loose(),
      ])
      .nullish(),
    // 400s name the offending query or body fields: `"fields": {"q": ["Invalid field name: x"]}`.
    fields: z.record(z.string(), z.union([z.array(z.string()), z.string()])).nullish(),
  }),
});

export const oauthTokenSchema = z.object({
  access_token: text.min(1),
  refresh_token: optionalText,
  expires_in: z.number().positive(),
  scopes: optionalText,
  token_type: optionalText,
});
