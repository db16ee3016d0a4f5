import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { campaignStatus, createCampaign, recordReviewActions, reviewerQueue } from '../../src/review/index.ts';
import { startStatusServer } from '../../src/server/index.ts';
import { GuessLimiter, csrfToken } from '../../src/server/review/links.ts';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { HTML_DANGEROUS_LABEL } from '../../connectors/bitbucket-cloud/simulator/names.ts';
import { CHROMIUM_MISSING, chromiumPath, launchChromium } from '../helpers/browser.ts';
import { describeWithDb } from '../helpers/db.ts';
import { type ReviewWorld, reviewWorld } from '../helpers/review-world.ts';

/**
 * The reviewer web page, end to end: the small simulator synced, a campaign reviewed by each
 * resource's admins, `roster serve`'s HTTP server, and real Chromium (Debian's package, driven by
 * playwright-core). What the page shows is checked against the campaign's own records and the
 * simulator's ground truth; what a reviewer does is checked in the database afterwards.
 */

const browserIt = chromiumPath() ? it : (name: string, _fn: () => Promise<void>) => it.skip(`${name} — ${CHROMIUM_MISSING}`, () => {});

const cookieOf = (res: Response): string => (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
const csrfIn = (page: string): string => /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';

describeWithDb('the reviewer web page', (get) => {
  let sim: Simulator;
  let world: ReviewWorld;
  let browser: Browser | null = null;
  let reviewer: string;
  let other: string;

  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
    world = await reviewWorld(get(), sim);
    reviewer = world.dangerousReviewer;
    other = (world.reviewers.find((r) => r.key !== reviewer) as { key: string }).key;
    if (chromiumPath()) browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await world?.close();
    await sim?.close();
  });

  it('a link opens the page and becomes a strict cookie; without it 401; forms need the CSRF token and the same origin', async () => {
    const link = world.link({ reviewer, owner: false });
    const opened = await fetch(link, { redirect: 'manual' });
    expect(opened.status).toBe(200);
    expect(opened.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(opened.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(opened.headers.get('referrer-policy')).toBe('same-origin');
    const setCookie = opened.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(new RegExp(`^roster_reviewer_${world.campaignId}=[^;]+; Path=/review/${world.campaignId}; Max-Age=\\d+; HttpOnly; SameSite=Strict$`));
    const page = await opened.text();
    expect(page).not.toContain(HTML_DANGEROUS_LABEL);
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt; jenkins-ci');

    const bare = `${world.url}/review/${world.campaignId}`;
    expect((await fetch(bare)).status).toBe(401);
    const cookie = cookieOf(opened);
    expect((await fetch(bare, { headers: { cookie } })).status).toBe(200);

    const item = (await reviewerQueue(get().db, world.campaignId, reviewer)).items[0]?.id as string;
    const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${bare}/decide`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
    expect((await post({ item, decision: 'keep', comment: '' })).status).toBe(403);
    expect((await post({ item, decision: 'keep', comment: '', _csrf: csrfIn(page) }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ item, decision: 'keep', comment: '', _csrf: csrfToken(world.linkKey, 'someone else') })).status).toBe(403);
    const before = await campaignStatus(get().db, world.campaignId);
    expect(before.decided).toBe(0);

    // Links are bound to their campaign and their role.
    const elsewhere = world.link({ reviewer, owner: false, campaignId: '987654' });
    expect((await fetch(`${bare}?t=${new URL(elsewhere).searchParams.get('t')}`)).status).toBe(403);
    expect((await fetch(`${world.url}/review/${world.campaignId}/overview?t=${new URL(link).searchParams.get('t')}`)).status).toBe(403);
    expect((await fetch(`${bare}?t=${new URL(world.link({ reviewer: null, owner: true })).searchParams.get('t')}`)).status).toBe(403);
    // A token whose payload was edited (another reviewer, a later expiry) no longer matches its signature.
    const [body, signature] = (new URL(link).searchParams.get('t') as string).split('.') as [string, string];
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), r: other })).toString('base64url');
    const refused = await fetch(`${bare}?t=${widened}.${signature}`);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('This link is not valid');
  });

  it('token guesses are rate limited per address: after the limit even a good link waits', async () => {
    const server = await startStatusServer({ handle: get(), host: '127.0.0.1', port: 0, maxAgeMs: 3_600_000, review: { linkKey: world.linkKey, limiter: new GuessLimiter(3, 60_000) } });
    try {
      const at = `${server.url}/review/${world.campaignId}`;
      for (let i = 0; i < 3; i++) expect((await fetch(`${at}?t=guess${i}.${'A'.repeat(43)}`)).status).toBe(401);
      const limited = await fetch(`${at}?t=guess4.${'A'.repeat(43)}`);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      const good = new URL(world.link({ reviewer, owner: false })).searchParams.get('t') as string;
      expect((await fetch(`${at}?t=${good}`)).status).toBe(429);
    } finally {
      await server.close();
    }
  });

  browserIt('a reviewer filters, keeps in bulk, revokes with a comment, reloads and sees the decisions; markup renders as text', async () => {
    const context = await (browser as Browser).newContext({ viewport: { width: 1280, height: 800 } });
    const dialogs: string[] = [];
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    try {
      const queue = await reviewerQueue(get().db, world.campaignId, reviewer);
      const total = queue.items.length;
      const response = await page.goto(world.link({ reviewer, owner: false }));
      expect(response?.status()).toBe(200);
      expect(page.url()).not.toContain('t=');
      await expect.poll(() => page.locator('#progress').innerText()).toContain(`0 of ${total} decided`);
      // The label is text on the page: no element of it exists, no script of it ran.
      expect(await page.getByText(HTML_DANGEROUS_LABEL, { exact: true }).count()).toBe(1);
      expect(await page.locator('img').count()).toBe(0);

      // Filter by permission: the rows are the reviewer's items with that permission.
      const permission = queue.items.map((i) => i.permission).sort((a, b) => queue.items.filter((i) => i.permission === b).length - queue.items.filter((i) => i.permission === a).length)[0] as string;
      const expected = queue.items.filter((i) => i.permission === permission).map((i) => i.id);
      await Promise.all([page.waitForURL(/permission=/), page.selectOption('#f-permission', permission)]);
      expect(await page.locator('tr[data-item]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-item')))).toEqual(expected);

      // Keep every shown item: a confirmation first, confirmed from the keyboard.
      await page.check('#select-all');
      expect(await page.locator('#keep-selected').innerText()).toBe(`Keep ${expected.length} selected…`);
      await page.click('#keep-selected');
      await expect.poll(() => page.locator('h1').innerText()).toMatch(new RegExp(`^Keep ${expected.length} items?\\?$`));
      await Promise.all([page.waitForURL(/notice=kept/), page.keyboard.press('Enter')]);
      expect(await page.locator('#notice').innerText()).toBe(`Kept ${expected.length === 1 ? '1 item' : `${expected.length} items`}.`);
      expect(await page.locator('#progress').innerText()).toContain(`${expected.length} of ${total} decided`);

      // Revoke needs a comment: refused with the reason, then saved with one.
      await page.click('text=Clear filters');
      const target = queue.items.find((i) => i.permission !== permission) ?? (queue.items[0] as (typeof queue.items)[number]);
      await page.selectOption(`#d-${target.id}`, 'revoke');
      await page.click(`#item-${target.id} form.decide button`);
      await expect.poll(() => page.locator('#problems').innerText()).toContain('revoke needs a comment');
      await page.fill(`#c-${target.id}`, 'left the platform team in October');
      await Promise.all([page.waitForURL(/notice=saved/), page.click(`#item-${target.id} form.decide button`)]);
      await page.reload();
      expect(await page.locator(`#item-${target.id} .state`).innerText()).toContain('revoke — “left the platform team in October”');
      for (const id of expected) expect(await page.locator(`#item-${id} .state`).innerText()).toContain('Decided: keep');
      expect(dialogs).toEqual([]);

      // The database holds what the page showed, recorded by the same path as an import.
      const after = await reviewerQueue(get().db, world.campaignId, reviewer);
      const decided = new Map(after.items.filter((i) => i.decision !== null).map((i) => [i.id, `${i.decision} ${i.comment ?? ''}`.trim()]));
      expect(decided).toEqual(new Map([...expected.map((id): [string, string] => [id, 'keep']), [target.id, 'revoke left the platform team in October']]));
    } finally {
      await context.close();
    }
  });

  browserIt("another reviewer's link sees only their own items and cannot decide the first reviewer's", async () => {
    const context = await (browser as Browser).newContext();
    try {
      const page = await context.newPage();
      await page.goto(world.link({ reviewer: other, owner: false }));
      const mine = (await reviewerQueue(get().db, world.campaignId, other)).items.map((i) => i.id);
      const theirs = (await reviewerQueue(get().db, world.campaignId, reviewer)).items;
      expect(await page.locator('tr[data-item]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-item')))).toEqual(mine);
      const csrf = (await page.locator('input[name=_csrf]').first().getAttribute('value')) as string;
      const victim = theirs.find((i) => i.decision === null) as (typeof theirs)[number];
      const answer = await context.request.post(`${world.url}/review/${world.campaignId}/decide`, { form: { _csrf: csrf, item: victim.id, decision: 'revoke', comment: 'not mine to judge' }, headers: { origin: world.url }, maxRedirects: 0 });
      expect(answer.status()).toBe(422);
      expect(await answer.text()).toMatch(new RegExp(`item ${victim.id} is assigned to .*, not to `));
      const still = (await reviewerQueue(get().db, world.campaignId, reviewer)).items.find((i) => i.id === victim.id);
      expect(still?.decision).toBeNull();
    } finally {
      await context.close();
    }
  });

  browserIt('an expired link is refused with a clear page', async () => {
    const context = await (browser as Browser).newContext();
    try {
      const page = await context.newPage();
      const response = await page.goto(world.link({ reviewer, owner: false, expiresAt: new Date(Date.now() - 60_000) }));
      expect(response?.status()).toBe(401);
      expect(await page.locator('h1').innerText()).toBe('This link has expired');
      expect(await page.locator('main').innerText()).toContain(`roster review link ${world.campaignId} --reviewer`);
    } finally {
      await context.close();
    }
  });

  browserIt('the owner sees progress update, and the access explorer says who can reach a repository as the ground truth does', async () => {
    const context = await (browser as Browser).newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await page.goto(world.link({ reviewer: null, owner: true }));
      const before = await campaignStatus(get().db, world.campaignId);
      expect(await page.locator('#progress').innerText()).toContain(`${before.decided} of ${before.items} decided`);
      const item = (await reviewerQueue(get().db, world.campaignId, other)).items.find((i) => i.decision === null) as { id: string };
      await recordReviewActions(get().db, world.campaignId, [{ kind: 'decide', itemId: item.id, actor: other, decision: 'keep', comment: null }], { source: 'test' });
      await page.reload();
      expect(await page.locator('#progress').innerText()).toContain(`${before.decided + 1} of ${before.items} decided`);
      expect(await page.locator(`tr[data-reviewer="${other}"] td:nth-child(3)`).innerText()).toBe(String((before.reviewers.find((r) => r.key === other)?.decided ?? 0) + 1));
      expect(await page.locator('#remediation-counts').innerText()).toBe(`${before.remediation.open} open · 0 done · 0 still present · 0 moot`);

      await page.click('text=Access explorer');
      await page.selectOption('#x-repository', 'api-gateway');
      await Promise.all([page.waitForURL(/repository=api-gateway/), page.click('form:has(#x-repository) button')]);
      const repo = sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
      const truth = sim.truth
        .effectiveAccess()
        .filter((e) => e.repoUuid === repo.uuid)
        .map((e) => `${e.userUuid} ${e.permission}`)
        .sort();
      const shown = await page.locator('#explorer-rows tbody tr[data-kind="user"]').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-principal')} ${r.getAttribute('data-permission')}`));
      expect(shown.sort()).toEqual(truth);
      // The deploy key with the markup label is there too, as text.
      expect(await page.locator('#explorer-rows tbody tr[data-kind="deploy_key"]').innerText()).toContain(HTML_DANGEROUS_LABEL);
    } finally {
      await context.close();
    }
  });

  it('behind a proxy: the identity header is believed from the configured proxy address only', async () => {
    const created = await createCampaign(get().db, { name: 'Security lead review', integrations: [world.integration.name], reviewer: 'Security-Lead@acme.example', privilegedOnly: true });
    const trusting = await startStatusServer({ handle: get(), host: '127.0.0.1', port: 0, maxAgeMs: 3_600_000, review: { linkKey: world.linkKey, trustProxyHeader: 'X-Forwarded-Email', trustedProxies: ['127.0.0.1'] } });
    const distrusting = await startStatusServer({ handle: get(), host: '127.0.0.1', port: 0, maxAgeMs: 3_600_000, review: { linkKey: world.linkKey, trustProxyHeader: 'X-Forwarded-Email', trustedProxies: ['10.0.0.1'] } });
    try {
      const at = (base: string) => `${base}/review/${created.id}`;
      const signedIn = await fetch(at(trusting.url), { headers: { 'x-forwarded-email': 'security-lead@acme.example' } });
      expect(signedIn.status).toBe(200);
      const page = await signedIn.text();
      expect(page).toContain(`0 of ${created.items} decided`);
      const stranger = await fetch(at(trusting.url), { headers: { 'x-forwarded-email': 'mallory@acme.example' } });
      expect(stranger.status).toBe(403);
      expect(await stranger.text()).toContain('mallory@acme.example, who has no items in campaign');
      expect((await fetch(at(distrusting.url), { headers: { 'x-forwarded-email': 'security-lead@acme.example' } })).status).toBe(401);
      // A decision made through the proxy identity is recorded under that reviewer.
      const item = /name="item" value="(\d+)"/.exec(page)?.[1] as string;
      const saved = await fetch(`${at(trusting.url)}/decide`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'x-forwarded-email': 'security-lead@acme.example', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrfIn(page), item, decision: 'keep', comment: '' }).toString(),
      });
      expect(saved.status).toBe(303);
      const status = await campaignStatus(get().db, created.id);
      expect(status.reviewers).toEqual([expect.objectContaining({ key: 'email:security-lead@acme.example', decided: 1 })]);
      // An item the reviewer cannot judge goes to someone else, with a reason (the same checks as the CLI's reassign).
      const handOver = (await reviewerQueue(get().db, created.id, 'email:security-lead@acme.example')).items.find((i) => i.decision === null && i.principal_name !== 'Ada Lovelace') as { id: string };
      const reassign = (reason: string) =>
        fetch(`${at(trusting.url)}/reassign`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'x-forwarded-email': 'security-lead@acme.example', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: csrfIn(page), item: handOver.id, to: 'Ada Lovelace', reason }).toString(),
        });
      const noReason = await reassign('');
      expect(noReason.status).toBe(422);
      expect(await noReason.text()).toContain('a reassignment needs a reason');
      expect((await reassign('Ada owns this repository')).status).toBe(303);
      const ada = (await campaignStatus(get().db, created.id)).reviewers.find((r) => r.reviewer === 'Ada Lovelace');
      expect(ada).toMatchObject({ items: 1, decided: 0 });
      // Everything decided: the page says the reviewer is done.
      const rest = (await reviewerQueue(get().db, created.id, 'email:security-lead@acme.example')).items.filter((i) => i.decision === null);
      await recordReviewActions(get().db, created.id, rest.map((i) => ({ kind: 'decide' as const, itemId: i.id, actor: 'security-lead@acme.example', decision: 'keep', comment: null })), { source: 'test' });
      const done = await (await fetch(at(trusting.url), { headers: { 'x-forwarded-email': 'security-lead@acme.example' } })).text();
      expect(done).toContain(`<strong>${created.items - 1} of ${created.items - 1} decided</strong>`);
      expect(done).toContain(`All ${created.items - 1} items decided — thank you.`);
    } finally {
      await trusting.close();
      await distrusting.close();
    }
  });
});

