/**
 * The public contract of access review campaigns: the vocabulary, and what the CLI (and the reviewer
 * web page) pass in and get back. Everything in `src/review/` that crosses into another folder is
 * declared here.
 */

export const DECISIONS = ['keep', 'revoke', 'reduce'] as const;
export type DecisionKind = (typeof DECISIONS)[number];

/** `reduce` carries the permission to reduce to (`reduce:read`). */
export interface Decision {
  decision: DecisionKind;
  reduceTo: string | null;
}

export const REVIEWER_RULES = ['reviewer', 'resource-admins', 'reviewers-file', 'manager'] as const;
export type ReviewerRule = (typeof REVIEWER_RULES)[number];

/**
 * Which step of the rule chose an item's reviewer: the named reviewer; the resource's admins (the
 * repository's, else its project's, else the workspace owners); a row of the mapping file; the
 * fallback reviewer.
 */
export const ASSIGNMENT_RULES = ['reviewer', 'manager', 'repository-admin', 'project-admin', 'workspace-owner', 'mapping:repository', 'mapping:project', 'mapping:default', 'fallback'] as const;
export type AssignmentRule = (typeof ASSIGNMENT_RULES)[number];

export const UNDECIDED_POLICIES = ['flag', 'keep', 'revoke'] as const;
export type UndecidedPolicy = (typeof UNDECIDED_POLICIES)[number];

export const REMEDIATION_STATUSES = ['open', 'done', 'still_present', 'moot'] as const;
export type RemediationStatus = (typeof REMEDIATION_STATUSES)[number];

/** How a delta campaign's item differs from the base it was compared with. */
export const DELTA_CHANGES = ['new', 'raised', 'lowered', 'paths-changed', 'not-certified', 'unchanged'] as const;
export type DeltaChange = (typeof DELTA_CHANGES)[number];

/** A reviewer as someone names them: e-mail, Bitbucket uuid, account id, nickname or display name. */
export type ReviewerName = string;

export interface ReviewerInfo {
  id: string;
  kind: 'user' | 'email';
  /** `user:{uuid}` or `email:someone@example.com`: how export files and links name the reviewer. */
  key: string;
  principalId: string | null;
  externalId: string | null;
  accountId: string | null;
  displayName: string | null;
  handle: string | null;
  email: string | null;
}

export interface CreateCampaignOptions {
  name: string;
  /** Integration names; default the only one. */
  integrations?: string[];
  reviewer?: ReviewerName;
  /**
   * `resource-admins`: the admins of each item's resource. `manager`: the person's manager in the
   * people files (by e-mail); items with no manager there go to the resource's admins.
   */
  reviewers?: 'resource-admins' | 'manager';
  /** A mapping file's text (CSV: project, repository, reviewer) and its name for messages. */
  reviewersFile?: { name: string; text: string };
  fallbackReviewer?: ReviewerName;
  /** Only admin/owner access. Default false. */
  privilegedOnly?: boolean;
  /** Only these projects (keys) and their repositories; default every project. */
  projects?: string[];
  /** Only these repositories (slugs); default every repository. */
  repositories?: string[];
  /** A delta review: a closed campaign (id or name, or `campaign:N`) or a run (`run:N`). */
  changesSince?: string;
  /** YYYY-MM-DD. */
  due?: string;
  /** What happens to items still undecided at close. Default `flag`. */
  undecided?: UndecidedPolicy;
  /** The run each integration is reviewed at; default its latest finished run. */
  asOfRun?: Record<string, string>;
  now?: Date;
}

export interface CreateCampaignResult {
  id: string;
  name: string;
  items: number;
  /** Delta campaigns: carried forward from the base, already decided. */
  carriedForward: number;
  runs: Array<{ integration: string; runId: string; snapshotSha256: string; accessRows: number; items: number }>;
  reviewers: Array<{ reviewer: string; items: number }>;
  /** Items whose principal would have reviewed themselves, and who got them instead. */
  ownAccessReassigned: number;
  warnings: string[];
}

export interface CampaignSummary {
  id: string;
  name: string;
  status: 'open' | 'closed';
  reviewerRule: ReviewerRule;
  undecidedPolicy: UndecidedPolicy;
  due: string | null;
  createdAt: string;
  closedAt: string | null;
  items: number;
  decided: number;
  baseCampaign: string | null;
  baseRun: string | null;
  runs: Array<{ integration: string; runId: string; snapshotSha256: string }>;
}

/**
 * One thing a reviewer does to one item: decide it, or hand it to someone else. The web page and the
 * file import build these and give them to `recordReviewActions`.
 */
export type ReviewAction =
  | { kind: 'decide'; itemId: string; actor: ReviewerName; decision: string; comment: string | null }
  | { kind: 'reassign'; itemId: string; actor: ReviewerName; to: ReviewerName; reason: string | null };

/** A rejected action: which one (index in the list given), what is wrong and how to fix it. */
export interface ActionProblem {
  index: number;
  message: string;
  fix: string;
}

export interface RecordOutcome {
  /** Decisions recorded (new or changed). */
  decided: number;
  /** Decisions that were already recorded as given: nothing logged. */
  unchanged: number;
  reassigned: number;
  /** Log entries appended. */
  logged: number;
}

export interface StatusReport {
  campaign: CampaignSummary;
  items: number;
  decided: number;
  undecided: number;
  carriedForward: number;
  decisions: { keep: number; revoke: number; reduce: number };
  overdue: boolean;
  reviewers: Array<{ reviewer: string; key: string; items: number; decided: number; undecided: number; overdue: boolean }>;
  remediation: Record<RemediationStatus, number>;
}
