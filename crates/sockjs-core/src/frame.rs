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
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Scans bytes, not chars: every character that may need escaping starts
    // with a byte marked in `MAYBE_SPECIAL` (ASCII controls, `"`, `\`, and the
    // UTF-8 lead bytes of U+2000..U+2FFF and U+F000..U+FFFF), so plain text,
    // ASCII or not, is copied in runs without being decoded.
    while i < bytes.len() {
        let b = bytes[i];
        if !MAYBE_SPECIAL[b as usize] {
            i += 1;
            continue;
        }
        let (len, esc): (usize, Option<&str>) = match b {
            b'"' => (1, Some("\\\"")),
            b'\\' => (1, Some("\\\\")),
            b'\n' => (1, Some("\\n")),
            b'\r' => (1, Some("\\r")),
            b'\t' => (1, Some("\\t")),
            0x08 => (1, Some("\\b")),
            0x0c => (1, Some("\\f")),
            0x00..=0x1f => (1, None),
            // A three-byte lead: decode just this character.
            _ => {
                let c = s[i..].chars().next().unwrap_or_default();
                if !must_escape(c) {
                    i += 3;
                    continue;
                }
                (3, None)
            }
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => push_unicode_escape(&s[i..i + len], out),
        }
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Bytes that may start a character [`quote_into`] escapes.
static MAYBE_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0xE2] = true; // U+2000..U+2FFF
    t[0xEF] = true; // U+F000..U+FFFF
    t
};

/// Appends `\uXXXX` for the single BMP character in `ch`.
fn push_unicode_escape(ch: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let cp = ch.chars().next().map_or(0, |c| c as u32);
    let mut buf = *b"\\u0000";
    buf[2] = HEX[(cp >> 12) as usize & 0xf];
    buf[3] = HEX[(cp >> 8) as usize & 0xf];
    buf[4] = HEX[(cp >> 4) as usize & 0xf];
    buf[5] = HEX[cp as usize & 0xf];
    // Only ASCII was written into `buf`.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
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
        // Lead bytes shared with characters that stay raw.
        assert_eq!(
            quote("\u{2000}\u{2028}\u{20ac}\u{ffef}\u{fff0}\u{f000}x\"\\\n\u{7}"),
            "\"\u{2000}\\u2028\u{20ac}\u{ffef}\\ufff0\u{f000}x\\\"\\\\\\n\\u0007\""
        );
    }
}
