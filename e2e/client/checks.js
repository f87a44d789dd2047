// Scenarios run by the official sockjs-client against the sockjs-test-server.
//
// This one file is loaded both by Node (require) and by the browser test page
// (a plain <script>), so every scenario runs the same code in both places.
// Each scenario resolves with a short description of what it saw, or rejects
// with an Error saying exactly what differed from the protocol's promise.
(function (root) {
  'use strict';

  // How long one step (open, one reply, a close) may take before the scenario
  // fails. Generous: the point is to fail instead of hanging, not to time.
  var STEP_MS = 15000;

  function describe(value) {
    var s = JSON.stringify(value);
    return s.length > 120 ? s.slice(0, 117) + '...' : s;
  }

  // Index of the first UTF-16 code unit where two strings differ, or -1.
  function firstDifference(a, b) {
    var n = Math.min(a.length, b.length);
    for (var i = 0; i < n; i++) {
      if (a.charCodeAt(i) !== b.charCodeAt(i)) return i;
    }
    return a.length === b.length ? -1 : n;
  }

  function sameString(got, want, what) {
    if (typeof got !== 'string') {
      throw new Error(what + ': expected a string, got ' + describe(got));
    }
    var at = firstDifference(got, want);
    if (at >= 0) {
      throw new Error(
        what + ': differs at index ' + at + ' (got ' + got.length + ' units, want ' + want.length +
          '; got U+' + (got.charCodeAt(at) || 0).toString(16) + ', want U+' + (want.charCodeAt(at) || 0).toString(16) + ')'
      );
    }
  }

  // A SockJS connection with an inbox, so scenarios can await messages and
  // the close event in order instead of wiring callbacks by hand.
  function Conn(SockJS, url, transports) {
    var self = this;
    this.url = url;
    this.inbox = [];
    this.waiters = [];
    this.closeEvent = null;
    this.openedFlag = false;
    this.sock = new SockJS(url, null, { transports: transports });
    this.sock.onopen = function () {
      self.openedFlag = true;
      self.wake();
    };
    this.sock.onmessage = function (e) {
      self.inbox.push(e.data);
      self.wake();
    };
    this.sock.onclose = function (e) {
      self.closeEvent = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      self.wake();
    };
  }

  Conn.prototype.wake = function () {
    var waiters = this.waiters;
    this.waiters = [];
    waiters.forEach(function (w) {
      w();
    });
  };

  // Resolves once `ready()` returns a value other than undefined; rejects
  // after STEP_MS with `what` in the message.
  Conn.prototype.until = function (what, ready) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(new Error('timed out after ' + STEP_MS + ' ms waiting for ' + what + ' on ' + self.url));
      }, STEP_MS);
      function check() {
        var value;
        try {
          value = ready();
        } catch (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        if (value === undefined) {
          self.waiters.push(check);
        } else {
          clearTimeout(timer);
          resolve(value);
        }
      }
      check();
    });
  };

  Conn.prototype.opened = function () {
    var self = this;
    return this.until('open', function () {
      if (self.openedFlag) return self.sock.transport;
      if (self.closeEvent) {
        throw new Error('closed before open: ' + self.closeEvent.code + ' ' + describe(self.closeEvent.reason));
      }
    });
  };

  // Resolves with the close event if the connection closes without opening.
  Conn.prototype.refused = function () {
    var self = this;
    return this.until('a close before open', function () {
      if (self.openedFlag) throw new Error('opened with ' + self.sock.transport + ', expected a refusal');
      if (self.closeEvent) return self.closeEvent;
    });
  };

  Conn.prototype.take = function (n) {
    var self = this;
    return this.until(n + ' message(s) (have ' + this.inbox.length + ')', function () {
      if (self.inbox.length >= n) return self.inbox.splice(0, n);
      if (self.closeEvent) {
        throw new Error(
          'closed with ' + self.closeEvent.code + ' ' + describe(self.closeEvent.reason) + ' after ' +
            self.inbox.length + ' of ' + n + ' messages'
        );
      }
    });
  };

  Conn.prototype.closed = function () {
    var self = this;
    return this.until('close', function () {
      if (self.closeEvent) return self.closeEvent;
    });
  };

  // Sends every message, then checks that exactly the same messages come
  // back in the same order and nothing else arrives before the close.
  Conn.prototype.echo = function (messages, what) {
    var self = this;
    messages.forEach(function (m) {
      self.sock.send(m);
    });
    return this.take(messages.length).then(function (got) {
      for (var i = 0; i < messages.length; i++) sameString(got[i], messages[i], what + ' #' + i);
      return got.length;
    });
  };

  Conn.prototype.closeNormally = function () {
    this.sock.close();
    return this.closed().then(function (e) {
      expectClose(e, 1000, 'Normal closure');
      return e;
    });
  };

  function expectClose(e, code, reason) {
    if (e.code !== code || e.reason !== reason) {
      throw new Error('close event ' + e.code + ' ' + describe(e.reason) + ', want ' + code + ' ' + describe(reason));
    }
  }

  function expectTransport(got, want) {
    if (got !== want) throw new Error('client reports transport ' + describe(got) + ', want ' + describe(want));
  }

  function range(from, to) {
    var s = '';
    for (var c = from; c <= to; c++) s += String.fromCharCode(c);
    return s;
  }

  // Strings covering every class of character the protocol (or a browser, or
  // a legacy transport's framing) treats specially. Each must echo exactly.
  function escapeSamples() {
    return [
      range(0x00, 0x1f),
      '"\\/\'',
      range(0x7f, 0x9f) + '\u00ad',
      range(0x0600, 0x0604) + '\u070f\u17b4\u17b5',
      range(0x200c, 0x200f) + range(0x2028, 0x202f) + range(0x2060, 0x206f),
      '\ufeff' + range(0xfff0, 0xffff),
      '</script><script>alert(1)</script><!-- & &amp; -->',
      '\r\n\r\ndata: injected\n\nevent: x\n\n%0A%25%',
      '\u0000\u0000',
      'surrogate pairs \ud83d\ude00 \ud800\udc00 \udbff\udfff',
      'ascii 0123456789 abcdefghijklmnopqrstuvwxyz []{}:,'
    ];
  }

  // 100 KiB (102,400 UTF-16 units) mixing plain text with escaped characters.
  function largeMessage() {
    var unit = 'The quick brown fox <jumps> & "over" \\ the lazy dog \u2028\u00e9\u4e2d\r\n%\u0001 ';
    var s = '';
    while (s.length < 102400) s += unit;
    return s.slice(0, 102400);
  }

  function repeat(ch, n) {
    var s = '';
    while (s.length < n) s += ch;
    return s;
  }

  // Opens `url` with exactly one transport and checks the client reports it.
  function openWith(SockJS, url, transport) {
    var conn = new Conn(SockJS, url, [transport]);
    return conn.opened().then(function (got) {
      expectTransport(got, transport);
      return conn;
    });
  }

  var scenarios = {
    // Open, report the transport, close from the client side.
    open: function (SockJS, base, t) {
      return openWith(SockJS, base + '/echo', t).then(function (conn) {
        return conn.closeNormally().then(function (e) {
          return 'opened over ' + t + ', client close ' + e.code + ' ' + describe(e.reason);
        });
      });
    },
    echo: function (SockJS, base, t) {
      var msgs = ['a', 'hello world', '', ' ', '[', ']', '"', '{}', '[1,2]', 'null', '\u00fcn\u00efc\u00f6d\u00e9 \u4e2d\u6587'];
      return openWith(SockJS, base + '/echo', t).then(function (conn) {
        return conn.echo(msgs, 'short message').then(function (n) {
          return conn.closeNormally().then(function () {
            return n + ' short messages echoed';
          });
        });
      });
    },
    escapes: function (SockJS, base, t) {
      var msgs = escapeSamples();
      return openWith(SockJS, base + '/echo', t).then(function (conn) {
        return conn.echo(msgs, 'escape sample').then(function (n) {
          return conn.closeNormally().then(function () {
            return n + ' escape-class strings echoed exactly';
          });
        });
      });
    },
    'lone-surrogate': function (SockJS, base, t) {
      // Documented outcome: a lone UTF-16 surrogate cannot be held in a Rust
      // string and comes back as U+FFFD; valid pairs round-trip (see escapes).
      return openWith(SockJS, base + '/echo', t).then(function (conn) {
        conn.sock.send('a\ud800b\udc00c');
        return conn.take(1).then(function (got) {
          sameString(got[0], 'a\ufffdb\ufffdc', 'lone surrogates');
          return conn.closeNormally().then(function () {
            return 'lone surrogates replaced by U+FFFD';
          });
        });
      });
    },
    large: function (SockJS, base, t) {
      var big = largeMessage();
      return openWith(SockJS, base + '/echo', t).then(function (conn) {
        return conn.echo([big], '100 KiB message').then(function () {
          return conn.closeNormally().then(function () {
            return '100 KiB message echoed exactly';
          });
        });
      });
    },
    ordered: function (SockJS, base, t) {
      var msgs = [];
      for (var i = 0; i < 1000; i++) msgs.push('message ' + i);
      return openWith(SockJS, base + '/echo', t).then(function (conn) {
        return conn.echo(msgs, 'ordered').then(function (n) {
          return conn.closeNormally().then(function () {
            return n + ' messages echoed in order';
          });
        });
      });
    },
    amplify: function (SockJS, base, t) {
      return openWith(SockJS, base + '/amplify', t).then(function (conn) {
        var n = 1;
        function step() {
          if (n > 18) return conn.closeNormally();
          conn.sock.send(String(n));
          return conn.take(1).then(function (got) {
            sameString(got[0], repeat('x', Math.pow(2, n)), 'amplify ' + n);
            n++;
            return step();
          });
        }
        return step().then(function () {
          return 'replies of 2 to 262144 bytes';
        });
      });
    },
    'server-close': function (SockJS, base, t) {
      return openWith(SockJS, base + '/close', t).then(function (conn) {
        return conn.closed().then(function (e) {
          expectClose(e, 3000, 'Go away!');
          if (e.wasClean !== true) throw new Error('server close not clean: ' + describe(e));
          return 'close 3000 "Go away!"';
        });
      });
    },
    'websocket-disabled': function (SockJS, base, t) {
      var url = base + '/disabled_websocket_echo';
      if (t === 'websocket') {
        // Only websocket allowed and the server refuses it: no transport left.
        return new Conn(SockJS, url, ['websocket']).refused().then(function (e) {
          expectClose(e, 2000, 'All transports failed');
          return 'websocket-only client refused with 2000';
        });
      }
      var conn = new Conn(SockJS, url, ['websocket', t]);
      return conn.opened().then(function (got) {
        expectTransport(got, t);
        return conn.echo(['fell back'], 'fallback echo').then(function () {
          return conn.closeNormally().then(function () {
            return 'fell back from websocket to ' + t;
          });
        });
      });
    },
    'cookie-needed': function (SockJS, base, t) {
      return openWith(SockJS, base + '/cookie_needed_echo', t).then(function (conn) {
        return conn.echo(['with cookie', 'two'], 'cookie_needed echo').then(function () {
          return conn.closeNormally().then(function () {
            return 'echo on /cookie_needed_echo';
          });
        });
      });
    },
    'not-found': function (SockJS, base, t) {
      var started = Date.now();
      return new Conn(SockJS, base + '/no_such_service', [t]).refused().then(function (e) {
        expectClose(e, 1002, 'Cannot connect to server');
        return 'refused with 1002 after ' + (Date.now() - started) + ' ms';
      });
    },
    // A service with disable_cors: works when the page shares its origin.
    'disabled-cors': function (SockJS, base, t) {
      return openWith(SockJS, base + '/disabled_cors_echo', t).then(function (conn) {
        return conn.echo(['same origin', escapeSamples()[6]], 'disable_cors echo').then(function () {
          return conn.closeNormally().then(function () {
            return 'echo on /disabled_cors_echo over ' + t;
          });
        });
      });
    },
    // ...and must fail from a foreign origin, since no CORS headers are sent.
    'disabled-cors-refused': function (SockJS, base, t) {
      return new Conn(SockJS, base + '/disabled_cors_echo', [t]).refused().then(function (e) {
        // The browser hides the /info response (no Access-Control-Allow-Origin),
        // so the client cannot even learn the server's settings.
        expectClose(e, 1002, 'Cannot connect to server');
        var said = 'refused from a foreign origin with ' + e.code + ' ' + describe(e.reason);
        if (typeof fetch !== 'function') return said;
        // The server did answer: an opaque (no-cors) request succeeds while a
        // CORS request to the same URL is blocked by the browser.
        var info = base + '/disabled_cors_echo/info';
        return fetch(info, { mode: 'no-cors' }).then(function (opaque) {
          if (opaque.type !== 'opaque') throw new Error('no-cors fetch of /info gave ' + opaque.type);
          return fetch(info).then(
            function (r) {
              throw new Error('cross-origin fetch of /info was allowed (status ' + r.status + ')');
            },
            function () {
              return said + '; /info reachable but unreadable cross-origin';
            }
          );
        });
      });
    }
  };

  function run(name, SockJS, base, transport) {
    var scenario = scenarios[name];
    if (!scenario) return Promise.reject(new Error('no scenario ' + name));
    return Promise.resolve().then(function () {
      return scenario(SockJS, base, transport);
    });
  }

  var api = { run: run, names: Object.keys(scenarios), escapeSamples: escapeSamples };
  if (typeof module !== 'undefined' && module.exports) {
    module.exports = api;
  } else {
    root.sockjsChecks = api;
  }
})(this);
