import fs from 'node:fs';
import type { Browser } from 'playwright-core';

/**
 * Real Chromium for the browser tests: Debian's `chromium` package (no browser download at install),
 * or ROSTER_CHROMIUM. Null when absent: the tests say so and skip.
 */
export function chromiumPath(): string | null {
  const candidates = [process.env.ROSTER_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => typeof p === 'string' && p !== '');
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

export const CHROMIUM_MISSING = "Debian's chromium is not installed (apt-get install -y chromium, or set ROSTER_CHROMIUM): browser tests skipped";

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(CHROMIUM_MISSING);
  const { chromium } = await import('playwright-core');
  // --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}
