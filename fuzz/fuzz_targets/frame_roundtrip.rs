//! Frame encoding round trip: any list of strings encodes to an `a[...]`
//! frame that our decoder (and serde_json) turns back into the same list, and
//! the frame never carries a character SockJS must escape (`must_escape`) or a
//! raw control character. Close frames and `quote` obey the same rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{decode_messages, encode_close, encode_messages, must_escape, quote, DecodeLimits, Frame};

/// Input layout (readable seeds): two bytes of close code, then the close
/// reason and the messages, separated by `0xFF` (a byte UTF-8 never uses);
/// each piece is read as lossy UTF-8.
struct Input {
    messages: Vec<String>,
    code: u16,
    reason: String,
}

fn parse(data: &[u8]) -> Option<Input> {
    let [hi, lo, rest @ ..] = data else { return None };
    let mut pieces = rest
        .split(|&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let reason = pieces.next().unwrap_or_default();
    Some(Input {
        code: u16::from_be_bytes([*hi, *lo]),
        reason,
        messages: pieces.collect(),
    })
}

fn assert_clean(encoded: &str) {
    if let Some(c) = encoded.chars().find(|&c| must_escape(c)) {
        panic!("raw U+{:04X} in {encoded:?}", c as u32);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = parse(data) else { return };
    let frame = encode_messages(&input.messages);
    assert_eq!(Frame::Messages(input.messages.clone()).encode(), frame);
    assert_clean(&frame);
    let body = frame.strip_prefix('a').expect("a frame starts with 'a'");
    let back = decode_messages(body.as_bytes(), DecodeLimits::default()).expect("our own frame decodes");
    assert_eq!(back, input.messages);
    assert_eq!(
        serde_json::from_str::<Vec<String>>(body).expect("valid JSON"),
        input.messages
    );

    let close = encode_close(input.code, &input.reason);
    assert_clean(&close);
    let (code, reason): (u16, String) = serde_json::from_str(&close[1..]).expect("close frame is JSON");
    assert_eq!((code, reason.as_str()), (input.code, input.reason.as_str()));

    for m in &input.messages {
        let q = quote(m);
        assert_clean(&q);
        assert!(q.len() >= m.len() + 2);
        assert_eq!(serde_json::from_str::<String>(&q).unwrap(), *m);
    }
});
