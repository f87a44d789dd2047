#!/usr/bin/env node
// End-to-end tests of the official sockjs-client against the Rust
// sockjs-test-server: first the client in Node (the transports it has there),
// then in headless Chromium (every browser transport), from a page on another
// origin than the server, as in production.
//
// Usage: node client/run.js --server PATH [--chat PATH] [--cluster] [--only SUBSTRING] [--no-browser]
//   --server   the sockjs-test-server binary (default: $SOCKJS_TEST_SERVER_BIN)
//   --chat     the chat example binary (its Node test runs when given)
//   --cluster  also run the multi-node suite (cluster.js and broadcast.js:
//              three nodes on Redis behind HAProxy and nginx; haproxy, nginx
//              and redis-server must be installed)
//   --only     run only the tests whose name contains SUBSTRING
//   --no-browser  skip the Chromium suite
// Prints one line per test and a final "N passed, M failed" line; exits 1 if
// anything failed.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

// cluster.js first: it puts its probes into the client's websocket driver,
// which must happen before sockjs-client is loaded (see cluster.js).
const cluster = require('./cluster.js');
const checks = require('./checks.js');
const chat = require('./chat.js');
const { waitListening } = require('./procs.js');

// The client's browser build (also the iframe page's `sockjs_url`) and the
// scenarios, as served to pages or injected into them.
const CLIENT_JS = path.join(path.dirname(require.resolve('sockjs-client/package.json')), 'dist', 'sockjs.min.js');
const CHECKS_JS = path.join(__dirname, 'checks.js');

const NODE_TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];
const BROWSER_TRANSPORTS = [
  'websocket',
  'xhr-streaming',
  'xhr-polling',
  'eventsource',
  'iframe-eventsource',
  'iframe-htmlfile',
  'iframe-xhr-polling',
  'jsonp-polling',
];
const NODE_SCENARIOS = [
  'open',
  'echo',
  'escapes',
  'lone-surrogate',
  'large',
  'ordered',
  'amplify',
  'server-close',
  'websocket-disabled',
  'cookie-needed',
];
const BROWSER_SCENARIOS = ['open', 'echo', 'escapes', 'large', 'ordered', 'amplify', 'server-close'];
// A test that takes longer than this fails (each scenario step has its own,
// shorter, timeout; this catches anything that hangs outside of one).
const TEST_MS = 60000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function parseArgs(argv) {
  const args = { server: process.env.SOCKJS_TEST_SERVER_BIN, chat: null, only: null, browser: true, cluster: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--server') args.server = argv[++i];
    else if (a === '--only') args.only = argv[++i];
    else if (a === '--chat') args.chat = argv[++i];
    else if (a === '--no-browser') args.browser = false;
    else if (a === '--cluster') args.cluster = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.server) throw new Error('give the sockjs-test-server binary with --server PATH');
  return args;
}

// Serves the browser test page, checks.js and the client's own
// dist/sockjs.min.js (also the iframe page's `sockjs_url`).
function startPageServer() {
  const files = { '/sockjs.min.js': CLIENT_JS, '/checks.js': CHECKS_JS };
  const server = http.createServer((req, res) => {
    const url = req.url.split('?')[0];
    if (url === '/page.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' });
      res.end(pageHtml(''));
    } else if (files[url]) {
      res.writeHead(200, { 'Content-Type': 'application/javascript; charset=UTF-8' });
      fs.createReadStream(files[url]).pipe(res);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function pageHtml(scriptOrigin) {
  return (
    '<!doctype html><html><head><meta charset="UTF-8"><title>sockjs e2e</title>' +
    `<script src="${scriptOrigin}/sockjs.min.js"></script>` +
    `<script src="${scriptOrigin}/checks.js"></script></head><body></body></html>`
  );
}

// Starts the Rust test server on a free port and resolves with its address
// once it prints its "listening" line.
function startTestServer(bin, sockjsUrl) {
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', '0', '--sockjs-url', sockjsUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return waitListening(child, 'sockjs-test-server');
}

// Starts the chat example on a free port.
function startChat(bin, clientUrl) {
  const child = spawn(bin, [], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SOCKJS_ADDR: '127.0.0.1:0', SOCKJS_CLIENT_URL: clientUrl },
  });
  return waitListening(child, 'chat example');
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

class Runner {
  constructor(only) {
    this.only = only;
    this.passed = 0;
    this.failed = [];
  }

  wants(name) {
    return !this.only || name.includes(this.only);
  }

  async test(name, fn) {
    if (!this.wants(name)) return;
    const started = Date.now();
    // An exception thrown inside the client's own callbacks (outside any
    // promise of ours) fails the running test instead of killing the run.
    const uncaught = new Promise((_, reject) => {
      this.failCurrent = reject;
    });
    try {
      const detail = await withTimeout(Promise.race([Promise.resolve().then(fn), uncaught]), TEST_MS, name);
      this.passed++;
      console.log(`ok   ${name} (${Date.now() - started} ms)${detail ? ': ' + detail : ''}`);
    } catch (err) {
      const message = (err && err.message) || String(err);
      this.failed.push(name);
      console.log(`FAIL ${name} (${Date.now() - started} ms): ${message.split('\n')[0]}`);
    } finally {
      this.failCurrent = null;
    }
  }
}

async function nodeSuite(runner, base) {
  const SockJS = require('sockjs-client');
  for (const t of NODE_TRANSPORTS) {
    for (const s of NODE_SCENARIOS) {
      await runner.test(`node ${t} ${s}`, () => checks.run(s, SockJS, base, t));
    }
  }
  await runner.test('node not-found', () => checks.run('not-found', SockJS, base, 'websocket'));
}

function chromiumLaunchOptions() {
  return {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  };
}

async function browserSuite(runner, pageOrigin, serverOrigin) {
  const crossPage = `${pageOrigin}/page.html`;
  // disable_cors: a page of the server's own origin works. The test server
  // has no static files, so the page is the service's own greeting document
  // (`GET /disabled_cors_echo`, served by the server itself) with the client
  // library and the checks injected inline; every request is the browser's.
  const samePage = `${serverOrigin}/disabled_cors_echo`;
  const clientJs = fs.readFileSync(CLIENT_JS, 'utf8');
  const checksJs = fs.readFileSync(CHECKS_JS, 'utf8');

  // [name, context key, page URL, scenario, transport, scripts to inject]
  const tests = [];
  for (const t of BROWSER_TRANSPORTS) {
    for (const s of BROWSER_SCENARIOS) tests.push([`browser ${t} ${s}`, 'cross', crossPage, s, t, []]);
  }
  tests.push(['browser not-found', 'cross', crossPage, 'not-found', 'xhr-streaming', []]);
  for (const t of ['xhr-streaming', 'xhr-polling']) {
    tests.push([`browser disabled-cors same-origin ${t}`, 'same', samePage, 'disabled-cors', t, [clientJs, checksJs]]);
    tests.push([`browser disabled-cors cross-origin ${t} refused`, 'cross', crossPage, 'disabled-cors-refused', t, []]);
  }
  const selected = tests.filter(([name]) => runner.wants(name));
  if (!selected.length) return;

  const { chromium } = require('playwright-core');
  const browser = await chromium.launch(chromiumLaunchOptions());
  try {
    // Separate contexts (cookie jars) for the two page origins.
    const contexts = { cross: await browser.newContext(), same: await browser.newContext() };
    for (const [name, ctx, pageUrl, scenario, transport, inject] of selected) {
      await runner.test(name, () => inPage(contexts[ctx], pageUrl, scenario, serverOrigin, transport, inject));
    }
  } finally {
    await browser.close();
  }
}

// Runs one scenario in a fresh page loaded from `pageUrl`.
async function inPage(ctx, pageUrl, name, base, transport, inject) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(pageUrl);
    for (const content of inject) await page.addScriptTag({ content });
    return await page.evaluate(([n, b, t]) => window.sockjsChecks.run(n, window.SockJS, b, t), [name, base, transport]);
  } catch (err) {
    const extra = errors.length ? ` (page errors: ${errors.join('; ')})` : '';
    throw new Error(`${err.message.replace(/^page\.evaluate: (Error: )?/, '')}${extra}`);
  } finally {
    await page.close();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const runner = new Runner(args.only);
  const onUncaught = (err) => {
    if (runner.failCurrent) {
      runner.failCurrent(new Error(`uncaught in the client: ${err && err.stack ? err.stack.split('\n').slice(0, 2).join(' ') : err}`));
    } else {
      console.log(`warning: uncaught outside any test: ${err && err.message}`);
    }
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const pages = await startPageServer();
  const pageOrigin = `http://127.0.0.1:${pages.address().port}`;
  const { child, port } = await startTestServer(args.server, `${pageOrigin}/sockjs.min.js`);
  let crashed = null;
  child.on('exit', (code, signal) => {
    crashed = `sockjs-test-server exited during the tests (${code === null ? signal : code})`;
  });
  try {
    await nodeSuite(runner, `http://127.0.0.1:${port}`);
    if (args.chat && runner.wants('node chat rooms')) {
      const c = await startChat(args.chat, `${pageOrigin}/sockjs.min.js`);
      try {
        const SockJS = require('sockjs-client');
        await runner.test('node chat rooms', () => chat.roomsScenario(SockJS, `http://127.0.0.1:${c.port}`));
      } finally {
        c.child.kill('SIGTERM');
      }
    }
    if (args.cluster) await cluster.clusterSuite(runner, { server: args.server });
    // Another host name than the page's, so every request is cross-origin.
    if (args.browser) await browserSuite(runner, pageOrigin, `http://localhost:${port}`);
  } catch (err) {
    runner.failed.push('harness');
    console.log(`FAIL harness: ${err.stack || err}`);
  } finally {
    if (crashed) {
      runner.failed.push('server');
      console.log(`FAIL ${crashed}`);
    }
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    pages.close();
  }
  if (runner.failed.length) console.log(`failed: ${runner.failed.join(', ')}`);
  console.log(`${runner.passed} passed, ${runner.failed.length} failed`);
  process.exit(runner.failed.length ? 1 : 0);
}

main().catch((err) => {
  console.log(`FAIL harness: ${err.stack || err}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
