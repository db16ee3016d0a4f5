import fs from 'node:fs';
import type { Browser } from 'playwright-core';

/**
 * Real Chromium for the browser tests: Debian's `chromium` package (no browser download at install),
 * or ROSTER_CHROMIUM. Null when absent: the tests say so and skip.
 */
export function chromiumPath(): string | null {
  const given = process.env.ROSTER_CHROMIUM?.trim();
  const candidates = given ? [given] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

export const CHROMIUM_MISSING = `no Chromium at ${process.env.ROSTER_CHROMIUM?.trim() || '/usr/bin/chromium'} (install Debian's package: apt-get install -y chromium; or set ROSTER_CHROMIUM): browser tests skipped`;

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(CHROMIUM_MISSING);
  const { chromium } = await import('playwright-core');
  // --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}
