/**
 * The Atlassian organization as the engine sees it: an identity source (src/interfaces.ts
 * `IdentitySourceDefinition`), registered by one line in src/connectors.ts. It says who is behind the
 * Bitbucket accounts — e-mail, account status, last activity per product, when they joined the
 * organization — and grants nothing itself.
 */
import { z } from 'zod';
import type { IdentitySourceDefinition } from '../../src/interfaces.ts';
import { Secret } from '../../src/secrets/index.ts';
import { ATLASSIAN_API, OrgClient } from './client.ts';

export const ORG_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

export const ATLASSIAN_ORG: IdentitySourceDefinition = {
  role: 'identity',
  kind: 'atlassian-org',
  title: 'Atlassian organization',
  settings: {
    workspace: null,
    baseUrl: { description: 'the Atlassian Administration API root', default: ATLASSIAN_API },
  },
  credentials: [
    {
      kind: 'org-api-key',
      description: 'organization API key of an organization admin (admin.atlassian.com → Settings → API keys), sent as Bearer',
      fields: { token: { from: 'secret', slot: 'secret', description: 'the organization API key' } },
      schema: z.object({ token: z.instanceof(Secret, { error: 'the API key is missing' }).refine((s) => s.reveal().trim() !== '', 'the API key is empty') }),
    },
  ],
  options: [
    {
      name: 'orgId',
      type: 'text',
      flag: '--org-id',
      description: 'the organization id (in admin.atlassian.com the part after /o/ of the URL; also shown where the API key is created)',
      pattern: ORG_ID_PATTERN,
      example: '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
    },
    { name: 'budgetPerHour', type: 'integer', flag: '--budget', description: 'API requests per hour this key may use', min: 10, max: 100_000, default: 1000 },
    { name: 'concurrency', type: 'integer', flag: '--concurrency', description: 'parallel API requests', min: 1, max: 32, default: 4 },
  ],
  async createReader(integration, credential, deps) {
    const parts = await credential.open();
    const token = parts.token as Secret;
    const tuning = deps.tuning;
    return new OrgClient({
      baseUrl: integration.baseUrl,
      credential: { kind: 'org-api-key', orgId: String(integration.options.orgId), token },
      budgetPerHour: tuning.budgetPerHour ?? (integration.options.budgetPerHour as number | undefined),
      concurrency: tuning.concurrency ?? (integration.options.concurrency as number | undefined),
      maxRetries: tuning.maxRetries,
      retryBaseMs: tuning.retryBaseMs,
      maxRateLimitWaitMs: tuning.maxRateLimitWaitMs,
      timeoutMs: tuning.timeoutMs,
      clock: tuning.clock,
      logger: deps.logger,
      onProgress: deps.onProgress,
      signal: deps.signal,
    });
  },
};
