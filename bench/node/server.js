// Minimal sockjs-node echo server: the reference implementation that
// scripts/compare.sh measures next to ours. Same options as the /echo service
// of sockjs-test-server: prefix /echo, response_limit 4096 bytes, heartbeat
// 25 s, disconnect delay 5 s, websocket (framed and raw) on.
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

const server = http.createServer();
service.installHandlers(server);
server.listen(port, host, () => {
  const a = server.address();
  console.log(`sockjs-node listening on http://${a.address}:${a.port}`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
