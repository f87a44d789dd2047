// Minimal sockjs-node server: the reference implementation that
// scripts/compare.sh measures next to ours. Two services, with the options
// of sockjs-test-server's services of the same name:
// - /echo: response_limit 4096 bytes, heartbeat 25 s, disconnect delay 5 s,
//   websocket (framed and raw) on;
// - /broadcast: every message any session sends is written to every open
//   session (the sender included), as sockjs-node's own test server does,
//   without its logging; response_limit 128 KiB (sockjs-node's default).
// GET /_stats answers {"/echo": N, "/broadcast": M}, the live sessions of
// each (opened and not yet closed), as sockjs-test-server --stats does:
// the soak (sockjs-soak --target) waits on it for every session to be
// reclaimed.
//
// Run with: node server.js [--host 127.0.0.1] [--port 8082]   (port 0 = any)
// Prints "sockjs-node listening on http://ADDR:PORT" once listening.
'use strict';

const http = require('http');
const sockjs = require('sockjs');

let host = '127.0.0.1';
let port = 8082;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (argv[i] === '--host') host = argv[i + 1];
  else if (argv[i] === '--port') port = Number(argv[i + 1]);
  else {
    console.error('usage: node server.js [--host H] [--port P]');
    process.exit(2);
  }
}

const service = sockjs.createServer({
  prefix: '/echo',
  response_limit: 4096,
  heartbeat_delay: 25000,
  disconnect_delay: 5000,
  websocket: true,
  log: () => {},
});
const live = { '/echo': 0, '/broadcast': 0 };
const counted = (prefix, conn) => {
  live[prefix] += 1;
  conn.on('close', () => { live[prefix] -= 1; });
};
service.on('connection', (conn) => {
  counted('/echo', conn);
  conn.on('data', (message) => conn.write(message));
});

const broadcast = sockjs.createServer({
  prefix: '/broadcast',
  response_limit: 128 * 1024,
  heartbeat_delay: 25000,
  disconnect_delay: 5000,
  websocket: true,
  log: () => {},
});
const members = new Set();
broadcast.on('connection', (conn) => {
  counted('/broadcast', conn);
  members.add(conn);
  conn.on('data', (message) => {
    for (const c of members) c.write(message);
  });
  conn.on('close', () => members.delete(conn));
});

// sockjs-node hands the requests outside its prefixes to the server's own
// 'request' listeners, this one.
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(live));
    return;
  }
  res.writeHead(404);
  res.end();
});
service.installHandlers(server);
broadcast.installHandlers(server);
server.listen(port, host, () => {
  const a = server.address();
  console.log(`sockjs-node listening on http://${a.address}:${a.port}`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
