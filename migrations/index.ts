import type { Migration } from 'kysely';
import * as initialSchema from './2026-11-23T0800_initial_schema.ts';
import * as effectiveAccessWithoutRowChecks from './2026-11-23T1300_effective_access_without_row_checks.ts';
import * as versionedPrincipalsAndResources from './2026-12-01T1000_versioned_principals_and_resources.ts';
import * as connectorVocabularies from './2026-12-01T1030_connector_vocabularies.ts';
import * as syncRunSegments from './2026-12-01T1100_sync_run_segments.ts';
import * as reviewCampaigns from './2026-12-01T1200_review_campaigns.ts';
import * as credentialSlots from './2026-12-01T1310_credential_slots.ts';
import * as identity from './2026-12-01T1320_identity.ts';
import * as directoryGroups from './2026-12-01T1330_directory_groups.ts';
import * as reportedAccessByPermission from './2026-12-01T1400_reported_access_by_permission.ts';

/**
 * Every migration, by name, in the order they apply. Listed statically (not read from disk) so the
 * same list runs under tsx, vitest and any bundler. Add a line for each new migration; never edit
 * or remove a landed one.
 */
export const migrations: Record<string, Migration> = {
  '2026-11-23T0800_initial_schema': initialSchema,
  '2026-11-23T1300_effective_access_without_row_checks': effectiveAccessWithoutRowChecks,
  '2026-12-01T1000_versioned_principals_and_resources': versionedPrincipalsAndResources,
  '2026-12-01T1030_connector_vocabularies': connectorVocabularies,
  '2026-12-01T1100_sync_run_segments': syncRunSegments,
  '2026-12-01T1200_review_campaigns': reviewCampaigns,
  '2026-12-01T1310_credential_slots': credentialSlots,
  '2026-12-01T1320_identity': identity,
  '2026-12-01T1330_directory_groups': directoryGroups,
  '2026-12-01T1400_reported_access_by_permission': reportedAccessByPermission,
};
