//! The ceiling for websocket echo benchmarks: a plain tokio-tungstenite
//! server that accepts a websocket upgrade on any path and echoes every text
//! and binary message, with no SockJS framing, sessions or timers. Whatever a
//! SockJS server adds on top of this costs throughput; `sockjs-bench`
//! against this server shows how much is left to win.
//!
//! Run with: `cargo run --release -p sockjs-bench --bin ws-ceiling -- --port 8083`
//!
//! Flags: `--host` (default 127.0.0.1), `--port` (default 8083; 0 picks a
//! free port). Prints `ws-ceiling listening on http://ADDR` once listening.

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

async fn echo(stream: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let _ = stream.set_nodelay(true);
    // tungstenite zero-fills up to `read_buffer_size` bytes before every
    // read; its 128 KiB default would make that memset the top of this
    // server's profile, so the ceiling uses 8 KiB.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            ws.feed(msg).await?;
        }
        // Echo whatever else already arrived before one flush, as any
        // server serious about throughput does.
        while let Some(Some(msg)) = ws.next().now_or_never() {
            let msg = msg?;
            if matches!(msg, Message::Text(_) | Message::Binary(_)) {
                ws.feed(msg).await?;
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut host = "127.0.0.1".to_string();
    let mut port = 8083u16;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--host", Some(v)) => host = v,
            ("--port", Some(v)) => port = v.parse().map_err(|e| std::io::Error::other(format!("--port: {e}")))?,
            _ => {
                eprintln!("usage: ws-ceiling [--host H] [--port P]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    println!("ws-ceiling listening on http://{}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let _ = echo(stream).await;
                });
            }
            // Out of file descriptors, for instance: keep serving the
            // connections already open.
            Err(e) => {
                eprintln!("ws-ceiling: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
