import type { OptionDefinition } from '../../src/interfaces.ts';

/** Bitbucket Cloud's API root (without `/2.0`): the default base URL of an integration. */
export const BITBUCKET_CLOUD_API = 'https://api.bitbucket.org';
/** Bitbucket Cloud's OAuth token endpoint. */
export const BITBUCKET_TOKEN_URL = 'https://bitbucket.org/site/oauth2/access_token';

/**
 * The OAuth token endpoint of an integration: the one given, else Bitbucket's own for Bitbucket's
 * API, else the same path under the given base URL (the simulator, a proxy). A base URL that is not
 * Bitbucket's must never send OAuth requests to bitbucket.org behind the user's back.
 */
export function tokenUrlFor(baseUrl: string, tokenUrl?: string | null): string {
  if (tokenUrl) return tokenUrl;
  const base = new URL(baseUrl);
  if (base.hostname === 'api.bitbucket.org') return BITBUCKET_TOKEN_URL;
  return new URL('site/oauth2/access_token', base.href.endsWith('/') ? base.href : `${base.href}/`).toString();
}

/**
 * A Bitbucket workspace slug: lowercase letters, digits, `-`, `_`, `.`. When a user pastes a URL or
 * a display name instead, the message suggests the slug.
 */
export function checkWorkspaceSlug(value: string): string | null {
  if (/^[a-z0-9][a-z0-9_.-]*$/.test(value)) return null;
  const fromUrl = /bitbucket\.org\/(?:!api\/2\.0\/workspaces\/|2\.0\/workspaces\/|workspaces\/|repositories\/)?([A-Za-z0-9_.-]+)/.exec(value);
  if (fromUrl?.[1]) {
    return `"${value}" is a URL, not a workspace slug; use the slug "${fromUrl[1].toLowerCase()}" (the part after bitbucket.org/)`;
  }
  const suggestion = value.trim().toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '');
  return `"${value}" is not a workspace slug (lowercase letters, digits, "-", "_" and "." only)${suggestion ? `; did you mean "${suggestion}"? The slug is in your workspace URL: bitbucket.org/<slug>` : ''}`;
}

/**
 * What an operator may set on a Bitbucket Cloud integration, with its limits and default: the one
 * table the config file, `roster integration add` and the connector read. Bitbucket Cloud allows
 * 1,000 requests an hour per user for most endpoints (more for large paid workspaces), hence the
 * budget's default; more than 32 requests in flight only queue behind the budget.
 */
export const BITBUCKET_CLOUD_OPTIONS = [
  { name: 'concurrency', type: 'integer', flag: '--concurrency', description: 'parallel API requests', min: 1, max: 32, default: 4 },
  { name: 'budgetPerHour', type: 'integer', flag: '--budget', description: 'API requests per hour this credential may use', min: 10, max: 100_000, default: 1000 },
  {
    name: 'reconcile',
    type: 'choice',
    flag: '--reconcile',
    choices: ['always', 'weekly', 'off'],
    description:
      "how often a run reads Bitbucket's own effective permissions to cross-check Roster's derivation (always, weekly, off; default: always while that listing takes at most 1,000 requests — one hour's budget — else weekly)",
  },
  {
    name: 'tokenUrl',
    type: 'url',
    flag: '--token-url',
    description: `OAuth token endpoint (default: ${BITBUCKET_TOKEN_URL} for Bitbucket's API, else <base-url>/site/oauth2/access_token)`,
  },
] as const satisfies readonly OptionDefinition[];

type IntegerOption = Extract<(typeof BITBUCKET_CLOUD_OPTIONS)[number], { type: 'integer' }>;
/** The row of an integer option, by name. */
export function optionLimits(name: IntegerOption['name']): IntegerOption {
  return BITBUCKET_CLOUD_OPTIONS.find((o): o is IntegerOption => o.name === name) as IntegerOption;
}
