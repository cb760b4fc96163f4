// A real browser for the web pages' tests: headless Chromium from Debian's
// `chromium` package (scripts/setup.sh installs it), driven by playwright-core,
// which downloads nothing. Screenshots of the last run go to test-artifacts/
// (ignored by git).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
// dist/test/web/ → the repository's test-artifacts/
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

export const launchBrowser = (): Promise<Browser> =>
  // the tests run as root, where Chromium's own sandbox cannot start
  chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'], timeout: 60_000 });

export interface PageWatch {
  // requests to any other origin than the server's
  foreign: string[];
  // uncaught exceptions, and console errors other than HTTP error statuses the
  // test asked for (CSP refusals among them)
  errors: string[];
}

export function watch(page: Page, origin: string): PageWatch {
  const seen: PageWatch = { foreign: [], errors: [] };
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) seen.foreign.push(url);
  });
  page.on('pageerror', (error) => seen.errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource: the server responded with a status of 4')) {
      seen.errors.push(`console: ${message.text()}`);
    }
  });
  return seen;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
