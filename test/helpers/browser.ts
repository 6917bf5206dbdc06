import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core, for the browser tests. Never a browser download:
 * playwright-core has none of its own, and this launches the system's binary only. Tests call
 * `browserUnavailable()` first and skip with its reason when there is no Chromium (.ci/run
 * installs it with apt; a machine without it still runs every other test).
 */
export const CHROMIUM = process.env.PARLEY_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless, and quiet: no sandbox (tests run as root, which Chromium's sandbox refuses), and
 * nothing that talks to the outside (updates, sync, metrics, default apps) or needs a big /dev/shm.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-default-apps',
  '--disable-sync',
  '--metrics-recording-only',
  '--disable-dev-shm-usage',
] as const;

/** Why browser tests cannot run here, or undefined when they can. */
export function browserUnavailable(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`;
}

export type LaunchedBrowser = { browser: Browser; close: () => Promise<void> };

export async function launchChromium(): Promise<LaunchedBrowser> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS], timeout: 30_000 });
  let closed = false;
  return {
    browser,
    close: async () => {
      if (closed) return;
      closed = true;
      await browser.close();
    },
  };
}
