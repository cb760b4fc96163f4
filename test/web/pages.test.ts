// The playground and the operator's dashboard in a real browser (headless
// Chromium), against a real API process, a real worker and a real redis-server:
// a program typed into the editor is judged and its tests' rows arrive from the
// event stream; a compile error and a TLE read as such; an API error is
// explained; with API keys on, the key typed in is sent; the dashboard refuses
// without the admin key and, with it, lists a queued job, the worker's slots and
// recent verdicts. No page fetches anything from another host.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { uniqueToken } from '../helpers/fixtures.js';
import {
  aplusb,
  call,
  describeReply,
  type Service,
  serviceEnv,
  sleeper,
  startHttp,
  startRedis,
  startWorkerProcess,
  stopAll,
  submit,
  tempDir,
  type TestRedis,
} from '../service/helpers.js';
import { launchBrowser, type PageWatch, screenshot, watch } from './browser.js';

const ADMIN_KEY = uniqueToken('admin-key');
const SLOTS = 2;
const JUDGED_MS = 60_000;

describe('web pages in a browser (playground, dashboard)', () => {
  let redis: TestRedis;
  let api: Service;
  let base: string;
  let browser: Browser;
  let env: (extra?: Record<string, string>) => NodeJS.ProcessEnv;

  before(async () => {
    const dir = tempDir();
    redis = await startRedis(dir);
    env = (extra = {}) =>
      serviceEnv({ REDIS_URL: redis.url, CELLBLOCK_DATA: join(dir, 'data'), CELLBLOCK_STORE: join(dir, 'store'), CELLBLOCK_WEBHOOK_SECRET: uniqueToken('secret'), ...extra });
    const [server] = await Promise.all([
      startHttp('api', [], env({ CELLBLOCK_ADMIN_KEY_SHA256: createHash('sha256').update(ADMIN_KEY).digest('hex') })),
      startWorkerProcess(env(), 'worker', SLOTS),
    ]);
    api = server;
    base = api.url;
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stopAll();
  });

  // `body` on a page at `origin` + `path` in a fresh context (no cookies), watched: it
  // fetched nothing from another host and logged no error, then it is closed.
  async function withPage(origin: string, path: string, body: (page: Page) => Promise<void>): Promise<void> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      const seen = watch(page, origin);
      await page.goto(`${origin}${path}`);
      if (path === '/') await page.locator('#run-form[data-ready=true]').waitFor();
      await body(page);
      assert.deepEqual(seen.foreign, [], 'requests to another host');
      assert.deepEqual(seen.errors, [], 'errors in the page');
    } finally {
      await context.close();
    }
  }

  // Chooses `language` and replaces the editor's text by typing `source` key by
  // key, and checks it took.
  async function write(page: Page, language: string, source: string): Promise<void> {
    await page.locator('#language').selectOption(language);
    await page.locator('.cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type(source);
    const lines = await page.locator('.cm-content .cm-line').allTextContents();
    assert.equal(lines.join('\n'), source, 'the editor holds what was typed');
  }

  async function setTest(page: Page, index: number, stdin: string, expected: string): Promise<void> {
    const item = page.locator('#tests > li').nth(index);
    await item.locator('[data-field=stdin]').fill(stdin);
    await item.locator('[data-field=expected]').fill(expected);
  }

  async function setTimeLimit(page: Page, ms: number): Promise<void> {
    await page.locator('.settings summary').click();
    await page.locator('#time-ms').fill(String(ms));
  }

  // On a phone's width nothing is wider than the screen (tables scroll in their own box).
  async function fitsNarrowScreen(page: Page, name: string): Promise<void> {
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 390px screen`);
    await screenshot(page, name);
  }

  const verdictOf = (page: Page) => page.locator('#summary[data-verdict]').getAttribute('data-verdict', { timeout: JUDGED_MS });
  const rowVerdicts = (page: Page) => page.locator('#test-results tbody tr [data-verdict]').evaluateAll((cells) => cells.map((cell) => cell.getAttribute('data-verdict')));

  it('playground: a Python A+B typed in the editor, run with Ctrl+Enter, is AC with a row per test from the event stream', async () => {
    await withPage(base, '/', async (page) => {
      const streams: string[] = [];
      page.on('request', (request) => {
        if (/\/v1\/submissions\/[^/]+\/events$/.test(request.url())) streams.push(request.url());
      });
      await write(page, 'python3', 'a, b = map(int, input().split())\nprint(a + b)\n');
      await setTest(page, 0, '1 2\n', '3\n');
      await page.locator('#add-test').click();
      await setTest(page, 1, '40 2\n', '42\n');
      await page.locator('.cm-content').press('Control+Enter');

      assert.equal(await verdictOf(page), 'AC');
      assert.deepEqual(await rowVerdicts(page), ['AC', 'AC']);
      const rows = await page.locator('#test-results tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent ?? '')));
      assert.equal(rows.length, 2);
      for (const [name, , time, memory] of rows) {
        assert.match(name ?? '', /^test \d$/);
        assert.match(time ?? '', /^\d+(\.\d+)? m?s$/);
        assert.match(memory ?? '', /^\d+(\.\d+)? [KM]B$/);
      }
      assert.equal(streams.length, 1, 'the verdicts came from the submission event stream');
      await screenshot(page, 'playground');

      await fitsNarrowScreen(page, 'playground-narrow');
    });
  });

  it('playground: each test row shows its verdict as soon as it is judged, while the next test still runs', async () => {
    await withPage(base, '/', async (page) => {
      await write(page, 'python3', 'import time\ntime.sleep(1.5)\nprint(input())\n');
      await setTest(page, 0, 'first\n', 'first\n');
      await page.locator('#add-test').click();
      await setTest(page, 1, 'second\n', 'second\n');
      await page.locator('#run').click();
      await page.locator('#test-results tr[data-test="0"] [data-verdict=AC]').waitFor({ timeout: JUDGED_MS });
      assert.match((await page.locator('#test-results tr[data-test="1"]').textContent()) ?? '', /waiting/);
      assert.equal(await verdictOf(page), 'AC');
      assert.deepEqual(await rowVerdicts(page), ['AC', 'AC']);
    });
  });

  it('playground: a compile error shows CE and the compiler message', async () => {
    await withPage(base, '/', async (page) => {
      await write(page, 'cpp', 'int main() { return undeclared_name; }');
      await setTest(page, 0, '', '');
      await page.locator('#run').click();
      assert.equal(await verdictOf(page), 'CE');
      assert.ok(await page.locator('#compile').isVisible());
      assert.match((await page.locator('#compile-output').textContent()) ?? '', /.undeclared_name. was not declared/u);
      await screenshot(page, 'playground-compile-error');
    });
  });

  it('playground: a program over its time limit shows TLE, overall and in its row', async () => {
    await withPage(base, '/', async (page) => {
      await write(page, 'python3', 'while True: pass');
      await setTimeLimit(page, 500);
      await setTest(page, 0, '', 'never\n');
      await page.locator('#run').click();
      assert.equal(await verdictOf(page), 'TLE');
      assert.deepEqual(await rowVerdicts(page), ['TLE']);
    });
  });

  it('playground: an error from the API is explained with its code and message (a limit above the ceiling)', async () => {
    await withPage(base, '/', async (page) => {
      await write(page, 'python3', 'print(1)');
      await setTimeLimit(page, 60_000);
      await page.locator('#run').click();
      const error = page.locator('#error[data-code=LIMIT_ABOVE_CEILING]');
      await error.waitFor();
      const text = (await error.textContent()) ?? '';
      assert.match(text, /above what this server allows/);
      assert.match(text, /LIMIT_ABOVE_CEILING: limits\.timeMs 60000 is above the ceiling/);
      assert.equal(await page.locator('#status').textContent(), 'Not judged.');
    });
  });

  it('dashboard: refused without the admin key, in the browser and to scripts', async () => {
    const reply = await call(base, 'GET', '/admin/api/overview');
    assert.equal(reply.status, 401, describeReply(reply));
    assert.equal((reply.json as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    for (const path of ['/admin/queues/api/queues', '/admin/api/overview']) {
      const wrong = await call(base, 'GET', path, { headers: { authorization: 'Bearer not-the-key' } });
      assert.equal(wrong.status, 401, `${path}: ${describeReply(wrong)}`);
    }

    await withPage(base, '/admin', async (page) => {
      assert.ok(await page.locator('#admin-key').isVisible(), 'the sign-in form');
      assert.equal(await page.locator('#health').count(), 0, 'nothing of the dashboard shows');
      await page.locator('#admin-key').fill('not-the-key');
      const [refused] = await Promise.all([page.waitForResponse((response) => response.url().endsWith('/admin/login')), page.keyboard.press('Enter')]);
      assert.equal(refused.status(), 401);
      await page.locator('[role=alert]', { hasText: 'not the admin key' }).waitFor();
      await screenshot(page, 'admin-refused');
      const queues = await page.goto(`${base}/admin/queues`);
      assert.equal(queues?.status(), 401, 'bull-board is behind the key too');
    });
  });

  it('dashboard: with the admin key it lists a queued job, the worker and its slots, health and recent verdicts; bull-board lists the job too', async () => {
    const judged = await call(base, 'POST', '/v1/submissions?wait=true', { body: aplusb() });
    assert.equal(judged.status, 200, describeReply(judged));
    const id = await submit(base, sleeper(20));
    await withPage(base, '/admin', async (page) => {
      await page.locator('#admin-key').fill(ADMIN_KEY);
      await page.keyboard.press('Enter');
      await page.locator(`#jobs [data-job="${id}"]`).waitFor({ timeout: 20_000 });
      const workers = await page.locator('#workers tbody tr').allTextContents();
      assert.equal(workers.length, 1, workers.join('\n'));
      assert.match(workers[0] ?? '', new RegExp(`\\d of ${SLOTS}`));
      assert.equal(await page.locator('[data-health=redis] .ok').count(), 1, 'Redis healthy');
      assert.equal(await page.locator('[data-health=sandbox] .ok').count(), 1, 'sandbox healthy (cellblock doctor)');
      const [head, ...rows] = await page
        .locator('#verdicts table')
        .first()
        .locator('tr')
        .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent ?? '')));
      const python = rows.find((row) => row[0] === 'python3');
      assert.ok(head && python && Number(python[head.indexOf('AC')]) >= 1, `A+B's AC counted: ${JSON.stringify([head, ...rows])}`);
      await screenshot(page, 'admin');
      await fitsNarrowScreen(page, 'admin-narrow');
      await page.setViewportSize({ width: 1280, height: 900 });

      await page.goto(`${base}/admin/queues/queue/cellblock-submissions?status=latest`);
      await page.getByText(id).first().waitFor({ timeout: 20_000 });
      await screenshot(page, 'admin-queues');
    });
    const cancelled = await call(base, 'DELETE', `/v1/submissions/${id}`);
    assert.equal(cancelled.status, 200, describeReply(cancelled));
  });

  it('playground with API keys on: refused without a key (explained), judged with the key typed in', async () => {
    const apiKey = uniqueToken('teacher-key');
    const configFile = join(tempDir(), 'config.json');
    writeFileSync(configFile, JSON.stringify({ openMode: false, apiKeys: [{ name: 'teacher', sha256: createHash('sha256').update(apiKey).digest('hex') }] }));
    const keyed = await startHttp('api', [], env({ CELLBLOCK_CONFIG: configFile }), 'api-with-keys');
    await withPage(keyed.url, '/', async (page) => {
      await write(page, 'python3', 'print(input())');
      await setTest(page, 0, 'hi\n', 'hi\n');
      await page.locator('#run').click();
      await page.locator('#error[data-code=UNAUTHORIZED]', { hasText: 'needs a valid API key' }).waitFor();

      // the key goes in by keyboard: Tab leaves the editor for the settings
      await page.locator('.cm-content').focus();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Limits, checker and API key');
      await page.keyboard.press('Enter');
      await page.locator('#api-key').fill(apiKey);
      await page.keyboard.press('Control+Enter');
      assert.equal(await verdictOf(page), 'AC');
      assert.equal(await page.locator('#error').isVisible(), false, 'the error is gone');
    });
  });

  it('the playground can be turned off, and without an admin key the dashboard is closed', async () => {
    const other = await startHttp('api', [], env({ CELLBLOCK_PLAYGROUND: '0' }), 'api-without-pages');
    const root = await call(other.url, 'GET', '/');
    assert.equal(root.status, 404, describeReply(root));
    const admin = await call(other.url, 'GET', '/admin/api/overview', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(admin.status, 401, describeReply(admin));
    assert.match((admin.json as { error: { message: string } }).error.message, /no admin key is configured/);
  });
});
