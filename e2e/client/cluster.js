// Several nodes behind a load balancer, driven by the official sockjs-client
// in Node: three sockjs-test-server nodes (--node-id n1..n3, --redis on one
// throwaway redis-server, --stats) behind HAProxy, then three fresh ones
// behind nginx, each balancer running the committed deploy/haproxy.cfg or
// deploy/nginx.conf with only its placeholders replaced (see `render`).
//
// * Echo works on websocket, xhr-streaming, xhr-polling and eventsource
//   through the balancer, and every request of a session is answered by one
//   node (seen through the X-SockJS-Node header, see sessions.js).
// * Stickiness is needed: the same HTTP clients through a round-robin variant
//   of the HAProxy config break (their requests reach several nodes and the
//   sessions close or stop echoing), while through the sticky one none does.
// * The JSESSIONID alternative (HAProxy's second backend) sticks by cookie.
// * Broadcast across nodes on Redis (broadcast.js): every message of 64
//   clients reaches every client once and in order per sender; Redis
//   restarted mid-run: what the other nodes missed is exactly what the
//   publishing node reported undelivered, then broadcast resumes.
// * A node SIGKILLed mid-run: its clients see their session close, reconnect
//   through the balancer to a surviving node and echo there, and receive
//   later broadcasts from both surviving nodes; clients of the surviving
//   nodes are not closed and lose no echo and no broadcast.
//
// redis-server and a sockjs-test-server with --redis are required: without
// either the suite fails. Loaded by run.js, which runs it with --cluster
// (scripts/client-tests.sh passes it); its runner prints and counts the
// results. This suite alone: `./scripts/client-tests.sh --only cluster --no-browser`.
'use strict';

// First: its probes must be in place before sockjs-client is loaded.
const sessions = require('./sessions.js');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const { broadcastAcrossNodes, DeathBroadcasts, redisRestart } = require('./broadcast.js');
const { waitListening, freePort, waitForPort, Children } = require('./procs.js');

const { STEP_MS, soleNode, nodesOf, responseCount, changed, waitFor, Client, openClients, reconnect, countBy } = sessions;

const ROOT = path.resolve(__dirname, '..', '..');
const HAPROXY_CFG = path.join(ROOT, 'deploy', 'haproxy.cfg');
const NGINX_CONF = path.join(ROOT, 'deploy', 'nginx.conf');

const NODE_NAMES = ['n1', 'n2', 'n3'];
const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];
// Only HTTP transports need stickiness: a websocket is one connection.
const HTTP_TRANSPORTS = ['xhr-streaming', 'xhr-polling', 'eventsource'];
const CLIENTS_PER_TRANSPORT = 16;
// Short delays (the test server's --heartbeat-delay-ms/--disconnect-delay-ms),
// so a session on a dead node must be seen closed within their sum (plus
// slack for a loaded machine).
const HEARTBEAT_MS = 2000;
const DISCONNECT_MS = 2000;
const CLOSE_BOUND_MS = HEARTBEAT_MS + DISCONNECT_MS + 2000;
// Echo rounds every surviving client must complete after the kill.
const ROUNDS_AFTER_KILL = 10;
// How long a client through the round-robin balancer gets to open and echo
// before it counts as broken (most break at once, with a close).
const RR_STEP_MS = 5000;

const TESTS = {
  hapEcho: 'cluster haproxy echo on every transport, one node per session',
  hapRoundRobin: 'cluster haproxy round robin breaks sessions, sticky does not',
  hapCookie: 'cluster haproxy JSESSIONID alternative sticks by cookie',
  hapBroadcast: 'cluster haproxy broadcast across nodes',
  hapRedis: 'cluster haproxy redis restart',
  hapDeath: 'cluster haproxy node death',
  ngxEcho: 'cluster nginx echo on every transport, one node per session',
  ngxBroadcast: 'cluster nginx broadcast across nodes',
  ngxRedis: 'cluster nginx redis restart',
  ngxDeath: 'cluster nginx node death',
};

// Echo rounds one message at a time (each sent when the previous one came
// back) until `state.stop`; rejects when the session closes or an echo
// differs from what was sent.
async function steadyEcho(c, state) {
  while (!state.stop) {
    const at = c.inbox.length;
    const msg = `${c.sessionId} round ${c.rounds}`;
    c.sock.send(msg);
    const got = await waitFor(`the echo of ${msg}`, () => {
      if (c.inbox.length > at) return c.inbox.slice(at);
      if (c.closeEvent) throw new Error(`${c.label} closed (${c.closedText()}) waiting for round ${c.rounds}`);
    });
    if (got.length !== 1 || got[0] !== msg) throw new Error(`${c.label}: sent ${msg}, got ${JSON.stringify(got)}`);
    c.rounds++;
    changed();
  }
}

// ---------------------------------------------------------------------------
// Processes: nodes, balancers, Redis
// ---------------------------------------------------------------------------

// The programs' directories Debian uses, for a PATH without them.
function findProgram(name) {
  const dirs = `${process.env.PATH || ''}:/usr/sbin:/sbin:/usr/bin`.split(':').filter(Boolean);
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch (_) {
      // not here
    }
  }
  throw new Error(`${name} not found: run scripts/install-services.sh (as root) or apt-get install -y ${name === 'redis-server' ? 'redis-server' : name}`);
}

// Collects a child's stderr, for the error message should it fail.
function keepStderr(child) {
  let text = '';
  child.stderr.on('data', (chunk) => {
    text = (text + chunk).slice(-4000);
  });
  return () => text.trim();
}

// The committed configs run as they are, with only their placeholders
// replaced (docs/DEPLOYMENT.md, "How the tests run these files"): the listen
// line gets the balancer's free port on 127.0.0.1, and each node placeholder
// 127.0.0.1:808N the real address of node N. Every placeholder must be
// there, so a config edited out of that shape fails here instead of quietly
// testing something else.
const NODE_PLACEHOLDERS = ['127.0.0.1:8081', '127.0.0.1:8082', '127.0.0.1:8083'];

function occurrences(text, s) {
  return text.split(s).length - 1;
}

// `text` with its one `from` replaced by `to`.
function replaceOnce(text, from, to, file) {
  const found = occurrences(text, from);
  if (found !== 1) throw new Error(`${file}: expected one "${from}", found ${found}`);
  return text.replace(from, to);
}

function render(file, listen, port, nodePorts) {
  let text = replaceOnce(fs.readFileSync(file, 'utf8'), listen.from, listen.to(port), file);
  const missing = NODE_PLACEHOLDERS.filter((p) => !occurrences(text, p));
  if (missing.length) throw new Error(`${file}: node placeholder ${missing.join(', ')} not found`);
  const byPlaceholder = new Map(NODE_PLACEHOLDERS.map((p, i) => [p, `127.0.0.1:${nodePorts[i]}`]));
  // One pass, so a node's new address is never taken for a placeholder.
  return text.replace(/127\.0\.0\.1:808[123]\b/g, (p) => byPlaceholder.get(p));
}

const HAPROXY_LISTEN = { from: 'bind :8080', to: (port) => `bind 127.0.0.1:${port}` };
const NGINX_LISTEN = { from: 'listen 8080;', to: (port) => `listen 127.0.0.1:${port};` };
const STICKY_BALANCE = 'balance hash var(txn.sockjs_server)';
const COOKIE_FROM = '    default_backend sockjs_nodes\n';
const COOKIE_TO = '    default_backend sockjs_nodes_by_cookie\n';

class Cluster {
  constructor(bin, tmp, children, nodeArgs) {
    this.bin = bin;
    this.tmp = tmp;
    this.children = children;
    this.nodeArgs = nodeArgs;
    this.nodes = [];
    // This cluster's own processes (nodes and balancers), not Redis.
    this.own = [];
  }

  track(child) {
    this.own.push(child);
    return this.children.add(child);
  }

  async startNodes() {
    this.nodes = await Promise.all(
      NODE_NAMES.map(async (name) => {
        const child = this.track(
          spawn(
            this.bin,
            [
              '--host', '127.0.0.1', '--port', '0', '--node-id', name,
              '--heartbeat-delay-ms', String(HEARTBEAT_MS), '--disconnect-delay-ms', String(DISCONNECT_MS),
              '--stats', ...this.nodeArgs,
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] }
          )
        );
        const { port } = await waitListening(child, `node ${name}`);
        return { name, port, child };
      })
    );
  }

  node(name) {
    return this.nodes.find((n) => n.name === name);
  }

  // HAProxy on a free port. `variant` 'roundrobin' swaps the sticky balance
  // line for `balance roundrobin`; 'cookie' points the frontend at the
  // JSESSIONID backend, as the config's commented line says. Resolves with
  // the balancer's base URL.
  async haproxy(variant) {
    const port = await freePort();
    let cfg = render(HAPROXY_CFG, HAPROXY_LISTEN, port, this.nodes.map((n) => n.port));
    if (variant === 'roundrobin') cfg = replaceOnce(cfg, STICKY_BALANCE, 'balance roundrobin', HAPROXY_CFG);
    if (variant === 'cookie') cfg = replaceOnce(cfg, COOKIE_FROM, COOKIE_TO, HAPROXY_CFG);
    const file = path.join(this.tmp, `haproxy-${variant}.cfg`);
    fs.writeFileSync(file, cfg);
    const child = this.track(spawn(findProgram('haproxy'), ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] }));
    const stderr = keepStderr(child);
    await waitForPort(port, child, `haproxy (${variant})`).catch((err) => {
      throw new Error(`${err.message}: ${stderr()}`);
    });
    return `http://127.0.0.1:${port}`;
  }

  // nginx on a free port: a main config of the test's own (pid file, error
  // log, temporary directories in the temp dir) including the rendered
  // deploy/nginx.conf, as nginx.conf's http block includes it in production.
  async nginx() {
    const port = await freePort();
    const dir = path.join(this.tmp, 'nginx');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'sockjs.conf'), render(NGINX_CONF, NGINX_LISTEN, port, this.nodes.map((n) => n.port)));
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${path.join(dir, k)};`);
    fs.writeFileSync(
      path.join(dir, 'nginx.conf'),
      [
        'worker_processes 1;',
        `pid ${path.join(dir, 'nginx.pid')};`,
        'error_log stderr warn;',
        'events { worker_connections 1024; }',
        'http {',
        '    access_log off;',
        ...temp,
        `    include ${path.join(dir, 'sockjs.conf')};`,
        '}',
        '',
      ].join('\n')
    );
    const child = this.track(
      spawn(findProgram('nginx'), ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    );
    const stderr = keepStderr(child);
    await waitForPort(port, child, 'nginx').catch((err) => {
      throw new Error(`${err.message}: ${stderr()}`);
    });
    return `http://127.0.0.1:${port}`;
  }

  // SIGKILL: no shutdown, no close frames; resolves once the node is gone.
  kill(name) {
    return this.children.stop(this.node(name).child, 'SIGKILL');
  }

  stop() {
    return Promise.all(this.own.map((c) => this.children.stop(c)));
  }
}

// The nodes need --redis (cluster-wide /broadcast) and --stats: a
// sockjs-test-server without them fails the suite, as a missing program does.
function requireRedisFlag(bin) {
  const r = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  const usage = `${r.stdout || ''}${r.stderr || ''}`;
  for (const flag of ['--redis', '--stats']) {
    if (!new RegExp(`${flag}\\b`).test(usage)) throw new Error(`${bin} has no ${flag}: the cluster suite needs it`);
  }
}

// A throwaway redis-server on a free port, without persistence, which the
// Redis restart check stops and starts again on the same port.
class Redis {
  constructor(children) {
    this.children = children;
    this.port = null;
    this.child = null;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  // Resolves once it accepts connections (on the port it had, if any).
  async start() {
    if (this.port === null) this.port = await freePort();
    const child = this.children.add(
      spawn(findProgram('redis-server'), ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    );
    const stderr = keepStderr(child);
    await waitForPort(this.port, child, 'redis-server').catch((err) => {
      throw new Error(`${err.message}: ${stderr()}`);
    });
    this.child = child;
  }

  // SIGTERM; resolves once it exited. redis-server then exits between two
  // turns of its event loop, before flushing what the last turn wrote: a
  // PUBLISH it ran was both answered and passed to the subscribers, or
  // neither, so "reported undelivered" and "missed by the other nodes" can
  // be compared exactly. A SIGKILL could land between those two writes.
  stop() {
    return this.children.stop(this.child, 'SIGTERM');
  }
}

// ---------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------

// 64 clients over the four transports: each opens, echoes, and was answered
// by one node for every request of its session; the sessions cover at
// least two nodes. Then streamed frames must not be held back.
async function echoEverywhere(SockJS, base, tag) {
  const clients = openClients(SockJS, `${base}/echo`, TRANSPORTS, CLIENTS_PER_TRANSPORT, tag);
  try {
    await Promise.all(clients.map((c) => c.opened()));
    await Promise.all(clients.map((c) => c.echo(5)));
    // A second exchange after the first, so polling sessions have made
    // several requests each (polls, sends, streaming reconnects).
    await Promise.all(clients.map((c) => c.echo(3)));
    const nodes = clients.map((c) => soleNode(c));
    const used = new Set(nodes);
    if (used.size < 2) throw new Error(`every session landed on ${[...used]}: the balancer does not spread them`);
    const responses = clients.reduce((n, c) => n + responseCount(c), 0);
    clients.forEach((c) => c.close());
    const latency = await streamingRoundTrips(SockJS, base, tag);
    return `${clients.length} sessions (${countBy(clients, (c) => c.transport)}), ${responses} responses seen, each session on one node (${countBy(nodes, (n) => n)}); ${latency}`;
  } finally {
    clients.forEach((c) => c.close());
  }
}

// Streaming responses pass through at once: the median echo round trip
// (an xhr_send, then the echo on the open stream) over xhr-streaming and
// eventsource stays well below the ~200 ms a proxy adds when it holds small
// writes back (HAProxy without `option http-no-delay`; a few ms otherwise).
const ROUND_TRIPS = 15;
const ROUND_TRIP_LIMIT_MS = 120;

async function streamingRoundTrips(SockJS, base, tag) {
  const medians = [];
  for (const t of ['xhr-streaming', 'eventsource']) {
    const c = new Client(SockJS, `${base}/echo`, t, `${tag}rt`);
    try {
      await c.opened();
      const times = [];
      for (let i = 0; i < ROUND_TRIPS; i++) {
        const at = c.inbox.length;
        const started = Date.now();
        c.sock.send(`rt${i}`);
        await waitFor(`round trip ${i} on ${c.label}`, () => {
          if (c.inbox.length > at) return true;
          if (c.closeEvent) throw new Error(`${c.label} closed: ${c.closedText()}`);
        });
        times.push(Date.now() - started);
      }
      const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
      if (median > ROUND_TRIP_LIMIT_MS) {
        throw new Error(`${t}: median echo round trip ${median} ms over ${ROUND_TRIP_LIMIT_MS} ms (${times.join(', ')}): the balancer delays streamed frames`);
      }
      medians.push(`${t} ${median} ms`);
    } finally {
      c.close();
    }
  }
  return `median round trip ${medians.join(', ')}`;
}

// Each client opens and echoes within RR_STEP_MS; the outcome is "ok" or
// why it broke (several nodes answered, it closed, it timed out).
async function probeSessions(SockJS, base, tag) {
  const clients = openClients(SockJS, `${base}/echo`, HTTP_TRANSPORTS, 8, tag);
  try {
    const outcomes = await Promise.all(
      clients.map(async (c) => {
        let failure = null;
        try {
          await c.opened(RR_STEP_MS);
          // Two exchanges: several sends and receiver requests per session.
          await c.echo(3, RR_STEP_MS);
          await c.echo(3, RR_STEP_MS);
        } catch (err) {
          failure = c.closeEvent ? `closed ${c.closedText()}` : err.message.startsWith('timed out') ? 'no echo' : err.message;
        }
        const nodes = nodesOf(c);
        if (nodes.size > 1) return { c, broken: `${nodes.size} nodes${failure ? `, ${failure}` : ''}` };
        return { c, broken: failure };
      })
    );
    return outcomes;
  } finally {
    clients.forEach((c) => c.close());
  }
}

async function roundRobinBreaks(SockJS, stickyBase, rrBase) {
  const rr = await probeSessions(SockJS, rrBase, 'rr');
  const sticky = await probeSessions(SockJS, stickyBase, 'st');
  const brokenRr = rr.filter((o) => o.broken);
  const brokenSticky = sticky.filter((o) => o.broken);
  const summary = (list) => countBy(list, (o) => o.broken.replace(/^[0-9]+ nodes/, 'several nodes'));
  if (brokenSticky.length) {
    throw new Error(`${brokenSticky.length} sessions broke through the sticky balancer: ${brokenSticky.slice(0, 3).map((o) => `${o.c.label}: ${o.broken}`).join('; ')}`);
  }
  // Every transport must show it: each needs several requests to one node.
  for (const t of HTTP_TRANSPORTS) {
    const ofT = rr.filter((o) => o.c.transport === t);
    const broken = ofT.filter((o) => o.broken).length;
    if (broken * 2 < ofT.length) {
      throw new Error(`round robin: only ${broken}/${ofT.length} ${t} sessions broke, stickiness not shown to matter`);
    }
  }
  return `round robin: ${brokenRr.length}/${rr.length} sessions broken (${summary(brokenRr)}); sticky: 0/${sticky.length}`;
}

// One request with Node's http client (no keep-alive); resolves with the
// response's status and headers once its body ended.
function rawRequest(base, method, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${urlPath}`, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.setTimeout(STEP_MS, () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${STEP_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function jsessionid(res) {
  for (const c of res.headers['set-cookie'] || []) {
    const m = /^JSESSIONID=([^;]*)/.exec(c);
    if (m) return m[1];
  }
  return null;
}

// The JSESSIONID alternative, with raw requests (sockjs-client in Node keeps
// no cookies): a /cookie_needed_echo session response sets JSESSIONID,
// which HAProxy prefixes with the node's name; requests carrying it reach
// that node whatever their <server> segment, and the node sees the value
// without the prefix (it sets it again unchanged, HAProxy prefixes it again).
// Without the cookie, requests spread over the nodes.
async function cookieSticky(base) {
  const xhr = (server, headers) => rawRequest(base, 'POST', `/cookie_needed_echo/${server}/${crypto.randomBytes(5).toString('hex')}/xhr`, headers);
  const first = await xhr('000');
  const node = first.headers['x-sockjs-node'];
  const cookie = jsessionid(first);
  if (!node || cookie !== `${node}~dummy`) {
    throw new Error(`first response: node ${node}, JSESSIONID ${cookie}; want JSESSIONID=<node>~dummy`);
  }
  for (let i = 0; i < 12; i++) {
    const r = await xhr(String(100 + i * 67), { Cookie: `JSESSIONID=${cookie}` });
    if (r.statusCode !== 200 || r.headers['x-sockjs-node'] !== node || jsessionid(r) !== cookie) {
      throw new Error(`with JSESSIONID=${cookie}: ${r.statusCode} from ${r.headers['x-sockjs-node']}, JSESSIONID ${jsessionid(r)}`);
    }
  }
  const spread = new Set();
  for (let i = 0; i < 6; i++) spread.add((await xhr(String(i))).headers['x-sockjs-node']);
  if (spread.size < 2) throw new Error(`without the cookie every request went to ${[...spread]}`);
  return `JSESSIONID=${cookie}: 12 sessions with other <server> segments all on ${node}; without it: ${[...spread].sort().join(', ')}`;
}

// The node with sessions of the most transports, then the most sessions.
function pickVictim(clients, nodeOf) {
  const stats = new Map();
  for (const c of clients) {
    const n = nodeOf.get(c);
    if (!stats.has(n)) stats.set(n, { transports: new Set(), sessions: 0 });
    stats.get(n).transports.add(c.transport);
    stats.get(n).sessions++;
  }
  const [victim] = [...stats.entries()].sort(
    ([, a], [, b]) => b.transports.size - a.transports.size || b.sessions - a.sessions
  )[0];
  return victim;
}

// Echo clients and broadcast clients (broadcast.js `DeathBroadcasts`) while
// the node with the most transports dies.
async function survivesNodeDeath(SockJS, cluster, base, tag) {
  const clients = openClients(SockJS, `${base}/echo`, TRANSPORTS, CLIENTS_PER_TRANSPORT, tag);
  const bc = new DeathBroadcasts(SockJS, base, `${tag}b`);
  const fresh = [];
  try {
    await Promise.all(clients.map((c) => c.opened()));
    await bc.opened();
    await Promise.all(clients.map((c) => c.echo(1)));
    const nodeOf = new Map([...clients.map((c) => [c, soleNode(c)]), ...bc.nodeOf]);
    const victim = pickVictim([...clients, ...bc.clients], nodeOf);
    const victims = clients.filter((c) => nodeOf.get(c) === victim);
    const survivors = clients.filter((c) => nodeOf.get(c) !== victim);
    if (!survivors.length) throw new Error(`every session is on ${victim}`);
    const allVictims = [...victims, ...bc.victims(victim)];

    // Echo traffic on every echo client and broadcasts from every broadcast
    // client while the node dies.
    const state = { stop: false };
    const loops = clients.map((c) => steadyEcho(c, state).then(() => null, (err) => err));
    await bc.start();
    await waitFor('3 echo rounds on every client', () => {
      const dead = clients.find((c) => c.closeEvent);
      if (dead) throw new Error(`${dead.label} closed before the kill: ${dead.closedText()}`);
      if (clients.every((c) => c.rounds >= 3)) return true;
    });
    const roundsAtKill = new Map(survivors.map((c) => [c, c.rounds]));
    const killedAt = Date.now();
    await cluster.kill(victim);

    await waitFor(`the ${allVictims.length} sessions of ${victim} to close`, () => {
      if (allVictims.every((c) => c.closeEvent)) return true;
    }, CLOSE_BOUND_MS + STEP_MS);
    const late = allVictims.filter((c) => c.closeEvent.at - killedAt > CLOSE_BOUND_MS);
    if (late.length) {
      throw new Error(`${late.length} sessions of ${victim} closed later than ${CLOSE_BOUND_MS} ms after the kill: ${late[0].label} after ${late[0].closeEvent.at - killedAt} ms`);
    }
    await waitFor(`${ROUNDS_AFTER_KILL} more echo rounds on each of the ${survivors.length} surviving sessions`, () => {
      const dead = survivors.find((c) => c.closeEvent);
      if (dead) throw new Error(`${dead.label} on ${nodeOf.get(dead)} closed after ${victim} died: ${dead.closedText()}`);
      if (survivors.every((c) => c.rounds >= roundsAtKill.get(c) + ROUNDS_AFTER_KILL)) return true;
    });
    state.stop = true;
    const results = await Promise.all(loops);
    survivors.forEach((c) => {
      const err = results[clients.indexOf(c)];
      if (err) throw new Error(`surviving session ${c.label}: ${err.message}`);
      if (c.closeEvent) throw new Error(`surviving session ${c.label} closed: ${c.closedText()}`);
      // Every round's echo came back exactly once, in order.
      const want = Array.from({ length: c.rounds }, (_, r) => `${c.sessionId} round ${r}`);
      const got = c.inbox.slice(c.inbox.length - c.rounds);
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`surviving session ${c.label} lost or reordered echoes`);
      // Still one node for all its requests: the death moved no other key.
      soleNode(c);
    });

    const closeTimes = allVictims.map((c) => c.closeEvent.at - killedAt);
    const again = await Promise.all(
      victims.map((c) => reconnect(SockJS, `${base}/echo`, c.transport, victim, `${tag}re`, (r) => r.echo(3)))
    );
    again.forEach((r) => fresh.push(r.c));
    const retried = again.filter((r) => r.attempt > 1).length;
    const broadcasts = await bc.afterKill(victim);
    return (
      `killed ${victim} (${allVictims.length} sessions: ${countBy(allVictims, (c) => c.transport)}); ` +
      `closes ${countBy(allVictims, (c) => c.closedText())} within ${Math.max(...closeTimes)} ms; ` +
      `echo: reconnected to ${countBy(again, (r) => r.node)}${retried ? ` (${retried} on a second attempt)` : ''}, echo ok, ` +
      `${survivors.length} surviving sessions kept, ${survivors.reduce((n, c) => n + c.rounds, 0)} echo rounds, none lost; ${broadcasts}`
    );
  } finally {
    clients.forEach((c) => c.close());
    fresh.forEach((c) => c.close());
    bc.close();
  }
}

// ---------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------

// Runs the cluster tests `runner` wants; a harness failure (a program that
// does not start) is counted as one failed "cluster harness" test.
async function clusterSuite(runner, { server }) {
  if (!Object.values(TESTS).some((n) => runner.wants(n))) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sockjs-cluster-'));
  const children = new Children();
  sessions.arm(true);
  const wants = (prefix) => Object.values(TESTS).some((n) => n.startsWith(prefix) && runner.wants(n));
  try {
    sessions.checkProbes();
    const SockJS = require('sockjs-client');
    requireRedisFlag(server);
    const redis = new Redis(children);
    await redis.start();
    const nodeArgs = ['--redis', redis.url];

    if (wants('cluster haproxy ')) {
      const c = new Cluster(server, tmp, children, nodeArgs);
      await c.startNodes();
      const sticky = await c.haproxy('sticky');
      const roundRobin = await c.haproxy('roundrobin');
      const byCookie = await c.haproxy('cookie');
      await runner.test(TESTS.hapEcho, () => echoEverywhere(SockJS, sticky, 'he'));
      await runner.test(TESTS.hapRoundRobin, () => roundRobinBreaks(SockJS, sticky, roundRobin));
      await runner.test(TESTS.hapCookie, () => cookieSticky(byCookie));
      await runner.test(TESTS.hapBroadcast, () => broadcastAcrossNodes(SockJS, sticky, 'hb'));
      await runner.test(TESTS.hapRedis, () => redisRestart(SockJS, sticky, c.nodes, redis, 'hr'));
      await runner.test(TESTS.hapDeath, () => survivesNodeDeath(SockJS, c, sticky, 'hd'));
      await c.stop();
    }

    if (wants('cluster nginx ')) {
      const c = new Cluster(server, tmp, children, nodeArgs);
      await c.startNodes();
      const base = await c.nginx();
      await runner.test(TESTS.ngxEcho, () => echoEverywhere(SockJS, base, 'ne'));
      await runner.test(TESTS.ngxBroadcast, () => broadcastAcrossNodes(SockJS, base, 'nb'));
      await runner.test(TESTS.ngxRedis, () => redisRestart(SockJS, base, c.nodes, redis, 'nr'));
      await runner.test(TESTS.ngxDeath, () => survivesNodeDeath(SockJS, c, base, 'nd'));
      await c.stop();
    }
  } catch (err) {
    runner.failed.push('cluster harness');
    console.log(`FAIL cluster harness: ${err.stack || err}`);
  } finally {
    sessions.arm(false);
    await children.stopAll();
    children.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = { clusterSuite };
