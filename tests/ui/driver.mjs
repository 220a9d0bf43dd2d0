// A small browser driver for the system tests (tests/system/ui_driver.py):
// Debian's headless chromium, driven by playwright-core, obeying one JSON
// command per line on stdin and answering one JSON line per command on
// stdout ({"id", "ok", "value"} or {"id", "ok": false, "error"}). The
// Python test keeps the cluster and the browser in step this way: it can
// change the cluster between two browser checks without a reload.
//
// Never a browser of playwright's own: executablePath is the system one
// (AGORA_CHROMIUM, default /usr/bin/chromium), and nothing is downloaded.

import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let browser = null;
let context = null;
let page = null;
const problems = []; // console errors and uncaught exceptions of the page

async function launch({ width = 1366, height = 900, mobile = false, credentials }) {
  browser = await chromium.launch({
    executablePath: process.env.AGORA_CHROMIUM || '/usr/bin/chromium',
    args: ARGS,
    headless: true,
  });
  await newPage({ width, height, mobile, credentials });
  return browser.version();
}

// credentials: {username, password}, answered to HTTP Basic challenges.
async function newPage({ width = 1366, height = 900, mobile = false, credentials }) {
  if (context) await context.close();
  context = await browser.newContext({
    viewport: { width, height },
    deviceScaleFactor: mobile ? 2 : 1,
    isMobile: mobile,
    hasTouch: mobile,
    httpCredentials: credentials,
  });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return true;
}

// Wait until some element matching selector has text containing text (or,
// without text, until one is visible).
async function waitFor({ selector, text, timeout = 15000, count }) {
  if (count !== undefined) {
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length >= n,
      [selector, count], { timeout });
    return page.locator(selector).count();
  }
  const loc = text === undefined ? page.locator(selector) : page.locator(selector, { hasText: text });
  await loc.first().waitFor({ state: 'visible', timeout });
  return loc.first().textContent();
}

const ops = {
  launch,
  newPage,
  goto: async ({ url }) => { await page.goto(url, { waitUntil: 'load' }); return page.url(); },
  waitFor,
  click: async ({ selector, text, timeout = 10000 }) => {
    const loc = text === undefined ? page.locator(selector) : page.locator(selector, { hasText: text });
    await loc.first().click({ timeout });
    return true;
  },
  fill: async ({ selector, value }) => { await page.fill(selector, value); return true; },
  select: async ({ selector, value }) => page.selectOption(selector, value),
  text: async ({ selector }) => page.locator(selector).first().textContent(),
  count: async ({ selector }) => page.locator(selector).count(),
  eval: async ({ expr }) => page.evaluate(expr),
  url: async () => page.url(),
  // A full page from its top: a sticky header would otherwise be drawn
  // where the page happened to be scrolled.
  screenshot: async ({ path, fullPage = true }) => {
    if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path, fullPage });
    return path;
  },
  problems: async () => problems.splice(0),
  close: async () => { if (browser) await browser.close(); browser = null; return true; },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let msg;
  try {
    msg = JSON.parse(line);
    const fn = ops[msg.op];
    if (!fn) throw new Error(`unknown op ${msg.op}`);
    const value = await fn(msg.args || {});
    process.stdout.write(`${JSON.stringify({ id: msg.id, ok: true, value: value ?? null })}\n`);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ id: msg && msg.id, ok: false, error: String(e && e.stack || e) })}\n`);
  }
  if (msg && msg.op === 'close') break;
}
if (browser) await browser.close();
