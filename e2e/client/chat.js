// End-to-end test of the chat example (crates/sockjs-server/examples/chat.rs)
// with the official sockjs-client in Node: three clients on three transports
// in two rooms; each must see exactly its rooms' messages, each sender's in
// order, and presence (`/who`) must list the right nicks.
'use strict';

const ROOM_MESSAGES = 20;
const STEP_MS = 15000;

// One chat client: a SockJS connection and the messages it received.
class Client {
  constructor(SockJS, url, transport, nick) {
    this.nick = nick;
    this.received = [];
    this.waiters = [];
    this.sock = new SockJS(url, null, { transports: [transport] });
    this.sock.onmessage = (e) => {
      this.received.push(e.data);
      this.wake();
    };
    this.closed = null;
    this.sock.onclose = (e) => {
      this.closed = `${e.code} ${e.reason}`;
      this.wake();
    };
    this.opened = new Promise((resolve, reject) => {
      this.sock.onopen = () => resolve();
      setTimeout(() => reject(new Error(`${nick}: not open within ${STEP_MS} ms`)), STEP_MS);
    });
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  // Resolves once `done(received)` holds; fails on close or timeout.
  until(done, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.nick}: no ${what} within ${STEP_MS} ms; got ${JSON.stringify(this.received.slice(-5))}`)),
        STEP_MS
      );
      const check = () => {
        if (done(this.received)) {
          clearTimeout(timer);
          resolve();
        } else if (this.closed) {
          clearTimeout(timer);
          reject(new Error(`${this.nick}: closed (${this.closed}) before ${what}`));
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  // Sends `msg` and waits for the reply line `reply`.
  async ask(msg, reply) {
    const from = this.received.length;
    this.sock.send(msg);
    await this.until((r) => r.slice(from).includes(reply), JSON.stringify(reply));
  }
}

function expectEqual(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

async function roomsScenario(SockJS, base) {
  const url = `${base}/chat`;
  const clients = [
    new Client(SockJS, url, 'websocket', 'ann'),
    new Client(SockJS, url, 'xhr-streaming', 'bob'),
    new Client(SockJS, url, 'xhr-polling', 'cid'),
  ];
  const [ann, bob, cid] = clients;
  const rooms = { ann: 'red', bob: 'blue', cid: 'red' };
  try {
    for (const c of clients) {
      await c.opened;
      await c.ask(c.nick, `welcome ${c.nick}`);
      await c.ask('/leave lobby', 'left lobby');
      await c.ask(`/join ${rooms[c.nick]}`, `joined ${rooms[c.nick]}`);
    }
    await ann.ask('/who red', 'who red: ann, cid');
    await bob.ask('/who blue', 'who blue: bob');
    // From here on, only room traffic until each client's final pong.
    const marks = clients.map((c) => c.received.length);
    for (let i = 0; i < ROOM_MESSAGES; i++) {
      for (const c of clients) c.sock.send(`m${i}`);
    }
    const expected = (room, senders) =>
      senders.flatMap((s) => Array.from({ length: ROOM_MESSAGES }, (_, i) => `${room} ${s}: m${i}`));
    const want = {
      ann: expected('red', ['ann', 'cid']),
      bob: expected('blue', ['bob']),
      cid: expected('red', ['ann', 'cid']),
    };
    await Promise.all(
      clients.map((c, k) => c.until((r) => r.length - marks[k] >= want[c.nick].length, `${want[c.nick].length} room messages`))
    );
    await Promise.all(clients.map((c) => c.ask('/ping', 'pong')));
    clients.forEach((c, k) => {
      const got = c.received.slice(marks[k]);
      if (got[got.length - 1] !== 'pong') throw new Error(`${c.nick}: a stray message after the room traffic: ${got.slice(-3)}`);
      const room = got.slice(0, -1);
      // Exactly its rooms' messages (interleaving between senders is free),
      // each sender's in the order sent.
      expectEqual(room.slice().sort(), want[c.nick].slice().sort(), `${c.nick}'s room messages`);
      for (const sender of ['ann', 'bob', 'cid']) {
        const mine = room.filter((m) => m.includes(` ${sender}: `));
        const ordered = want[c.nick].filter((m) => m.includes(` ${sender}: `));
        expectEqual(mine, ordered, `${c.nick}'s messages from ${sender}`);
      }
    });
    return `${clients.map((c) => `${c.nick}/${c.sock.transport}`).join(', ')}: ${want.ann.length}+${want.bob.length}+${want.cid.length} room messages, exact and in order`;
  } finally {
    clients.forEach((c) => c.sock.close());
  }
}

module.exports = { roomsScenario };
