// Child processes of the Node suites: servers that print where they listen,
// programs that only start accepting (HAProxy, nginx, Redis), free ports,
// and stopping every child at the end, whatever happened.
'use strict';

const net = require('node:net');

// Resolves with the child and its port once it prints "listening on http://HOST:PORT".
function waitListening(child, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 20 s`)), 20000);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${what} exited early with ${code}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on http:\/\/([0-9.]+):([0-9]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, port: Number(m[2]) });
      }
    });
  });
}

// A port that was free a moment ago: bound on 127.0.0.1 with port 0, then
// released for the program that is given it.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Resolves once 127.0.0.1:port accepts a connection; rejects when `child`
// exits first or after `ms`. Programs that print nothing when ready (HAProxy
// and nginx in the foreground) are waited for this way: the accepted
// connection is the event, each refused one is retried after 20 ms.
function waitForPort(port, child, what, ms = 20000) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    let done = false;
    const onExit = (code, signal) => finish(new Error(`${what} exited before listening (${code === null ? signal : code})`));
    const finish = (err) => {
      if (done) return;
      done = true;
      child.removeListener('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    child.once('exit', onExit);
    const attempt = () => {
      if (done) return;
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        finish(null);
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) finish(new Error(`${what} not listening on ${port} within ${ms} ms`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

// Every child started through it, stopped by stopAll() (SIGTERM, then
// SIGKILL after 3 s) and, should the harness end early (an exit, Ctrl-C),
// sent SIGTERM on the way out: SIGTERM, not SIGKILL, so that nginx's master
// takes its workers with it.
class Children {
  constructor() {
    this.live = new Set();
    this.onExit = () => this.live.forEach((c) => c.kill('SIGTERM'));
    this.onSignal = (signal) => {
      this.onExit();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', this.onExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  // Stops watching this process's exit and signals (after stopAll()).
  close() {
    process.removeListener('exit', this.onExit);
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
  }

  add(child) {
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    return child;
  }

  // Stops one child and resolves once it is gone.
  stop(child, signal = 'SIGTERM') {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    });
  }

  stopAll() {
    return Promise.all([...this.live].map((c) => this.stop(c)));
  }
}

module.exports = { waitListening, freePort, waitForPort, Children };
