//! Callback validation, as the server applies it: the query value is
//! percent-decoded (`+` as space), must be UTF-8, then `validate_callback`
//! checks it as a whole string. An accepted name is made only of
//! `[A-Za-z0-9_.-]`, is at most `MAX_CALLBACK_LEN` bytes, and cannot break out
//! of the JSONP call or the htmlfile prelude it is written into.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{percent_decode, validate_callback, CallbackError, Receiver, MAX_CALLBACK_LEN};

fuzz_target!(|raw: &[u8]| {
    let Ok(decoded) = String::from_utf8(percent_decode(raw, true)) else {
        return;
    };
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    let expect = if decoded.is_empty() {
        Err(CallbackError::Missing)
    } else if decoded.len() <= MAX_CALLBACK_LEN && decoded.bytes().all(allowed) {
        Ok(decoded.as_str())
    } else {
        Err(CallbackError::Invalid)
    };
    let got = validate_callback(Some(&decoded));
    assert_eq!(got, expect, "{decoded:?}");
    assert_eq!(validate_callback(None), Err(CallbackError::Missing));

    if let Ok(cb) = got {
        // The result is the input itself, not a copy with parts dropped.
        assert!(std::ptr::eq(cb, decoded.as_str()));
        let mut out = String::new();
        Receiver::JsonpPolling.wrap_frame("o", cb, &mut out);
        assert_eq!(out, format!("/**/{cb}(\"o\");\r\n"));
        let prelude = Receiver::HtmlFile.prelude(cb);
        assert!(prelude.contains(&format!("    var c = parent.{cb};\n")));
        // Exactly the fixed markup's tags and quotes: nothing the callback added.
        let base = Receiver::HtmlFile.prelude("a");
        for c in ['<', '>', '"', '\'', '&', ';', '('] {
            assert_eq!(prelude.matches(c).count(), base.matches(c).count(), "{c} in {prelude}");
        }
    }
});
