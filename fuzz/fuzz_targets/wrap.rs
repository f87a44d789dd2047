//! Per-transport wrapping cannot be broken out of. For any frame text (an
//! arbitrary string, and the `a[...]` frame encoding arbitrary messages):
//! - eventsource: one `data: ...\r\n\r\n` event with no raw CR, LF or NUL in
//!   the data line, which percent-decodes back to the frame;
//! - htmlfile: one `<script>` element whose argument contains no `<`, `>` or
//!   `&` and is a JSON string equal to the frame;
//! - jsonp: one `/**/cb("...");` call whose argument is a JSON string equal to
//!   the frame;
//! - xhr: the frame followed by one newline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{encode_messages, must_escape, percent_decode, Receiver};

fn check(frame: &str) {
    let mut es = String::new();
    Receiver::EventSource.wrap_frame(frame, "", &mut es);
    let data = es
        .strip_prefix("data: ")
        .and_then(|d| d.strip_suffix("\r\n\r\n"))
        .expect("one event");
    assert!(!data.contains(['\r', '\n', '\0']), "event data breaks out: {es:?}");
    assert_eq!(percent_decode(data.as_bytes(), false), frame.as_bytes(), "{es:?}");

    let mut hf = String::new();
    Receiver::HtmlFile.wrap_frame(frame, "cb", &mut hf);
    let arg = hf
        .strip_prefix("<script>\np(")
        .and_then(|d| d.strip_suffix(");\n</script>\r\n"))
        .expect("one script element");
    assert!(!arg.contains(['<', '>', '&']), "htmlfile breaks out: {hf:?}");
    assert!(!arg.chars().any(must_escape), "{hf:?}");
    assert_eq!(serde_json::from_str::<String>(arg).expect("a JSON string"), frame);

    let mut jp = String::new();
    Receiver::JsonpPolling.wrap_frame(frame, "cb", &mut jp);
    let arg = jp
        .strip_prefix("/**/cb(")
        .and_then(|d| d.strip_suffix(");\r\n"))
        .expect("one call");
    assert!(!arg.chars().any(must_escape), "{jp:?}");
    assert_eq!(serde_json::from_str::<String>(arg).expect("a JSON string"), frame);

    for r in [Receiver::XhrPolling, Receiver::XhrStreaming] {
        let mut x = String::new();
        r.wrap_frame(frame, "", &mut x);
        assert_eq!(x, format!("{frame}\n"));
    }
}

// Input layout (readable seeds): pieces separated by `0xFF` (a byte UTF-8
// never uses), each read as lossy UTF-8. The whole input is also used as a
// raw frame text.
fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));
    let messages: Vec<String> = data
        .split(|&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let frame = encode_messages(&messages);
    check(&frame);
    // A real frame is already free of CR/LF/NUL: only `%` is rewritten.
    let mut es = String::new();
    Receiver::EventSource.wrap_frame(&frame, "", &mut es);
    assert_eq!(es, format!("data: {}\r\n\r\n", frame.replace('%', "%25")));
});
