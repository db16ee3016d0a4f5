import type { ApiLimit } from '../../src/interfaces.ts';

/**
 * What gives access in a Bitbucket Data Center instance that its REST API does not list with any
 * credential, so reports say so. See README.md ("What no credential can read").
 */
export const BITBUCKET_DATACENTER_API_LIMITS: readonly ApiLimit[] = [
  {
    id: 'personal-token-reach',
    what: "the reach of a personal HTTP access token (its owner's access, capped at the token's permissions)",
    statement:
      "A personal HTTP access token acts as its user, capped at the token's project and repository permissions; Data Center lists the token and its permissions but not what it reaches. Roster lists each personal token on the instance with its permissions; its reach is at most its owner's effective access in the user-access report.",
    source: 'https://confluence.atlassian.com/bitbucketserver/personal-access-tokens-939515499.html',
  },
];
