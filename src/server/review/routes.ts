import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/types.ts';
import { RosterError, errorMessage } from '../../errors.ts';
import { logger } from '../../log.ts';
import { ReviewInputError, campaignHead, campaignStatus, recordReviewActions, remediationTasks, reviewerQueue, reviewersOf } from '../../review/index.ts';
import type { ReviewAction } from '../../review/index.ts';
import { plural } from '../../text.ts';
import { exploreAccess } from './explorer.ts';
import type { Html } from './html.ts';
import { GuessLimiter, type LinkClaims, csrfMatches, csrfToken, verifyLink } from './links.ts';
import { type QueueFilters, confirmKeepPage, errorPage, explorerPage, overviewPage, queuePage } from './pages.ts';

/**
 * The reviewer web page's routes, under /review:
 *   GET  /review/CAMPAIGN            the signed-in reviewer's queue (filters as query parameters)
 *   POST /review/CAMPAIGN/decide     one decision (keep, revoke, reduce:<permission>) with a comment
 *   POST /review/CAMPAIGN/keep       keep the selected items (a confirmation page first)
 *   POST /review/CAMPAIGN/reassign   hand an undecided item to another reviewer, with a reason
 *   GET  /review/CAMPAIGN/overview   the campaign owner's overview
 *   GET  /review/CAMPAIGN/access     the owner's read-only access explorer
 *   GET  /review/static/…            the stylesheet and the script (nothing inline: see the CSP)
 *
 * Who is signed in: a signed link's token (`?t=`, from `roster review link`), which the first answer
 * turns into a cookie (HttpOnly, SameSite=Strict, scoped to the campaign's path, expiring with the
 * link); or, for reviewers, an identity header set by a trusted proxy (oauth2-proxy's
 * X-Forwarded-Email), believed only from the configured proxy addresses. Decisions go through
 * `recordReviewActions`, the same code path and log as `roster review import`.
 */

export interface ReviewServerOptions {
  linkKey: Buffer;
  /** A request header naming the signed-in user by e-mail (e.g. X-Forwarded-Email), trusted only from `trustedProxies`. */
  trustProxyHeader?: string;
  /** Addresses of the proxies whose identity header is believed. */
  trustedProxies?: readonly string[];
  /** Cookies get `Secure` (the page is served over HTTPS, e.g. behind the proxy). */
  secureCookies?: boolean;
  limiter?: GuessLimiter;
  now?: () => Date;
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

const STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'static');
const STATIC: Record<string, { type: string; file: string }> = {
  'review.js': { type: 'text/javascript; charset=utf-8', file: 'review.js' },
  'review.css': { type: 'text/css; charset=utf-8', file: 'review.css' },
};

/** `::ffff:10.0.0.1` is 10.0.0.1. */
export const normalizeAddress = (address: string | undefined): string => (address ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');

interface Session {
  /** The reviewer's Roster key; null for the owner. */
  reviewer: string | null;
  owner: boolean;
  /** What the CSRF token is bound to. */
  id: string;
  via: 'link' | 'proxy';
}

type Role = 'reviewer' | 'owner';
const cookieName = (role: Role, campaignId: string): string => `roster_${role}_${campaignId}`;

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly hint: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function reviewRoutes(db: Kysely<Database>, options: ReviewServerOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const limiter = options.limiter ?? new GuessLimiter();
  const now = options.now ?? (() => new Date());
  const trusted = new Set((options.trustedProxies ?? []).map((a) => normalizeAddress(a.trim())).filter(Boolean));
  const proxyHeader = options.trustProxyHeader?.trim().toLowerCase() || null;
  const statics = new Map(Object.entries(STATIC).map(([name, s]) => [name, { type: s.type, body: fs.readFileSync(path.join(STATIC_DIR, s.file)) }]));

  const sendHtml = (res: http.ServerResponse, status: number, page: Html, headers: Record<string, string | string[]> = {}) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...headers });
    res.end(page.text);
  };
  const redirect = (res: http.ServerResponse, location: string, headers: Record<string, string | string[]> = {}) => {
    res.writeHead(303, { location, ...SECURITY_HEADERS, ...headers });
    res.end();
  };

  /** The campaign's reviewer (or owner) this request is signed in as; a cookie to set when a link was used. */
  async function signIn(req: http.IncomingMessage, url: URL, campaignId: string, role: Role): Promise<{ session: Session; setCookie: string | null }> {
    const address = normalizeAddress(req.socket.remoteAddress);
    const fromQuery = req.method === 'GET' ? url.searchParams.get('t') : null;
    const fromCookie = parseCookies(req.headers.cookie).get(cookieName(role, campaignId)) ?? null;
    const token = fromQuery ?? fromCookie;
    if (token !== null) {
      const wait = limiter.blockedFor(address);
      if (wait > 0) throw new Refusal(429, 'Too many invalid links', `Too many invalid review links from ${address}. Try again in ${Math.ceil(wait / 60_000)} minutes.`, null, { 'retry-after': String(Math.ceil(wait / 1000)) });
      const verified = verifyLink(options.linkKey, token, now());
      if (!verified.ok && verified.reason === 'expired') {
        throw new Refusal(401, 'This link has expired', `This review link expired on ${verified.claims.expiresAt.toISOString().replace('T', ' ').slice(0, 16)} UTC.`, `Ask the campaign owner for a new one (roster review link ${campaignId} --reviewer YOU).`, fromCookie && !fromQuery ? { 'set-cookie': clearCookie(role, campaignId) } : {});
      }
      if (!verified.ok) {
        limiter.fail(address);
        logger.warn({ address, campaign: campaignId, reason: verified.reason }, 'review page: invalid link token');
        throw new Refusal(401, 'This link is not valid', 'This review link is not valid: it may be incomplete (copy the whole address from the e-mail) or it was replaced.', 'Ask the campaign owner for a new link.', fromCookie && !fromQuery ? { 'set-cookie': clearCookie(role, campaignId) } : {});
      }
      const claims = verified.claims;
      if (claims.campaignId !== campaignId) throw new Refusal(403, 'Another campaign', `This link is for campaign ${claims.campaignId}, not campaign ${campaignId}.`, `Open /review/${claims.campaignId}${claims.owner ? '/overview' : ''} instead.`);
      if (role === 'owner' && !claims.owner) throw new Refusal(403, 'Owner page', "The campaign overview needs the campaign owner's link.", `The owner gets it with: roster review link ${campaignId} --owner`);
      if (role === 'reviewer' && claims.owner) throw new Refusal(403, 'Reviewer page', "This is the campaign owner's link: it opens the overview, not a reviewer's queue.", `Open /review/${campaignId}/overview.`);
      return { session: { reviewer: claims.reviewer, owner: claims.owner, id: token, via: 'link' }, setCookie: fromQuery ? sessionCookie(role, claims, token) : null };
    }
    if (role === 'reviewer' && proxyHeader && trusted.has(address)) {
      const raw = req.headers[proxyHeader];
      const email = (Array.isArray(raw) ? raw[0] : raw)?.trim().toLowerCase();
      if (email) {
        const { campaign, reviewers } = await reviewersOf(db, campaignId);
        const found = reviewers.find((r) => r.email !== null && r.email.toLowerCase() === email);
        if (!found) throw new Refusal(403, 'Not a reviewer', `You are signed in as ${email}, who has no items in campaign ${campaign.id} "${campaign.name}".`, 'If you should, ask the campaign owner to reassign items to you, or for a review link.');
        return { session: { reviewer: found.key, owner: false, id: `proxy:${campaignId}:${found.key}`, via: 'proxy' }, setCookie: null };
      }
    }
    throw new Refusal(401, 'Sign-in needed', role === 'owner' ? "The campaign overview needs the campaign owner's link." : 'This page needs your personal review link.', role === 'owner' ? `roster review link ${campaignId} --owner prints it.` : 'Open the link from your review e-mail (roster review link prints it).');
  }

  function sessionCookie(role: Role, claims: LinkClaims, token: string): string {
    const maxAge = Math.max(0, Math.floor((claims.expiresAt.getTime() - now().getTime()) / 1000));
    return `${cookieName(role, claims.campaignId)}=${token}; Path=/review/${claims.campaignId}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${options.secureCookies ? '; Secure' : ''}`;
  }
  function clearCookie(role: Role, campaignId: string): string {
    return `${cookieName(role, campaignId)}=; Path=/review/${campaignId}; Max-Age=0; HttpOnly; SameSite=Strict${options.secureCookies ? '; Secure' : ''}`;
  }

  async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') throw new Refusal(415, 'Unsupported form', 'Forms are sent as application/x-www-form-urlencoded.');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1_000_000) throw new Refusal(413, 'Too large', 'The form is larger than 1 MB.');
      chunks.push(chunk as Buffer);
    }
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  }

  function checkPost(req: http.IncomingMessage, session: Session, form: URLSearchParams): void {
    // Browsers say where a form comes from (Sec-Fetch-Site, Origin): another site's form is refused
    // before the CSRF token is even looked at.
    if (req.headers['sec-fetch-site'] === 'cross-site') throw new Refusal(403, 'Refused', 'A form from another site may not change this campaign.');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let host: string | null = null;
      try {
        host = new URL(origin).host;
      } catch {
        host = null;
      }
      if (host !== req.headers.host) throw new Refusal(403, 'Refused', `A form from ${origin} may not change this campaign.`);
    } else if (origin === 'null') {
      throw new Refusal(403, 'Refused', 'A form from an opaque origin may not change this campaign.');
    }
    if (!csrfMatches(options.linkKey, session.id, form.get('_csrf'))) throw new Refusal(403, 'Form expired', 'This form is not from your current review page (or it has expired).', 'Go back, reload the page and try again.');
  }

  const filtersOf = (params: URLSearchParams): QueueFilters => ({ resource: params.get('resource') ?? '', permission: params.get('permission') ?? '', flag: params.get('flag') ?? '', undecided: params.get('undecided') === '1' });
  const filterQuery = (f: QueueFilters): string => {
    const q = new URLSearchParams();
    if (f.resource) q.set('resource', f.resource);
    if (f.permission) q.set('permission', f.permission);
    if (f.flag) q.set('flag', f.flag);
    if (f.undecided) q.set('undecided', '1');
    return q.toString();
  };

  async function queue(res: http.ServerResponse, status: number, campaignId: string, session: Session, extra: { filters: QueueFilters; notice?: string | null; problems?: string[]; entered?: Map<string, { decision: string; comment: string }> }, headers: Record<string, string | string[]> = {}) {
    let q;
    try {
      q = await reviewerQueue(db, campaignId, session.reviewer ?? '', { now: now() });
    } catch (error) {
      if (error instanceof RosterError) throw new Refusal(403, 'Not a reviewer', errorMessage(error), 'Ask the campaign owner for a new link.');
      throw error;
    }
    const base = `/review/${campaignId}`;
    sendHtml(res, status, queuePage({ queue: q, filters: extra.filters, filterQuery: filterQuery(extra.filters), csrf: csrfToken(options.linkKey, session.id), base, notice: extra.notice ?? null, problems: extra.problems ?? [], entered: extra.entered ?? new Map() }), headers);
  }

  async function record(campaignId: string, session: Session, actions: ReviewAction[]): Promise<{ ok: true; decided: number } | { ok: false; problems: string[] }> {
    try {
      const outcome = await recordReviewActions(db, campaignId, actions, { source: `web:${session.via}`, now: now() });
      logger.info({ campaign: campaignId, reviewer: session.reviewer, via: session.via, decided: outcome.decided, unchanged: outcome.unchanged, reassigned: outcome.reassigned, logged: outcome.logged }, 'review page: decisions recorded');
      return { ok: true, decided: outcome.decided + outcome.unchanged + outcome.reassigned };
    } catch (error) {
      if (error instanceof ReviewInputError) return { ok: false, problems: error.problems.map((p) => `${p.message} — ${p.fix}`) };
      if (error instanceof RosterError) return { ok: false, problems: [errorMessage(error)] };
      throw error;
    }
  }

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://roster.invalid');
    const method = req.method ?? 'GET';
    try {
      const asset = /^\/review\/static\/([a-z.]+)$/.exec(url.pathname);
      if (asset) {
        const file = statics.get(asset[1] as string);
        if (!file || method !== 'GET') throw new Refusal(404, 'Not found', 'No such file.');
        res.writeHead(200, { 'content-type': file.type, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
        res.end(file.body);
        return;
      }
      const match = /^\/review\/(\d{1,18})(\/decide|\/keep|\/reassign|\/overview|\/access)?\/?$/.exec(url.pathname);
      if (!match) throw new Refusal(404, 'Not found', `There is no page at ${url.pathname}.`, 'Review pages are at /review/CAMPAIGN (open the link from your review e-mail).');
      const campaignId = match[1] as string;
      const sub = match[2] ?? '';
      const wantsPost = sub === '/decide' || sub === '/keep' || sub === '/reassign';
      if (wantsPost ? method !== 'POST' : method !== 'GET') throw new Refusal(405, 'Method not allowed', `${method} is not supported here.`, null, { allow: wantsPost ? 'POST' : 'GET' });
      const role: Role = sub === '/overview' || sub === '/access' ? 'owner' : 'reviewer';
      // A campaign that does not exist answers as a bad link would: no way to enumerate campaigns.
      const { session, setCookie } = await signIn(req, url, campaignId, role);
      const cookie: Record<string, string> = setCookie ? { 'set-cookie': setCookie } : {};
      const base = `/review/${campaignId}`;
      try {
        await campaignHead(db, campaignId);
      } catch (error) {
        if (error instanceof RosterError) throw new Refusal(404, 'No such campaign', `Campaign ${campaignId} does not exist (any more).`);
        throw error;
      }

      if (sub === '') {
        const filters = filtersOf(url.searchParams);
        const n = Number(url.searchParams.get('n') ?? '0');
        const noticeKind = url.searchParams.get('notice');
        const notice = noticeKind === 'kept' ? `Kept ${plural(n, 'item')}.` : noticeKind === 'saved' ? `Saved the decision on item ${url.searchParams.get('item') ?? ''}.` : noticeKind === 'reassigned' ? `Handed item ${url.searchParams.get('item') ?? ''} to its new reviewer.` : null;
        await queue(res, 200, campaignId, session, { filters, notice }, cookie);
        return;
      }
      if (sub === '/overview') {
        const head = await campaignHead(db, campaignId, { now: now() });
        const status = await campaignStatus(db, campaignId, { now: now() });
        const tasks = await remediationTasks(db, campaignId, { now: now() });
        sendHtml(res, 200, overviewPage({ head, status, tasks, base }), cookie);
        return;
      }
      if (sub === '/access') {
        const head = await campaignHead(db, campaignId, { now: now() });
        const request = { integration: url.searchParams.get('integration') ?? undefined, run: url.searchParams.get('run') ?? undefined, repository: url.searchParams.get('repository') ?? undefined, user: url.searchParams.get('user') ?? undefined };
        const result = await exploreAccess(db, request, now());
        sendHtml(res, result.problem ? 422 : 200, explorerPage({ head, result, base, request }), cookie);
        return;
      }

      const form = await readForm(req);
      checkPost(req, session, form);
      const reviewer = session.reviewer as string;
      const filters = filtersOf(new URLSearchParams(form.get('back') ?? ''));
      const back = filterQuery(filters);
      if (sub === '/decide') {
        const itemId = form.get('item') ?? '';
        const decision = form.get('decision') ?? '';
        const comment = form.get('comment') ?? '';
        const done = await record(campaignId, session, [{ kind: 'decide', itemId, actor: reviewer, decision, comment }]);
        if (!done.ok) {
          await queue(res, 422, campaignId, session, { filters, problems: done.problems, entered: new Map([[itemId, { decision, comment }]]) });
          return;
        }
        redirect(res, `${base}?${back ? `${back}&` : ''}notice=saved&item=${encodeURIComponent(itemId)}#item-${encodeURIComponent(itemId)}`);
        return;
      }
      if (sub === '/reassign') {
        const itemId = form.get('item') ?? '';
        const done = await record(campaignId, session, [{ kind: 'reassign', itemId, actor: reviewer, to: form.get('to') ?? '', reason: form.get('reason') ?? '' }]);
        if (!done.ok) {
          await queue(res, 422, campaignId, session, { filters, problems: done.problems });
          return;
        }
        redirect(res, `${base}?${back ? `${back}&` : ''}notice=reassigned&item=${encodeURIComponent(itemId)}`);
        return;
      }
      const ids = [...new Set(form.getAll('item').map((s) => s.trim()).filter(Boolean))];
      if (ids.length === 0) {
        await queue(res, 422, campaignId, session, { filters, problems: ['No item was selected — tick the items to keep, then press Keep selected.'] });
        return;
      }
      if (form.get('confirm') !== 'yes') {
        const q = await reviewerQueue(db, campaignId, reviewer, { now: now() });
        sendHtml(res, 200, confirmKeepPage({ queue: q, itemIds: ids, csrf: csrfToken(options.linkKey, session.id), base, back }));
        return;
      }
      const done = await record(
        campaignId,
        session,
        ids.map((itemId) => ({ kind: 'decide', itemId, actor: reviewer, decision: 'keep', comment: null })),
      );
      if (!done.ok) {
        await queue(res, 422, campaignId, session, { filters, problems: done.problems });
        return;
      }
      redirect(res, `${base}?${back ? `${back}&` : ''}notice=kept&n=${ids.length}`);
    } catch (error) {
      if (error instanceof Refusal) {
        sendHtml(res, error.status, errorPage(error.title, error.message, error.hint), error.headers);
        return;
      }
      logger.error({ err: errorMessage(error) }, 'review page failed');
      sendHtml(res, 500, errorPage('Something went wrong', 'The review page could not be shown; the error is in the server log.'));
    }
  };
}
