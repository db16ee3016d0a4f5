/**
 * zod schemas for the Data Center bodies Roster reads, from the 9.2 spec's components (`RestDetailedUser`,
 * `RestPermittedUser`, `RestProject`, `RestRepository`, `RestSshAccessKey`, `RestAccessToken`, …).
 * Lenient where the field means nothing to Roster and strict where it decides access: objects are
 * open (`looseObject`: Data Center adds fields between versions and plugins add more), ids and
 * permissions must be there. Dates come as epoch milliseconds (numbers or digit strings) or ISO
 * strings: the spec says `date-time`, servers send numbers; both are accepted.
 */
import { z } from 'zod';

/** A page: `values`, `isLastPage`, and `nextPageStart` while it is not the last. */
export const pageSchema = z.looseObject({
  values: z.array(z.unknown()),
  isLastPage: z.boolean(),
  start: z.number().int().nonnegative().optional(),
  limit: z.number().optional(),
  size: z.number().optional(),
  nextPageStart: z.number().int().nonnegative().nullish(),
});
export type DcPage = z.infer<typeof pageSchema>;

export const errorBodySchema = z.looseObject({
  errors: z.array(z.looseObject({ message: z.string().nullish(), exceptionName: z.string().nullish(), context: z.string().nullish() })),
});

export const userSchema = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  slug: z.string(),
  displayName: z.string().nullish(),
  emailAddress: z.string().nullish(),
  active: z.boolean().nullish(),
  type: z.string().nullish(),
});
export type DcUserBody = z.infer<typeof userSchema>;

export const detailedUserSchema = userSchema.extend({
  directoryName: z.string().nullish(),
  lastAuthenticationTimestamp: z.number().nullish(),
});
export type DcDetailedUserBody = z.infer<typeof detailedUserSchema>;

export const groupSchema = z.looseObject({ name: z.string().min(1) });

export const permittedUserSchema = z.looseObject({ user: userSchema, permission: z.string() });
export const permittedGroupSchema = z.looseObject({ group: z.looseObject({ name: z.string().min(1) }), permission: z.string() });

export const projectSchema = z.looseObject({
  id: z.number().int(),
  key: z.string().min(1),
  name: z.string().nullish(),
  description: z.string().nullish(),
  public: z.boolean().nullish(),
  type: z.string().nullish(),
  owner: userSchema.nullish(),
});
export type DcProjectBody = z.infer<typeof projectSchema>;

export const repositorySchema = z.looseObject({
  id: z.number().int(),
  slug: z.string().min(1),
  name: z.string(),
  public: z.boolean().nullish(),
  archived: z.boolean().nullish(),
  project: projectSchema,
});
export type DcRepositoryBody = z.infer<typeof repositorySchema>;

const dateLike = z.union([z.number(), z.string()]).nullish();

export const accessKeySchema = z.looseObject({
  key: z.looseObject({
    id: z.number().int(),
    label: z.string().nullish(),
    text: z.string().nullish(),
    algorithmType: z.string().nullish(),
    bitLength: z.number().nullish(),
    fingerprint: z.string().nullish(),
    createdDate: dateLike,
    lastAuthenticated: dateLike,
    expiryDays: z.number().nullish(),
  }),
  permission: z.string(),
});
export type DcAccessKeyBody = z.infer<typeof accessKeySchema>;

export const accessTokenSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().nullish(),
  createdDate: dateLike,
  expiryDate: dateLike,
  expiryDays: z.number().nullish(),
  lastAuthenticated: dateLike,
  permissions: z.array(z.string()).nullish(),
  user: userSchema.nullish(),
});
export type DcAccessTokenBody = z.infer<typeof accessTokenSchema>;

export const applicationPropertiesSchema = z.looseObject({ displayName: z.string().nullish(), version: z.string().nullish() });

export const permittedSchema = z.looseObject({ permitted: z.boolean() });

/** An ISO date from what Data Center sends (epoch ms as a number or digit string, or ISO), or null. */
export function isoDate(value: number | string | null | undefined): string | null {
  if (value === null || value === undefined || value === '') return null;
  const ms = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
