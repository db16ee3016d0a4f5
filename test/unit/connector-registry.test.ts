import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BITBUCKET_CLOUD } from '../../connectors/bitbucket-cloud/definition.ts';
import { checkOptions, connectorKinds, connectorOf, credentialKindOf, credentialWarningOf, defaultConnectorKind, registerConnector } from '../../src/connectors.ts';
import type { ConnectorDefinition } from '../../src/interfaces.ts';
import { Secret } from '../../src/secrets/index.ts';

/** A definition that holds together, to break one part at a time. */
function definition(over: Partial<ConnectorDefinition> = {}): ConnectorDefinition {
  return {
    ...BITBUCKET_CLOUD,
    kind: 'broken-source',
    credentials: [{ kind: 'token', description: 't', fields: { token: { from: 'secret', slot: 'secret', description: 'the token' } }, schema: z.object({ token: z.instanceof(Secret) }) }],
    ...over,
  };
}

describe('the connector registry', () => {
  it('holds Bitbucket Cloud as its first, default kind', () => {
    expect(connectorKinds()[0]).toBe('bitbucket-cloud');
    expect(defaultConnectorKind()).toBe('bitbucket-cloud');
    expect(credentialWarningOf('bitbucket-cloud', 'app-password')).toMatch(/switched off in July 2026/);
    expect(credentialWarningOf('bitbucket-cloud', 'api-token')).toBeNull();
  });

  it('names what is unknown, and what there is', () => {
    expect(() => connectorOf('gitlab')).toThrow(/^Unknown integration kind "gitlab": use one of bitbucket-cloud \(Bitbucket Cloud\)(, [a-z-]+ \([^)]+\))*\.$/);
    expect(() => credentialKindOf('bitbucket-cloud', 'password')).toThrow('Bitbucket Cloud has no credential kind "password": use one of api-token, oauth-client-credentials, workspace-access-token, project-access-token, repository-access-token, app-password.');
  });

  it("checks stored options against the kind's one table: defaults, ranges, unknown names", () => {
    expect(checkOptions('bitbucket-cloud', {})).toEqual({ options: { concurrency: 4, budgetPerHour: 1000 }, problems: [] });
    const { problems } = checkOptions('bitbucket-cloud', { concurrency: 64, budgetPerHour: 5, tokenUrl: 'ftp://x', pagesize: 3, reconcile: 'daily' });
    expect(problems.map((p) => `${p.option?.flag ?? p.name}: ${p.message}`).sort()).toEqual([
      '--budget: must be a whole number from 10 to 100,000 (got 5)',
      '--concurrency: must be a whole number from 1 to 32 (got 64)',
      '--reconcile: must be one of always, weekly, off (got "daily")',
      '--token-url: must be an http(s) URL',
      'pagesize: is not an option of Bitbucket Cloud (its options: concurrency, budgetPerHour, reconcile, tokenUrl)',
    ]);
    expect(checkOptions('bitbucket-cloud', { reconcile: 'weekly' }).options).toMatchObject({ reconcile: 'weekly' });
  });

  it('refuses a definition that does not hold together, listing every problem', () => {
    expect(() => registerConnector({ ...BITBUCKET_CLOUD })).toThrow('Connector kind "bitbucket-cloud" is registered twice');
    const twoSecrets = definition({
      kind: 'Broken Source',
      credentials: [
        { kind: 'pair', description: 'p', fields: { a: { from: 'secret', slot: 'same', description: 'a' }, b: { from: 'secret', slot: 'same', description: 'b' } }, schema: z.object({}) as never },
      ],
      options: [{ name: 'n', type: 'integer', flag: '--n', description: 'n', min: 1, max: 5, default: 9 }],
    });
    let message = '';
    try {
      registerConnector(twoSecrets);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('kind "Broken Source" must be lowercase letters, digits and "-"');
    expect(message).toContain('credential kind "pair" has 2 secret fields (needs exactly one)');
    expect(message).toContain('credential kind "pair" stores two fields in one slot');
    expect(message).toContain('option n: default 9 is outside 1–5');
    expect(connectorKinds()).not.toContain('Broken Source');
  });
});
