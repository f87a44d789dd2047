//! The query, cookie and header readers, each against a reference:
//! `query_param` against the `form_urlencoded` crate's decoding of the
//! query, `cookie_value` and `jsessionid_value` against a plain scan of the
//! `Cookie` values joined into one, `header_has_token` against matching on
//! lowercased text, `etag_matches` against a plain element scan; plus
//! invariants (a `jsessionid_value` is always safe to echo, `*` matches any
//! tag, a value list reads as its comma-joined form).
//!
//! Input, split at `0xFF` bytes (each part read as lossy UTF-8): the query,
//! a name (an extra parameter name, the cookie name, the token and the
//! entity tag), then any number of header values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{cookie_value, etag_matches, header_has_token, jsessionid_value, query_param, QueryError};

/// The first `name=value` pair of `;`-separated `text` named `name`, both
/// sides trimmed.
fn reference_cookie<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut start = 0;
    while start <= text.len() {
        let end = text[start..].find(';').map_or(text.len(), |i| start + i);
        let pair = &text[start..end];
        if let Some(eq) = pair.find('=') {
            if pair[..eq].trim_matches(char::is_whitespace) == name {
                return Some(pair[eq + 1..].trim_matches(char::is_whitespace));
            }
        }
        start = end + 1;
    }
    None
}

/// RFC 6265 §4.1.1: `cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B /
/// %x5D-7E`, i.e. visible ASCII but DQUOTE, comma, semicolon and backslash.
fn safe_to_echo(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic() && !b"\",;\\".contains(&b))
}

fn check_query(query: &str, extra: &str) {
    let mut names = vec!["c", "callback"];
    // form_urlencoded decodes keys lossily: a name holding U+FFFD could
    // match a key whose bytes are not UTF-8 there, never here. Empty
    // names would match the empty pairs form_urlencoded skips.
    if !extra.is_empty() && !extra.contains('\u{fffd}') {
        names.push(extra);
    }
    let got = query_param(query, &names);
    let oracle = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| names.contains(&k.as_ref()))
        .map(|(_, v)| v);
    match (&got, &oracle) {
        (None, None) => {}
        (Some(Ok(v)), Some(o)) => assert_eq!(v, o, "{query:?}"),
        // The raw bytes were not UTF-8; form_urlencoded replaced them.
        (Some(Err(QueryError::NotUtf8)), Some(o)) => assert!(o.contains('\u{fffd}'), "{query:?}: {o:?}"),
        (got, o) => panic!("{query:?} {names:?}: got {got:?}, form_urlencoded says {o:?}"),
    }
    assert_eq!(query_param(query, &[]), None);
    if !query.contains('&') && !query.contains('=') && !query.contains('%') && !query.contains('+') {
        // A bare key: itself, with an empty value.
        assert_eq!(query_param(query, &[query]), Some(Ok(String::new())));
    }
}

fn check_cookies(headers: &[&str], name: &str) {
    let joined = headers.join(";");
    let got = cookie_value(headers.iter().copied(), name);
    assert_eq!(got, reference_cookie(&joined, name), "{headers:?} {name:?}");
    if let Some(v) = got {
        // A slice of one of the values, not a copy.
        let inside = |h: &&str| {
            let r = h.as_bytes().as_ptr_range();
            r.contains(&v.as_ptr()) || (v.is_empty() && v.as_ptr() == r.end)
        };
        assert!(headers.iter().any(inside));
    }
    let j = jsessionid_value(headers.iter().copied());
    let want = reference_cookie(&joined, "JSESSIONID")
        .filter(|v| safe_to_echo(v))
        .unwrap_or("dummy");
    assert_eq!(j, want, "{headers:?}");
    assert!(safe_to_echo(j));
    assert_eq!(jsessionid_value([format!("JSESSIONID={j}").as_str()]), j);
}

fn check_tokens(values: &[&str], token: &str) {
    let lower = token.to_ascii_lowercase();
    let want = values
        .iter()
        .any(|v| v.to_ascii_lowercase().split(',').any(|e| e.trim() == lower));
    assert_eq!(
        header_has_token(values.iter().copied(), token),
        want,
        "{values:?} {token:?}"
    );
    if !values.is_empty() {
        // Several values read as their comma-joined form (with none, the
        // joined form would be one empty element).
        let joined = values.join(",");
        assert_eq!(header_has_token([joined.as_str()], token), want);
    }
    let bare = !token.is_empty() && token.trim() == token && !token.contains(',');
    if bare {
        let listed = format!("keep-alive,, {} ", token.to_ascii_uppercase());
        assert!(header_has_token([listed.as_str()], token), "{listed:?}");
    }
}

fn check_etags(values: &[&str], etag: &str) {
    let mut want = false;
    for v in values {
        for e in v.split(',') {
            let e = e.trim_matches(char::is_whitespace);
            want |= e == "*" || e == etag;
        }
    }
    assert_eq!(etag_matches(values.iter().copied(), etag), want, "{values:?} {etag:?}");
    assert!(etag_matches(["*"], etag));
    assert!(!etag_matches(Vec::<&str>::new(), etag));
    if etag.trim() == etag && !etag.contains(',') {
        let listed = format!("\"other\", {etag}");
        assert!(etag_matches([listed.as_str()], etag), "{listed:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<String> = data
        .split(|&b| b == 0xff)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let query = parts[0].as_str();
    let name = parts.get(1).map_or("", String::as_str);
    let headers: Vec<&str> = parts.iter().skip(2).map(String::as_str).collect();
    check_query(query, name);
    check_cookies(&headers, name);
    check_tokens(&headers, name);
    check_etags(&headers, name);
});
