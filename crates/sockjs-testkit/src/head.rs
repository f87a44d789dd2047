//! Response heads: the parser every client here uses, and the owned form
//! tests assert on.

use crate::body::Framing;
use crate::Error;

/// Largest response head accepted, in bytes (status line, headers and the
/// blank line).
pub const MAX_HEAD: usize = 64 * 1024;

/// What a parsed response head says, borrowed from the buffer it was parsed
/// from. Enough to frame the body and to decide whether the connection can
/// carry another request; the header lines themselves go to the visitor of
/// [`parse_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadInfo<'b> {
    /// Bytes of the head, blank line included: where the body starts.
    pub len: usize,
    /// `HTTP/1.0` or `HTTP/1.1` (any `HTTP/1.x`).
    pub version: &'b str,
    /// The status code.
    pub status: u16,
    /// The reason phrase, possibly empty.
    pub reason: &'b str,
    /// The `Content-Length` header, if any.
    pub content_length: Option<u64>,
    /// Whether `Transfer-Encoding` ends with `chunked`.
    pub chunked: bool,
    connection_close: bool,
    connection_keep_alive: bool,
}

impl HeadInfo<'_> {
    /// How the body of this response to a `method` request is delimited.
    pub fn framing(&self, method: &str) -> Framing {
        framing(self.status, self.content_length, self.chunked, method)
    }

    /// Whether the server keeps the connection open after this response,
    /// by its version and `Connection` header. A close-delimited body ends
    /// the connection whatever this says.
    pub fn keep_alive(&self) -> bool {
        if self.version == "HTTP/1.0" {
            self.connection_keep_alive && !self.connection_close
        } else {
            !self.connection_close
        }
    }
}

/// The one framing rule (RFC 9112 section 6.3, for responses).
fn framing(status: u16, content_length: Option<u64>, chunked: bool, method: &str) -> Framing {
    if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses the response head at the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete (read more and call
/// again), or the head's [`HeadInfo`] once complete; `visit` is then called
/// with each header's name and value (trimmed, in arrival order). Nothing
/// is allocated, so a load generator can call it per response.
///
/// ```
/// use sockjs_testkit::{parse_head, Framing};
///
/// let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
/// assert_eq!(parse_head(&buf[..20], |_, _| {}), Ok(None));
/// let mut names = Vec::new();
/// let head = parse_head(buf, |name, _| names.push(name)).unwrap().unwrap();
/// assert_eq!((head.status, head.len), (200, 38));
/// assert_eq!(head.framing("GET"), Framing::Length(3));
/// assert_eq!(names, [&b"Content-Length"[..]]);
/// ```
pub fn parse_head<'b>(buf: &'b [u8], mut visit: impl FnMut(&'b [u8], &'b [u8])) -> Result<Option<HeadInfo<'b>>, Error> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(Error::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if end + 4 > MAX_HEAD {
        return Err(Error::HeadTooLarge);
    }
    let mut lines = buf[..end]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let bad_status = || Error::BadStatusLine(lossy(status_line));
    let text = std::str::from_utf8(status_line).map_err(|_| bad_status())?;
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let minor_ok = version
        .strip_prefix("HTTP/1.")
        .is_some_and(|m| m.len() == 1 && m.as_bytes()[0].is_ascii_digit());
    let code = parts.next().unwrap_or_default();
    if !minor_ok || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_status());
    }
    let mut info = HeadInfo {
        len: end + 4,
        version,
        status: code.parse().map_err(|_| bad_status())?,
        reason: parts.next().unwrap_or_default(),
        content_length: None,
        chunked: false,
        connection_close: false,
        connection_keep_alive: false,
    };
    for line in lines {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| Error::BadHeader(lossy(line)))?;
        let (name, value) = (trim(&line[..colon]), trim(&line[colon + 1..]));
        if name.is_empty() || name.len() != line[..colon].len() {
            // Whitespace before the colon, or a folded line.
            return Err(Error::BadHeader(lossy(line)));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| Error::BadContentLength(lossy(value)))?;
            if info.content_length.is_some_and(|m| m != n) {
                return Err(Error::BadContentLength(lossy(value)));
            }
            info.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            info.chunked = tokens(value).last().is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for t in tokens(value) {
                info.connection_close |= t.eq_ignore_ascii_case(b"close");
                info.connection_keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        visit(name, value);
    }
    Ok(Some(info))
}

/// An owned response head, for tests to inspect and assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// e.g. `HTTP/1.1`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase, possibly empty.
    pub reason: String,
    /// In arrival order, original case, duplicates kept (non-UTF-8 bytes
    /// replaced by U+FFFD).
    pub headers: Vec<(String, String)>,
    content_length: Option<u64>,
    chunked: bool,
}

impl Head {
    /// Parses a complete head at the start of `buf` with [`parse_head`];
    /// `Ok(None)` while incomplete, else the head and its length in bytes.
    pub fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, Error> {
        let mut headers = Vec::new();
        let Some(info) = parse_head(buf, |k, v| headers.push((lossy(k), lossy(v))))? else {
            return Ok(None);
        };
        let head = Head {
            version: info.version.to_owned(),
            status: info.status,
            reason: info.reason.to_owned(),
            headers,
            content_length: info.content_length,
            chunked: info.chunked,
        };
        Ok(Some((head, info.len)))
    }

    /// How the body of this response to a `method` request is delimited.
    pub fn framing(&self, method: &str) -> Framing {
        framing(self.status, self.content_length, self.chunked, method)
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header with this name (case-insensitive), in arrival order.
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a header with this name is present (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Asserts the header is present with exactly this value.
    #[track_caller]
    pub fn expect(&self, name: &str, value: &str) {
        assert_eq!(self.header(name), Some(value), "header {name} in {:?}", self.headers);
    }

    /// Asserts the header is absent.
    #[track_caller]
    pub fn expect_absent(&self, name: &str) {
        assert!(!self.has(name), "header {name} must be absent: {:?}", self.headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(buf: &[u8]) -> HeadInfo<'_> {
        parse_head(buf, |_, _| {}).unwrap().unwrap()
    }

    #[test]
    fn incomplete_heads_ask_for_more_at_every_split() {
        let full = b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(parse_head(&full[..n], |_, _| {}), Ok(None), "{n}");
        }
        assert_eq!(info(full).len, full.len());
    }

    #[test]
    fn headers_are_trimmed_and_visited_in_order() {
        let buf = b"HTTP/1.0 200 OK fine\r\nA:  x y \t\r\nB:\r\na: z\r\n\r\nbody";
        let mut seen = Vec::new();
        let h = parse_head(buf, |k, v| seen.push((k, v))).unwrap().unwrap();
        assert_eq!((h.version, h.status, h.reason), ("HTTP/1.0", 200, "OK fine"));
        assert_eq!(seen, [(&b"A"[..], &b"x y"[..]), (b"B", b""), (b"a", b"z")]);
        let (owned, len) = Head::parse(buf).unwrap().unwrap();
        assert_eq!(len, buf.len() - 4);
        assert_eq!(owned.headers_all("a"), ["x y", "z"]);
        assert_eq!(owned.header("b"), Some(""));
    }

    #[test]
    fn framing_rules() {
        let f = |head: &[u8], method| info(head).framing(method);
        assert_eq!(
            f(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET"),
            Framing::Length(5)
        );
        assert_eq!(
            f(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD"),
            Framing::Length(0)
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(f(chunked, "POST"), Framing::Chunked);
        assert_eq!(f(b"HTTP/1.1 200 OK\r\n\r\n", "GET"), Framing::UntilClose);
        for code in ["101", "204", "304"] {
            let head = format!("HTTP/1.1 {code} X\r\n\r\n");
            assert_eq!(f(head.as_bytes(), "GET"), Framing::Length(0), "{code}");
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection_header() {
        let k = |head: &[u8]| info(head).keep_alive();
        assert!(k(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!k(b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n"));
        assert!(!k(b"HTTP/1.0 200 OK\r\n\r\n"));
        assert!(k(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
        assert!(k(b"HTTP/1.1 200 OK\r\nConnection: upgrade, keep-alive\r\n\r\n"));
    }

    #[test]
    fn malformed_heads_are_errors() {
        let e = |buf: &[u8]| parse_head(buf, |_, _| {}).unwrap_err();
        assert!(matches!(e(b"HTTP/2 200 OK\r\n\r\n"), Error::BadStatusLine(_)));
        assert!(matches!(e(b"HTTP/1.1 20 OK\r\n\r\n"), Error::BadStatusLine(_)));
        assert!(matches!(e(b"ICY 200 OK\r\n\r\n"), Error::BadStatusLine(_)));
        assert!(matches!(e(b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"), Error::BadHeader(_)));
        assert!(matches!(
            e(b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n"),
            Error::BadHeader(_)
        ));
        let bad_len = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(e(bad_len), Error::BadContentLength("-1".into()));
        let conflict = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(matches!(e(conflict), Error::BadContentLength(_)));
        let same = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(info(same).content_length, Some(2));
        assert_eq!(e(&vec![b'x'; MAX_HEAD + 1]), Error::HeadTooLarge);
    }
}
