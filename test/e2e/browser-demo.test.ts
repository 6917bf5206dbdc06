import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEV_JWT_SECRET, defaultConfig } from '../../lib/config.js';
import { browserUnavailable, launchChromium } from '../helpers/browser.js';
import { startSystem } from '../helpers/system.js';

/**
 * The demo in a real browser (Debian's Chromium, headless): the page loads, its module imports the
 * SDK bundle, both panes get a token from the server and connect, and nothing is logged as an error. The
 * screenshot is kept under PARLEY_TEST_ARTIFACTS when set (else a temp folder, removed after).
 */

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// Skipped, with the reason, on a machine without Chromium.
const skip = browserUnavailable();

t.test('the demo page loads the SDK bundle in Chromium, without console errors', { skip: skip ? `browser tests skipped: ${skip}` : false }, async (t) => {
  const sys = await startSystem(t, { demo: { enabled: true }, auth: { ...defaultConfig().auth, secret: DEV_JWT_SECRET } });
  const demoUrl = sys.running[0]!.gateway!.demoUrl!;
  const { browser, close } = await launchChromium();
  t.teardown(close);

  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));

  const res = await page.goto(demoUrl, { waitUntil: 'load' });
  t.equal(res?.status(), 200, 'GET /demo');
  await page.evaluate(() => (window as unknown as { ParleyDemo: { ready: Promise<void> } }).ParleyDemo.ready);
  t.equal(await page.locator('#status').getAttribute('data-loaded'), 'true', 'the page says the client loaded');
  t.same(await page.locator('.pane').evaluateAll((panes) => panes.map((p) => [(p as HTMLElement).dataset.user, (p as HTMLElement).dataset.state])), [['alice', 'open'], ['bob', 'open']], 'both panes connected with their own token (the SDK bundle imported)');
  t.same(problems, [], 'no console errors, page errors or failed requests');

  const dir = process.env.PARLEY_TEST_ARTIFACTS ?? (await mkdtemp(join(tmpdir(), 'parley-browser-')));
  if (process.env.PARLEY_TEST_ARTIFACTS) await mkdir(dir, { recursive: true });
  else t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'demo.png');
  const png = await page.screenshot({ path: file, fullPage: true });
  t.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), 'a PNG');
  t.ok((await stat(file)).size > 1_000, 'not empty');
  t.comment(`screenshot: ${file}`);
});
