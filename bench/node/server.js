// Minimal sockjs-node server: the reference implementation that
// scripts/compare.sh measures next to ours. Two services, with the options
// of sockjs-test-server's services of the same name:
// - /echo: response_limit 4096 bytes, heartbeat 25 s, disconnect delay 5 s,
//   websocket (framed and raw) on;
// - /broadcast: every message any session sends is written to every open
//   session (the sender included), as sockjs-node's own test server does,
//   without its logging; response_limit 128 KiB (sockjs-node's default).
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
service.on('connection', (conn) => {
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
  members.add(conn);
  conn.on('data', (message) => {
    for (const c of members) c.write(message);
  });
  conn.on('close', () => members.delete(conn));
});

const server = http.createServer();
service.installHandlers(server);
broadcast.installHandlers(server);
server.listen(port, host, () => {
  const a = server.address();
  console.log(`sockjs-node listening on http://${a.address}:${a.port}`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
