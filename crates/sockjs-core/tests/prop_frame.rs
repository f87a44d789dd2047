//! Property tests: frame encoding and payload decoding round-trip for
//! arbitrary Unicode, including every character SockJS escapes and the
//! characters around the UTF-16 surrogate range.

mod common;
use common::config;

use proptest::prelude::*;
use sockjs_core::{
    decode_messages, encode_close, encode_messages, jsonp_send_payload, must_escape, quote, DecodeError, DecodeLimits,
    Frame,
};

/// Characters weighted towards the interesting ones: JSON specials, the
/// ranges SockJS escapes, the edges of the surrogate gap, astral planes.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        1 => prop::sample::select(vec!['"', '\\', '/', '%', '<', '>', '&', '\u{7f}', '\u{D7FF}', '\u{E000}', '\u{FEFF}']),
        2 => (0u32..=0x1F).prop_map(|c| char::from_u32(c).unwrap()),
        1 => (0x200Cu32..=0x200F).prop_map(|c| char::from_u32(c).unwrap()),
        1 => (0x2028u32..=0x202F).prop_map(|c| char::from_u32(c).unwrap()),
        1 => (0x2060u32..=0x206F).prop_map(|c| char::from_u32(c).unwrap()),
        1 => (0xFFF0u32..=0xFFFF).prop_map(|c| char::from_u32(c).unwrap()),
        2 => (0x10000u32..=0x10FFFF).prop_map(|c| char::from_u32(c).unwrap()),
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), 0..24).prop_map(|v| v.into_iter().collect())
}

fn any_messages() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(any_string(), 0..8)
}

/// How a JavaScript client may spell one character in JSON: raw, with a
/// short escape, or as `\uXXXX` UTF-16 code units in either case.
fn js_encode(s: &str, style: &[u8]) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        let st = style.get(i % style.len().max(1)).copied().unwrap_or(0) % 3;
        let mut units = [0u16; 2];
        match (c, st) {
            ('"', 0) => out.push_str("\\\""),
            ('\\', 0) => out.push_str("\\\\"),
            ('/', 0) => out.push_str("\\/"),
            ('\n', 0) => out.push_str("\\n"),
            (c, 0) if (c as u32) >= 0x20 => out.push(c),
            (c, 1) => {
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            (c, _) => {
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
        }
    }
    out.push('"');
    out
}

fn unlimited() -> DecodeLimits {
    DecodeLimits::default()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn messages_round_trip(msgs in any_messages()) {
        let frame = encode_messages(&msgs);
        prop_assert_eq!(&Frame::Messages(msgs.clone()).encode(), &frame);
        prop_assert!(frame.starts_with("a[") && frame.ends_with(']'));
        prop_assert!(!frame.chars().any(must_escape), "raw escapable character in {:?}", frame);
        prop_assert_eq!(decode_messages(&frame.as_bytes()[1..], unlimited()), Ok(msgs.clone()));
        // The limits are on decoded bytes and message count: the exact totals pass.
        let exact = DecodeLimits {
            max_bytes: msgs.iter().map(String::len).sum(),
            max_messages: msgs.len(),
        };
        prop_assert_eq!(decode_messages(&frame.as_bytes()[1..], exact), Ok(msgs.clone()));
        if exact.max_bytes > 0 {
            let tight = DecodeLimits { max_bytes: exact.max_bytes - 1, ..exact };
            prop_assert_eq!(decode_messages(&frame.as_bytes()[1..], tight), Err(DecodeError::TooLarge));
        }
        if !msgs.is_empty() {
            let tight = DecodeLimits { max_messages: msgs.len() - 1, ..exact };
            prop_assert_eq!(decode_messages(&frame.as_bytes()[1..], tight), Err(DecodeError::TooManyMessages));
        }
    }

    #[test]
    fn quote_escapes_exactly_what_it_must(s in any_string()) {
        let q = quote(&s);
        prop_assert!(!q.chars().any(must_escape), "{:?}", q);
        // Every character is either copied or written as one escape.
        let wrapped = format!("[{q}]");
        prop_assert_eq!(decode_messages(wrapped.as_bytes(), unlimited()), Ok(vec![s.clone()]));
        let plain = s.chars().all(|c| !must_escape(c) && c != '"' && c != '\\');
        prop_assert_eq!(plain, q == format!("\"{s}\""));
    }

    #[test]
    fn close_frame_round_trips(code in any::<u16>(), reason in any_string()) {
        let f = encode_close(code, &reason);
        prop_assert_eq!(&Frame::Close(code, reason.clone()).encode(), &f);
        prop_assert!(!f.chars().any(must_escape));
        let prefix = format!("c[{code},");
        prop_assert!(f.starts_with(&prefix) && f.ends_with(']'));
        let as_array = format!("[{}]", &f[prefix.len()..f.len() - 1]);
        prop_assert_eq!(decode_messages(as_array.as_bytes(), unlimited()), Ok(vec![reason]));
    }

    /// What JavaScript clients send (any mix of raw characters, short escapes
    /// and `\uXXXX` code units, surrogate pairs for astral characters)
    /// decodes to the original strings, whitespace between tokens included.
    #[test]
    fn client_spellings_decode(msgs in any_messages(), style in prop::collection::vec(any::<u8>(), 1..8), ws in 0usize..4) {
        let pad = [" ", "\n", "\t", "\r\n "][ws];
        let body = format!(
            "{pad}[{pad}{}{pad}]{pad}",
            msgs.iter().map(|m| js_encode(m, &style)).collect::<Vec<_>>().join(&format!("{pad},{pad}"))
        );
        prop_assert_eq!(decode_messages(body.as_bytes(), unlimited()), Ok(msgs.clone()));
        // Also through a jsonp_send form body, percent-encoded byte by byte.
        let form: String = body.bytes().map(|b| format!("%{b:02X}")).collect();
        let form = format!("x=1&d={form}");
        let payload = jsonp_send_payload(form.as_bytes(), true).unwrap();
        prop_assert_eq!(decode_messages(&payload, unlimited()), Ok(msgs));
    }

    /// Valid surrogate pairs decode to the astral character; a lone
    /// surrogate (high or low, in any position) becomes U+FFFD and the
    /// characters around it survive.
    #[test]
    fn surrogates(astral in 0x10000u32..=0x10FFFF, lone in 0xD800u32..=0xDFFF, before in any_string(), after in any_string()) {
        let c = char::from_u32(astral).unwrap();
        let mut units = [0u16; 2];
        let [hi, lo] = *c.encode_utf16(&mut units) else { unreachable!("astral characters take two units") };
        let pair = format!(r#"["\u{hi:04x}\u{lo:04X}"]"#);
        prop_assert_eq!(decode_messages(pair.as_bytes(), unlimited()), Ok(vec![c.to_string()]));

        let (b, a) = (quote(&before), quote(&after));
        let body = format!(r#"[{}\u{lone:04x}{}]"#, &b[..b.len() - 1], &a[1..]);
        // A high surrogate followed by an escaped low surrogate in `after`
        // would be a valid pair: exclude that spelling.
        let pairs_up = (0xD800..=0xDBFF).contains(&lone) && a[1..].starts_with("\\u") && {
            let v = u32::from_str_radix(&a[3..7], 16).unwrap_or(0);
            (0xDC00..=0xDFFF).contains(&v)
        };
        prop_assume!(!pairs_up);
        prop_assert_eq!(decode_messages(body.as_bytes(), unlimited()), Ok(vec![format!("{before}\u{FFFD}{after}")]));
    }
}
