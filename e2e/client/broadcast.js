// Broadcast across nodes on Redis, driven by the official sockjs-client in
// Node through a balancer: the three sockjs-test-server nodes cluster.js
// starts run with `--redis` (one throwaway redis-server) and `--stats`, so
// `/broadcast` reaches every session of every node and each node's
// `/_stats` has a `_cluster` member (connected, counters, and the messages
// whose cross-node part the adapter reported as not delivered).
//
// * `broadcastAcrossNodes`: 64 clients over the four transports, on all
//   three nodes, each sending several messages: every client gets every
//   message once, each sender's in order.
// * `DeathBroadcasts`: broadcast clients beside the echo clients of
//   cluster.js's node-death check. Those on the killed node close,
//   reconnect through the balancer and get the broadcasts sent after
//   (from both surviving nodes); those on the surviving nodes get every
//   broadcast of every surviving sender, before and after the kill, once
//   and in order, and keep their session and their node.
// * `redisRestart`: redis-server stopped mid-run and started again on the
//   same port. During the outage each node's own clients get all of its
//   broadcasts; the other nodes' clients miss exactly the ones the node
//   listed as undelivered; after it, the nodes reconnect and cluster-wide
//   broadcast resumes.
//
// Every message is `<sender's session id> <text>` (Client.say), so a
// receiver sorts its inbox by sender.
'use strict';

const http = require('node:http');

const { STEP_MS, soleNode, changed, waitFor, openClients, reconnect, countBy } = require('./sessions.js');

const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];
const NODE_COUNT = 3;

// ---------------------------------------------------------------------------
// Inboxes by sender
// ---------------------------------------------------------------------------

// The messages `c` got from each sender (session id -> messages, in
// arrival order), brought up to date with its inbox. Incremental, since the
// waits below run on every message of every client.
function fromEach(c) {
  if (!c.bySender) {
    c.bySender = new Map();
    c.sorted = 0;
  }
  for (; c.sorted < c.inbox.length; c.sorted++) {
    const m = c.inbox[c.sorted];
    const from = m.slice(0, m.indexOf(' '));
    if (!c.bySender.has(from)) c.bySender.set(from, []);
    c.bySender.get(from).push(m);
  }
  return c.bySender;
}

function from(c, sender) {
  return fromEach(c).get(sender.sessionId) || [];
}

function last(list) {
  return list[list.length - 1];
}

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// Why `got` is not `want`: the first position where they differ.
function difference(got, want) {
  const n = Math.min(got.length, want.length);
  let i = 0;
  while (i < n && got[i] === want[i]) i++;
  const at = (list) => (i < list.length ? JSON.stringify(list[i]) : 'nothing');
  return `got ${got.length}, want ${want.length}; at #${i} got ${at(got)}, want ${at(want)}`;
}

// Throws unless what `c` got from `s` (optionally only messages passing
// `keep`) is exactly `want`.
function expectFrom(c, s, want, nodeOf, keep = () => true) {
  const got = from(c, s).filter(keep);
  if (!sameList(got, want)) {
    throw new Error(`${c.label} (on ${nodeOf.get(c)}) from ${s.label} (on ${nodeOf.get(s)}): ${difference(got, want)}`);
  }
}

// The node of each client (every request of its session on one node).
function nodesOfClients(clients) {
  return new Map(clients.map((c) => [c, soleNode(c)]));
}

function requireNodes(nodeOf, n, what) {
  const used = new Set(nodeOf.values());
  if (used.size < n) throw new Error(`${what} on ${[...used].join(', ')} only; the balancer did not spread them over ${n} nodes`);
}

// Whether `got` is a run of consecutive messages of `sent`.
function isRunOf(got, sent) {
  if (!got.length) return true;
  const i = sent.indexOf(got[0]);
  return i >= 0 && sameList(got, sent.slice(i, i + got.length));
}

function failOnClose(clients) {
  const closed = clients.find((c) => c.closeEvent);
  if (closed) throw new Error(`${closed.label} closed: ${closed.closedText()}`);
}

// ---------------------------------------------------------------------------
// Every message of every client at every client
// ---------------------------------------------------------------------------

const CLIENTS_PER_TRANSPORT = 16;
const MESSAGES_PER_SENDER = 5;

async function broadcastAcrossNodes(SockJS, base, tag) {
  const clients = openClients(SockJS, `${base}/broadcast`, TRANSPORTS, CLIENTS_PER_TRANSPORT, tag);
  try {
    await Promise.all(clients.map((c) => c.opened()));
    const nodeOf = nodesOfClients(clients);
    requireNodes(nodeOf, NODE_COUNT, `${clients.length} clients`);
    // Round by round, so each node's sessions interleave their senders.
    for (let k = 0; k < MESSAGES_PER_SENDER; k++) clients.forEach((c) => c.say(`#${k}`));
    const total = clients.length * MESSAGES_PER_SENDER;
    await waitFor(`${total} broadcasts at each of the ${clients.length} clients`, () => {
      failOnClose(clients);
      if (clients.every((c) => c.inbox.length >= total)) return true;
    });
    let crossed = 0;
    for (const c of clients) {
      if (c.inbox.length !== total) throw new Error(`${c.label} got ${c.inbox.length} messages, want ${total}`);
      for (const s of clients) {
        expectFrom(c, s, s.sent, nodeOf);
        if (nodeOf.get(s) !== nodeOf.get(c)) crossed += s.sent.length;
      }
    }
    return (
      `${clients.length} clients (${countBy(clients, (c) => c.transport)}) on ${countBy(clients, (c) => nodeOf.get(c))}, ` +
      `${MESSAGES_PER_SENDER} messages each: all ${total} at every client, once and in order per sender ` +
      `(${crossed} of ${total * clients.length} deliveries across nodes)`
    );
  } finally {
    clients.forEach((c) => c.close());
  }
}

// ---------------------------------------------------------------------------
// Broadcasts while a node dies
// ---------------------------------------------------------------------------

const DEATH_CLIENTS_PER_TRANSPORT = 8;
// Every streaming client says one more message per tick.
const DEATH_TICK_MS = 150;
// Broadcasts from every surviving sender each reconnected client must get.
const LATER = 3;
// Messages each reconnected client sends once every one of them is in.
const FRESH_MESSAGES = 2;

// Broadcast clients beside the echo clients of cluster.js's node-death
// check, which drives them: opened(), start() before the kill, then
// victims(node) and, once those closed, afterKill(node).
class DeathBroadcasts {
  constructor(SockJS, base, tag) {
    this.SockJS = SockJS;
    this.url = `${base}/broadcast`;
    this.tag = tag;
    this.clients = openClients(SockJS, this.url, TRANSPORTS, DEATH_CLIENTS_PER_TRANSPORT, tag);
    this.fresh = [];
    this.timer = null;
  }

  async opened() {
    await Promise.all(this.clients.map((c) => c.opened()));
    this.nodeOf = nodesOfClients(this.clients);
  }

  // Every client says `s<k>` each tick from now on, until it closes or
  // stop(); resolves once broadcasts flow: every client got two messages
  // of every other.
  async start() {
    this.timer = setInterval(() => {
      for (const c of this.clients) if (!c.closeEvent) c.say(`s${c.sent.length}`);
      changed();
    }, DEATH_TICK_MS);
    await waitFor('broadcasts between every two broadcast clients', () => {
      failOnClose(this.clients);
      if (this.clients.every((c) => this.clients.every((s) => from(c, s).length >= 2))) return true;
    });
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  victims(node) {
    return this.clients.filter((c) => this.nodeOf.get(c) === node);
  }

  // After the victims closed: the surviving clients stay open, the
  // victims reconnect and get later broadcasts from both surviving nodes,
  // then every message is accounted for. Resolves with a summary.
  async afterKill(dead) {
    const victims = this.victims(dead);
    const survivors = this.clients.filter((c) => this.nodeOf.get(c) !== dead);
    requireNodes(new Map(survivors.map((c) => [c, this.nodeOf.get(c)])), NODE_COUNT - 1, 'surviving broadcast clients');
    if (!victims.length) throw new Error(`no broadcast client was on ${dead}`);

    const again = await Promise.all(victims.map((c) => reconnect(this.SockJS, this.url, c.transport, dead, `${this.tag}re`)));
    this.fresh = again.map((r) => r.c);
    const fresh = this.fresh;
    const nodeOf = new Map([...this.nodeOf, ...again.map((r) => [r.c, r.node])]);
    const live = [...survivors, ...fresh];
    await waitFor(`${LATER} broadcasts from each of the ${survivors.length} surviving senders at the ${fresh.length} reconnected clients`, () => {
      failOnClose(live);
      if (fresh.every((f) => survivors.every((s) => from(f, s).length >= LATER))) return true;
    });
    // Every reconnected session is in its node's hub now: what they send
    // must reach every live client.
    for (let k = 0; k < FRESH_MESSAGES; k++) fresh.forEach((f) => f.say(`r${k}`));
    this.stop();
    await waitFor('every live sender\'s last message at every live client', () => {
      failOnClose(live);
      if (live.every((c) => live.every((s) => last(from(c, s)) === last(s.sent)))) return true;
    });

    for (const c of this.clients) {
      const alive = !victims.includes(c);
      if (alive) {
        // Never silently moved to another session: no close, one node.
        if (c.closeEvent) throw new Error(`surviving ${c.label} closed: ${c.closedText()}`);
        if (soleNode(c) !== nodeOf.get(c)) throw new Error(`${c.label} moved from ${nodeOf.get(c)}`);
      }
      for (const s of this.clients) {
        // In order, no gap, no duplicate: a prefix of what s sent; all of
        // it when both are on surviving nodes.
        const got = from(c, s);
        const want = alive && !victims.includes(s) ? s.sent : s.sent.slice(0, got.length);
        expectFrom(c, s, want, nodeOf);
      }
      if (alive) for (const f of fresh) expectFrom(c, f, f.sent, nodeOf);
    }
    let later = Infinity;
    for (const f of fresh) {
      for (const s of victims) {
        // Whatever of a dead node's broadcasts came late: in order, no gap.
        if (!isRunOf(from(f, s), s.sent)) throw new Error(`${f.label} from ${s.label}: ${JSON.stringify(from(f, s))} is not a run of what it sent`);
      }
      for (const s of survivors) {
        // Joined mid-stream: the end of what s sent, from some point on.
        const got = from(f, s);
        expectFrom(f, s, s.sent.slice(s.sent.length - got.length), nodeOf);
        later = Math.min(later, got.length);
      }
      for (const s of fresh) expectFrom(f, s, s.sent, nodeOf);
    }
    const senders = survivors.reduce((n, s) => n + s.sent.length, 0);
    return (
      `broadcast: ${victims.length}/${this.clients.length} sessions on ${dead} closed, reconnected to ${countBy(again, (r) => r.node)} ` +
      `and got ≥${later} later broadcasts from every surviving sender (on ${countBy(survivors, (s) => nodeOf.get(s))}) and every reconnected one; ` +
      `${survivors.length} surviving sessions kept their node and got all ${senders} broadcasts of the surviving senders, once and in order`
    );
  }

  close() {
    this.stop();
    this.clients.forEach((c) => c.close());
    this.fresh.forEach((c) => c.close());
  }
}

// ---------------------------------------------------------------------------
// Redis restarted mid-run
// ---------------------------------------------------------------------------

const RESTART_CLIENTS_PER_TRANSPORT = 8;
const SENDERS_PER_NODE = 2;
// Outage senders say one message per tick.
const OUTAGE_TICK_MS = 20;
// Messages each outage sender says once redis-server has exited (all of
// them must be reported undelivered).
const AFTER_EXIT = 5;
const PROBE_TICK_MS = 100;
const RESUMED = 3;

// GET /_stats of the node on `port` (with `query`, if any), parsed.
function stats(port, query = '') {
  const path = `/_stats${query}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(new Error(`${path} on port ${port}: ${err.message}: ${body.slice(0, 200)}`));
        }
      });
    });
    req.setTimeout(STEP_MS, () => req.destroy(new Error(`${path} on port ${port}: no answer within ${STEP_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

// Every node's `_cluster` member, by node name; with `query`, each node
// answers once its adapter's state matches it (see the test server's
// `/_stats?connected=...`).
async function clusterStats(nodes, query = '') {
  const all = await Promise.all(
    nodes.map(async (n) => {
      const s = (await stats(n.port, query))._cluster;
      if (!s) throw new Error(`${n.name}'s /_stats has no _cluster member: is it running with --redis?`);
      return [n.name, s];
    })
  );
  return new Map(all);
}

// Waits until every node's adapter is (`connected` true) or is no longer
// (false) connected to Redis: each node answers when its state changes.
async function waitConnected(nodes, connected) {
  const all = await clusterStats(nodes, `?connected=${connected}`);
  const wrong = [...all].filter(([, s]) => s.connected !== connected);
  if (wrong.length) {
    const now = wrong.map(([name, s]) => `${name} ${JSON.stringify({ ...s, undelivered_messages: s.undelivered_messages.length })}`);
    throw new Error(`nodes still ${connected ? 'not connected' : 'connected'} to Redis after the server's wait: ${now.join('; ')}`);
  }
  return all;
}

// Up to SENDERS_PER_NODE clients of each node, of different transports
// where it can.
function pickSenders(clients, nodeOf) {
  const senders = [];
  for (const node of new Set(nodeOf.values())) {
    const mine = clients.filter((c) => nodeOf.get(c) === node);
    const picked = [];
    for (const t of TRANSPORTS) {
      const c = mine.find((x) => x.transport === t);
      if (c && picked.length < SENDERS_PER_NODE) picked.push(c);
    }
    senders.push(...picked);
  }
  return senders;
}

// Every `ms`, each sender says `text(k)` (k counts its ticks) and the waits
// are re-checked; returns the function that stops it.
function stream(senders, ms, text) {
  let k = 0;
  const timer = setInterval(() => {
    senders.forEach((s) => s.say(text(k)));
    k++;
    changed();
  }, ms);
  return () => clearInterval(timer);
}

// `redis` has stop() (SIGTERM; resolves once redis-server exited) and
// start() (again on the same port; resolves once it listens). `nodes`:
// [{ name, port }], the nodes' own addresses, for /_stats.
async function redisRestart(SockJS, base, nodes, redis, tag) {
  const clients = openClients(SockJS, `${base}/broadcast`, TRANSPORTS, RESTART_CLIENTS_PER_TRANSPORT, tag);
  const stops = [];
  try {
    await Promise.all(clients.map((c) => c.opened()));
    const nodeOf = nodesOfClients(clients);
    requireNodes(nodeOf, 2, `${clients.length} clients`);
    const senders = pickSenders(clients, nodeOf);
    const before = await clusterStats(nodes);
    for (const [name, s] of before) if (!s.connected) throw new Error(`${name} is not connected to Redis before the test`);

    // Outage messages `o<k>` from SENDERS_PER_NODE clients of each node, from
    // before redis-server stops until after every node saw it gone.
    const isOutage = (m) => / o[0-9]+$/.test(m);
    let stopOutage = stream(senders, OUTAGE_TICK_MS, (k) => `o${k}`);
    stops.push(() => stopOutage());
    await waitFor('outage senders\' broadcasts at every client before Redis stops', () => {
      failOnClose(clients);
      if (clients.every((c) => senders.every((s) => from(c, s).length >= 2))) return true;
    });
    await redis.stop();
    const sentAtExit = new Map(senders.map((s) => [s, s.sent.length]));
    await waitConnected(nodes, false);
    await waitFor(`${AFTER_EXIT} more messages from each outage sender`, () => {
      failOnClose(clients);
      if (senders.every((s) => s.sent.length >= sentAtExit.get(s) + AFTER_EXIT)) return true;
    });
    stopOutage();
    // Local delivery goes on: each sender's node has all of its messages.
    await waitFor('every outage message at every client of its sender\'s node', () => {
      failOnClose(clients);
      if (clients.every((c) => senders.every((s) => nodeOf.get(s) !== nodeOf.get(c) || last(from(c, s)) === last(s.sent)))) return true;
    });

    await redis.start();
    await waitConnected(nodes, true);
    // Resumed once a probe from every sender reached every client.
    const probesAt = Date.now();
    stopOutage = stream(senders, PROBE_TICK_MS, (k) => `p${k}`);
    await waitFor('a probe from every sender at every client after the restart', () => {
      failOnClose(clients);
      if (clients.every((c) => senders.every((s) => / p[0-9]+$/.test(last(from(c, s)))))) return true;
    });
    stopOutage();
    const probeMs = Date.now() - probesAt;
    for (let k = 0; k < RESUMED; k++) senders.forEach((s) => s.say(`a${k}`));
    await waitFor(`${RESUMED} more broadcasts from every sender at every client`, () => {
      failOnClose(clients);
      if (clients.every((c) => senders.every((s) => last(from(c, s)) === last(s.sent)))) return true;
    });

    // What each node reported, against what the other nodes' clients missed.
    const after = await clusterStats(nodes);
    const outageOf = (node) => senders.filter((s) => nodeOf.get(s) === node).flatMap((s) => s.sent.filter(isOutage));
    const report = [];
    for (const n of nodes) {
      const b = before.get(n.name);
      const a = after.get(n.name);
      const listed = a.undelivered_messages.slice(b.undelivered_messages.length);
      if (a.undelivered - b.undelivered !== listed.length) {
        throw new Error(`${n.name}: the adapter counted ${a.undelivered - b.undelivered} undelivered, the server listed ${listed.length}`);
      }
      const sent = outageOf(n.name);
      const mine = new Set(sent);
      const stray = listed.filter((m) => !mine.has(m));
      if (stray.length) throw new Error(`${n.name} listed ${stray.length} messages that are not its outage messages: ${stray.slice(0, 3).join(', ')}`);
      const reported = new Set(listed);
      for (const s of senders.filter((x) => nodeOf.get(x) === n.name)) {
        const notReported = s.sent.slice(sentAtExit.get(s)).filter((m) => isOutage(m) && !reported.has(m));
        if (notReported.length) throw new Error(`${n.name}: ${notReported.length} messages sent after redis-server exited were not reported: ${notReported[0]}`);
      }
      report.push({ node: n.name, sent: sent.length, listed: listed.length, listedMessages: listed, reconnects: a.connects - b.connects });
    }
    const listedOf = new Map(report.map((r) => [r.node, new Set(r.listedMessages)]));
    let missedTotal = 0;
    for (const c of clients) {
      for (const s of senders) {
        const sameNode = nodeOf.get(c) === nodeOf.get(s);
        const listed = listedOf.get(nodeOf.get(s));
        const outage = s.sent.filter(isOutage);
        // Same node: all of them. Other nodes: exactly those not listed.
        const want = sameNode ? outage : outage.filter((m) => !listed.has(m));
        expectFrom(c, s, want, nodeOf, isOutage);
        if (!sameNode) missedTotal += outage.length - want.length;
        expectFrom(c, s, s.sent.filter((m) => / a[0-9]+$/.test(m)), nodeOf, (m) => / a[0-9]+$/.test(m));
      }
    }
    return (
      `${clients.length} clients on ${countBy(clients, (c) => nodeOf.get(c))}, ${senders.length} senders; ` +
      `during the outage ${report.map((r) => `${r.node} sent ${r.sent}, listed ${r.listed} undelivered`).join(', ')}: ` +
      `same-node clients got all, other-node clients missed exactly the listed ones (${missedTotal} misses); ` +
      `reconnected (${report.map((r) => `${r.node} +${r.reconnects}`).join(', ')}), a probe crossed within ${probeMs} ms, ` +
      `${RESUMED} broadcasts per sender after it reached every client once and in order`
    );
  } finally {
    stops.forEach((stop) => stop());
    clients.forEach((c) => c.close());
  }
}

module.exports = { broadcastAcrossNodes, DeathBroadcasts, redisRestart };
