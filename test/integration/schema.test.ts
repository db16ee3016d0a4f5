import { sql } from 'kysely';
import { expect, inject, it } from 'vitest';
import { type RosterDatabase, openDatabase } from '../../src/db/index.ts';
import { migrations } from '../../migrations/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createScratchServerDatabase } from '../../src/db/scratch.ts';
import { describeWithDb, testDbKind } from '../helpers/db.ts';
import { BITBUCKET_CLOUD_MODEL } from '../../connectors/bitbucket-cloud/model.ts';
import type { Batch } from '../../src/interfaces.ts';
import { loadScopes } from '../../src/sync/loader.ts';

describeWithDb('schema: migrations, history columns and constraints', (get) => {
  it('migrations run concurrently apply once; running them again is a no-op', async () => {
    let handles: RosterDatabase[];
    let drop = async () => {};
    if (testDbKind() === 'server') {
      const scratch = await createScratchServerDatabase(inject('serverUrl') as string, 'roster_mig');
      // Two "processes": two independent connection pools.
      handles = [await openDatabase({ kind: 'server', url: scratch.url }), await openDatabase({ kind: 'server', url: scratch.url })];
      drop = scratch.drop;
    } else {
      const one = await openDatabase({ kind: 'embedded', dataDir: null });
      handles = [one, one];
    }
    try {
      const outcomes = await Promise.all(handles.map((h) => migrateToLatest(h.db)));
      const count = Object.keys(migrations).length;
      expect(outcomes.map((o) => o.applied.length).sort()).toEqual([0, count]);
      const again = await migrateToLatest(handles[0]!.db);
      expect(again).toEqual({ applied: [], alreadyApplied: count });
    } finally {
      for (const h of new Set(handles)) await h.close();
      await drop();
    }
  });

  it('every history table carries first_seen_run, last_seen_run and removed_run', async () => {
    const rows = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and column_name in ('first_seen_run', 'last_seen_run', 'removed_run', 'scope')
      order by table_name, column_name`.execute(get().db);
    const byTable = new Map<string, string[]>();
    for (const r of rows.rows) byTable.set(r.table_name, [...(byTable.get(r.table_name) ?? []), r.column_name]);
    for (const table of ['principals', 'resources', 'memberships', 'grants', 'reported_access']) {
      expect(byTable.get(table), table).toEqual(['first_seen_run', 'last_seen_run', 'removed_run', 'scope']);
    }
  });

  it('effective access keeps only its integration key, so removing an integration still clears it', async () => {
    const rows = await sql<{ conname: string }>`
      select conname from pg_constraint
      where conrelid = 'effective_access'::regclass and contype = 'f' order by conname`.execute(get().db);
    expect(rows.rows.map((r) => r.conname)).toEqual(['effective_access_integration_id_fkey']);
  });

  it('constraints keep the shapes: references, one live row per grant, history order, one open run, names, credential rows', async () => {
    const { db } = get();
    const integration = await db.insertInto('integrations').values({ name: 'schema', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'https://api.bitbucket.org', credential_kind: 'api-token', schedule: null, options: '{}' }).returning('id').executeTakeFirstOrThrow();
    const run = await db.insertInto('sync_runs').values({ integration_id: integration.id, trigger: 'test', mode: 'full', status: 'running', counts: '{}' }).returning('id').executeTakeFirstOrThrow();
    const history = { scope: 's', first_seen_run: run.id, last_seen_run: run.id };
    const user = await db.insertInto('principals').values({ integration_id: integration.id, kind: 'user', external_id: '{u}', display_name: 'U', handle: null, account_id: null, attributes: '{}', ...history }).returning('id').executeTakeFirstOrThrow();
    const repo = await db.insertInto('resources').values({ integration_id: integration.id, kind: 'repository', external_id: '{r}', name: 'r', handle: 'r', attributes: '{}', ...history }).returning('id').executeTakeFirstOrThrow();
    const grant = (permission: string, resourceKind = 'repository') =>
      db.insertInto('grants').values({ integration_id: integration.id, principal_id: user.id, resource_id: repo.id, resource_kind: resourceKind, permission, ...history }).execute();

    await grant('write');
    await expect(grant('member', 'workspace')).rejects.toThrow(/foreign key/); // the resource is not a workspace
    await expect(grant('write')).rejects.toThrow(/unique|duplicate/); // one live row per grant
    await expect(db.insertInto('principals').values({ integration_id: integration.id, kind: 'robot' as 'user', external_id: 'x', display_name: null, handle: null, account_id: null, attributes: '{}', ...history }).execute()).rejects.toThrow(/check constraint/);
    await expect(sql`update grants set removed_run = first_seen_run`.execute(db)).rejects.toThrow(/check constraint/); // removed after last seen
    await expect(db.insertInto('sync_runs').values({ integration_id: integration.id, trigger: 'test', mode: 'full', status: 'running', counts: '{}' }).execute()).rejects.toThrow(/unique|duplicate/); // one open run
    await expect(db.insertInto('integrations').values({ name: 'Bad Name', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'x', credential_kind: 'api-token', schedule: null, options: '{}' }).execute()).rejects.toThrow(/check constraint/);
    await expect(sql`insert into credentials (integration_id, name, key_id, iv, auth_tag, ciphertext) values (${integration.id}, 'secret', 'k', '\\x00'::bytea, '\\x00'::bytea, '\\x00'::bytea)`.execute(db)).rejects.toThrow(/check constraint/);
  });

  it("permissions and resource kinds are the connector's: the loader refuses what its model does not declare, naming the record", async () => {
    const { db } = get();
    const integration = await db.insertInto('integrations').values({ name: 'vocabulary', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'https://api.bitbucket.org', credential_kind: 'api-token', schedule: null, options: '{}' }).returning('id').executeTakeFirstOrThrow();
    const run = await db.insertInto('sync_runs').values({ integration_id: integration.id, trigger: 'test', mode: 'full', status: 'running', counts: '{}' }).returning('id').executeTakeFirstOrThrow();
    const load = (batch: Batch) => loadScopes(db, String(integration.id), String(run.id), [{ scopeId: 's', batches: [batch] }], BITBUCKET_CLOUD_MODEL);
    const repo = { kind: 'repository', externalId: '{r}', name: 'r', handle: 'r', parent: null };
    const user = { kind: 'user' as const, externalId: '{u}', displayName: 'U', handle: null };
    await expect(load({ resources: [repo], principals: [user], grants: [{ principal: user, resource: repo, permission: 'owner' }] })).rejects.toThrow(/owner grant of user \{u\} on repository \{r\} is not on the repository ladder \(read < write < admin\)/);
    await expect(load({ resources: [repo], principals: [user], grants: [{ principal: user, resource: repo, permission: 'create-repo' }] })).rejects.toThrow(/is not on the repository ladder/);
    await expect(load({ resources: [{ ...repo, kind: 'snippet' }] })).rejects.toThrow(/resource kind "snippet" is not in the permission model \(workspace, project, repository\)/);
    await expect(load({ principals: [{ ...user, kind: 'robot' as 'user' }] })).rejects.toThrow(/principal kind "robot"/);
    // Nothing was written by the refused loads.
    expect(await db.selectFrom('grants').select('id').where('integration_id', '=', integration.id).execute()).toEqual([]);
    await load({ resources: [repo], principals: [user], grants: [{ principal: user, resource: repo, permission: 'write' }] });
    expect(await db.selectFrom('grants').select('permission').where('integration_id', '=', integration.id).execute()).toEqual([{ permission: 'write' }]);
  });
});
