// Loads each client's GraphiQL in headless Chromium with the outside world
// unreachable, runs a query and checks the answer in the result pane.
//
// Chromium resolves no name but 127.0.0.1 and sends everything that is not
// loopback to a proxy that does not exist, so a page that needs anything
// beyond the gateway breaks. Nothing is intercepted: the test listens to
// every request the page makes and fails if one goes to any other origin
// than the gateway's, or if the page's Content-Security-Policy refuses
// anything. The prefilled bearer token must stay out of the browser's
// storage, and the settings must not offer to keep it, unless the client
// is marked `:persist` (run with `clients.<name>.playground_persist_headers`
// on): then the settings offer it and the token is kept. Leaves a
// screenshot per client.
//
// Usage: node playground.mjs <artifacts dir> <client>[:persist]=<base URL>...
//   e.g. node playground.mjs artifacts web=http://127.0.0.1:4001 mobile:persist=... admin=...
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

// What each client runs: a query that needs the token prefilled in the
// headers pane (the demo's customer on web and mobile, its admin on admin),
// and text the result pane must then show.
const CASES = {
  web: {
    query: '{ me { name orders(first: 1) { status total { formatted } } } product(id: "p1") { name price { formatted } } }',
    expected: ['"me": {', '"formatted": "'],
  },
  mobile: {
    query: '{ home { user { name } feed(first: 2) { title price inStock } } }',
    expected: ['"user": {', '"price": "'],
  },
  admin: {
    query: '{ systemHealth { services { name breaker } } }',
    expected: ['"breaker": "CLOSED"'],
  },
};

const [artifacts, ...targets] = process.argv.slice(2);
if (!artifacts || targets.length === 0) {
  console.error('usage: node playground.mjs <artifacts dir> <client>=<base URL>...');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-default-apps', '--disable-domain-reliability', '--no-pings',
    // The outside world: no name resolves but loopback's, and whatever is
    // not loopback goes to a proxy nobody listens on (port 9, discard).
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    '--proxy-server=http://127.0.0.1:9',
  ],
});

const failures = [];
try {
  await outsideIsUnreachable();
  for (const target of targets) {
    const [name, base] = target.split(/=(.*)/s);
    const [client, mode] = name.split(':');
    const spec = CASES[client];
    if (!spec || (mode !== undefined && mode !== 'persist')) throw new Error(`unknown client ${name}`);
    const problems = await checkClient(client, base, spec, mode === 'persist');
    for (const p of problems) failures.push(`${client}: ${p}`);
    console.log(problems.length === 0 ? `${client}: passed` : `${client}: FAILED`);
  }
} catch (e) {
  failures.push(e.message);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.log('playground test failed:\n  ' + failures.join('\n  '));
  process.exit(1);
}
console.log(`playground test passed; screenshots in ${artifacts}/`);

// The browser itself cannot reach a public host (else the test proves
// nothing about the page).
async function outsideIsUnreachable() {
  const context = await browser.newContext();
  const page = await context.newPage();
  let reached = false;
  try {
    const r = await page.goto('https://unpkg.com/', { timeout: 15000 });
    reached = r !== null && r.ok();
  } catch {
    // net::ERR_... : the outside is unreachable, as it must be.
  }
  await context.close();
  if (reached) throw new Error('the browser reached https://unpkg.com/: the sandbox is not closed');
}

async function checkClient(client, base, spec, persist) {
  const problems = [];
  const origin = new URL(base).origin;
  // A fresh profile per client: nothing stored by another page.
  const context = await browser.newContext();
  const page = await context.newPage();
  const elsewhere = new Set();
  page.on('request', (request) => {
    const url = request.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return;
    if (new URL(url).origin !== origin) elsewhere.add(url);
  });
  const failed = [];
  page.on('requestfailed', (r) => failed.push(`${r.url()} (${r.failure()?.errorText})`));
  const refused = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const screenshot = `${artifacts}/playground-${client}.png`;
  try {
    const response = await page.goto(`${base}/?query=${encodeURIComponent(spec.query)}`);
    const csp = response.headers()['content-security-policy'] || '';
    const scriptSrc = (csp.match(/script-src([^;]*)/) || [])[1] ?? '';
    if (!scriptSrc || /unsafe-inline/.test(scriptSrc)) {
      problems.push(`the page's script-src is ${JSON.stringify(scriptSrc)}`);
    }
    await page.waitForSelector('.graphiql-execute-button', { timeout: 30000 });
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(
      (texts) => {
        const pane = document.querySelector('.result-window')?.textContent ?? '';
        return texts.every((t) => pane.includes(t));
      },
      spec.expected,
      { timeout: 30000 },
    );
    const pane = await page.textContent('.result-window');
    console.log(`${client} result pane:`, pane.replace(/\s+/g, ' ').slice(0, 200));
    if (/"errors"/.test(pane)) problems.push('the answer has errors');
    // A dialog (GraphiQL's settings) adds a <style> element: the page's
    // nonce lets it in. Keeping headers is offered only when configured.
    await page.click('[aria-label="Open settings dialog"]');
    const dialog = await page.waitForSelector('.graphiql-dialog', { timeout: 10000 });
    const offered = /Persist headers/i.test(await dialog.textContent());
    if (offered !== persist) {
      problems.push(persist ? 'the settings do not offer to persist headers' : 'the settings offer to persist headers');
    }
    await page.keyboard.press('Escape');
    await page.waitForSelector('.graphiql-dialog', { state: 'detached', timeout: 10000 });
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    if (/Bearer/i.test(stored) !== persist) {
      problems.push(persist
        ? "the bearer token is not kept in the browser's storage, though the client persists headers"
        : `the bearer token is in the browser's storage: ${stored.slice(0, 2000)}`);
    }
  } catch (e) {
    problems.push(e.message.split('\n')[0]);
    const pane = await page.textContent('.result-window', { timeout: 1000 }).catch(() => null);
    if (pane) console.log(`${client} result pane:`, pane.replace(/\s+/g, ' ').slice(0, 500));
  }
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  for (const url of elsewhere) problems.push(`requested a host other than the gateway's: ${url}`);
  for (const f of failed) problems.push(`request failed: ${f}`);
  for (const r of refused) problems.push(`refused by the page's policy: ${r}`);
  await context.close();
  return problems;
}
