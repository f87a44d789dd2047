//! A minimal socketioxide (Socket.IO) server: the Rust Socket.IO server that
//! scripts/compare.sh measures next to ours, with sockjs-bench's `sio-ws`
//! and `sio-fanout` scenarios.
//!
//! Run with: `cargo run --release --manifest-path bench/socketioxide/Cargo.toml -- --port 0 [--echo] [--ordered]`
//!
//! On the default namespace, every `msg` event (one string argument) is
//! sent to every connected socket, the sender included (`io.emit`); with
//! `--echo`, it is sent back to its sender only. Prints
//! `socketioxide listening on http://ADDR:PORT` once listening.
//!
//! socketioxide runs each event handler in a task of its own, so two
//! events of one socket may be handled (and sent on) in either order. With
//! `--ordered`, the handler only hands the message, synchronously and so in
//! arrival order, to one task per socket (echo) or one task for the server
//! (broadcast), which sends them in that order.
//!
//! Options differ from socketioxide's defaults in one place: a socket
//! buffers up to 4096 packets (`max_buffer_size`, default 128), the
//! outbound queue bound of sockjs-rs, so that a burst is queued rather
//! than refused; heartbeats keep their defaults (ping every 25 s).

use socketioxide::extract::{Data, SocketRef};
use socketioxide::SocketIo;
use tokio::sync::mpsc;

/// Packets a socket may have queued before an emit to it fails.
const MAX_BUFFER: usize = 4096;

fn usage() -> ! {
    eprintln!(
        "usage: socketioxide-bench-server [--host H (127.0.0.1)] [--port P (3000; 0 = any)] [--echo] [--ordered]"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let (mut host, mut port, mut echo, mut ordered) = ("127.0.0.1".to_owned(), 3000u16, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--host" => host = args.next().unwrap_or_else(|| usage()),
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or_else(|| usage()),
            "--echo" => echo = true,
            "--ordered" => ordered = true,
            _ => usage(),
        }
    }

    let (layer, io) = SocketIo::builder().max_buffer_size(MAX_BUFFER).build_layer();
    if echo && ordered {
        io.ns("/", async |s: SocketRef| {
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            let out = s.clone();
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    let _ = out.emit("msg", &m);
                }
            });
            // A plain closure: its body runs when the event is dispatched,
            // in arrival order; only the returned future is spawned.
            s.on("msg", move |Data(m): Data<String>| {
                let _ = tx.send(m);
                std::future::ready(())
            });
        });
    } else if ordered {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let all = io.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let _ = all.emit("msg", &m).await;
            }
        });
        io.ns("/", async move |s: SocketRef| {
            let tx = tx.clone();
            s.on("msg", move |Data(m): Data<String>| {
                let _ = tx.send(m);
                std::future::ready(())
            });
        });
    } else if echo {
        io.ns("/", async |s: SocketRef| {
            s.on("msg", async |s: SocketRef, Data(m): Data<String>| {
                let _ = s.emit("msg", &m);
            });
        });
    } else {
        io.ns("/", async |s: SocketRef| {
            s.on("msg", async |io: SocketIo, Data(m): Data<String>| {
                let _ = io.emit("msg", &m).await;
            });
        });
    }

    let app = axum::Router::new().layer(layer);
    let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().expect("bound listener has an address");
    println!("socketioxide listening on http://{addr}");
    // No graceful shutdown: SIGTERM ends the process at once, as it does
    // the other servers the script compares.
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
