import type { PathJson } from '../../reports/access.ts';
import { pathText } from '../../reports/effective-access-changes.ts';
import { decisionWord } from './decisions.ts';
import type { ReviewerInfo } from './types.ts';

/**
 * An item as exports, imports and the evidence bundle see it: the frozen item, its current state, and
 * who is on it. One list of columns serves all three, so what a reviewer saw is what the import checks.
 */
export interface ItemView {
  id: string;
  campaign_id: string;
  integration: string;
  /** The integration's connector kind: whose permission model (ladders) applies. */
  integration_kind: string;
  run_id: string;
  /** Null on a resource's implicit-access item (anyone: a public repository). */
  principal_id: string | null;
  principal_kind: string;
  principal_external_id: string | null;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  workspace_role: string | null;
  resource_id: string;
  resource_kind: string;
  resource_external_id: string;
  resource_handle: string | null;
  resource_name: string;
  project_handle: string | null;
  permission: string;
  paths: PathJson[];
  first_seen_run: string;
  first_seen_at: string | null;
  flags: string[];
  assigned: ReviewerInfo;
  reviewer_rule: string;
  reviewer_note: string | null;
  change: string | null;
  change_causes: string[] | null;
  base_item_id: string | null;
  carried_forward: boolean;
  /** Who is behind the account when the campaign was created (frozen); null when nothing was known. */
  identity: ItemIdentity | null;
  /** Current state. */
  reviewer: ReviewerInfo;
  decision: 'keep' | 'revoke' | 'reduce' | null;
  reduce_to: string | null;
  comment: string | null;
  decided_by: ReviewerInfo | null;
  decided_at: string | null;
  decided_via: 'reviewer' | 'carried-forward' | 'policy' | null;
}

/** What the identity sources said of an item's user at creation: a reviewer decides on a person, not an account id. */
export interface ItemIdentity {
  email: string | null;
  person_status: string | null;
  last_active: string | null;
  department: string | null;
  identity_flags: string[];
}

export const reviewerLabel = (r: ReviewerInfo): string => r.displayName ?? r.email ?? r.externalId ?? r.key;

export interface ItemColumn {
  name: string;
  description: string;
  value(item: ItemView): string;
  /** Compared with the item on import: a reviewer must have decided on what the item is. */
  context?: boolean;
}

const text = (v: string | null | undefined): string => v ?? '';

export const ITEM_COLUMNS: readonly ItemColumn[] = [
  { name: 'item_id', description: 'Roster id of the item (do not edit)', value: (i) => i.id },
  { name: 'campaign', description: 'Campaign id', value: (i) => i.campaign_id, context: true },
  { name: 'integration', description: 'Integration (connected workspace)', value: (i) => i.integration, context: true },
  { name: 'resource_kind', description: 'workspace, project or repository', value: (i) => i.resource_kind, context: true },
  { name: 'resource', description: 'Workspace slug, project key or repository slug', value: (i) => text(i.resource_handle), context: true },
  { name: 'resource_name', description: 'Name as Bitbucket shows it', value: (i) => i.resource_name, context: true },
  { name: 'resource_id', description: "Bitbucket's uuid of the resource", value: (i) => i.resource_external_id, context: true },
  { name: 'project', description: "Repositories: the repository's project", value: (i) => text(i.project_handle), context: true },
  { name: 'principal_kind', description: 'user, deploy_key, access_token, or anyone (a public repository)', value: (i) => i.principal_kind, context: true },
  { name: 'principal_id', description: "Bitbucket's uuid (deploy keys: the key id; empty for anyone: a public repository)", value: (i) => text(i.principal_external_id), context: true },
  { name: 'principal_name', description: 'Display name (deploy keys: the label)', value: (i) => text(i.principal_name), context: true },
  { name: 'principal_handle', description: 'Nickname', value: (i) => text(i.principal_handle), context: true },
  { name: 'account_id', description: 'Atlassian account id', value: (i) => text(i.account_id), context: true },
  { name: 'workspace_role', description: 'member or owner; empty when not in the member list', value: (i) => text(i.workspace_role), context: true },
  { name: 'email', description: "The user's e-mail (Atlassian organization, else people file) when the campaign was created", value: (i) => text(i.identity?.email) },
  { name: 'person_status', description: 'active, terminated or leave in the people file', value: (i) => text(i.identity?.person_status) },
  { name: 'last_active', description: 'Last Bitbucket activity the organization recorded', value: (i) => text(i.identity?.last_active) },
  { name: 'department', description: 'Department in the people file', value: (i) => text(i.identity?.department) },
  { name: 'identity_flags', description: 'terminated-with-access, account-inactive-or-closed, dormant, not-in-directory, external-domain, shared-or-service-account', value: (i) => (i.identity?.identity_flags ?? []).join('; ') },
  { name: 'permission', description: 'Effective permission under review', value: (i) => i.permission, context: true },
  { name: 'paths', description: 'Every path that gives it', value: (i) => i.paths.map(pathText).join('; '), context: true },
  { name: 'first_seen', description: 'When Roster first saw the access as it is', value: (i) => text(i.first_seen_at) },
  { name: 'flags', description: 'admin, individual-grant, single-use-group, machine-credential, … (see README)', value: (i) => i.flags.join('; '), context: true },
  { name: 'change', description: 'Delta campaigns: new, raised, lowered, paths-changed or not-certified since the base', value: (i) => text(i.change), context: true },
  { name: 'change_causes', description: 'Delta campaigns: why the access changed', value: (i) => (i.change_causes ?? []).join('; ') },
  { name: 'reviewer', description: 'Who reviews the item', value: (i) => reviewerLabel(i.reviewer) },
  { name: 'reviewer_id', description: "The reviewer's Roster key (user:{uuid} or email:…)", value: (i) => i.reviewer.key },
  { name: 'reviewer_rule', description: 'The rule that chose the reviewer', value: (i) => i.reviewer_rule },
  { name: 'reviewer_note', description: 'Why the reviewer is not the first choice (own access, no one named)', value: (i) => text(i.reviewer_note) },
  { name: 'decision', description: 'keep, revoke or reduce:<permission>', value: (i) => decisionWord({ decision: i.decision, reduceTo: i.reduce_to }) },
  { name: 'comment', description: 'Required for revoke and reduce; the reason for a reassignment', value: (i) => text(i.comment) },
  { name: 'reassign_to', description: 'Hand the item to another reviewer (e-mail, uuid, account id or name); give the reason in comment', value: () => '' },
];

export const CONTEXT_COLUMNS = ITEM_COLUMNS.filter((c) => c.context === true);
