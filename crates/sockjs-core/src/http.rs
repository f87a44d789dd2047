//! Small readers of request header values and the query string.
//!
//! Pure string functions: the caller hands in the raw query string or the
//! header values it holds (as `&str`; values that are not visible ASCII are
//! the caller's to skip), so this crate needs no HTTP types.

use crate::decode::percent_decode;

/// Why a query parameter could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The percent-decoded value is not UTF-8.
    #[error("query parameter is not valid UTF-8")]
    NotUtf8,
}

/// The value of the first `name=value` pair of `query` (the part of the
/// URL after `?`, without the `?`) whose name is one of `names`.
///
/// Pairs are separated by `&`; a pair without `=` has an empty value. Names
/// and values are percent-decoded with `+` as a space (form encoding)
/// before the names are compared and the value is returned. `None` when no
/// pair has one of the names; `Some(Err(_))` when the first such pair's
/// decoded value is not UTF-8.
///
/// ```
/// use sockjs_core::{query_param, QueryError};
/// assert_eq!(query_param("t=1&c=a%2Eb+c", &["c", "callback"]), Some(Ok("a.b c".to_owned())));
/// assert_eq!(query_param("callback=x&c=y", &["c", "callback"]), Some(Ok("x".to_owned())));
/// assert_eq!(query_param("%63", &["c"]), Some(Ok(String::new())));
/// assert_eq!(query_param("c=%ff", &["c"]), Some(Err(QueryError::NotUtf8)));
/// assert_eq!(query_param("cb=x", &["c"]), None);
/// ```
pub fn query_param(query: &str, names: &[&str]) -> Option<Result<String, QueryError>> {
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k.as_bytes(), true);
        if names.iter().any(|n| key == n.as_bytes()) {
            return Some(String::from_utf8(percent_decode(v.as_bytes(), true)).map_err(|_| QueryError::NotUtf8));
        }
    }
    None
}

/// The value of cookie `name` in the `Cookie` header values `headers`: the
/// first `name=value` pair, across every value in order, whose name is
/// `name`. Pairs are separated by `;`; name and value are trimmed of
/// whitespace; the value is not unquoted or decoded.
///
/// ```
/// use sockjs_core::cookie_value;
/// assert_eq!(cookie_value(["a=1; b = 2 "], "b"), Some("2"));
/// assert_eq!(cookie_value(["a=1", "b=2; b=3"], "b"), Some("2"));
/// assert_eq!(cookie_value(["a=1; b"], "b"), None);
/// ```
pub fn cookie_value<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers.into_iter().flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// The `JSESSIONID` value to echo in `Set-Cookie` (for load balancers'
/// sticky sessions), given the request's `Cookie` header values: the
/// request's `JSESSIONID` (see [`cookie_value`]) when it is non-empty and
/// made only of RFC 6265 cookie-octets (so echoing it cannot inject
/// attributes or break the header), else `"dummy"`.
///
/// ```
/// use sockjs_core::jsessionid_value;
/// assert_eq!(jsessionid_value(["a=1; JSESSIONID=abc"]), "abc");
/// assert_eq!(jsessionid_value(["JSESSIONID=a\"b"]), "dummy");
/// assert_eq!(jsessionid_value(["JSESSIONID="]), "dummy");
/// assert_eq!(jsessionid_value([]), "dummy");
/// ```
pub fn jsessionid_value<'a>(headers: impl IntoIterator<Item = &'a str>) -> &'a str {
    cookie_value(headers, "JSESSIONID")
        .filter(|v| !v.is_empty() && v.bytes().all(is_cookie_octet))
        .unwrap_or("dummy")
}

/// RFC 6265 `cookie-octet`: visible ASCII but `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// True when one of the comma-separated elements of the header values
/// `values` (e.g. every `Connection` header of a request) is `token`,
/// ignoring surrounding whitespace and ASCII case.
///
/// ```
/// use sockjs_core::header_has_token;
/// assert!(header_has_token(["keep-alive, Upgrade"], "upgrade"));
/// assert!(header_has_token(["keep-alive", "upgrade"], "upgrade"));
/// assert!(!header_has_token(["upgraded"], "upgrade"));
/// ```
pub fn header_has_token<'a>(values: impl IntoIterator<Item = &'a str>, token: &str) -> bool {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// True when the `If-None-Match` header values `values` match the entity
/// tag `etag` (given with its quotes, as sent in `ETag`): one of their
/// comma-separated elements, trimmed, is `etag` exactly or `*`.
///
/// ```
/// use sockjs_core::etag_matches;
/// assert!(etag_matches(["\"x\", \"abc\""], "\"abc\""));
/// assert!(etag_matches(["*"], "\"abc\""));
/// assert!(!etag_matches(["\"ABC\""], "\"abc\""));
/// assert!(!etag_matches([], "\"abc\""));
/// ```
pub fn etag_matches<'a>(values: impl IntoIterator<Item = &'a str>, etag: &str) -> bool {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        let names = ["c", "callback"];
        assert_eq!(query_param("", &names), None);
        assert_eq!(query_param("c", &names), Some(Ok(String::new())));
        assert_eq!(query_param("c=", &names), Some(Ok(String::new())));
        assert_eq!(query_param("c=a=b", &names), Some(Ok("a=b".to_owned())));
        assert_eq!(query_param("%63=x", &names), Some(Ok("x".to_owned())));
        assert_eq!(query_param("c%3Dx=y", &names), None);
        assert_eq!(query_param("call+back=x&callback=y", &names), Some(Ok("y".to_owned())));
        assert_eq!(query_param("c=%e2%80%a8", &names), Some(Ok("\u{2028}".to_owned())));
        assert_eq!(query_param("c=%4", &names), Some(Ok("%4".to_owned())));
        // The first matching pair decides, even when its value is bad.
        assert_eq!(query_param("c=%c3&c=ok", &names), Some(Err(QueryError::NotUtf8)));
        assert_eq!(query_param("a&&b", &[""]), Some(Ok(String::new())));
    }

    #[test]
    fn cookies() {
        assert_eq!(cookie_value(["a=1; JSESSIONID=abc"], "JSESSIONID"), Some("abc"));
        assert_eq!(cookie_value(["JSESSIONID = x=y ;"], "JSESSIONID"), Some("x=y"));
        assert_eq!(cookie_value(["jsessionid=abc"], "JSESSIONID"), None);
        assert_eq!(cookie_value(Vec::<&str>::new(), "a"), None);
        assert_eq!(jsessionid_value(["a=1; JSESSIONID=abc"]), "abc");
        assert_eq!(jsessionid_value(["JSESSIONID=a\"b"]), "dummy");
        assert_eq!(jsessionid_value(["JSESSIONID=a b"]), "dummy");
        assert_eq!(jsessionid_value(["JSESSIONID=a,b"]), "dummy");
        assert_eq!(jsessionid_value(["JSESSIONID=a\\b"]), "dummy");
        assert_eq!(jsessionid_value(["JSESSIONID=é"]), "dummy");
        // Only the first JSESSIONID is considered.
        assert_eq!(jsessionid_value(["JSESSIONID=;", "JSESSIONID=ok"]), "dummy");
        assert_eq!(jsessionid_value(["x=1", "JSESSIONID=!#+-:<[]~"]), "!#+-:<[]~");
    }

    #[test]
    fn cookie_octets_are_rfc_6265() {
        let expected = |b: u8| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b',' | b';' | b'\\');
        for b in 0..=255u8 {
            assert_eq!(is_cookie_octet(b), expected(b), "{b:#x}");
        }
    }

    #[test]
    fn header_tokens() {
        assert!(header_has_token(["Upgrade"], "upgrade"));
        assert!(header_has_token([" websocket "], "WebSocket"));
        assert!(header_has_token(["a,,b, WEBSOCKET"], "websocket"));
        assert!(!header_has_token(["web socket"], "websocket"));
        assert!(!header_has_token(Vec::<&str>::new(), "websocket"));
    }

    #[test]
    fn etags() {
        assert!(etag_matches([" \"abc\" "], "\"abc\""));
        assert!(etag_matches(["\"x\"", "\"abc\""], "\"abc\""));
        assert!(etag_matches(["\"x\", *"], "\"abc\""));
        assert!(!etag_matches(["W/\"abc\""], "\"abc\""));
        assert!(!etag_matches(["abc"], "\"abc\""));
    }
}
