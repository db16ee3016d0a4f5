import type { SimProfile } from './types.ts';

/**
 * The shape of a generated workspace. Counts are exact; the rates shape the grants. Every profile
 * also gets the special cases the generator always plants (see `generate.ts`): an empty group, a
 * user reachable only through a group, a repository with no explicit grant, CSV-dangerous and
 * unicode names, duplicate display names, deploy keys on repositories and on a project.
 */
export interface ProfileShape {
  users: number;
  owners: number;
  collaborators: number;
  groups: number;
  projects: number;
  repos: number;
  /** Share of groups with no members. */
  emptyGroupRate: number;
  /** Members per non-empty group: most groups are small, a few ("all developers") are big. */
  groupSize: [number, number];
  bigGroups: number;
  bigGroupShare: number;
  /** Group grants per project (min, max), and the share of projects with none. */
  projectGroupGrants: [number, number];
  projectsWithoutGroupGrants: number;
  /** Direct user grants per project. */
  projectUserGrants: [number, number];
  /** Share of repositories with direct user grants, and how many. */
  repoUserGrantRate: number;
  repoUserGrants: [number, number];
  repoGroupGrantRate: number;
  repoGroupGrants: [number, number];
  repoDeployKeyRate: number;
  projectDeployKeyRate: number;
}

export const PROFILES: Record<SimProfile, ProfileShape> = {
  small: {
    users: 10, owners: 2, collaborators: 1, groups: 3, projects: 2, repos: 8,
    emptyGroupRate: 0, groupSize: [3, 5], bigGroups: 0, bigGroupShare: 0,
    projectGroupGrants: [1, 1], projectsWithoutGroupGrants: 0, projectUserGrants: [0, 1],
    repoUserGrantRate: 0.5, repoUserGrants: [1, 2], repoGroupGrantRate: 0.25, repoGroupGrants: [1, 1],
    repoDeployKeyRate: 0.25, projectDeployKeyRate: 0.5,
  },
  medium: {
    users: 200, owners: 4, collaborators: 4, groups: 20, projects: 15, repos: 300,
    emptyGroupRate: 0.1, groupSize: [3, 25], bigGroups: 1, bigGroupShare: 0.5,
    projectGroupGrants: [1, 3], projectsWithoutGroupGrants: 0.1, projectUserGrants: [0, 2],
    repoUserGrantRate: 0.35, repoUserGrants: [1, 4], repoGroupGrantRate: 0.15, repoGroupGrants: [1, 2],
    repoDeployKeyRate: 0.15, projectDeployKeyRate: 0.2,
  },
  large: {
    users: 2000, owners: 8, collaborators: 20, groups: 150, projects: 100, repos: 5000,
    emptyGroupRate: 0.05, groupSize: [3, 40], bigGroups: 3, bigGroupShare: 0.3,
    projectGroupGrants: [1, 3], projectsWithoutGroupGrants: 0.08, projectUserGrants: [0, 3],
    repoUserGrantRate: 0.3, repoUserGrants: [1, 4], repoGroupGrantRate: 0.12, repoGroupGrants: [1, 2],
    repoDeployKeyRate: 0.1, projectDeployKeyRate: 0.15,
  },
  enterprise: {
    users: 10000, owners: 15, collaborators: 60, groups: 500, projects: 300, repos: 25000,
    emptyGroupRate: 0.05, groupSize: [3, 60], bigGroups: 5, bigGroupShare: 0.15,
    projectGroupGrants: [1, 3], projectsWithoutGroupGrants: 0.08, projectUserGrants: [0, 3],
    repoUserGrantRate: 0.25, repoUserGrants: [1, 4], repoGroupGrantRate: 0.1, repoGroupGrants: [1, 2],
    repoDeployKeyRate: 0.08, projectDeployKeyRate: 0.1,
  },
};

export function isProfile(value: string): value is SimProfile {
  return Object.hasOwn(PROFILES, value);
}
