//! Test support for the SockJS crates: one HTTP/1.x client, shared by the
//! wire tests (`e2e/tests`), the load generator (`sockjs-bench`) and the
//! soak program (`sockjs-soak`).
//!
//! The protocol part is pure code, testable on literals: [`parse_head`]
//! reads a response head (no allocation), [`BodyDecoder`] decodes a
//! `Content-Length`, chunked or close-delimited body as its bytes arrive,
//! and [`Request`] writes a request into a reused buffer. Two connections
//! put it on a socket:
//!
//! * [`Conn`] (blocking, `std`): exact bytes out, exact bytes in, every
//!   read bounded by a timeout; its methods panic with what they were
//!   waiting for, as test assertions do. [`Streaming`] reads a response
//!   body as it arrives (streaming transports), [`Response`] is a whole one.
//! * [`AsyncConn`] (tokio): a keep-alive connection returning `io::Result`s,
//!   one write per request and one buffer per connection, for load.
//!
//! ```no_run
//! use sockjs_testkit::Conn;
//!
//! let mut c = Conn::connect("127.0.0.1:8081");
//! let r = c.request("POST", "/echo/000/s1/xhr", &[], b"");
//! r.expect_status(200).expect_body("o\n");
//! ```
#![deny(missing_docs)]

mod async_conn;
mod blocking;
mod body;
mod head;
mod request;

pub use async_conn::AsyncConn;
pub use blocking::{Conn, Response, Streaming, DEFAULT_TIMEOUT};
pub use body::{BodyDecoder, Framing};
pub use head::{parse_head, Head, HeadInfo, MAX_HEAD};
pub use request::Request;

/// A response the client cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The head is longer than [`MAX_HEAD`].
    #[error("response head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// The status line is not `HTTP/1.x NNN reason`.
    #[error("bad status line {0:?}")]
    BadStatusLine(String),
    /// A header line without a name and a colon.
    #[error("bad header line {0:?}")]
    BadHeader(String),
    /// A `Content-Length` that is not one decimal number.
    #[error("bad Content-Length {0:?}")]
    BadContentLength(String),
    /// A chunk-size line that is not hexadecimal, or too long.
    #[error("bad chunk size line {0:?}")]
    BadChunkSize(String),
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingChunkCrlf,
    /// The connection ended before the body did.
    #[error("the connection closed before the body ended: {0}")]
    Truncated(String),
}
