import { z } from 'zod';

/**
 * The Atlassian Administration (organizations) REST API bodies Roster reads, as documented at
 * developer.atlassian.com/cloud/admin/organization/rest/ (see README.md). Unknown fields are
 * accepted and dropped: Atlassian adds fields without a version change.
 */

const productAccess = z
  .object({
    key: z.string(),
    name: z.string().nullish(),
    url: z.string().nullish(),
    last_active: z.string().nullish(),
  })
  .passthrough();

/** One managed account of `GET /admin/v1/orgs/{orgId}/users`. */
export const orgUserSchema = z
  .object({
    account_id: z.string().min(1),
    account_type: z.string(),
    account_status: z.string(),
    name: z.string().nullish(),
    email: z.string().nullish(),
    access_billable: z.boolean().nullish(),
    last_active: z.string().nullish(),
    product_access: z.array(productAccess).nullish(),
  })
  .passthrough();
export type OrgUser = z.infer<typeof orgUserSchema>;

const links = z.object({ self: z.string().nullish(), next: z.string().nullish(), prev: z.string().nullish() }).passthrough();

export const orgUsersPageSchema = z.object({ data: z.array(orgUserSchema), links: links.nullish(), meta: z.object({ total: z.number().nullish() }).passthrough().nullish() }).passthrough();

/** `GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates`. */
export const lastActiveDatesSchema = z
  .object({
    data: z
      .object({
        product_access: z.array(z.object({ id: z.string().nullish(), key: z.string(), last_active_timestamp: z.string().nullish(), last_active: z.string().nullish() }).passthrough()),
        added_to_org: z.string().nullish(),
      })
      .passthrough(),
    links: links.nullish(),
  })
  .passthrough();
export type LastActiveDates = z.infer<typeof lastActiveDatesSchema>;

/** `GET /admin/v1/orgs/{orgId}/domains`. */
export const domainsPageSchema = z
  .object({
    data: z.array(
      z
        .object({
          id: z.string(),
          type: z.string().nullish(),
          attributes: z.object({ name: z.string(), claim: z.object({ type: z.string().nullish(), status: z.string().nullish() }).passthrough().nullish() }).passthrough(),
        })
        .passthrough(),
    ),
    links: links.nullish(),
  })
  .passthrough();

/** `GET /admin/v2/orgs/{orgId}/directories`: `links.next` is a cursor token, not a URL. */
export const directoriesPageSchema = z
  .object({
    data: z.array(z.object({ directoryId: z.string().min(1), name: z.string().nullish(), icon: z.string().nullish() }).passthrough()),
    links: links.nullish(),
  })
  .passthrough();

/** `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/groups` (fields as jira.js types the group). */
export const directoryGroupsPageSchema = z
  .object({
    data: z.array(
      z
        .object({
          id: z.string().min(1),
          name: z.string(),
          description: z.string().nullish(),
          directoryId: z.string().nullish(),
          externalSynced: z.boolean().nullish(),
          managedBy: z.string().nullish(),
          counts: z.object({ users: z.number().nullish(), resources: z.number().nullish() }).passthrough().nullish(),
        })
        .passthrough(),
    ),
    links: links.nullish(),
  })
  .passthrough();

/** `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users?groupIds=…`: a group's members (camelCase, v2). */
export const directoryUsersPageSchema = z
  .object({
    data: z.array(z.object({ accountId: z.string().min(1), accountStatus: z.string().nullish(), name: z.string().nullish(), email: z.string().nullish() }).passthrough()),
    links: links.nullish(),
  })
  .passthrough();

/**
 * Error bodies: the API gateway answers `{ code, message }` (401, 429), the organizations API a
 * JSON:API `errors` array (`status`, `code`, `title`, `detail`). Either may come; both are read.
 */
const jsonApiErrors = z.object({ errors: z.array(z.object({ status: z.string().nullish(), code: z.string().nullish(), title: z.string().nullish(), detail: z.string().nullish() })) });
const gatewayError = z.object({ code: z.union([z.number(), z.string()]).nullish(), message: z.string() });

export function errorText(body: string): string | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  const a = jsonApiErrors.safeParse(json);
  if (a.success) return a.data.errors.map((e) => [e.title, e.detail].filter(Boolean).join(': ')).join('; ') || null;
  const b = gatewayError.safeParse(json);
  return b.success ? b.data.message : null;
}
