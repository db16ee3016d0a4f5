import type { ApiLimit } from '../../src/interfaces.ts';

/**
 * What gives access in a Bitbucket Cloud workspace that no Bitbucket Cloud API lists, whatever the
 * credential. See README.md ("What no credential can read") for the pages these rest on.
 */
export const BITBUCKET_CLOUD_API_LIMITS: readonly ApiLimit[] = [
  {
    id: 'workspace-ssh-keys',
    what: 'workspace SSH keys (read and write on every repository of the workspace)',
    statement:
      "Bitbucket Cloud's API cannot list workspace-level SSH keys, which grant read and write access to every repository in the workspace: they are not in this report. Review them in Bitbucket under Workspace settings > SSH keys.",
    source: 'https://confluence.atlassian.com/bbkb/difference-between-repository-project-and-workspace-access-keys-1188785759.html',
  },
  {
    id: 'access-tokens',
    what: 'repository, project and workspace access tokens',
    statement:
      "Bitbucket Cloud's API cannot list repository, project or workspace access tokens, and they appear in no permission listing: they are not in this report. Review them in Bitbucket under Repository, Project and Workspace settings > Access tokens.",
    source: 'https://jira.atlassian.com/browse/BCLOUD-23192',
  },
];
