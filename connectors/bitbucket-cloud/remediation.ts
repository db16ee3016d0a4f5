import type { RemediationChange, RemediationRequest } from '../../src/interfaces.ts';
import { plural } from '../../src/text.ts';

/**
 * What to change in Bitbucket Cloud so that a principal loses an access (revoke) or keeps at most
 * `target` (reduce): one change per path the review hands over, naming the grant or membership, the
 * web UI page and the REST call (`ConnectorDefinition.remediation`). Pure.
 */
export function bitbucketCloudRemediation(request: RemediationRequest): RemediationChange[] {
  const { target, principal, resource } = request;
  const ws = request.integration.workspace ?? '';
  const api = request.integration.baseUrl.replace(/\/+$/, '');
  const who = principal.name ?? principal.externalId ?? 'anyone';
  const uuid = encodeURIComponent(principal.externalId ?? '');
  const keyId = principal.externalId ?? '';
  const web = 'https://bitbucket.org';
  const slug = resource.handle ?? resource.externalId;
  const userCall = (base: string): string => (target === null ? `DELETE ${base}` : `PUT ${base} {"permission":"${target}"}`);
  const otherMembers = (group: string | null): string | null => {
    const facts = group === null ? undefined : request.groups.get(group);
    if (!facts) return null;
    const others = facts.members.filter((m) => m.externalId !== principal.externalId);
    if (others.length === 0) return `group ${group} has no other member`;
    const names = others.slice(0, 10).map((m) => m.name);
    return `changing the grant of group ${group} also changes it for its ${plural(others.length, 'other member')}: ${names.join(', ')}${others.length > 10 ? ', …' : ''}`;
  };
  const membership = (group: string | null): string => {
    const facts = group === null ? undefined : request.groups.get(group);
    const g = group ?? '?';
    return `or remove ${who} from group ${g} (Workspace settings → User groups → ${g}, ${web}/${ws}/workspace/settings/groups; API: DELETE ${api}/1.0/groups/${ws}/${encodeURIComponent(g)}/members/${uuid}/), which affects only them but takes away everything the group gives them${facts ? ` (${plural(facts.grants, 'grant')})` : ''}`;
  };
  const changes: RemediationChange[] = [];
  const machine = principal.kind === 'deploy_key' || principal.kind === 'access_token';
  for (const p of request.paths) {
    const label = p.label;
    /** `remove the write permission of X on Y`, or `lower the write permission of X on Y to read`. */
    const grantChange = (holder: string, on: string): string => (target === null ? `remove the ${p.granted} permission of ${holder} on ${on}` : `lower the ${p.granted} permission of ${holder} on ${on} to ${target}`);
    const projectKey = p.via ?? resource.parentHandle ?? '?';
    const entry = (change: string, ui: string, call: string | null, alsoAffects: string | null = null, alternative: string | null = null): void => {
      changes.push({ path: label, change, ui, api: call, alsoAffects, alternative });
    };
    if (machine && principal.kind === 'access_token') {
      entry(`revoke the access token ${who}`, `the ${resource.kind} settings → Access tokens`, null, 'every use of the token stops');
      continue;
    }
    switch (p.kind) {
      case 'direct':
        if (principal.kind === 'deploy_key') {
          if (resource.kind === 'project') entry(`delete the deploy key ${who} from project ${slug}`, `Project settings → Access keys (${web}/${ws}/workspace/projects/${slug}/settings/access-keys)`, `DELETE ${api}/2.0/workspaces/${ws}/projects/${slug}/deploy-keys/${keyId}`);
          else entry(`delete the deploy key ${who} from repository ${slug}`, `Repository settings → Access keys (${web}/${ws}/${slug}/admin/access-keys/)`, `DELETE ${api}/2.0/repositories/${ws}/${slug}/deploy-keys/${keyId}`);
        } else if (resource.kind === 'project') {
          entry(grantChange(who, `project ${slug}`), `Project settings → Project permissions (${web}/${ws}/workspace/projects/${slug}/settings/permissions)`, userCall(`${api}/2.0/workspaces/${ws}/projects/${slug}/permissions-config/users/${uuid}`), `it applies to every repository in project ${slug}`);
        } else {
          entry(grantChange(who, `repository ${slug}`), `Repository settings → Repository permissions (${web}/${ws}/${slug}/admin/permissions)`, userCall(`${api}/2.0/repositories/${ws}/${slug}/permissions-config/users/${uuid}`));
        }
        break;
      case 'group': {
        const g = p.group ?? '?';
        const base = resource.kind === 'project' ? `${api}/2.0/workspaces/${ws}/projects/${slug}/permissions-config/groups/${encodeURIComponent(g)}` : `${api}/2.0/repositories/${ws}/${slug}/permissions-config/groups/${encodeURIComponent(g)}`;
        const ui = resource.kind === 'project' ? `Project settings → Project permissions (${web}/${ws}/workspace/projects/${slug}/settings/permissions)` : `Repository settings → Repository permissions (${web}/${ws}/${slug}/admin/permissions)`;
        entry(grantChange(`group ${g}`, `${resource.kind} ${slug}`), ui, userCall(base), otherMembers(p.group), membership(p.group));
        break;
      }
      case 'project':
        if (principal.kind === 'deploy_key') {
          entry(`delete the deploy key ${who} from project ${projectKey}`, `Project settings → Access keys (${web}/${ws}/workspace/projects/${projectKey}/settings/access-keys)`, `DELETE ${api}/2.0/workspaces/${ws}/projects/${projectKey}/deploy-keys/${keyId}`, `the key loses every repository of project ${projectKey}`);
        } else {
          entry(grantChange(who, `project ${projectKey}`), `Project settings → Project permissions (${web}/${ws}/workspace/projects/${projectKey}/settings/permissions)`, userCall(`${api}/2.0/workspaces/${ws}/projects/${projectKey}/permissions-config/users/${uuid}`), `it applies to every repository in project ${projectKey}, not only ${slug}`);
        }
        break;
      case 'project-group': {
        const g = p.group ?? '?';
        entry(
          grantChange(`group ${g}`, `project ${projectKey}`),
          `Project settings → Project permissions (${web}/${ws}/workspace/projects/${projectKey}/settings/permissions)`,
          userCall(`${api}/2.0/workspaces/${ws}/projects/${projectKey}/permissions-config/groups/${encodeURIComponent(g)}`),
          [otherMembers(p.group), `it applies to every repository in project ${projectKey}`].filter((x) => x !== null).join('; '),
          membership(p.group),
        );
        break;
      }
      case 'workspace-owner':
        entry(`take away ${who}'s workspace admin role (owners administer every project and repository)`, `Workspace settings → User directory (${web}/${ws}/workspace/settings/user-directory), or the user groups that administer the workspace`, null, 'they lose admin on every project and repository of the workspace');
        break;
      case 'workspace-role':
        if (target === null) entry(`remove ${who} from workspace ${ws}`, `Workspace settings → User directory (${web}/${ws}/workspace/settings/user-directory)`, null, 'they lose every access in the workspace (Bitbucket\'s REST API has no call to remove a member)');
        else entry(`change ${who}'s workspace role from ${p.granted} to ${target}`, `Workspace settings → User directory (${web}/${ws}/workspace/settings/user-directory), or the user groups that administer the workspace`, null, null);
        break;
      case 'public':
        entry(p.undo ?? `make ${slug} private`, `Repository settings → Repository details: "This is a private repository" (${web}/${ws}/${slug}/admin)`, `PUT ${api}/2.0/repositories/${ws}/${slug} {"is_private":true}`, 'anyone who is not given access by a grant, a group or the workspace loses read access (forks made while it was public stay)');
        break;
      case 'workspace-owner-group':
        entry(`take ${who} out of group ${p.group ?? '?'}, which gives the workspace admin role`, `Workspace settings → User groups → ${p.group ?? '?'} (${web}/${ws}/workspace/settings/groups)`, `DELETE ${api}/1.0/groups/${ws}/${encodeURIComponent(p.group ?? '?')}/members/${uuid}/`, 'they lose everything the group gives them, and admin on every project and repository of the workspace');
        break;
      default:
        // A path kind this version does not know: name it, what turns it off if the model says, and where to look.
        entry(p.undo ?? `remove the ${p.kind} access (${label})`, `${resource.kind} settings in Bitbucket (${web}/${ws}${resource.kind === 'repository' ? `/${slug}/admin` : '/workspace/settings'})`, null);
    }
  }
  return changes;
}

