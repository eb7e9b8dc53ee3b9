/**
 * Test support: Debian's Chromium (`/usr/bin/chromium`, or CHROMIUM_PATH) driven by
 * playwright-core, headless, with no browser download. Used by the console's e2e test and
 * `npm run console:screenshots`. Whoever launches it closes it (`browser.close()`), also on
 * failure.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** Launches Chromium, or throws saying how to install it when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it (sudo apt-get install -y chromium; scripts/services-up.sh does it when run as root) or set CHROMIUM_PATH`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}
