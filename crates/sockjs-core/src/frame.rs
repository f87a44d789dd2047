//! SockJS frames (`o`, `h`, `a[...]`, `c[code,"reason"]`) and the JSON string
//! escaping the protocol requires.
//!
//! Every framed transport carries the same four frames; only the way a frame is
//! wrapped differs (see [`crate::transport`]). Encoding happens once per frame:
//! callers keep the returned [`String`] and wrap it per transport.

use std::fmt::Write as _;

/// The open frame, sent once when a session starts.
pub const OPEN: &str = "o";
/// The heartbeat frame, sent when a connection was idle for `heartbeat_delay`.
pub const HEARTBEAT: &str = "h";

/// A SockJS frame before encoding.
///
/// ```
/// use sockjs_core::Frame;
/// assert_eq!(Frame::Open.encode(), "o");
/// assert_eq!(Frame::Messages(vec!["hi".into()]).encode(), r#"a["hi"]"#);
/// assert_eq!(Frame::Close(3000, "Go away!".into()).encode(), r#"c[3000,"Go away!"]"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// `o`: the session is open.
    Open,
    /// `h`: heartbeat.
    Heartbeat,
    /// `a[...]`: one or more application messages, in order.
    Messages(Vec<String>),
    /// `c[code,"reason"]`: the session is closed.
    Close(u16, String),
}

impl Frame {
    /// Encodes the frame to its wire form (without any transport wrapping).
    pub fn encode(&self) -> String {
        match self {
            Frame::Open => OPEN.to_owned(),
            Frame::Heartbeat => HEARTBEAT.to_owned(),
            Frame::Messages(msgs) => encode_messages(msgs),
            Frame::Close(code, reason) => encode_close(*code, reason),
        }
    }
}

/// Encodes an `a[...]` frame carrying `messages` in order.
///
/// ```
/// assert_eq!(sockjs_core::encode_messages(&["a", "b\n"]), "a[\"a\",\"b\\n\"]");
/// ```
pub fn encode_messages<S: AsRef<str>>(messages: &[S]) -> String {
    let cap = messages.iter().map(|m| m.as_ref().len() + 3).sum::<usize>() + 3;
    let mut out = String::with_capacity(cap);
    out.push_str("a[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quote_into(m.as_ref(), &mut out);
    }
    out.push(']');
    out
}

/// Encodes a `c[code,"reason"]` frame.
pub fn encode_close(code: u16, reason: &str) -> String {
    let mut out = String::with_capacity(reason.len() + 12);
    // Writing to a String cannot fail.
    let _ = write!(out, "c[{code},");
    quote_into(reason, &mut out);
    out.push(']');
    out
}

/// Returns true for the characters SockJS escapes as `\uXXXX` on the way out
/// even though JSON would allow them raw: browsers and proxies mangle them
/// (control characters, zero-width and bidi marks, line/paragraph separators,
/// invisible operators and specials).
#[inline]
pub fn must_escape(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x001F
        | 0x200C..=0x200F
        | 0x2028..=0x202F
        | 0x2060..=0x206F
        | 0xFFF0..=0xFFFF)
    // U+D800..U+DFFF cannot occur in a Rust `str`.
}

/// Appends `s` as a JSON string literal (with quotes) to `out`, escaping `"`,
/// `\` and every character for which [`must_escape`] holds.
///
/// ```
/// let mut out = String::new();
/// sockjs_core::quote_into("a\"\u{2028}", &mut out);
/// assert_eq!(out, "\"a\\\"\\u2028\"");
/// ```
pub fn quote_into(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        // Fast path: most characters are copied in runs.
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            _ if must_escape(c) => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Returns `s` as a JSON string literal; see [`quote_into`].
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_encode() {
        assert_eq!(Frame::Heartbeat.encode(), "h");
        assert_eq!(encode_messages::<&str>(&[]), "a[]");
        assert_eq!(encode_messages(&["x", "y"]), r#"a["x","y"]"#);
        assert_eq!(
            encode_close(2010, "Another connection still open"),
            r#"c[2010,"Another connection still open"]"#
        );
    }

    #[test]
    fn escapes_exact_ranges() {
        for cp in 0u32..=0xFFFF {
            let Some(c) = char::from_u32(cp) else { continue };
            let q = quote(&c.to_string());
            let expect_escaped = matches!(cp, 0..=0x1f | 0x200c..=0x200f | 0x2028..=0x202f | 0x2060..=0x206f | 0xfff0..=0xffff)
                || c == '"'
                || c == '\\';
            assert_eq!(q.starts_with("\"\\"), expect_escaped, "U+{cp:04X} -> {q}");
        }
        assert_eq!(quote("\u{1}"), "\"\\u0001\"");
        assert_eq!(quote("\u{ffff}"), "\"\\uffff\"");
        assert_eq!(quote("\u{1F600}"), "\"\u{1F600}\"");
        assert_eq!(quote("é\u{2029}z"), "\"é\\u2029z\"");
    }
}
