// Loads a client's GraphiQL in headless Chromium, runs the query given in
// the URL, and checks the answer appears in the result pane. The machine has
// no internet: GraphiQL's CDN assets are served from this folder's npm
// packages by request interception. Leaves a screenshot.
//
// Usage: node playground.mjs <client base URL> <expected text> <screenshot.png> [query]
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const modules = fileURLToPath(new URL('./node_modules/', import.meta.url));
const [base, expected, screenshot, queryArg] = process.argv.slice(2);
const assets = {
  'react.production.min.js': modules + 'react/umd/react.production.min.js',
  'react-dom.production.min.js': modules + 'react-dom/umd/react-dom.production.min.js',
  'graphiql.min.js': modules + 'graphiql/graphiql.min.js',
  'graphiql.min.css': modules + 'graphiql/graphiql.min.css',
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = false;
let page;
try {
  page = await browser.newPage();
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.route(/^https:\/\/unpkg\.com\//, (route) => {
    const file = route.request().url().split('/').pop();
    const path = assets[file];
    if (!path) return route.abort();
    const type = file.endsWith('.css') ? 'text/css' : 'text/javascript';
    return route.fulfill({ status: 200, contentType: type, body: readFileSync(path) });
  });
  const query = queryArg || '{ product(id: "p1") { name price { formatted } } }';
  await page.goto(`${base}/?query=${encodeURIComponent(query)}`);
  await page.waitForSelector('.graphiql-execute-button', { timeout: 30000 });
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    (text) => document.querySelector('.result-window')?.textContent.includes(text),
    expected,
    { timeout: 30000 },
  );
  const result = await page.textContent('.result-window');
  console.log('result pane:', result.replace(/\s+/g, ' ').slice(0, 300));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`playground test passed; screenshot at ${screenshot}`);
} catch (e) {
  failed = true;
  console.log('playground test failed:', e.message);
  if (page) {
    const pane = await page.textContent('.result-window').catch(() => null);
    if (pane) console.log('result pane:', pane.replace(/\s+/g, ' ').slice(0, 500));
    await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
