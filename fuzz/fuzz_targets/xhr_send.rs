//! `decode_messages`, the `xhr_send` (and websocket) payload decoder, checked
//! against serde_json and against its own limits:
//! - whatever serde_json decodes as an array of strings, we decode the same;
//! - we accept more than serde_json only for lone UTF-16 surrogate escapes,
//!   which we replace with U+FFFD (documented policy);
//! - a result within `DecodeLimits` is the unlimited result; `TooLarge` and
//!   `TooManyMessages` are only reported when a prefix of the payload really
//!   exceeds the limit;
//! - decoded messages re-encode to a frame that decodes to them again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{decode_messages, encode_messages, DecodeError, DecodeLimits};

fn limits(a: u8, b: u8) -> DecodeLimits {
    DecodeLimits {
        max_bytes: if a == u8::MAX { usize::MAX } else { usize::from(a) * 4 },
        max_messages: if b == u8::MAX { usize::MAX } else { usize::from(b % 16) },
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, body @ ..] = data else { return };
    let unlimited = decode_messages(body, DecodeLimits::default());

    match serde_json::from_slice::<Vec<String>>(body) {
        Ok(v) => assert_eq!(unlimited.as_ref(), Ok(&v), "serde_json agrees on {body:?}"),
        Err(_) => match &unlimited {
            // Only the lone-surrogate policy lets us accept what serde_json
            // refuses, and that policy always leaves a U+FFFD behind.
            Ok(v) => assert!(v.iter().any(|m| m.contains('\u{FFFD}')), "accepted {body:?} as {v:?}"),
            Err(DecodeError::PayloadExpected) => {
                assert!(body.iter().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')))
            }
            Err(DecodeError::BrokenJson) => {}
            Err(e) => panic!("unlimited decode reported {e:?}"),
        },
    }

    let l = limits(*a, *b);
    match decode_messages(body, l) {
        Ok(v) => {
            assert_eq!(unlimited.as_ref(), Ok(&v));
            assert!(v.len() <= l.max_messages);
            assert!(v.iter().map(String::len).sum::<usize>() <= l.max_bytes);
        }
        Err(DecodeError::TooLarge) => {
            if let Ok(all) = &unlimited {
                assert!(all.iter().map(String::len).sum::<usize>() > l.max_bytes);
            }
        }
        Err(DecodeError::TooManyMessages) => {
            if let Ok(all) = &unlimited {
                assert!(all.len() > l.max_messages);
            }
        }
        Err(e) => {
            assert_eq!(unlimited.as_ref(), Err(&e));
        }
    }
    if let Ok(all) = &unlimited {
        let within = all.len() <= l.max_messages && all.iter().map(String::len).sum::<usize>() <= l.max_bytes;
        assert_eq!(within, decode_messages(body, l).is_ok());
        let again = encode_messages(all);
        assert_eq!(
            decode_messages(&again.as_bytes()[1..], DecodeLimits::default()).as_ref(),
            Ok(all)
        );
    }
});
