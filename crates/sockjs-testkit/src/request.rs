//! Requests: serialization of one HTTP/1.x request into a reused buffer.

use std::io::Write;

/// One request to serialize with [`Request::write`].
///
/// ```
/// use sockjs_testkit::Request;
///
/// let mut out = Vec::new();
/// Request::new("POST", "/echo/000/s/xhr_send")
///     .headers(&[("Content-Type", "text/plain")])
///     .body(br#"["hi"]"#)
///     .write("127.0.0.1:8081", &mut out);
/// assert_eq!(
///     out,
///     b"POST /echo/000/s/xhr_send HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n\
///       Content-Type: text/plain\r\nContent-Length: 6\r\n\r\n[\"hi\"]"
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `HTTP/1.1` unless set (any text: tests send odd versions on purpose).
    pub version: &'a str,
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The request target, e.g. `/echo/info?t=1`.
    pub target: &'a str,
    /// Header lines, written in this order after `Host`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, written as is.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// An HTTP/1.1 request without headers or body.
    pub fn new(method: &'a str, target: &'a str) -> Self {
        Request {
            version: "HTTP/1.1",
            method,
            target,
            headers: &[],
            body: b"",
        }
    }

    /// The version written in the request line.
    pub fn version(self, version: &'a str) -> Self {
        Request { version, ..self }
    }

    /// The header lines.
    pub fn headers(self, headers: &'a [(&'a str, &'a str)]) -> Self {
        Request { headers, ..self }
    }

    /// The body.
    pub fn body(self, body: &'a [u8]) -> Self {
        Request { body, ..self }
    }

    fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// Appends the request to `out`: the request line, `Host: host` unless
    /// the headers have one, the headers, `Content-Length` for a `POST` or
    /// a non-empty body unless the headers frame the body themselves (`Content-Length` or `Transfer-Encoding`), the blank line
    /// and the body. Allocates nothing beyond `out`'s growth, so a load
    /// generator can reuse one buffer for every request.
    pub fn write(&self, host: &str, out: &mut Vec<u8>) {
        let mut line = |parts: &[&[u8]]| {
            for p in parts {
                out.extend_from_slice(p);
            }
            out.extend_from_slice(b"\r\n");
        };
        line(&[
            self.method.as_bytes(),
            b" ",
            self.target.as_bytes(),
            b" ",
            self.version.as_bytes(),
        ]);
        if !self.has("host") {
            line(&[b"Host: ", host.as_bytes()]);
        }
        for (k, v) in self.headers {
            line(&[k.as_bytes(), b": ", v.as_bytes()]);
        }
        let framed = self.has("content-length") || self.has("transfer-encoding");
        if !framed && (self.method == "POST" || !self.body.is_empty()) {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(r: Request<'_>) -> String {
        let mut out = b"left alone|".to_vec();
        r.write("h:1", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn get_has_no_content_length() {
        assert_eq!(
            written(Request::new("GET", "/a")),
            "left alone|GET /a HTTP/1.1\r\nHost: h:1\r\n\r\n"
        );
    }

    #[test]
    fn given_host_and_framing_headers_win() {
        let r = Request::new("POST", "/b")
            .version("HTTP/1.0")
            .headers(&[("host", "other"), ("Transfer-Encoding", "chunked")])
            .body(b"0\r\n\r\n");
        assert_eq!(
            written(r),
            "left alone|POST /b HTTP/1.0\r\nhost: other\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn empty_post_and_bodied_get_carry_a_length() {
        assert_eq!(
            written(Request::new("POST", "/c")),
            "left alone|POST /c HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            written(Request::new("GET", "/d").body(b"xy")),
            "left alone|GET /d HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\n\r\nxy"
        );
    }
}
