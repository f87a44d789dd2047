//! Connections to the server: connect with retries (and their count), and
//! one request per connection.

use sockjs_testkit::{AsyncConn, Request};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;

/// Connection attempts that timed out and were retried.
pub(crate) static CONNECT_RETRIES: AtomicU64 = AtomicU64::new(0);

/// Connects to `addr`, retrying twice after 5 s without an answer.
pub(crate) async fn connect(addr: &str) -> io::Result<TcpStream> {
    for _ in 0..2 {
        if let Ok(r) = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
            return r;
        }
        CONNECT_RETRIES.fetch_add(1, Ordering::Relaxed);
    }
    TcpStream::connect(addr).await
}

/// One request on a new connection (`Connection: close`): sends it and
/// reads the response head; the body is left to the caller.
pub(crate) async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(AsyncConn, u16)> {
    let mut conn = AsyncConn::from_stream(connect(addr).await?, addr.to_owned())?;
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    let status = conn.start(Request::new(method, path).headers(&all).body(body)).await?;
    Ok((conn, status))
}
