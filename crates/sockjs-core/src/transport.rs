//! Per-transport response shapes: content types, preludes and the way each
//! HTTP receiver wraps a frame; plus the fixed pages (`/info`, iframe).

use crate::frame::quote_into;
use std::fmt::Write as _;

/// Longest accepted JSONP/htmlfile callback name, in bytes.
pub const MAX_CALLBACK_LEN: usize = 256;

/// The HTTP receivers (responses that carry frames from server to client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Receiver {
    /// `xhr`: one frame, then the response ends.
    XhrPolling,
    /// `xhr_streaming`: prelude, then frames until the response limit.
    XhrStreaming,
    /// `eventsource`: Server-Sent Events.
    EventSource,
    /// `htmlfile`: a page of `<script>` tags.
    HtmlFile,
    /// `jsonp`: one frame as a JavaScript callback call.
    JsonpPolling,
}

impl Receiver {
    /// True when the response stays open for several frames.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Receiver::XhrStreaming | Receiver::EventSource | Receiver::HtmlFile
        )
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Receiver::XhrPolling | Receiver::XhrStreaming | Receiver::JsonpPolling => {
                "application/javascript; charset=UTF-8"
            }
            Receiver::EventSource => "text/event-stream",
            Receiver::HtmlFile => "text/html; charset=UTF-8",
        }
    }

    /// True when the receiver needs a `c` (callback) query parameter.
    pub fn needs_callback(self) -> bool {
        matches!(self, Receiver::HtmlFile | Receiver::JsonpPolling)
    }

    /// The bytes written before the first frame. Not counted against the
    /// response limit.
    ///
    /// ```
    /// use sockjs_core::Receiver;
    /// assert_eq!(Receiver::EventSource.prelude(""), "\r\n");
    /// assert_eq!(Receiver::XhrStreaming.prelude("").len(), 2049);
    /// assert!(Receiver::HtmlFile.prelude("cb").contains("parent.cb;"));
    /// ```
    pub fn prelude(self, callback: &str) -> String {
        match self {
            Receiver::XhrPolling | Receiver::JsonpPolling => String::new(),
            // Old browsers only fire progress events after 2 KiB arrived.
            Receiver::XhrStreaming => {
                let mut s = "h".repeat(2048);
                s.push('\n');
                s
            }
            Receiver::EventSource => "\r\n".to_owned(),
            Receiver::HtmlFile => htmlfile_prelude(callback),
        }
    }

    /// Appends `frame`, wrapped for this receiver, to `out`.
    ///
    /// ```
    /// use sockjs_core::Receiver;
    /// let mut out = String::new();
    /// Receiver::JsonpPolling.wrap_frame("o", "cb", &mut out);
    /// assert_eq!(out, "/**/cb(\"o\");\r\n");
    /// ```
    pub fn wrap_frame(self, frame: &str, callback: &str, out: &mut String) {
        match self {
            Receiver::XhrPolling | Receiver::XhrStreaming => {
                out.push_str(frame);
                out.push('\n');
            }
            Receiver::EventSource => {
                // The client runs `decodeURI` on event data, so `%` must be
                // percent-encoded; CR, LF and NUL (which JSON escaping already
                // keeps out of frames) would end or corrupt the event.
                out.push_str("data: ");
                escape_event_data(frame, out);
                out.push_str("\r\n\r\n");
            }
            Receiver::HtmlFile => {
                out.push_str("<script>\np(");
                quote_script_safe(frame, out);
                out.push_str(");\n</script>\r\n");
            }
            Receiver::JsonpPolling => {
                // The leading comment defeats content sniffing attacks that
                // reinterpret the response (Rosetta Flash, CVE-2014-4671).
                out.push_str("/**/");
                out.push_str(callback);
                out.push('(');
                quote_into(frame, out);
                out.push_str(");\r\n");
            }
        }
    }
}

/// Percent-encodes `%`, `\r`, `\n` and `\0` for an eventsource `data:` line.
fn escape_event_data(frame: &str, out: &mut String) {
    let mut start = 0;
    for (i, b) in frame.bytes().enumerate() {
        let esc = match b {
            b'%' => "%25",
            b'\r' => "%0D",
            b'\n' => "%0A",
            0 => "%00",
            _ => continue,
        };
        out.push_str(&frame[start..i]);
        out.push_str(esc);
        start = i + 1;
    }
    out.push_str(&frame[start..]);
}

/// Quotes `s` as a JSON string that is also safe inside an HTML `<script>`
/// element: `<`, `>` and `&` are written as `\u003c`, `\u003e`, `\u0026`, so
/// no application data can close the element or open a comment.
fn quote_script_safe(s: &str, out: &mut String) {
    let start = out.len();
    quote_into(s, out);
    if out[start..].bytes().any(|b| matches!(b, b'<' | b'>' | b'&')) {
        let quoted = out.split_off(start);
        for c in quoted.chars() {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                c => out.push(c),
            }
        }
    }
}

/// Why a callback parameter was refused. `Display` is the protocol's error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// No `c` parameter (or an empty one).
    #[error("\"callback\" parameter required")]
    Missing,
    /// The decoded value is not made of `[A-Za-z0-9_.-]` or is too long.
    #[error("invalid \"callback\" parameter")]
    Invalid,
}

/// Validates an already percent-decoded callback name as a whole string.
///
/// ```
/// use sockjs_core::{validate_callback, CallbackError};
/// assert_eq!(validate_callback(Some("a.b_c-1")), Ok("a.b_c-1"));
/// assert_eq!(validate_callback(Some("abc(")), Err(CallbackError::Invalid));
/// assert_eq!(validate_callback(None), Err(CallbackError::Missing));
/// ```
pub fn validate_callback(c: Option<&str>) -> Result<&str, CallbackError> {
    let c = c.filter(|c| !c.is_empty()).ok_or(CallbackError::Missing)?;
    if c.len() > MAX_CALLBACK_LEN
        || !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(CallbackError::Invalid);
    }
    Ok(c)
}

/// The htmlfile page head. Its exact text is fixed by the protocol: the
/// protocol suite compares it byte for byte; the client relies on
/// `parent.<callback>` exposing `start`, `message` and `stop`.
fn htmlfile_prelude(callback: &str) -> String {
    let mut s = String::with_capacity(1100);
    s.push_str("<!doctype html>\n<html><head>\n");
    s.push_str("  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n");
    s.push_str("  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n");
    s.push_str("</head><body><h2>Don't panic!</h2>\n  <script>\n");
    s.push_str("    document.domain = document.domain;\n");
    let _ = writeln!(s, "    var c = parent.{callback};");
    s.push_str("    c.start();\n    function p(d) {c.message(d);};\n");
    s.push_str("    window.onload = function() {c.stop();};\n  </script>");
    // IE renders nothing until it has 1 KiB of body: pad with spaces.
    let pad = 1025usize.saturating_sub(s.len());
    s.push_str(&" ".repeat(pad));
    s.push_str("\r\n\r\n");
    s
}

/// The iframe page used by iframe-based transports. Its shape is fixed by
/// the protocol suite; only `sockjs_url` varies.
///
/// ```
/// let page = sockjs_core::iframe_page("/lib/sockjs.js");
/// assert!(page.contains(r#"<script src="/lib/sockjs.js"></script>"#));
/// ```
pub fn iframe_page(sockjs_url: &str) -> String {
    let mut s = String::with_capacity(512);
    s.push_str("<!DOCTYPE html>\n<html>\n<head>\n");
    s.push_str("  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n");
    s.push_str("  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n");
    s.push_str("  <script src=\"");
    html_attr_escape(sockjs_url, &mut s);
    s.push_str("\"></script>\n  <script>\n    document.domain = document.domain;\n");
    s.push_str("    SockJS.bootstrap_iframe();\n  </script>\n</head>\n<body>\n");
    s.push_str("  <h2>Don't panic!</h2>\n");
    s.push_str("  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n");
    s.push_str("</body>\n</html>");
    s
}

fn html_attr_escape(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

/// Builds the `/info` JSON document.
///
/// `origins` is omitted when `with_origins` is false (CORS disabled).
///
/// ```
/// let j = sockjs_core::info_json(true, false, true, 42, None);
/// assert_eq!(j, r#"{"websocket":true,"cookie_needed":false,"origins":["*:*"],"entropy":42}"#);
/// ```
pub fn info_json(
    websocket: bool,
    cookie_needed: bool,
    with_origins: bool,
    entropy: u32,
    base_url: Option<&str>,
) -> String {
    let mut s = String::with_capacity(128);
    let _ = write!(s, "{{\"websocket\":{websocket},\"cookie_needed\":{cookie_needed},");
    if with_origins {
        s.push_str("\"origins\":[\"*:*\"],");
    }
    if let Some(b) = base_url {
        s.push_str("\"base_url\":");
        quote_into(b, &mut s);
        s.push(',');
    }
    let _ = write!(s, "\"entropy\":{entropy}}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        let mut o = String::new();
        Receiver::XhrStreaming.wrap_frame("o", "", &mut o);
        Receiver::EventSource.wrap_frame("a[\"x\"]", "", &mut o);
        Receiver::HtmlFile.wrap_frame("a[\"x\"]", "", &mut o);
        Receiver::JsonpPolling.wrap_frame("c[3000,\"Go away!\"]", "x", &mut o);
        assert_eq!(
            o,
            "o\ndata: a[\"x\"]\r\n\r\n<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n"
        );
    }

    #[test]
    fn eventsource_escapes_percent_and_line_breaks() {
        let mut o = String::new();
        Receiver::EventSource.wrap_frame("a[\"100% %41\"]\r\n\0", "", &mut o);
        assert_eq!(o, "data: a[\"100%25 %2541\"]%0D%0A%00\r\n\r\n");
    }

    #[test]
    fn htmlfile_is_script_safe() {
        let mut o = String::new();
        Receiver::HtmlFile.wrap_frame("a[\"</script><b>&\"]", "", &mut o);
        assert!(!o[9..o.len() - 12].contains('<'), "{o}");
        assert!(o.contains("\\u003c/script\\u003e\\u003cb\\u003e\\u0026"));
    }

    #[test]
    fn htmlfile_prelude_shape() {
        let p = Receiver::HtmlFile.prelude("callback");
        assert!(p.len() > 1024);
        assert!(p.starts_with("<!doctype html>\n"));
        assert!(p
            .trim_end()
            .ends_with("window.onload = function() {c.stop();};\n  </script>"));
    }

    #[test]
    fn callbacks() {
        for bad in [" ", "*", "abc(", "a b", "x;alert(1)"] {
            assert_eq!(validate_callback(Some(bad)), Err(CallbackError::Invalid), "{bad}");
        }
        assert_eq!(validate_callback(Some("")), Err(CallbackError::Missing));
        assert_eq!(
            validate_callback(Some(&"a".repeat(MAX_CALLBACK_LEN + 1))),
            Err(CallbackError::Invalid)
        );
    }

    #[test]
    fn info_with_base_url() {
        assert_eq!(
            info_json(false, true, false, 1, Some("http://x/y")),
            r#"{"websocket":false,"cookie_needed":true,"base_url":"http://x/y","entropy":1}"#
        );
    }
}
