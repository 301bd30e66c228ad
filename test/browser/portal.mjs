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
// A page is a path loaded by a visitor, by the mode's developer (signed up
// once per mode through the sign-up form, with an app subscribed to the
// live API: check "developer"), or by a newcomer who signs up in that
// browser first; or it is the answer to a form on such a page, filled in
// by its labels and sent with a button named by its text.
//
// Then, driven only by what a person sees (roles, accessible names and
// labels, never our markup's selectors):
//
//   journey   with JavaScript off, and on, each in a fresh browser: landing
//             → catalog → the sandbox API → "Sign up and try it" → sign-up
//             → the app with its secret → "Send the sandbox request" → 200
//             with an X-Correlator, within 6 page transitions and 12 form
//             fields; then Plans → Subscribe → the production secret; the
//             app page after, without either secret
//   secret-once  each secret is in exactly one response the browser got
//   cookies   every cookie is HttpOnly and SameSite=Lax (Secure only over
//             https, so not here)
//   csrf      a POST without the anti-forgery field, or with a forged one,
//             gets 403 csrf_token_invalid and changes nothing
//   keyboard-journey  (JavaScript on, each theme) the journey to the first
//             call with Tab, typing and Enter only, every focused control
//             showing a focus indicator of 3:1 against its background
//   keyboard  (every mode) Tab reaches "Browse the APIs" with a visible
//             focus indicator, and Enter opens the catalog
//   search    (JavaScript off) the catalog's search form finds SIM Swap
//
// Environment:
//   GH_BASE_URL     the portal, e.g. http://127.0.0.1:8080 (loopback only)
//   GH_PAGES        JSON: [{"name", "path", "status", "as", "fill",
//                   "select", "press"}, …] (see browserPage in
//                   internal/server/browser_test.go)
//   GH_JOURNEY      JSON: {"api": the sandbox API's title, "live": the live
//                   API's title, "try": a try-it page, "correlator": the
//                   x-correlator of the call each mode's developer makes
//                   there (for their request log's pages)}
//   GH_SCREENSHOTS  a directory for the PNGs; empty: no screenshots
//   GH_CHROMIUM     the browser; default /usr/bin/chromium
//   GH_PARALLEL     pages checked at once; default 3
//
// Output: one JSON object per line for each check ({"check", "page",
// "mode", "ok", "error", "note"}), then a table of bytes and requests per
// page (lines that are not JSON). Exit status 1 if any check failed.

import { chromium } from 'playwright-core';
import { createHmac } from 'node:crypto';
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
const journeyConfig = JSON.parse(process.env.GH_JOURNEY || '{}');
if (!journeyConfig.api || !journeyConfig.live) {
  console.error('GH_JOURNEY must name the sandbox API ("api") and the live one ("live"), got %j', journeyConfig);
  process.exit(2);
}
const shots = process.env.GH_SCREENSHOTS || '';
if (shots) mkdirSync(shots, { recursive: true });

// PORTAL.md §5, per page on a cold load. Bytes are as transferred
// (compressed), response bodies only.
const budget = { bytes: 60_000, js: 25_000, requests: 6 };
// PORTAL.md §5: landing to the first sandbox call.
const journeyBudget = { transitions: 6, fields: 12 };

// The machine running CI may be busy: generous timeouts, no assertion on
// time anywhere.
const timeout = 120_000;

const axeTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// Pages whose CSP findings are reported as notes, not failures: none. (The
// troubleshooting page's one inline <style> is allowed by its hash.)
const cspExempt = new Set([]);

// Every developer this script signs up has this password.
const password = 'correct horse battery';

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
// With scriptsOff, the page's own scripts are aborted (and listed in
// blocked) while JavaScript stays on: see visit.
async function newContext(opts, scriptsOff = false) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  context.setDefaultTimeout(timeout);
  context.setDefaultNavigationTimeout(timeout);
  const offsite = [];
  const blocked = new Set();
  await context.route('**/*', (route) => {
    const req = route.request();
    const u = new URL(req.url());
    if ((u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'ws:' || u.protocol === 'wss:') &&
        u.hostname !== '127.0.0.1') {
      offsite.push(req.url());
      return route.abort('blockedbyclient');
    }
    if (scriptsOff && u.origin === base && req.resourceType() === 'script') {
      blocked.add(req.url());
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  return { context, offsite, blocked };
}

function slug(name) {
  return name.replace(/^\//, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'landing';
}

function screenshotName(name, scheme, width) {
  return path.join(shots, `${slug(name)}.${scheme}.${width}.png`);
}

const pageName = (pg) => pg.name || pg.path;

// navigation runs action (a click, a key press) and returns the response
// of the page it opens, once that page has loaded.
async function navigation(page, action) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().frame() === page.mainFrame() &&
      (r.status() < 300 || r.status() >= 400)),
    page.waitForEvent('load'),
    action(),
  ]);
  return response;
}

// expect checks the status of a step's page and names the step if not.
async function expect(step, responsePromise, status) {
  const response = await responsePromise;
  if (response.status() !== status) {
    throw new Error(`${step} answered ${response.status()}, want ${status}`);
  }
  return response;
}

let uniqueCount = 0;
const unique = () => `browser-${process.pid}-${++uniqueCount}`;

// choose selects, in the select labelled label, the option whose text is
// text or starts with it and a space.
async function choose(page, label, text) {
  const select = page.getByLabel(label, { exact: true });
  const options = await select.evaluate((s) => [...s.options].map((o) => o.label));
  const option = options.find((o) => o === text || o.startsWith(text + ' '));
  if (!option) throw new Error(`the ${label} list offers no ${JSON.stringify(text)}: ${JSON.stringify(options)}`);
  await select.selectOption({ label: option });
}

// signUp signs a developer up through the sign-up form (the test portal
// sends no mail: the answer is their new app, 201).
async function signUp(page, email, name = 'Ana Lima') {
  await page.goto(base + '/portal/signup', { waitUntil: 'load' });
  await page.getByLabel('Your name', { exact: true }).fill(name);
  await page.getByLabel('E-mail address', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await expect('signing up', navigation(page, () => page.getByRole('button', { name: 'Sign up', exact: true }).click()), 201);
}

// shownSecret reads the client secret the page shows once: the box
// headed "… client secret — shown once", its "Client secret" entry.
async function shownSecret(page) {
  const box = page.getByRole('status').filter({ has: page.getByRole('heading', { name: /client secret/i }) });
  const terms = (await box.getByRole('term').allTextContents()).map((t) => t.trim());
  const values = (await box.getByRole('definition').allTextContents()).map((t) => t.trim());
  const secret = values[terms.indexOf('Client secret')] || '';
  if (secret.length < 16) throw new Error(`the page shows the secret ${JSON.stringify(secret)} (${terms.join(', ')})`);
  return secret;
}

// subscribe buys the live API on the starter plan from the Plans page,
// reached by the main navigation; the answer is the app with its
// production credentials (201).
async function subscribe(page) {
  await expect('the plans page', navigation(page, () =>
    page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Plans', exact: true }).click()), 200);
  await choose(page, 'API', journeyConfig.live);
  await choose(page, 'Plan', 'starter');
  await expect('subscribing', navigation(page, () => page.getByRole('button', { name: 'Subscribe', exact: true }).click()), 201);
}

// The mode's developer, signed up once per mode (with that mode's
// JavaScript setting and theme) through the forms, with an app subscribed
// to the live API: {state (the context's cookies), email, app (its
// id)}, or null when that failed (reported as the check
// "developer").
const developers = new Map();
function developer(mode) {
  if (!developers.has(mode.name)) developers.set(mode.name, setUpDeveloper(mode));
  return developers.get(mode.name);
}

async function setUpDeveloper(mode) {
  const { context, offsite } = await newContext({ javaScriptEnabled: mode.js, colorScheme: mode.scheme });
  const page = await context.newPage();
  const email = `developer-${slug(mode.name)}@example.com`;
  const problems = [];
  let out = null;
  try {
    await signUp(page, email, 'Dana Developer');
    await subscribe(page);
    if (journeyConfig.try && journeyConfig.correlator) {
      // One call with a known correlator, for the request log's pages.
      await expect('the try-it page', page.goto(base + journeyConfig.try, { waitUntil: 'load' }), 200);
      await page.getByLabel(/^x-correlator\b/).fill(journeyConfig.correlator);
      await expect('a try-it call', navigation(page, () => page.getByRole('button', { name: 'Send request', exact: true }).click()), 200);
    }
    await expect('the apps page', navigation(page, () =>
      page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Apps', exact: true }).click()), 200);
    const apps = page.getByRole('table', { name: /apps/i }).getByRole('rowheader').getByRole('link');
    await expect('the app page', navigation(page, () => apps.first().click()), 200);
    out = { state: await context.storageState(), email, app: new URL(page.url()).pathname.split('/').pop() };
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('developer', '/', mode.name, problems, out ? `${email}, ${out.app}` : undefined);
  await context.close();
  return problems.length ? null : out;
}

// contextFor opens the context a page is checked in: a visitor's, or the
// mode's developer's (their cookies, a cold cache).
async function contextFor(pg, mode, opts, scriptsOff) {
  let storageState;
  if (pg.as === 'developer') {
    const dev = await developer(mode);
    if (!dev) throw new Error(`the ${mode.name} developer could not be set up`);
    storageState = dev.state;
  }
  return newContext({ ...opts, storageState }, scriptsOff);
}

async function resolve(text, mode) {
  let out = text.replaceAll('{unique}', unique);
  if (out.includes('{app}') || out.includes('{developer}')) {
    const dev = await developer(mode);
    if (!dev) throw new Error(`the ${mode.name} developer could not be set up`);
    out = out.replaceAll('{app}', dev.app).replaceAll('{developer}', dev.email);
  }
  return out;
}

// totpNow is the current code (RFC 6238: SHA-1, 6 digits, 30 s) of the
// key the two-step set-up page shows, for the fill value "{totp}".
async function totpNow(page) {
  const key = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...key].map((c) => alphabet.indexOf(c).toString(2).padStart(5, '0')).join('');
  const secret = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const h = createHmac('sha1', secret).update(counter).digest();
  return String((h.readUInt32BE(h[h.length - 1] & 15) & 0x7fffffff) % 1e6).padStart(6, '0');
}

// open brings a page up as pg says (a newcomer signs up first; a form is
// filled in and sent) and returns its response; measure is called just
// before the page's own load starts.
async function open(page, pg, mode, measure) {
  if (pg.as === 'newcomer') await signUp(page, `${unique()}@example.com`);
  const url = base + await resolve(pg.path, mode);
  if (!pg.press) {
    measure();
    return page.goto(url, { waitUntil: 'load' });
  }
  await page.goto(url, { waitUntil: 'load' });
  for (const [label, value] of Object.entries(pg.fill || {})) {
    const text = value === '{totp}' ? await totpNow(page) : await resolve(value, mode);
    await page.getByLabel(label, { exact: true }).fill(text);
  }
  for (const [label, text] of Object.entries(pg.select || {})) await choose(page, label, text);
  measure();
  return navigation(page, () => page.getByRole('button', { name: pg.press, exact: true }).click());
}

// axe runs axe-core on the page as it is, WCAG 2.0/2.1 A and AA. The
// script is evaluated over the DevTools protocol, which the page's CSP
// does not govern (an injected <script> would be refused).
async function axe(page) {
  const problems = [];
  await page.evaluate(axeSource);
  const result = await page.evaluate((tags) => window.axe.run(document, {
    runOnly: { type: 'tag', values: tags },
    resultTypes: ['violations'],
  }), axeTags);
  if (result.passes.length === 0) problems.push('axe found nothing to check');
  for (const v of result.violations) {
    for (const n of v.nodes) {
      problems.push(`${v.id} (${v.impact}) at ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`);
    }
  }
  return problems;
}

// Weight per page and JavaScript setting (light theme), for the table.
const weights = [];

// visit loads one page cold in a context that enforces the page's CSP and
// runs every check on it.
//
// "JavaScript off" here means that the page's own scripts never run: they
// are aborted at the network while the browser keeps JavaScript on, so
// that axe can run (axe.run is asynchronous, and a browser with
// JavaScript off fires no timers). The portal has no inline script (its
// CSP forbids them), so the DOM is the one a browser without JavaScript
// builds, <noscript> aside (there is none). The journey, keyboard and
// search checks turn JavaScript off in the browser itself.
async function visit(pg, mode) {
  const name = pageName(pg);
  let context, offsite, blocked;
  try {
    ({ context, offsite, blocked } = await contextFor(pg, mode, { javaScriptEnabled: true, colorScheme: mode.scheme }, !mode.js));
  } catch (err) {
    report('load', name, mode.name, [err.message]);
    return;
  }
  const page = await context.newPage();
  const consoleErrors = [];
  const cspNotes = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (blocked.has(msg.location().url)) return; // a script aborted for "JavaScript off"
    // Chromium logs the expected status of an error page as a failed load.
    if (pg.status >= 400 && msg.location().url.startsWith(base + '/') &&
        text.startsWith(`Failed to load resource: the server responded with a status of ${pg.status}`)) return;
    const csp = /Content Security Policy|Content-Security-Policy/i.test(text);
    if (csp && cspExempt.has(name)) cspNotes.push(text);
    else consoleErrors.push(text);
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));

  let requests = new Map(); // URL → {type, bytes}, from the page's own load on
  const pending = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (!mode.js && u.origin === base && req.resourceType() === 'script') return; // aborted: not loaded without JavaScript
    if (!requests.has(req.url())) requests.set(req.url(), { type: req.resourceType(), bytes: 0 });
  });
  page.on('requestfinished', (req) => {
    const counted = requests;
    pending.push(req.sizes().then((s) => {
      const r = counted.get(req.url());
      if (r) r.bytes = Math.max(r.bytes, s.responseBodySize);
    }).catch(() => {})); // the context closed first: nothing to count
  });

  let response;
  try {
    response = await open(page, pg, mode, () => { requests = new Map(); });
  } catch (err) {
    report('load', name, mode.name, [`${pg.path}: ${err.message}`]);
    await context.close();
    return;
  }
  await Promise.all(pending);
  const status = response ? response.status() : 0;
  const loadProblems = status === pg.status ? [] : [`status ${status}, want ${pg.status}`];
  if (response && response.request().redirectedFrom()) loadProblems.push(`redirected to ${new URL(page.url()).pathname}`);
  const signedIn = await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sign out' }).count();
  if (pg.as && !signedIn) loadProblems.push('the page is not signed in (no Sign out in the main navigation)');
  report('load', name, mode.name, loadProblems);

  report('origin', name, mode.name, offsite.map((u) => `request to ${u}`));

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
  report('budget', name, mode.name, over, `${requests.size} requests, ${bytes} B, ${js} B JS`);
  if (mode.scheme === 'light') weights.push({ page: name, js: mode.js, requests: requests.size, bytes, script: js });

  const headers = response ? await response.allHeaders() : {};
  const csp = headers['content-security-policy'] || '';
  const cspProblems = [];
  if (!/default-src 'self'/.test(csp)) cspProblems.push(`Content-Security-Policy is ${csp ? JSON.stringify(csp) : 'missing'}`);
  if (/script-src[^;]*'unsafe-inline'/.test(csp)) cspProblems.push("script-src allows 'unsafe-inline'");
  if (cspExempt.has(name)) {
    const notes = [...cspProblems, ...cspNotes];
    report('csp', name, mode.name, [], notes.length ? `not enforced here yet: ${notes.join('; ')}` : undefined);
  } else {
    report('csp', name, mode.name, cspProblems);
  }

  let axeProblems;
  try {
    axeProblems = await axe(page);
  } catch (err) {
    axeProblems = [err.message];
  }
  report('axe', name, mode.name, axeProblems);

  // Reflow at 320 CSS px (WCAG 1.4.10): no horizontal scrolling.
  await page.setViewportSize({ width: 320, height: 640 });
  const reflow = await page.evaluate(() => {
    const w = document.documentElement.scrollWidth;
    const wide = [];
    // What sticks out: the outermost elements past the edge that no
    // scrolling box (a table's .table-wrap, a <pre>) holds.
    const scrolls = (el) => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
    if (w > 320) {
      const out = (el) => el.getBoundingClientRect().right > 320.5;
      const walk = (el) => {
        for (const child of el.children) {
          if (wide.length >= 5) return;
          if (out(child) && (scrolls(child) || ![...child.children].some(out))) {
            const text = (child.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
            wide.push(`${child.tagName.toLowerCase()}${child.className ? '.' + String(child.className).split(' ').join('.') : ''} ${JSON.stringify(text)} (right ${Math.round(child.getBoundingClientRect().right)})`);
          } else if (!scrolls(child)) {
            walk(child);
          }
        }
      };
      walk(document.body);
      // Nothing outside a scrolling box: something inside one escapes it
      // (an absolutely positioned element whose containing block is the
      // page).
      for (const el of document.body.querySelectorAll('*')) {
        if (wide.length >= 5) break;
        if (out(el) && el.children.length === 0 && getComputedStyle(el).position === 'absolute') {
          wide.push(`${el.tagName.toLowerCase()}${el.className ? '.' + String(el.className).split(' ').join('.') : ''} ${JSON.stringify((el.textContent || '').trim().slice(0, 40))} (absolute, right ${Math.round(el.getBoundingClientRect().right)})`);
        }
      }
    }
    return { w, wide };
  }).catch((err) => ({ w: 0, wide: [], err: err.message }));
  report('reflow', name, mode.name, reflow.err ? [reflow.err] :
    reflow.w <= 320 ? [] : [`scrollWidth ${reflow.w} at 320 px; wide: ${reflow.wide.join(', ')}`]);

  if (mode.js) {
    const problems = [];
    if (shots) {
      for (const width of [1280, 375]) {
        await page.setViewportSize({ width, height: 800 });
        try {
          await page.screenshot({ path: screenshotName(name, mode.scheme, width), fullPage: true });
        } catch (err) {
          problems.push(`${width} px: ${err.message}`);
        }
      }
    }
    report('screenshot', name, mode.name, problems, shots ? undefined : 'GH_SCREENSHOTS not set');
  }

  // Late messages (deferred scripts) are in by now.
  report('console', name, mode.name, consoleErrors,
    cspNotes.length ? `CSP, not enforced here yet: ${cspNotes.join('; ')}` : undefined);
  await context.close();
}

// focusProblem describes what is wrong with the focused element's focus
// indicator (an outline or a box shadow, of 3:1 against the background
// around it: WCAG 2.4.7 and 1.4.11), or returns null.
function focusProblem(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'nothing is focused';
    const what = `${el.tagName.toLowerCase()} ${JSON.stringify((el.getAttribute('aria-label') || el.textContent || el.getAttribute('name') || '').trim().slice(0, 40))}`;
    const s = getComputedStyle(el);
    const rgb = (c) => {
      const m = c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/);
      return m ? { r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4] } : null;
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    let indicator = null;
    if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) indicator = rgb(s.outlineColor);
    else if (s.boxShadow && s.boxShadow !== 'none') indicator = rgb(s.boxShadow);
    if (!indicator || indicator.a === 0) return `${what} has no visible focus indicator (outline ${s.outlineStyle} ${s.outlineWidth}, box-shadow ${s.boxShadow})`;
    let bg = null;
    for (let n = el.parentElement; n && !bg; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0) bg = c;
    }
    bg = bg || { r: 255, g: 255, b: 255 };
    const [hi, lo] = [lum(indicator), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    return ratio >= 3 ? null : `${what}'s focus indicator has a contrast of ${ratio.toFixed(2)}:1 with its background, under 3:1`;
  });
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
    const target = page.getByRole('link', { name: 'Browse the APIs' });
    let reached = 0;
    for (let i = 1; i <= 30 && !reached; i++) {
      await page.keyboard.press('Tab');
      if (await target.evaluate((el) => el === document.activeElement)) reached = i;
    }
    if (!reached) {
      problems.push('30 Tab presses never focused "Browse the APIs"');
    } else {
      note = `reached after ${reached} Tab presses`;
      const p = await focusProblem(page);
      if (p) problems.push(p);
      await Promise.all([page.waitForURL(base + '/portal/apis'), page.keyboard.press('Enter')]);
      const h1 = (await page.getByRole('heading', { level: 1 }).textContent()).trim();
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
    const titles = page.getByRole('main').getByRole('heading', { level: 3 });
    const before = await titles.count();
    await page.getByRole('searchbox', { name: 'Search' }).fill('swap');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === 'swap'),
      page.getByRole('searchbox', { name: 'Search' }).press('Enter')]);
    const found = (await titles.allTextContents()).map((t) => t.trim());
    if (found.length === 0 || found.length >= before || !found.every((t) => /^SIM Swap\b/.test(t)) || !found.includes(journeyConfig.api)) {
      problems.push(`searching "swap" shows ${JSON.stringify(found)}, want the SIM Swap APIs alone (of ${before})`);
    }
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('search', '/portal/apis', 'js-off light', problems);
  await context.close();
}

// journey: a newcomer's way from the landing page to the first sandbox
// call and on to a purchase, with JavaScript on or off, by what the pages
// show; then the secrets, the cookies and the anti-forgery check.
async function journey(js) {
  const mode = `js-${js ? 'on' : 'off'} light`;
  const { context, offsite } = await newContext({ javaScriptEnabled: js, colorScheme: 'light' });
  const page = await context.newPage();
  // Every response body the browser gets, read as it arrives. A body the
  // browser dropped before it could be read (it navigated on; on a busy
  // machine that happens to images and style sheets) counts as unread only
  // for a page or a fetch: the static files are built into the binary and
  // cannot hold a secret minted at run time.
  const bodies = [];
  const unread = [];
  const reading = [];
  const mayHoldSecret = (r) => ['document', 'fetch', 'xhr'].includes(r.request().resourceType());
  page.on('response', (r) => {
    reading.push(r.body().then((b) => { bodies.push({ url: r.url(), text: b.toString('utf8') }); },
      (err) => { if ((r.status() < 300 || r.status() >= 400) && mayHoldSecret(r)) unread.push(`${r.url()}: ${err.message}`); }));
  });
  let transitions = 0, fields = 0, counting = false;
  page.on('request', (req) => {
    if (counting && req.isNavigationRequest() && req.frame() === page.mainFrame() && !req.redirectedFrom()) transitions++;
  });
  const fill = async (label, value) => {
    await page.getByLabel(label, { exact: true }).fill(value);
    fields++;
  };
  const click = (locator) => navigation(page, () => locator.click());
  const mainNav = page.getByRole('navigation', { name: 'Main' });
  const name = `Journey ${js ? 'On' : 'Off'}`;
  const email = `journey-${js ? 'on' : 'off'}-${process.pid}@example.com`;
  const problems = [];
  const secrets = {};
  let note;
  try {
    await page.goto(base + '/', { waitUntil: 'load' });
    counting = true;
    await expect('the catalog', click(page.getByRole('link', { name: 'Browse the APIs' })), 200);
    await expect(journeyConfig.api, click(page.getByRole('link', { name: journeyConfig.api, exact: true })), 200);
    await expect('the sign-up page', click(page.getByRole('link', { name: 'Sign up and try it' })), 200);
    await fill('Your name', name);
    await fill('E-mail address', email);
    await fill('Password', password);
    await expect('signing up', click(page.getByRole('button', { name: 'Sign up', exact: true })), 201);
    secrets.sandbox = await shownSecret(page);
    await page.getByRole('heading', { name: 'Your first sandbox call' }).waitFor({ timeout: 5_000 });
    await expect('the first sandbox call', click(page.getByRole('button', { name: 'Send the sandbox request' })), 200);
    const result = page.getByRole('region', { name: /^Response:/ });
    const heading = (await result.getByRole('heading', { level: 2 }).textContent({ timeout: 5_000 })).trim();
    if (!/\b200 OK\b/.test(heading)) problems.push(`the first call's result says ${JSON.stringify(heading)}, want 200 OK`);
    const terms = (await result.getByRole('term').allTextContents()).map((t) => t.trim());
    const values = (await result.getByRole('definition').allTextContents()).map((t) => t.trim());
    const correlator = values[terms.indexOf('X-Correlator')];
    if (!correlator) problems.push(`the first call's result shows no X-Correlator (headers: ${terms.join(', ')})`);
    if (/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.test(await page.content())) problems.push('the result page holds an access token');
    counting = false;
    note = `landing to the first sandbox call: ${transitions} page transitions, ${fields} form fields; X-Correlator ${correlator}`;
    if (transitions > journeyBudget.transitions) problems.push(`${transitions} page transitions to the first sandbox call, budget ${journeyBudget.transitions}`);
    if (fields > journeyBudget.fields) problems.push(`${fields} form fields to the first sandbox call, budget ${journeyBudget.fields}`);

    // Buy the live API: Plans → Subscribe → the production secret.
    await subscribe(page);
    secrets.production = await shownSecret(page);
    // The apps and the app page show the client ids, and neither secret.
    await expect('the apps page', click(mainNav.getByRole('link', { name: 'Apps', exact: true })), 200);
    await expect('the app page', click(page.getByRole('table', { name: /apps/i }).getByRole('rowheader').getByRole('link').first()), 200);
    const credentials = page.getByRole('table', { name: /OAuth clients/i });
    const rows = (await credentials.getByRole('rowheader').allTextContents()).map((t) => t.trim());
    if (!rows.includes('sandbox') || !rows.includes('production')) problems.push(`the app's credentials table lists ${JSON.stringify(rows)}`);
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('journey', '/', mode, problems, note);

  // A secret is in exactly one response.
  const once = [];
  while (reading.length) await Promise.all(reading.splice(0));
  for (const u of unread) once.push(`the body of ${u} could not be read`);
  if (!secrets.sandbox || !secrets.production) once.push('the journey did not get both secrets');
  for (const [env, secret] of Object.entries(secrets)) {
    const holders = bodies.filter((b) => b.text.includes(secret)).map((b) => b.url);
    if (holders.length !== 1) once.push(`the ${env} secret is in ${holders.length} responses: ${holders.join(', ')}`);
  }
  report('secret-once', '/', mode, once, `${bodies.length} responses read`);

  // Cookie flags: HttpOnly and SameSite=Lax; Secure needs https.
  const cookieProblems = [];
  const cookies = await context.cookies(base);
  if (cookies.length < 2) cookieProblems.push(`${cookies.length} cookies after signing in, want the browser's and the session's`);
  for (const c of cookies) {
    if (!c.httpOnly) cookieProblems.push(`${c.name} is not HttpOnly`);
    if (c.sameSite !== 'Lax') cookieProblems.push(`${c.name} is SameSite=${c.sameSite}, want Lax`);
    if (c.secure) cookieProblems.push(`${c.name} is Secure on http://, where the browser would not send it`);
    if (c.path !== '/') cookieProblems.push(`${c.name} has the path ${c.path}`);
  }
  report('cookies', '/', mode, cookieProblems, cookies.map((c) => `${c.name} (HttpOnly ${c.httpOnly}, SameSite=${c.sameSite}, Secure ${c.secure})`).join(', '));

  // A form without the anti-forgery field, or with a forged one, is
  // refused with the registry's error, and the session survives it.
  const csrf = [];
  try {
    for (const form of [{ everywhere: '1' }, { everywhere: '1', csrf: 'forged' }]) {
      const r = await page.request.post(base + '/portal/signout', { form, maxRedirects: 0 });
      const text = await r.text();
      if (r.status() !== 403 || !text.includes('csrf_token_invalid')) {
        csrf.push(`signing out with ${form.csrf ? 'a forged' : 'no'} csrf field answered ${r.status()}${text.includes('csrf_token_invalid') ? '' : ' without csrf_token_invalid'}`);
      }
    }
    const r = await page.request.get(base + '/portal/account');
    if (r.status() !== 200 || !(await r.text()).includes(email)) csrf.push('the refused sign-out ended the session');
  } catch (err) {
    csrf.push(err.message);
  }
  report('csrf', '/', mode, csrf);
  await context.close();
}

// keyboardJourney: the journey to the first sandbox call with Tab, typing
// and Enter alone (JavaScript on); every control focused on the way shows
// a focus indicator.
async function keyboardJourney(scheme) {
  const mode = `js-on ${scheme}`;
  const { context, offsite } = await newContext({ javaScriptEnabled: true, colorScheme: scheme });
  const page = await context.newPage();
  const problems = [];
  const seen = new Set();
  let presses = 0;
  const tabTo = async (target, what) => {
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press('Tab');
      presses++;
      const p = await focusProblem(page);
      if (p && !seen.has(p)) {
        seen.add(p);
        problems.push(p);
      }
      if (await target.evaluate((el) => el === document.activeElement)) return;
    }
    throw new Error(`80 Tab presses never reached ${what}`);
  };
  const enter = () => navigation(page, () => page.keyboard.press('Enter'));
  let note;
  try {
    await page.goto(base + '/', { waitUntil: 'load' });
    await tabTo(page.getByRole('link', { name: 'Browse the APIs' }), '"Browse the APIs"');
    await expect('the catalog', enter(), 200);
    await tabTo(page.getByRole('link', { name: journeyConfig.api, exact: true }), journeyConfig.api);
    await expect(journeyConfig.api, enter(), 200);
    await tabTo(page.getByRole('link', { name: 'Sign up and try it' }), '"Sign up and try it"');
    await expect('the sign-up page', enter(), 200);
    for (const [label, value] of [['Your name', 'Kim Keys'], ['E-mail address', `keys-${scheme}-${process.pid}@example.com`], ['Password', password]]) {
      await tabTo(page.getByLabel(label, { exact: true }), label);
      await page.keyboard.type(value);
    }
    await tabTo(page.getByRole('button', { name: 'Sign up', exact: true }), 'the Sign up button');
    await expect('signing up', enter(), 201);
    await tabTo(page.getByRole('button', { name: 'Send the sandbox request' }), '"Send the sandbox request"');
    await expect('the first sandbox call', enter(), 200);
    const heading = (await page.getByRole('region', { name: /^Response:/ }).getByRole('heading', { level: 2 }).textContent({ timeout: 5_000 })).trim();
    if (!/\b200 OK\b/.test(heading)) problems.push(`the result says ${JSON.stringify(heading)}, want 200 OK`);
    note = `${presses} Tab presses from the landing page to the first sandbox call`;
  } catch (err) {
    problems.push(err.message);
  }
  for (const u of offsite) problems.push(`request to ${u}`);
  report('keyboard-journey', '/', mode, problems, note);
  await context.close();
}

// A few checks at a time, each in its own contexts; they do not depend
// on each other but for the mode's developer, set up by the first check
// that needs them.
const tasks = [];
for (const js of [false, true]) tasks.push(() => journey(js));
for (const scheme of ['light', 'dark']) tasks.push(() => keyboardJourney(scheme));
for (const mode of modes) tasks.push(() => developer(mode));
for (const pg of pages) {
  for (const mode of modes) {
    tasks.push(() => visit(pg, mode));
  }
}
for (const mode of modes) tasks.push(() => keyboard(mode));
tasks.push(() => search());
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
  const name = pageName(pg);
  const on = weights.find((w) => w.page === name && w.js) || {};
  const off = weights.find((w) => w.page === name && !w.js) || {};
  console.log(row([`\`${name}\``, on.requests ?? '–', on.bytes ?? '–', on.script ?? '–', off.requests ?? '–', off.bytes ?? '–']));
}
process.exit(failed ? 1 : 0);
