export { HttpClient, type HttpClientOptions, type HttpRequest, type HttpResponse } from './client.ts';
export { RequestBudget, sharedBudget, HOUR_MS } from './budget.ts';
export { backoffDelay, parseRetryAfter, parseRateLimitHeaders, DEFAULT_BACKOFF, type BackoffPolicy, type RateLimitHeaders } from './backoff.ts';
export { systemClock, type Clock } from './clock.ts';
export { endpointLabel, parseJsonBody } from './json.ts';
