//! The fixed documents that embed configured strings: the iframe page
//! (`sockjs_url` in a `src` attribute) and `/info` (`base_url` in JSON).
//! - the iframe page is the fixed markup with one attribute value, which
//!   holds no raw `"`, `<`, `>` and unescapes back to the URL;
//! - `/info` is valid JSON with exactly the fields asked for, the
//!   `base_url` string round-trips, and no `must_escape` character is raw.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{iframe_page, info_json, must_escape};

fn html_attr_unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

// Input layout: one flags byte (websocket, cookie_needed, with_origins,
// base_url present), four bytes of entropy, then the URL as lossy UTF-8.
fuzz_target!(|data: &[u8]| {
    let [flags, e0, e1, e2, e3, rest @ ..] = data else {
        return;
    };
    let url = String::from_utf8_lossy(rest);
    let url = url.as_ref();

    let page = iframe_page(url);
    let base = iframe_page("");
    let (head, tail) = base.split_once("<script src=\"\"").expect("fixed markup");
    let value = page
        .strip_prefix(head)
        .and_then(|p| p.strip_prefix("<script src=\""))
        .and_then(|p| p.strip_suffix(tail))
        .and_then(|p| p.strip_suffix('"'))
        .expect("the page is the fixed markup around one attribute value");
    assert!(!value.contains(['"', '<', '>']), "{value:?}");
    assert_eq!(html_attr_unescape(value), url);

    let (ws, cookie, origins, with_base) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0, flags & 8 != 0);
    let entropy = u32::from_le_bytes([*e0, *e1, *e2, *e3]);
    let info = info_json(ws, cookie, origins, entropy, with_base.then_some(url));
    assert!(!info.chars().any(must_escape), "{info:?}");
    let v: serde_json::Value = serde_json::from_str(&info).expect("valid JSON");
    let obj = v.as_object().expect("an object");
    assert_eq!(obj.len(), 3 + usize::from(origins) + usize::from(with_base), "{info}");
    assert_eq!(obj["websocket"], ws);
    assert_eq!(obj["cookie_needed"], cookie);
    assert_eq!(obj["entropy"], entropy);
    if origins {
        assert_eq!(obj["origins"], serde_json::json!(["*:*"]));
    }
    if with_base {
        assert_eq!(obj["base_url"], url);
    }
});
