// The multi-node suites' SockJS clients: probes that record which node
// answered each request of a session (X-SockJS-Node), waiting on client
// events, and a client that keeps its messages and its close. Shared by
// cluster.js (processes, balancers, echo and node death) and broadcast.js
// (cluster-wide broadcast on Redis).
//
// Load it before sockjs-client: it puts its probe into the client's
// websocket driver (see "Probes"); cluster.js requires it first, and run.js
// requires cluster.js first.
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const path = require('node:path');

// How long one awaited event may take before the test fails.
const STEP_MS = 15000;

// ---------------------------------------------------------------------------
// Probes: which node answered each request of a session
//
// Every node runs with --node-id, so each of its responses carries
// X-SockJS-Node. sockjs-client in Node makes its requests two ways:
// * xhr-streaming, xhr-polling, every xhr_send (its XHR driver) and
//   eventsource (the `eventsource` package) call `request` on Node's http
//   module, looked up at each call: wrapping `http.request` sees every
//   response with its URL and headers (neither uses `http.get`).
// * websocket goes through faye-websocket's `Client`, which makes its own
//   socket and handshake; its public `headers` are the 101 response's once
//   `open` fires. sockjs-client's websocket driver re-exports that `Client`
//   once, when sockjs-client is loaded, so we replace the export with a
//   subclass that reads the headers on open before that (this file is
//   loaded first, see above), and `checkProbes` verifies that the driver sockjs-client
//   uses is ours.
// The session id is read from the URL (/<prefix>/<server>/<session>/<transport>);
// each client gets an id of ours (sockjs-client's `sessionId` option), so a
// record names its client. Probes record only while the suite runs (`armed`).
// ---------------------------------------------------------------------------

const SESSION_URL = /\/[^/.?]+\/([^/.?]+)\/(websocket|xhr|xhr_send|xhr_streaming|eventsource|htmlfile|jsonp|jsonp_send)(?:\?|$)/;
// session id -> [{ what, status, node }]
const observed = new Map();
let armed = false;

// Probes record only between arm(true) and arm(false) (while the suite runs).
function arm(on) {
  armed = on;
}

function observe(sessionId, what, status, node) {
  if (!observed.has(sessionId)) observed.set(sessionId, []);
  observed.get(sessionId).push({ what, status, node: node || `none (${status})` });
}

function requestPath(arg) {
  if (typeof arg === 'string') return new URL(arg).pathname;
  if (arg instanceof URL) return arg.pathname;
  return (arg && arg.path) || '/';
}

const realRequest = http.request;
http.request = function probedRequest(...args) {
  const req = realRequest.apply(this, args);
  const m = armed && SESSION_URL.exec(requestPath(args[0]));
  if (!m) return req;
  const [, sessionId, what] = m;
  req.on('response', (res) => {
    observe(sessionId, what, res.statusCode, res.headers['x-sockjs-node']);
    // A response cut short (its node died mid-stream, the balancer dropped
    // the connection) is reported by Node only to an 'error' listener on the
    // response, and sockjs-client's XHR driver listens on the request alone:
    // its xhr-streaming session would wait forever. A browser's XHR fails
    // (status 0) and the client closes the session (1006). So, for the XHR
    // driver's POSTs, a response that ends incomplete becomes the request's
    // error, as in a browser. The eventsource package watches the response
    // itself and needs nothing.
    if (req.method === 'POST') {
      res.on('close', () => {
        if (!res.complete && !req.aborted && req.listenerCount('error') > 0) {
          req.emit('error', new Error('response cut short'));
        }
      });
    }
  });
  return req;
};

const SOCKJS_DIR = path.dirname(require.resolve('sockjs-client/package.json'));
const faye = require(require.resolve('faye-websocket', { paths: [SOCKJS_DIR] }));
const FayeClient = faye.Client;
class ProbedFayeClient extends FayeClient {
  constructor(url, protocols, options) {
    super(url, protocols, options);
    const m = armed && SESSION_URL.exec(new URL(url).pathname);
    if (m) this.on('open', () => observe(m[1], m[2], this.statusCode, this.headers && this.headers['x-sockjs-node']));
  }
}
faye.Client = ProbedFayeClient;

function checkProbes() {
  const driver = require(path.join(SOCKJS_DIR, 'lib', 'transport', 'driver', 'websocket.js'));
  if (driver !== ProbedFayeClient) {
    throw new Error('sockjs-client was loaded before cluster.js: its websocket driver is not probed');
  }
}

// The one node that answered every request of the client's session.
function soleNode(c) {
  const recs = observed.get(c.sessionId) || [];
  if (!recs.length) throw new Error(`no response of session ${c.sessionId} (${c.transport}) was seen`);
  const nodes = new Set(recs.map((r) => r.node));
  if (nodes.size !== 1) {
    throw new Error(`session ${c.sessionId} (${c.transport}) answered by ${[...nodes].join(' and ')}: ${describeRecords(recs)}`);
  }
  return recs[0].node;
}

function nodesOf(c) {
  return new Set((observed.get(c.sessionId) || []).map((r) => r.node));
}

// How many responses of the client's session were seen.
function responseCount(c) {
  return (observed.get(c.sessionId) || []).length;
}

function describeRecords(recs) {
  return recs
    .slice(0, 8)
    .map((r) => `${r.what} ${r.status} ${r.node}`)
    .join(', ');
}

// ---------------------------------------------------------------------------
// Waiting on events: every client event (open, message, close) re-checks the
// pending waits, so a test goes on as soon as what it waits for happened.
// ---------------------------------------------------------------------------

const waits = new Set();

function changed() {
  for (const check of [...waits]) check();
}

// Resolves with `ready()`'s first value other than undefined; rejects when
// it throws, or after `ms` naming `what`.
function waitFor(what, ready, ms = STEP_MS) {
  return new Promise((resolve, reject) => {
    const check = () => {
      let value;
      try {
        value = ready();
      } catch (err) {
        waits.delete(check);
        clearTimeout(timer);
        reject(err);
        return;
      }
      if (value !== undefined) {
        waits.delete(check);
        clearTimeout(timer);
        resolve(value);
      }
    };
    const timer = setTimeout(() => {
      waits.delete(check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    waits.add(check);
    check();
  });
}

// One SockJS client with a session id of ours, its messages and its close.
class Client {
  constructor(SockJS, url, transport, tag) {
    this.transport = transport;
    this.sessionId = `${tag}${crypto.randomBytes(5).toString('hex')}`;
    this.inbox = [];
    // What `say` sent, in order.
    this.sent = [];
    this.rounds = 0;
    this.openedAt = null;
    this.closeEvent = null;
    this.sock = new SockJS(url, null, { transports: [transport], sessionId: () => this.sessionId });
    this.sock.onopen = () => {
      this.openedAt = Date.now();
      changed();
    };
    this.sock.onmessage = (e) => {
      this.inbox.push(e.data);
      changed();
    };
    this.sock.onclose = (e) => {
      this.closeEvent = { code: e.code, reason: e.reason, at: Date.now() };
      changed();
    };
  }

  get label() {
    return `${this.transport} ${this.sessionId}`;
  }

  closedText() {
    return `${this.closeEvent.code} "${this.closeEvent.reason}"`;
  }

  opened(ms = STEP_MS) {
    return waitFor(`${this.label} to open`, () => {
      if (this.openedAt) return true;
      if (this.closeEvent) throw new Error(`${this.label} closed before open: ${this.closedText()}`);
    }, ms);
  }

  // Sends `n` messages at once and waits for their echoes, in order.
  async echo(n, ms = STEP_MS) {
    const from = this.inbox.length;
    const sent = Array.from({ length: n }, (_, i) => `${this.sessionId} m${i} "\u00e9\u2028"`);
    sent.forEach((m) => this.sock.send(m));
    const got = await waitFor(`${n} echoes on ${this.label}`, () => {
      if (this.inbox.length - from >= n) return this.inbox.slice(from);
      if (this.closeEvent) throw new Error(`${this.label} closed (${this.closedText()}) before its echoes`);
    }, ms);
    if (JSON.stringify(got) !== JSON.stringify(sent)) {
      throw new Error(`${this.label}: sent ${JSON.stringify(sent)}, got ${JSON.stringify(got)}`);
    }
  }

  // Sends `<session id> <text>` (so receivers can tell who sent it) and
  // records it in `sent`.
  say(text) {
    const msg = `${this.sessionId} ${text}`;
    this.sent.push(msg);
    this.sock.send(msg);
  }

  close() {
    this.sock.close();
  }
}

// `perTransport` clients of the service at `url` on each of `transports`,
// their session ids starting with `tag` and the transport's name.
function openClients(SockJS, url, transports, perTransport, tag) {
  const clients = [];
  for (const t of transports) {
    for (let i = 0; i < perTransport; i++) clients.push(new Client(SockJS, url, t, `${tag}${t.replace('-', '')}`));
  }
  return clients;
}

// A fresh session for a client whose node died: through the balancer again,
// as an application reconnects on close, then `ready(c)` (an echo, say).
// Up to three attempts (a real client retries too; the balancer may not
// have noticed the dead node yet). Resolves with the client, its node and
// the attempt that worked.
async function reconnect(SockJS, url, transport, dead, tag, ready = async () => {}) {
  let lastError = null;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const c = new Client(SockJS, url, transport, tag);
    try {
      await c.opened();
      await ready(c);
      const node = soleNode(c);
      if (node === dead) throw new Error(`${c.label} reconnected to the dead node ${dead}`);
      return { c, node, attempt };
    } catch (err) {
      c.close();
      lastError = err;
    }
  }
  throw new Error(`${transport}: no working session after 3 attempts: ${lastError.message}`);
}

function countBy(items, key) {
  const counts = new Map();
  for (const it of items) counts.set(key(it), (counts.get(key(it)) || 0) + 1);
  return [...counts.entries()]
    .sort()
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');
}

module.exports = { STEP_MS, arm, checkProbes, soleNode, nodesOf, responseCount, changed, waitFor, Client, openClients, reconnect, countBy };
