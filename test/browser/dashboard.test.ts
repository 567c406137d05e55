/**
 * The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
 * two `roster node` processes with --http-port and a token, the page opened on one of them.
 * An instance registered during the test (over HTTP on the other node, or by a NATS client
 * process) appears on the page within one second, without a reload; one whose session is
 * closed disappears within one second, one whose process is killed within its TTL plus one
 * second. The screenshot is kept as artifacts/dashboard.png.
 *
 * No chromium means the test FAILS (never skips): `apt-get install -y chromium`.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { connectNatsBus } from '../../transport/index.js';
import { clientProcessFor } from '../helpers/client-process.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { call } from '../helpers/node-http.js';
import { REPO_ROOT } from '../helpers/node-process.js';
import { startNodes } from '../helpers/registry-cluster.js';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const TOKEN = 'dashboard-token-0123456789';
const SHOW_MS = 1_000;
const CLIENT_TTL_MS = 1_500;
const SCREENSHOT = join(REPO_ROOT, 'artifacts', 'dashboard.png');

t.test('dashboard: live nodes, services, instances and events in headless Chromium', async (t) => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium)`);
  }
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'dashboard-observer' });
  t.teardown(() => bus.close());
  const [d1, d2] = await startNodes(t, server.url, ['d1', 'd2'], bus, [
    '--http-port',
    '0',
    '--http-host',
    '127.0.0.1',
    '--http-token',
    TOKEN,
  ]);
  const pageNode = `http://127.0.0.1:${String(d1!.readyLine.httpPort)}`;
  const otherNode = `http://127.0.0.1:${String(d2!.readyLine.httpPort)}`;
  t.ok(Number(d1!.readyLine.httpPort) > 0, 'the ready line reports the HTTP port');

  const profile = mkdtempSync(join(tmpdir(), 'roster-chromium-'));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(() => browser.close());
  const page = browser.pages()[0] ?? (await browser.newPage());
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });

  const api = (method: string, path: string, json?: unknown, base = otherNode) =>
    call<Record<string, unknown>>(base, method, path, {
      token: TOKEN,
      ...(json === undefined ? {} : { json }),
    });
  const openSession = async () => {
    const res = await api('POST', '/v1/sessions', { ttlMs: 60_000 });
    t.equal(res.status, 201, 'session opened over HTTP');
    return res.body as { sessionId: string; secret: string };
  };
  const row = (key: string) => `tr[data-instance="${key}"]`;
  /** Time from now until `selector` reaches `state` on the page. */
  const timeUntil = async (selector: string, state: 'attached' | 'detached', timeout: number) => {
    const start = performance.now();
    await page.waitForSelector(selector, { state, timeout });
    return Math.round(performance.now() - start);
  };

  await t.test('the page loads, connects and shows both nodes', async (t) => {
    await page.goto(`${pageNode}/ui?token=${TOKEN}`);
    t.notMatch(page.url(), /token=/, 'the token is taken out of the address bar');
    await page.waitForSelector('#stream-state[data-state="live"]', { timeout: 10_000 });
    await page.waitForSelector('tr[data-node="d1"]', { timeout: 5_000 });
    await page.waitForSelector('tr[data-node="d2"]', { timeout: 5_000 });
    await page.waitForSelector('#cluster-state[data-state="converged"]', { timeout: 10_000 });
    t.match(await page.textContent('tr[data-node="d1"]'), /ready/, 'd1 is ready');
    t.equal(await page.textContent('#served-by'), 'd1', 'served by d1');
    t.notOk(await page.isVisible('#token-form'), 'no token prompt');
  });

  await t.test('without the token the page asks for it', async (t) => {
    const other = await browser.newPage();
    t.teardown(() => other.close());
    await other.goto(`${pageNode}/ui/`);
    await other.waitForSelector('#token-form', { state: 'visible', timeout: 5_000 });
    t.pass('the token prompt is shown');
    await other.fill('#token-input', TOKEN);
    await other.click('#token-form button');
    await other.waitForSelector('#stream-state[data-state="live"]', { timeout: 10_000 });
    await other.waitForSelector('tr[data-node="d2"]', { timeout: 5_000 });
    t.notOk(await other.isVisible('#token-form'), 'live with the token given in the form');
  });

  let web: { sessionId: string; secret: string } | undefined;
  await t.test('instances registered over HTTP appear within 1 s', async (t) => {
    web = await openSession();
    for (const [i, status] of [
      [1, 'passing'],
      [2, 'passing'],
      [3, 'warning'],
    ] as const) {
      const put = await api('PUT', `/v1/services/web/instances/web-${i}`, {
        ...web,
        host: `10.0.1.${i}`,
        port: 8080,
        tags: ['blue', 'v2'],
        status,
      });
      t.equal(put.status, 200, `web-${i} registered on d2`);
      const ms = await timeUntil(row(`web/web-${i}`), 'attached', SHOW_MS);
      t.ok(ms <= SHOW_MS, `web-${i} on the page ${ms} ms after the registration was acknowledged`);
    }
    t.equal(
      await page.getAttribute(row('web/web-3'), 'data-status'),
      'warning',
      'status shown as registered',
    );
    t.match(await page.textContent(row('web/web-1')), /d2/, 'owner node d2 shown');
    const payments = await openSession();
    for (const i of [1, 2]) {
      await api('PUT', `/v1/services/payments/instances/payments-${i}`, {
        ...payments,
        host: `10.0.2.${i}`,
        port: 9090,
        scheme: 'https',
        zone: 'eu-west-1a',
      });
      await timeUntil(row(`payments/payments-${i}`), 'attached', SHOW_MS);
    }
    t.match(await page.textContent('#services'), /payments/, 'the service list names payments');
  });

  await t.test('an instance of a closed session disappears within 1 s', async (t) => {
    const cache = await openSession();
    await api('PUT', '/v1/services/cache/instances/cache-1', {
      ...cache,
      host: '10.0.3.1',
      port: 6379,
    });
    await timeUntil(row('cache/cache-1'), 'attached', SHOW_MS);
    const closed = await api('DELETE', `/v1/sessions/${cache.sessionId}?secret=${cache.secret}`);
    t.equal(closed.status, 200, 'session closed');
    const ms = await timeUntil(row('cache/cache-1'), 'detached', SHOW_MS);
    t.ok(ms <= SHOW_MS, `cache-1 left the page ${ms} ms after its session closed`);
    await page.waitForSelector('li[data-event-type="removed"][data-key="cache/cache-1"]', {
      timeout: SHOW_MS,
    });
    t.pass('the event feed shows the removal');
  });

  await t.test('a killed client process disappears within its TTL + 1 s', async (t) => {
    const client = await clientProcessFor(t, {
      natsUrl: server.url,
      service: 'api',
      count: 3,
      ttlMs: CLIENT_TTL_MS,
      idPrefix: 'api',
    });
    for (const id of client.ids) {
      const ms = await timeUntil(row(`api/${id}`), 'attached', SHOW_MS);
      t.ok(ms <= SHOW_MS, `${id} on the page (${ms} ms after the client was ready)`);
    }
    const exit = await client.kill('SIGKILL');
    t.equal(exit.signal, 'SIGKILL', 'client killed');
    const limit = CLIENT_TTL_MS + 1_000;
    for (const id of client.ids) {
      await page.waitForSelector(row(`api/${id}`), { state: 'detached', timeout: limit });
    }
    const ms = Math.round(performance.now() - exit.at);
    t.ok(ms <= limit, `all 3 left the page ${ms} ms after the kill (TTL ${CLIENT_TTL_MS} ms)`);
  });

  await t.test('screenshot', async (t) => {
    await page.fill('#filter', '');
    await page.locator('#filter').blur();
    await page.waitForSelector(row('web/web-1'));
    // The node table (polled every second) has caught up with the 5 instances left.
    for (const id of ['d1', 'd2']) {
      await page.waitForSelector(`tr[data-node="${id}"] td:nth-child(6):text-is("5")`, {
        timeout: 3_000,
      });
    }
    mkdirSync(join(REPO_ROOT, 'artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.ok(existsSync(SCREENSHOT), `saved ${SCREENSHOT}`);
    t.same(problems, [], 'no script errors on the page');
  });

  if (web) await api('DELETE', `/v1/sessions/${web.sessionId}?secret=${web.secret}`);
});
