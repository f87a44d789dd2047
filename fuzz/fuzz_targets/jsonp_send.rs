//! `jsonp_send_payload` then `decode_messages`, as the `jsonp_send` handler
//! runs them. A raw body is passed through untouched; a form body yields the
//! percent-decoded value of its first `d` field, exactly as the
//! `form_urlencoded` crate reads it, and an empty or missing `d` is
//! `PayloadExpected`. The decoded messages respect the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{decode_messages, jsonp_send_payload, percent_decode, DecodeError, DecodeLimits};
use std::borrow::Cow;

fuzz_target!(|data: &[u8]| {
    let [flags, max, body @ ..] = data else { return };
    let form = flags & 1 == 1;
    let got = jsonp_send_payload(body, form);
    if !form {
        assert!(matches!(&got, Ok(Cow::Borrowed(b)) if *b == body));
    } else {
        let oracle = form_urlencoded::parse(body).find(|(k, _)| k == "d").map(|(_, v)| v);
        match (&got, oracle) {
            (Ok(v), Some(o)) => {
                assert!(!v.is_empty());
                assert_eq!(String::from_utf8_lossy(v), o, "{body:?}");
            }
            (Err(DecodeError::PayloadExpected), None) => {}
            (Err(DecodeError::PayloadExpected), Some(o)) => assert!(o.is_empty(), "{body:?}"),
            (got, o) => panic!("{body:?}: got {got:?}, form_urlencoded says {o:?}"),
        }
    }
    // percent_decode never grows its input and leaves escape-free input alone.
    let pd = percent_decode(body, form);
    assert!(pd.len() <= body.len());
    let plus_decoded = form && body.contains(&b'+');
    if !body.contains(&b'%') && !plus_decoded {
        assert_eq!(pd, body);
    }

    if let Ok(payload) = got {
        let l = DecodeLimits {
            max_bytes: usize::from(*max) * 8,
            max_messages: usize::from(*max % 8),
        };
        if let Ok(v) = decode_messages(&payload, l) {
            assert!(v.len() <= l.max_messages);
            assert!(v.iter().map(String::len).sum::<usize>() <= l.max_bytes);
        }
    }
});
