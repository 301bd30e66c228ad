// Drives Debian's Chromium (never a downloaded browser) with playwright-core
// over a live gatehouse's developer portal. For every page, with JavaScript
// on and off, in the light and the dark theme, it checks:
//
//   axe      axe-core finds no WCAG 2.0/2.1 A or AA violation
//   origin   no request leaves 127.0.0.1 (every request is routed; others
//            are aborted and reported)
//   budget   a cold load stays within PORTAL.md §5: ≤ 60 KB compressed,
//            ≤ 25 KB of JavaScript, ≤ 6 requests
//   console  no console error, no uncaught exception, no CSP violation
//   csp      the page carries the portal's Content-Security-Policy
//   reflow   at 320 CSS px the page does not scroll sideways (WCAG 1.4.10)
//   screenshot  (JavaScript on) PNGs at 1280 and 375 px into GH_SCREENSHOTS
//
// and once per theme and JavaScript setting that the keyboard reaches
// "Browse the APIs" from the landing page with a visible focus indicator
// and opens the catalog with Enter; with JavaScript off, that the
// catalog's search form finds SIM Swap alone; and, when GH_TRY is set,
// with JavaScript off in each theme, that a developer who signs up can
// post the try-it form as it is pre-filled and see the gateway's 200
// without any access token, on a page that passes axe.
//
// Environment:
//   GH_BASE_URL     the portal, e.g. http://127.0.0.1:8080 (loopback only)
//   GH_PAGES        JSON: [{"path": "/", "status": 200}, …]
//   GH_SCREENSHOTS  a directory for the PNGs; empty: no screenshots
//   GH_CHROMIUM     the browser; default /usr/bin/chromium
//   GH_PARALLEL     pages checked at once; default 3
//   GH_TRY          a try-it page whose pre-filled form answers 200 for a
//                   developer who just signed up; empty: no try-it check
//
// Output: one JSON object per line for each check ({"check", "page",
// "mode", "ok", "error", "note"}), then a table of bytes and requests per
// page (lines that are not JSON). Exit status 1 if any check failed.

import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const base = (process.env.GH_BASE_URL || '').replace(/\/$/, '');
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(base)) {
  console.error('GH_BASE_URL must be http://127.0.0.1:<port>, got %j', base);
  process.exit(2);
}
const pages = JSON.parse(process.env.GH_PAGES || '[]');
if (pages.length === 0) {
  console.error('GH_PAGES is empty');
  process.exit(2);
}
const shots = process.env.GH_SCREENSHOTS || '';
if (shots) mkdirSync(shots, { recursive: true });

// PORTAL.md §5, per page on a cold load. Bytes are as transferred
// (compressed), response bodies only.
const budget = { bytes: 60_000, js: 25_000, requests: 6 };

// The machine running CI may be busy: generous timeouts, no assertion on
// time anywhere.
const timeout = 120_000;

const axeTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// Pages whose CSP findings are reported as notes, not failures: none. (The
// troubleshooting page's one inline <style> is allowed by its hash.)
const cspExempt = new Set([]);

const modes = [];
for (const js of [true, false]) {
  for (const scheme of ['light', 'dark']) {
    modes.push({ js, scheme, name: `js-${js ? 'on' : 'off'} ${scheme}` });
  }
}

let failed = false;
function report(check, page, mode, problems, note) {
  const r = { check, page, mode, ok: problems.length === 0 };
  if (problems.length) r.error = problems.join('; ');
  if (note) r.note = note;
  if (!r.ok) failed = true;
  console.log(JSON.stringify(r));
}

const browser = await chromium.launch({
  executablePath: process.env.GH_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout,
});

// newContext opens a fresh context (a cold cache) whose every request is
// routed: loopback ones continue, the others are aborted and recorded in
// the returned list. Routing turns the HTTP cache off, so an asset the
// page asks for twice (the logo as <img> and as favicon) is fetched twice;
// the budget counts each URL once, as a browser with its cache would.
async function newContext(opts) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  context.setDefaultTimeout(timeout);
  context.setDefaultNavigationTimeout(timeout);
  const offsite = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if ((u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'ws:' || u.protocol === 'wss:') &&
        u.hostname !== '127.0.0.1') {
      offsite.push(route.request().url());
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  return { context, offsite };
}

function screenshotName(p, scheme, width) {
  const slug = p.replace(/^\//, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '') || 'landing';
  return path.join(shots, `${slug}.${scheme}.${width}.png`);
}

// Weight per page and JavaScript setting (light theme), for the table.
const weights = [];

// visit loads one page cold in a context that enforces the page's CSP and
// runs every check but axe.
async function visit(pg, mode) {
  const { context, offsite } = await newContext({ javaScriptEnabled: mode.js, colorScheme: mode.scheme });
  const page = await context.newPage();
  const url = base + pg.path;
  const consoleErrors = [];
  const cspNotes = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Chromium logs the expected status of an error page as a failed load.
    if (pg.status !== 200 && msg.location().url === url &&
        text.startsWith(`Failed to load resource: the server responded with a status of ${pg.status}`)) return;
    const csp = /Content Security Policy|Content-Security-Policy/i.test(text);
    if (csp && cspExempt.has(pg.path)) cspNotes.push(text);
    else consoleErrors.push(text);
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));

  const requests = new Map(); // URL → {type, bytes}
  const pending = [];
  page.on('request', (req) => {
    if (!requests.has(req.url())) requests.set(req.url(), { type: req.resourceType(), bytes: 0 });
  });
  page.on('requestfinished', (req) => {
    pending.push(req.sizes().then((s) => {
      const r = requests.get(req.url());
      if (r) r.bytes = Math.max(r.bytes, s.responseBodySize);
    }).catch(() => {})); // the context closed first: nothing to count
  });

  let response;
  try {
    response = await page.goto(url, { waitUntil: 'load' });
  } catch (err) {
    report('load', pg.path, mode.name, [`${url}: ${err.message}`]);
    await context.close();
    return;
  }
  await Promise.all(pending);
  const status = response ? response.status() : 0;
  report('load', pg.path, mode.name, status === pg.status ? [] : [`status ${status}, want ${pg.status}`]);

  report('origin', pg.path, mode.name, offsite.map((u) => `request to ${u}`));

  let bytes = 0, js = 0;
  for (const r of requests.values()) {
    if (r.bytes <= 0) continue; // aborted, or served from the memory cache
    bytes += r.bytes;
    if (r.type === 'script') js += r.bytes;
  }
  const over = [];
  if (bytes > budget.bytes) over.push(`${bytes} B transferred, budget ${budget.bytes}`);
  if (js > budget.js) over.push(`${js} B of JavaScript, budget ${budget.js}`);
  if (requests.size > budget.requests) {
    over.push(`${requests.size} requests, budget ${budget.requests}: ${[...requests.keys()].join(' ')}`);
  }
  report('budget', pg.path, mode.name, over, `${requests.size} requests, ${bytes} B, ${js} B JS`);
  if (mode.scheme === 'light') weights.push({ page: pg.path, js: mode.js, requests: requests.size, bytes, script: js });

  const headers = response ? await response.allHeaders() : {};
  const csp = headers['content-security-policy'] || '';
  const cspProblems = [];
  if (!/default-src 'self'/.test(csp)) cspProblems.push(`Content-Security-Policy is ${csp ? JSON.stringify(csp) : 'missing'}`);
  if (/script-src[^;]*'unsafe-inline'/.test(csp)) cspProblems.push("script-src allows 'unsafe-inline'");
  if (cspExempt.has(pg.path)) {
    const notes = [...cspProblems, ...cspNotes];
    report('csp', pg.path, mode.name, [], notes.length ? `not enforced here yet: ${notes.join('; ')}` : undefined);
  } else {
    report('csp', pg.path, mode.name, cspProblems);
  }

  // Reflow at 320 CSS px (WCAG 1.4.10): no horizontal scrolling.
  await page.setViewportSize({ width: 320, height: 640 });
  const reflow = await page.evaluate(() => {
    const w = document.documentElement.scrollWidth;
    const wide = [];
    if (w > 320) {
      for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.right > 320.5 && el.children.length === 0) wide.push(`${el.tagName.toLowerCase()}${el.className ? '.' + String(el.className).split(' ').join('.') : ''} (right ${Math.round(r.right)})`);
        if (wide.length >= 5) break;
      }
    }
    return { w, wide };
  });
  report('reflow', pg.path, mode.name,
    reflow.w <= 320 ? [] : [`scrollWidth ${reflow.w} at 320 px; wide: ${reflow.wide.join(', ')}`]);

  if (mode.js) {
    const problems = [];
    if (shots) {
      for (const width of [1280, 375]) {
        await page.setViewportSize({ width, height: 800 });
        try {
          await page.screenshot({ path: screenshotName(pg.path, mode.scheme, width), fullPage: true });
        } catch (err) {
          problems.push(`${width} px: ${err.message}`);
        }
      }
    }
    report('screenshot', pg.path, mode.name, problems, shots ? undefined : 'GH_SCREENSHOTS not set');
  }

  // Late messages (deferred scripts) are in by now.
  report('console', pg.path, mode.name, consoleErrors,
    cspNotes.length ? `CSP, not enforced here yet: ${cspNotes.join('; ')}` : undefined);
  await context.close();
}

// audit runs axe-core on one page. axe needs JavaScript and injects its own
// script, so it runs in a context that bypasses the CSP (the strict
// context above catches violations). axe.run is asynchronous, which a page
// with JavaScript disabled cannot complete; for "JavaScript off" the
// context therefore keeps JavaScript on but aborts the page's own scripts,
// so axe sees the page as a browser without JavaScript renders it (only a
// <noscript> element, none today, would differ).
async function audit(pg, mode) {
  const { context, offsite } = await newContext({ javaScriptEnabled: true, bypassCSP: true, colorScheme: mode.scheme });
  if (!mode.js) {
    await context.route((u) => u.origin === base, (route) =>
      route.request().resourceType() === 'script' ? route.abort('blockedbyclient') : route.fallback());
  }
  const page = await context.newPage();
  const problems = [];
  try {
    await page.goto(base + pg.path, { waitUntil: 'load' });
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate((tags) => window.axe.run(document, {
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    }), axeTags);
    for (const v of result.violations) {
      for (const n of v.nodes) {
        problems.push(`${v.id} (${v.impact}) at ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`);
      }
    }
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('axe', pg.path, mode.name, problems);
  await context.close();
}

// keyboard: from the landing page, Tab reaches "Browse the APIs" with a
// visible focus indicator, and Enter opens the catalog.
async function keyboard(mode) {
  const { context, offsite } = await newContext({ javaScriptEnabled: mode.js, colorScheme: mode.scheme });
  const page = await context.newPage();
  const problems = [];
  let note;
  try {
    await page.goto(base + '/', { waitUntil: 'load' });
    let focused = null;
    for (let i = 1; i <= 30 && !focused; i++) {
      await page.keyboard.press('Tab');
      const f = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const s = getComputedStyle(el);
        return {
          text: el.textContent.trim(), tag: el.tagName.toLowerCase(), href: el.getAttribute('href'),
          outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth, outlineColor: s.outlineColor,
        };
      });
      if (f && f.text === 'Browse the APIs') {
        focused = f;
        note = `reached after ${i} Tab presses; outline ${f.outlineStyle} ${f.outlineWidth} ${f.outlineColor}`;
      }
    }
    if (!focused) {
      problems.push('30 Tab presses never focused "Browse the APIs"');
    } else {
      if (focused.outlineStyle === 'none' || parseFloat(focused.outlineWidth) === 0) {
        problems.push(`no visible focus indicator: outline ${focused.outlineStyle} ${focused.outlineWidth}`);
      }
      await Promise.all([page.waitForURL(base + '/portal/apis'), page.keyboard.press('Enter')]);
      const h1 = (await page.locator('h1').first().textContent()).trim();
      if (h1 !== 'APIs') problems.push(`Enter opened a page whose heading is ${JSON.stringify(h1)}`);
    }
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('keyboard', '/', mode.name, problems, note);
  await context.close();
}

// search: with JavaScript off, the catalog's GET form filters by text.
async function search() {
  const { context, offsite } = await newContext({ javaScriptEnabled: false, colorScheme: 'light' });
  const page = await context.newPage();
  const problems = [];
  try {
    await page.goto(base + '/portal/apis', { waitUntil: 'load' });
    const before = await page.locator('.card h3').count();
    await page.locator('#q').fill('swap');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === 'swap'), page.locator('#q').press('Enter')]);
    const titles = (await page.locator('.card h3').allTextContents()).map((t) => t.trim());
    if (titles.length !== 1 || !/^SIM Swap\b/.test(titles[0])) {
      problems.push(`searching "swap" shows ${JSON.stringify(titles)}, want SIM Swap alone (of ${before})`);
    }
    if (before < 2) problems.push(`the catalog lists ${before} APIs before the search`);
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('search', '/portal/apis', 'js-off light', problems);
  await context.close();
}

// tryit: with JavaScript off (the page's own scripts aborted, as audit
// does, so that axe can run), a developer signs up (the portal makes their
// sandbox app at once when it has no mail), then submits the try-it form
// as it is pre-filled: the page shows the gateway's answer, 200, and no
// access token anywhere; axe checks that result page.
const tryPath = process.env.GH_TRY || '';
async function tryit(scheme) {
  const name = `js-off ${scheme}`;
  const { context, offsite } = await newContext({ javaScriptEnabled: true, bypassCSP: true, colorScheme: scheme });
  await context.route((u) => u.origin === base, (route) =>
    route.request().resourceType() === 'script' ? route.abort('blockedbyclient') : route.fallback());
  const page = await context.newPage();
  const problems = [];
  try {
    await page.goto(base + '/portal/signup', { waitUntil: 'load' });
    await page.locator('input[name=name]').fill('Try Developer');
    await page.locator('input[name=email]').fill(`try-${scheme}@example.com`);
    await page.locator('input[name=password]').fill('correct horse battery');
    const [signup] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
      page.locator('main form button[type=submit]').click(),
    ]);
    await page.waitForLoadState('load');
    if (signup.status() !== 201) throw new Error(`signing up answered ${signup.status()}`);
    await page.goto(base + tryPath, { waitUntil: 'load' });
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
      page.locator('form.try-form button[type=submit]').click(),
    ]);
    await page.waitForLoadState('load');
    if (response.status() !== 200) problems.push(`the form's POST answered ${response.status()}`);
    const title = await page.locator('#result-title').textContent({ timeout: 5_000 }).catch(() => null);
    if (title === null || !/200 OK/.test(title)) problems.push(`the result says ${JSON.stringify(title)}, want 200 OK`);
    if (/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.test(await page.content())) problems.push('the result page holds an access token');
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate((tags) => window.axe.run(document, {
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    }), axeTags);
    for (const v of result.violations) {
      for (const n of v.nodes) {
        problems.push(`axe ${v.id} (${v.impact}) at ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`);
      }
    }
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('try', tryPath, name, problems);
  await context.close();
}

// A few pages at a time, each in its own contexts; the checks do not
// depend on each other.
const tasks = [];
for (const pg of pages) {
  for (const mode of modes) {
    tasks.push(() => visit(pg, mode));
    // axe in both schemes with JavaScript on (colour contrast differs), and
    // once with it off (the DOM without the script's copy buttons): the
    // dark-and-off DOM is the dark-and-on one without them.
    if (mode.js || mode.scheme === 'light') tasks.push(() => audit(pg, mode));
  }
}
for (const mode of modes) tasks.push(() => keyboard(mode));
tasks.push(() => search());
if (tryPath) for (const scheme of ['light', 'dark']) tasks.push(() => tryit(scheme));
const parallel = Math.max(1, Number(process.env.GH_PARALLEL) || 3);
try {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < tasks.length) await tasks[next++]();
  }));
} finally {
  await browser.close();
}

// The table for BENCHMARKS.md: a cold load, light theme, bytes as
// transferred (gzip), each URL counted once.
const row = (cells) => `| ${cells.join(' | ')} |`;
console.log(row(['page', 'JS on: requests', 'bytes', 'JS bytes', 'JS off: requests', 'bytes']));
console.log(row(['---', '---:', '---:', '---:', '---:', '---:']));
for (const pg of pages) {
  const on = weights.find((w) => w.page === pg.path && w.js) || {};
  const off = weights.find((w) => w.page === pg.path && !w.js) || {};
  console.log(row([`\`${pg.path}\``, on.requests ?? '–', on.bytes ?? '–', on.script ?? '–', off.requests ?? '–', off.bytes ?? '–']));
}
process.exit(failed ? 1 : 0);
