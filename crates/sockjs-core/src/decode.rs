//! Decoding of what clients send: the JSON array of strings carried by
//! `xhr_send`, `jsonp_send` and framed websocket messages.
//!
//! The parser is our own rather than a general JSON library because the
//! protocol needs exactly one shape (an array of strings) and one policy
//! general parsers do not offer: JavaScript clients can send lone UTF-16
//! surrogates (`"\ud800"`), which are not Unicode scalar values. They are
//! replaced with U+FFFD REPLACEMENT CHARACTER; valid surrogate pairs decode to
//! the astral character they encode.

/// Why a payload was refused. The `Display` text is the protocol's error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body was empty (or, for `jsonp_send`, had no `d` field).
    #[error("Payload expected.")]
    PayloadExpected,
    /// The body was not a JSON array of strings.
    #[error("Broken JSON encoding.")]
    BrokenJson,
    /// The decoded payload is larger than the configured limit.
    #[error("Payload too large.")]
    TooLarge,
    /// More messages than the configured limit in one payload.
    #[error("Too many messages.")]
    TooManyMessages,
}

use std::borrow::Cow;

/// Limits applied while decoding one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Maximum total decoded size, in bytes, of all messages in the payload.
    pub max_bytes: usize,
    /// Maximum number of messages in one payload.
    pub max_messages: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: usize::MAX,
            max_messages: usize::MAX,
        }
    }
}

/// Decodes a JSON array of strings, e.g. `["a","b"]`.
///
/// Whitespace around tokens is allowed. An empty (or all-whitespace) input is
/// [`DecodeError::PayloadExpected`]; anything that is not an array whose
/// elements are all strings is [`DecodeError::BrokenJson`].
///
/// ```
/// use sockjs_core::{decode_messages, DecodeError, DecodeLimits};
/// let l = DecodeLimits::default();
/// assert_eq!(decode_messages(br#"["a","\u00e9\ud83d\ude00"]"#, l).unwrap(), vec!["a", "é😀"]);
/// assert_eq!(decode_messages(b"", l), Err(DecodeError::PayloadExpected));
/// assert_eq!(decode_messages(b"[\"x", l), Err(DecodeError::BrokenJson));
/// ```
pub fn decode_messages(input: &[u8], limits: DecodeLimits) -> Result<Vec<String>, DecodeError> {
    let mut p = Parser { s: input, i: 0 };
    p.ws();
    if p.i == input.len() {
        return Err(DecodeError::PayloadExpected);
    }
    if !p.eat(b'[') {
        return Err(DecodeError::BrokenJson);
    }
    let mut out = Vec::new();
    let mut total = 0usize;
    p.ws();
    if !p.eat(b']') {
        loop {
            p.ws();
            let s = p.string()?;
            total = total.saturating_add(s.len());
            if total > limits.max_bytes {
                return Err(DecodeError::TooLarge);
            }
            out.push(s);
            if out.len() > limits.max_messages {
                return Err(DecodeError::TooManyMessages);
            }
            p.ws();
            if p.eat(b',') {
                continue;
            }
            if p.eat(b']') {
                break;
            }
            return Err(DecodeError::BrokenJson);
        }
    }
    p.ws();
    if p.i != input.len() {
        return Err(DecodeError::BrokenJson);
    }
    Ok(out)
}

/// Extracts the payload of a `jsonp_send` request body.
///
/// Browsers post a form (`application/x-www-form-urlencoded`) whose `d` field
/// holds the JSON; other clients may post the JSON directly. Returns the
/// bytes to hand to [`decode_messages`].
///
/// ```
/// use sockjs_core::jsonp_send_payload;
/// assert_eq!(&*jsonp_send_payload(b"d=%5B%22x%22%5D", true).unwrap(), b"[\"x\"]");
/// assert_eq!(&*jsonp_send_payload(b"[\"x\"]", false).unwrap(), b"[\"x\"]");
/// ```
pub fn jsonp_send_payload(body: &[u8], form_encoded: bool) -> Result<Cow<'_, [u8]>, DecodeError> {
    if !form_encoded {
        return Ok(Cow::Borrowed(body));
    }
    for pair in body.split(|&b| b == b'&') {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        if percent_decode(k, true) == b"d" {
            let v = percent_decode(v, true);
            if v.is_empty() {
                return Err(DecodeError::PayloadExpected);
            }
            return Ok(Cow::Owned(v));
        }
    }
    Err(DecodeError::PayloadExpected)
}

/// Percent-decodes `input`; with `plus_as_space`, `+` becomes a space (form
/// encoding). Invalid escapes are kept literally.
pub fn percent_decode(input: &[u8], plus_as_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn hex4(&mut self) -> Result<u16, DecodeError> {
        let d = self.s.get(self.i..self.i + 4).ok_or(DecodeError::BrokenJson)?;
        let mut v = 0u16;
        for &b in d {
            v = v << 4 | u16::from(hex(b).ok_or(DecodeError::BrokenJson)?);
        }
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        if !self.eat(b'"') {
            return Err(DecodeError::BrokenJson);
        }
        let mut out = Vec::new();
        loop {
            // Copy the run of plain bytes up to the next quote or backslash.
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.extend_from_slice(&self.s[start..self.i]);
            match self.s.get(self.i) {
                None => return Err(DecodeError::BrokenJson),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| DecodeError::BrokenJson);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = *self.s.get(self.i).ok_or(DecodeError::BrokenJson)?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(DecodeError::BrokenJson),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                // Raw control characters are not allowed inside JSON strings.
                Some(_) => return Err(DecodeError::BrokenJson),
            }
        }
    }

    /// Decodes the escape after `\u`, combining surrogate pairs and replacing
    /// lone surrogates with U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, DecodeError> {
        let hi = self.hex4()?;
        match hi {
            0xD800..=0xDBFF => {
                if self.s.get(self.i..self.i + 2) == Some(b"\\u") {
                    let save = self.i;
                    self.i += 2;
                    let lo = self.hex4()?;
                    if (0xDC00..=0xDFFF).contains(&lo) {
                        let cp = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                        return Ok(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    }
                    // Not a low surrogate: leave it to be decoded on its own.
                    self.i = save;
                }
                Ok('\u{FFFD}')
            }
            0xDC00..=0xDFFF => Ok('\u{FFFD}'),
            v => Ok(char::from_u32(u32::from(v)).unwrap_or('\u{FFFD}')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Result<Vec<String>, DecodeError> {
        decode_messages(s.as_bytes(), DecodeLimits::default())
    }

    #[test]
    fn shapes() {
        assert_eq!(d("[]").unwrap(), Vec::<String>::new());
        assert_eq!(d(" [ \"a\" , \"b\" ] ").unwrap(), vec!["a", "b"]);
        assert_eq!(d("   "), Err(DecodeError::PayloadExpected));
        assert_eq!(d("{}"), Err(DecodeError::BrokenJson));
        assert_eq!(d("[1]"), Err(DecodeError::BrokenJson));
        assert_eq!(d("[\"a\",]"), Err(DecodeError::BrokenJson));
        assert_eq!(d("[\"a\"] x"), Err(DecodeError::BrokenJson));
        assert_eq!(d("[\"a\nb\"]"), Err(DecodeError::BrokenJson));
        assert_eq!(d("\"a\""), Err(DecodeError::BrokenJson));
    }

    #[test]
    fn escapes_and_surrogates() {
        assert_eq!(
            d(r#"["\"\\\/\b\f\n\r\t\u0000\u2028"]"#).unwrap(),
            vec!["\"\\/\u{8}\u{c}\n\r\t\u{0}\u{2028}"]
        );
        assert_eq!(d(r#"["\ud83d\ude00"]"#).unwrap(), vec!["😀"]);
        assert_eq!(d(r#"["\ud83dx"]"#).unwrap(), vec!["\u{FFFD}x"]);
        assert_eq!(d(r#"["\ude00\ud83d"]"#).unwrap(), vec!["\u{FFFD}\u{FFFD}"]);
        assert_eq!(d(r#"["\ud83d\u0041"]"#).unwrap(), vec!["\u{FFFD}A"]);
        assert_eq!(d(r#"["\u12"]"#), Err(DecodeError::BrokenJson));
        assert_eq!(d("[\"\u{10FFFF}\"]").unwrap(), vec!["\u{10FFFF}"]);
    }

    #[test]
    fn invalid_utf8_is_broken() {
        assert_eq!(
            decode_messages(b"[\"\xff\"]", DecodeLimits::default()),
            Err(DecodeError::BrokenJson)
        );
    }

    #[test]
    fn limits() {
        let l = DecodeLimits {
            max_bytes: 3,
            max_messages: 2,
        };
        assert!(decode_messages(br#"["abc"]"#, l).is_ok());
        assert_eq!(decode_messages(br#"["abcd"]"#, l), Err(DecodeError::TooLarge));
        // The limit is on decoded size: 6 escaped bytes decode to 1.
        assert!(decode_messages(
            br#"["\u0041"]"#,
            DecodeLimits {
                max_bytes: 1,
                max_messages: 1
            }
        )
        .is_ok());
        assert_eq!(decode_messages(br#"["","",""]"#, l), Err(DecodeError::TooManyMessages));
    }

    #[test]
    fn form_payload() {
        assert_eq!(
            &*jsonp_send_payload(b"x=1&d=%5B%22a+b%22%5D", true).unwrap(),
            b"[\"a b\"]"
        );
        assert_eq!(jsonp_send_payload(b"x=1", true), Err(DecodeError::PayloadExpected));
        assert_eq!(jsonp_send_payload(b"d=", true), Err(DecodeError::PayloadExpected));
        assert_eq!(percent_decode(b"%zz%4", false), b"%zz%4");
    }
}
