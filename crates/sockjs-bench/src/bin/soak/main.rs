//! Run with: `cargo run --release -p sockjs-bench --bin sockjs-soak -- --duration 180`
//!
//! A bounded soak test. It starts an echo server as a child process (this
//! same program with `--serve`), then for `--duration` seconds keeps
//! `--workers` clients busy opening sessions over every transport
//! (websocket, xhr-polling, xhr-streaming, eventsource, htmlfile,
//! jsonp-polling), exchanging sequence-numbered messages and checking each
//! comes back once and in order, aborting some sessions mid-way and
//! abandoning others so they time out. The server runs with a small
//! `response_limit`, so streaming receivers roll over many times.
//!
//! At the end it waits for the server's live-session count to return to 0
//! and prints: sessions served, messages verified, losses (must be 0), and
//! the server's resident memory (VmRSS) at start, peak and end. Start and
//! end are read once the memory has settled: sampled every 200 ms until 5
//! samples in a row lie within 1% (or 256 KiB), for at most 10 s. It exits
//! with status 1 on any loss, protocol error or leaked session.
//!
//! Flags: `--duration SECS` (60, split over the rounds), `--rounds N` (3:
//! the load stops after each round until every session is reclaimed, and
//! the memory is read then), `--workers N` (100), `--messages N` per session
//! (20), `--disconnect-delay-ms N` (1000; for `--target`, the server's, which
//! bounds the wait for sessions to be reclaimed), `--response-limit N`
//! (4096), `--json` (one more line at the end, a JSON object with the
//! figures, in the shape of `sockjs-bench`'s), `--label NAME` (its `label`).
//!
//! `--target http://HOST:PORT --server-pid PID` soaks a server already
//! running instead of a child (its `/echo` service, which must echo), e.g.
//! `sockjs-test-server --stats` or sockjs-node's `bench/node/server.js`:
//! live sessions are read from its `GET /_stats` (`{"/echo": N}`), its
//! memory from `/proc/PID`.
//!
//! Connecting is retried (5 s per attempt, 3 attempts) and the retries are
//! counted: client and server share the machine, and a SYN dropped by a
//! full listen queue costs the client a kernel back-off, not the server a
//! fault.
//!
//! Modules, each importing only those listed after it: `run` (the rounds of
//! workers), `report`, `websocket` and `http` (the per-transport session
//! drivers), `receiver`, `frames`, `session`, `server` (the echo server, a
//! child process or `--target`, and its stats), `settle` (when memory has
//! settled), `net` and `opts`.

mod frames;
mod http;
mod net;
mod opts;
mod receiver;
mod report;
mod run;
mod server;
mod session;
mod settle;
mod websocket;

fn main() {
    let (opts, serve) = match opts::parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if serve {
        rt.block_on(server::run_server(opts));
    } else {
        let ok = rt.block_on(run::run_soak(opts));
        std::process::exit(if ok { 0 } else { 1 });
    }
}
