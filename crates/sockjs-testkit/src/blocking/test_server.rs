//! A one-shot TCP server for the blocking client's unit tests.

use std::io::{Read, Write};
use std::net::TcpListener;

/// Accepts one connection, reads one request, writes `wire` in pieces
/// of `step` bytes, then closes.
pub(super) fn serve(wire: &'static [u8], step: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b).unwrap();
        for piece in wire.chunks(step) {
            s.write_all(piece).unwrap();
            s.flush().unwrap();
        }
    });
    addr
}
