//! The blocking client the wire tests use: one `std` TCP connection, exact
//! bytes out, exact bytes in.
//!
//! Its methods are assertions: a read that times out, a connection that
//! ends too early or a malformed response panics with what was expected
//! and what was buffered, so a test never hangs on a silent server and
//! fails where it waited.
//!
//! [`Conn`] owns the socket and its buffer and reads whole [`Response`]s;
//! [`Streaming`] reads one response body as it arrives. Imports go one way:
//! `streaming` uses `conn`, `conn` uses `response`, all use `buf`.

mod buf;
mod conn;
mod response;
mod streaming;
#[cfg(test)]
mod test_server;

pub use conn::{Conn, DEFAULT_TIMEOUT};
pub use response::Response;
pub use streaming::Streaming;
