import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { DEV_JWT_SECRET, defaultConfig } from '../../lib/config.js';
import { ParleyClient, type WebSocketConstructor } from '../../sdk/src/index.js';
import { browserUnavailable, launchChromium } from '../helpers/browser.js';
import { startSystem, type TestSystem } from '../helpers/system.js';

/**
 * The demo page chatting for real, in Debian's Chromium: two pages (one user each) exchange
 * messages with sent → delivered → read ticks; then bob's page goes offline (network off and its
 * socket dropped) while alice sends more, comes back, and shows every message exactly once, in
 * order (on the page and in the client's state). A second test shows both users in one page and
 * saves the screenshot (under PARLEY_TEST_ARTIFACTS, else a temp folder; PARLEY_DEMO_SCREENSHOT
 * names a file to write it to as well, which is how docs/demo.png is made).
 */

const skip = browserUnavailable();
const skipReason = skip ? `browser tests skipped: ${skip}` : false;

/** What the tests read of window.ParleyDemo (demo/app.js documents it). */
type DemoMessage = { id?: string; tempId: string; seq?: number; senderId: string; content: string; status?: string };
type DemoPane = {
  client: { state: string };
  messages(conversationId: string): DemoMessage[];
  conversations(): { id: string; unread: number }[];
  received: string[];
  events: string[];
};
type DemoWindow = { ParleyDemo: { ready: Promise<void>; panes: Map<string, DemoPane> } };

function demoSystem(t: Test): Promise<TestSystem> {
  return startSystem(t, { demo: { enabled: true }, auth: { ...defaultConfig().auth, secret: DEV_JWT_SECRET } });
}

/** Console errors, page errors and failed requests, which a working demo has none of. */
function watch(page: Page, name: string, problems: string[]): void {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${name} console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${name} page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`${name} HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
  });
  page.on('requestfailed', (req) => problems.push(`${name} request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
}

async function openDemo(context: BrowserContext, url: string, name: string, problems: string[]): Promise<Page> {
  const page = await context.newPage();
  watch(page, name, problems);
  await page.goto(url, { waitUntil: 'load' });
  await page.evaluate(() => (window as unknown as DemoWindow).ParleyDemo.ready);
  return page;
}

function pane(page: Page, userId: string) {
  return page.locator(`.pane[data-user="${userId}"]`);
}

/** A pane's state as the page holds it (window.ParleyDemo). */
function paneState(page: Page, userId: string, conversationId: string) {
  return page.evaluate(
    ([u, c]) => {
      const p = (window as unknown as DemoWindow).ParleyDemo.panes.get(u!)!;
      return { state: p.client.state, messages: p.messages(c!), received: p.received, events: p.events };
    },
    [userId, conversationId] as const,
  );
}

async function send(page: Page, userId: string, text: string): Promise<void> {
  const input = pane(page, userId).locator('.composer input');
  await input.fill(text);
  await input.press('Enter');
}

async function startDirect(page: Page, userId: string, peer: string): Promise<void> {
  const input = pane(page, userId).locator('.new-direct input');
  await input.fill(peer);
  await input.press('Enter');
}

async function artifacts(t: Test): Promise<string> {
  const dir = process.env.PARLEY_TEST_ARTIFACTS ?? (await mkdtemp(join(tmpdir(), 'parley-browser-')));
  if (process.env.PARLEY_TEST_ARTIFACTS) await mkdir(dir, { recursive: true });
  else t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('two pages chat: ticks, then bob goes offline and comes back with every message once, in order', { skip: skipReason }, async (t) => {
  const sys = await demoSystem(t);
  const demoUrl = sys.running[0]!.gateway!.demoUrl!;
  const { browser, close } = await launchChromium();
  t.teardown(close);
  const problems: string[] = [];
  const ctxA = await browser.newContext({ viewport: { width: 760, height: 720 } });
  const ctxB = await browser.newContext({ viewport: { width: 760, height: 720 } });
  const a = await openDemo(ctxA, `${demoUrl}?users=alice`, 'alice', problems);
  const b = await openDemo(ctxB, `${demoUrl}?users=bob`, 'bob', problems);
  t.equal(await pane(a, 'alice').getAttribute('data-state'), 'open', 'alice connected');
  t.equal(await pane(b, 'bob').getAttribute('data-state'), 'open', 'bob connected');

  // alice starts a direct chat with bob: the first message goes with toUserId.
  await startDirect(a, 'alice', 'bob');
  await send(a, 'alice', 'hello bob');
  const first = pane(a, 'alice').locator('.message.mine').first();
  t.equal(await first.locator('.text').textContent(), 'hello bob', 'the message shows at once');
  // bob's client acknowledges the delivery on its own; the tick moves before bob opens the chat.
  await first.locator('.status-delivered').waitFor();
  t.pass('alice sees ✓✓ delivered');
  const bobItem = pane(b, 'bob').locator('.conversation', { hasText: 'alice' });
  t.equal(await bobItem.locator('.unread').textContent(), '1', 'bob sees one unread in the conversation');
  t.equal(await pane(b, 'bob').locator('.total-unread').textContent(), '1 unread', 'and in total');

  await bobItem.click();
  await pane(b, 'bob').locator('.message.theirs', { hasText: 'hello bob' }).waitFor();
  await first.locator('.status-read').waitFor();
  t.pass('bob opens the chat: alice sees ✓✓ read');
  await pane(b, 'bob').locator('.conversation .unread').waitFor({ state: 'detached' });
  t.pass('bob has nothing unread');

  // Typing, and a reply.
  await pane(b, 'bob').locator('.composer input').pressSequentially('hi al', { delay: 20 });
  await pane(a, 'alice').locator('.typing', { hasText: 'bob is typing' }).waitFor();
  t.pass('alice sees bob typing');
  await send(b, 'bob', 'hi alice');
  await pane(a, 'alice').locator('.message.theirs', { hasText: 'hi alice' }).waitFor();
  await pane(b, 'bob').locator('.message.mine .status-read').waitFor();
  t.pass("bob's reply reaches alice and is read");

  const conversationId = (await pane(a, 'alice').locator('.conversation.open').getAttribute('data-conversation-id'))!;
  t.match(conversationId, /^(?!draft:)/, 'the draft became the real conversation');

  // bob goes offline: the network off, and the socket dropped as a network failure would.
  await ctxB.setOffline(true);
  await pane(b, 'bob').locator('.drop').click();
  await b.waitForFunction(() => (window as unknown as DemoWindow).ParleyDemo.panes.get('bob')!.client.state !== 'open');
  const N = 6;
  const later = Array.from({ length: N }, (_, i) => `while you were away ${i + 1}`);
  for (const text of later) await send(a, 'alice', text);
  await a.waitForFunction(
    ([c, n]) => (window as unknown as DemoWindow).ParleyDemo.panes.get('alice')!.messages(c as string).filter((m) => m.seq !== undefined).length === n,
    [conversationId, 2 + N] as const,
  );
  t.pass('alice has every message stored while bob is away');
  await pane(a, 'alice').locator('.chat-head .presence.offline').waitFor({ timeout: 15_000 });
  t.pass("alice sees bob's presence go offline");
  t.not((await paneState(b, 'bob', conversationId)).state, 'open', 'bob was still offline');

  await ctxB.setOffline(false);
  await pane(b, 'bob').locator('.message', { hasText: later[N - 1]! }).waitFor({ timeout: 20_000 });
  await b.waitForTimeout(500); // anything that would come twice has had time to
  const expected = ['hello bob', 'hi alice', ...later];
  t.same(await pane(b, 'bob').locator('.messages .message .text').allTextContents(), expected, "bob's page shows every message once, in order");
  const bob = await paneState(b, 'bob', conversationId);
  t.same(bob.messages.map((m) => m.content), expected, "and so does bob's state");
  t.same(bob.messages.map((m) => m.seq), expected.map((_, i) => i + 1), 'seqs 1..n');
  t.equal(new Set(bob.received).size, bob.received.length, 'message.new never brought a message twice');
  t.ok(bob.events.some((e) => e.startsWith('disconnected')), 'the log says bob was disconnected');
  t.ok(bob.events.some((e) => e.startsWith('resumed')), 'and that bob resumed');
  t.equal(bob.state, 'open', 'bob is connected again');
  await pane(a, 'alice').locator('.chat-head .presence.online').waitFor({ timeout: 15_000 });
  t.pass('and online again');
  // bob has the chat open: what came while away is read, and alice sees it.
  await pane(a, 'alice').locator('.message.mine', { hasText: later[N - 1]! }).locator('.status-read').waitFor();
  t.pass("alice's last message shows ✓✓ read");
  const alice = await paneState(a, 'alice', conversationId);
  t.same(alice.messages.map((m) => m.content), expected, "alice's page has them once, in order");

  // A reload resumes from the cursor kept in localStorage; the chat comes back from history, once.
  const kept = await b.evaluate(() => localStorage.getItem('parley.cursor.bob'));
  t.match(kept, /^\d+$/, 'bob\'s cursor is kept in localStorage');
  await b.reload({ waitUntil: 'load' });
  await b.evaluate(() => (window as unknown as DemoWindow).ParleyDemo.ready);
  await pane(b, 'bob').locator('.conversation', { hasText: 'alice' }).click();
  await pane(b, 'bob').locator('.message', { hasText: later[N - 1]! }).waitFor();
  t.same(await pane(b, 'bob').locator('.messages .message .text').allTextContents(), expected, 'after a reload: every message once, in order');
  t.ok((await paneState(b, 'bob', conversationId)).events.some((e) => e.startsWith('resumed')), 'the reloaded page resumed from the kept cursor');

  const dir = await artifacts(t);
  await a.screenshot({ path: join(dir, 'chat-alice.png') });
  await b.screenshot({ path: join(dir, 'chat-bob.png') });
  t.comment(`screenshots: ${dir}`);
  // Chromium reports each reconnect attempt made with the network off as a console error: those
  // are the test's doing, and the only errors allowed.
  const offline = /^bob console: WebSocket connection to 'ws:\/\/[^']+\/ws(\?cursor=\d+)?' failed: Error in connection establishment: net::ERR_INTERNET_DISCONNECTED$/;
  t.same(problems.filter((p) => !offline.test(p)), [], 'no console errors, page errors or failed requests (but the reconnects tried offline)');
});

t.test('both users in one page, and a third user from Node: the screenshot', { skip: skipReason }, async (t) => {
  const sys = await demoSystem(t);
  const demoUrl = sys.running[0]!.gateway!.demoUrl!;
  const { browser, close } = await launchChromium();
  t.teardown(close);
  const problems: string[] = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 640 } });
  const page = await openDemo(context, demoUrl, 'page', problems);

  // carol (an SDK client in this process) writes to alice first: a conversation alice leaves unread.
  const carol = new ParleyClient({ url: sys.url, token: () => sys.token('carol'), WebSocket: WebSocket as unknown as WebSocketConstructor });
  t.teardown(() => carol.close());
  await carol.connect();
  await carol.send({ toUserId: 'alice' }, 'lunch at noon?');
  await pane(page, 'alice').locator('.conversation', { hasText: 'carol' }).locator('.unread').waitFor();

  await startDirect(page, 'alice', 'bob');
  await send(page, 'alice', 'Hi Bob! Did the deploy go out?');
  await pane(page, 'bob').locator('.conversation', { hasText: 'alice' }).click();
  await send(page, 'bob', 'Yes, 10 minutes ago. All green.');
  await pane(page, 'alice').locator('.message.theirs', { hasText: 'All green' }).waitFor();
  await send(page, 'alice', 'Great, thanks!');
  await pane(page, 'alice').locator('.message.mine', { hasText: 'Great, thanks!' }).locator('.status-read').waitFor();
  await pane(page, 'alice').locator('.message.mine', { hasText: 'Did the deploy' }).locator('.status-read').waitFor();
  // bob's connection drops and resumes: the pane's log says so.
  await pane(page, 'bob').locator('.drop').click();
  await pane(page, 'bob').locator('.log li', { hasText: 'resumed' }).waitFor();
  await pane(page, 'alice').locator('.composer input').pressSequentially('see you', { delay: 10 });
  await pane(page, 'bob').locator('.typing', { hasText: 'alice is typing' }).waitFor();
  t.equal(await pane(page, 'alice').locator('.total-unread').textContent(), '1 unread', "carol's message is still unread for alice");
  t.ok(await pane(page, 'bob').locator('.chat-head .presence.online').isVisible(), 'bob sees alice online');

  const dir = await artifacts(t);
  const file = join(dir, 'demo-two-users.png');
  await page.screenshot({ path: file });
  const docs = process.env.PARLEY_DEMO_SCREENSHOT;
  if (docs) await page.screenshot({ path: docs });
  t.comment(`screenshot: ${file}${docs ? ` and ${docs}` : ''}`);
  t.same(problems, [], 'no console errors, page errors or failed requests');
});

t.test('a pane added from the page, a group, older history, hostile text shown as text, a refused send shown as failed', { skip: skipReason }, async (t) => {
  const sys = await demoSystem(t);
  const demoUrl = sys.running[0]!.gateway!.demoUrl!;
  const { browser, close } = await launchChromium();
  t.teardown(close);
  const problems: string[] = [];
  const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });

  // 35 messages from dave to alice before the page opens: more than one history page (30).
  const dave = new ParleyClient({ url: sys.url, token: () => sys.token('dave'), WebSocket: WebSocket as unknown as WebSocketConstructor });
  t.teardown(() => dave.close());
  await dave.connect();
  let daveChat = '';
  for (let i = 1; i <= 35; i++) daveChat = (await dave.send(i === 1 ? { toUserId: 'alice' } : { conversationId: daveChat }, `old ${i}`)).message.conversationId;
  const hostile = `<img src=x onerror="document.body.dataset.pwned=1"><b>bold</b>`;
  await dave.send({ conversationId: daveChat }, hostile);

  const page = await openDemo(context, demoUrl, 'page', problems);
  const alice = pane(page, 'alice');
  await alice.locator('.conversation', { hasText: 'dave' }).click();
  await alice.locator('.message', { hasText: 'old 35' }).waitFor();
  t.equal(await alice.locator('.messages .message').count(), 30, 'the latest page of history');
  t.equal(await alice.locator('.messages .message .text').last().textContent(), hostile, 'hostile text is shown as text');
  t.equal(await alice.locator('.messages img, .messages b').count(), 0, 'and never parsed as HTML');
  t.equal(await page.evaluate(() => document.body.dataset.pwned), undefined, 'nothing ran');
  await alice.locator('.older').click();
  await alice.locator('.message', { hasText: 'old 1' }).first().waitFor();
  t.same(
    await alice.locator('.messages .message .text').allTextContents(),
    [...Array.from({ length: 35 }, (_, i) => `old ${i + 1}`), hostile],
    'load older brings the rest, in order',
  );
  t.ok(await alice.locator('.older').isHidden(), 'and the button goes once there is no more');

  // A third pane, added from the page.
  await page.locator('#add-pane input').fill('carol');
  await page.locator('#add-pane input').press('Enter');
  const carol = pane(page, 'carol');
  await page.waitForFunction(() => document.querySelector('.pane[data-user="carol"]')?.getAttribute('data-state') === 'open');
  t.pass('carol has a pane and is connected');

  // alice makes a group with bob and carol; both see it and alice's message.
  await alice.locator('.new-group input[name=title]').fill('launch');
  await alice.locator('.new-group input[name=members]').fill('bob, carol');
  await alice.locator('.new-group input[name=members]').press('Enter');
  await alice.locator('.chat-title', { hasText: 'launch' }).waitFor();
  await send(page, 'alice', 'group hello');
  for (const p of [pane(page, 'bob'), carol]) {
    await p.locator('.conversation', { hasText: 'launch' }).click();
    await p.locator('.message.theirs', { hasText: 'group hello' }).waitFor();
    t.equal(await p.locator('.message.theirs .sender').first().textContent(), 'alice', 'a group message names its sender');
  }

  // A send the server refuses (no such user id can exist) shows as failed.
  await startDirect(page, 'bob', 'not a valid id!');
  await send(page, 'bob', 'to nobody');
  await pane(page, 'bob').locator('.message.mine', { hasText: 'to nobody' }).locator('.status-failed').waitFor();
  t.pass('a refused send is marked failed');
  t.same(problems, [], 'no console errors, page errors or failed requests');
});
