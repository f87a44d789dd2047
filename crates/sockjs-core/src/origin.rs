//! Origin allow-list entries: exact origins and `*.` / `:*` patterns,
//! matched against a request's `Origin` header value.

/// One entry of an origin allow-list: an exact origin
/// (`https://app.example.com`, `http://localhost:8080`, `null`) or a
/// pattern whose host starts with `*.` (`https://*.example.com`: any
/// subdomain, at any depth, but not `example.com` itself) and whose port
/// may be `*` (`http://localhost:*`).
///
/// Matching is ASCII case-insensitive on the scheme and host, and exact on
/// the port: an origin without a port matches only a pattern without one
/// (browsers omit default ports from `Origin`).
///
/// ```
/// use sockjs_core::OriginPattern;
/// let p = OriginPattern::new("https://*.example.com").unwrap();
/// assert!(p.matches("https://a.b.example.com"));
/// assert!(!p.matches("https://example.com"));
/// assert!(!p.matches("http://a.example.com"));
/// assert!(!p.matches("https://a.example.com:8443"));
/// assert!(OriginPattern::new("https://example.com/path").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// Lowercase host; for a wildcard pattern, the suffix after `*`
    /// (starting with `.`).
    host: String,
    wildcard_host: bool,
    /// `None`: no port; `Some(None)`: any port; `Some(Some(p))`: exactly `p`.
    port: Option<Option<u16>>,
    null: bool,
}

/// Why an [`OriginPattern`] could not be parsed.
///
/// ```
/// use sockjs_core::OriginPattern;
/// let e = OriginPattern::new("*").unwrap_err();
/// assert!(e.to_string().starts_with("invalid origin pattern \"*\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin pattern {0:?}: expected scheme://host[:port], *.host or port * allowed, or null")]
pub struct OriginPatternError(String);

impl OriginPattern {
    /// Parses `scheme://host[:port]` (host may start with `*.`, port may
    /// be `*`) or `null`. Paths, queries, userinfo and a bare `*` are refused.
    ///
    /// ```
    /// use sockjs_core::OriginPattern;
    /// assert!(OriginPattern::new("http://localhost:*").is_ok());
    /// assert!(OriginPattern::new("null").is_ok());
    /// assert!(OriginPattern::new("https://u@example.com").is_err());
    /// assert!(OriginPattern::new("https://x.com:99999").is_err());
    /// ```
    pub fn new(pattern: &str) -> Result<OriginPattern, OriginPatternError> {
        let err = || OriginPatternError(pattern.to_owned());
        if pattern == "null" {
            return Ok(OriginPattern {
                scheme: String::new(),
                host: String::new(),
                wildcard_host: false,
                port: None,
                null: true,
            });
        }
        let (scheme, rest) = pattern.split_once("://").ok_or_else(err)?;
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
            return Err(err());
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 literal's colons are inside brackets.
            Some((h, p)) if !p.contains(']') => {
                let port = if p == "*" {
                    Some(None)
                } else {
                    Some(Some(parse_port(p).ok_or_else(err)?))
                };
                (h, port)
            }
            _ => (rest, None),
        };
        let (wildcard_host, host) = match host.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') && suffix.len() > 1 => (true, suffix),
            Some(_) => return Err(err()),
            None => (false, host),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
        if !host_ok || (!wildcard_host && host.starts_with('.')) {
            return Err(err());
        }
        Ok(OriginPattern {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            wildcard_host,
            port,
            null: false,
        })
    }

    /// True when the request `Origin` value `origin` is allowed by this pattern.
    ///
    /// ```
    /// use sockjs_core::OriginPattern;
    /// let p = OriginPattern::new("http://localhost:*").unwrap();
    /// assert!(p.matches("HTTP://LocalHost:3000"));
    /// assert!(!p.matches("http://localhost"));
    /// ```
    pub fn matches(&self, origin: &str) -> bool {
        if self.null {
            return origin == "null";
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(&self.scheme) {
            return false;
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => match parse_port(p) {
                Some(p) => (h, Some(p)),
                None => return false,
            },
            _ => (rest, None),
        };
        let port_ok = match (self.port, port) {
            (None, None) => true,
            (Some(None), Some(_)) => true,
            (Some(Some(want)), Some(got)) => want == got,
            _ => false,
        };
        if !port_ok || host.is_empty() || host.bytes().any(|b| b"/?#@ ".contains(&b)) {
            return false;
        }
        if self.wildcard_host {
            // The suffix is ASCII, so a host ending with it (ignoring ASCII
            // case) has a char boundary where the suffix starts; the check
            // keeps a non-ASCII host from panicking the slice below.
            let cut = host.len().wrapping_sub(self.host.len());
            host.len() > self.host.len()
                && host.is_char_boundary(cut)
                && host[cut..].eq_ignore_ascii_case(&self.host)
                && !host[..cut].ends_with('.')
        } else {
            host.eq_ignore_ascii_case(&self.host)
        }
    }
}

/// A port: 1 to 5 ASCII digits (no sign, no spaces) that fit a `u16`.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

impl std::str::FromStr for OriginPattern {
    type Err = OriginPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OriginPattern::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_patterns() {
        let p = |s: &str| OriginPattern::new(s).unwrap();
        assert!(p("https://example.com").matches("https://example.com"));
        assert!(p("https://example.com").matches("HTTPS://Example.COM"));
        assert!(!p("https://example.com").matches("https://example.com:443"));
        assert!(!p("https://example.com").matches("http://example.com"));
        assert!(!p("https://example.com").matches("https://example.com.evil.org"));
        assert!(!p("https://example.com").matches("https://evilexample.com"));
        assert!(p("http://localhost:8080").matches("http://localhost:8080"));
        assert!(!p("http://localhost:8080").matches("http://localhost:8081"));
        assert!(!p("http://localhost:8080").matches("http://localhost:+8080"));
        assert!(p("http://localhost:*").matches("http://localhost:1"));
        assert!(!p("http://localhost:*").matches("http://localhost"));
        let w = p("https://*.example.com");
        assert!(w.matches("https://a.example.com"));
        assert!(w.matches("https://a.b.example.com"));
        assert!(!w.matches("https://example.com"));
        assert!(!w.matches("https://.example.com"));
        assert!(!w.matches("https://a..example.com"));
        assert!(!w.matches("https://aexample.com"));
        assert!(!w.matches("https://a.example.com.evil.org"));
        assert!(!w.matches("https://evil.org/.example.com"));
        assert!(!w.matches("https://u@a.example.com"));
        assert!(!w.matches("null"));
        assert!(p("null").matches("null"));
        assert!(!p("null").matches("https://null"));
        for bad in [
            "*",
            "example.com",
            "https://",
            "https://*",
            "https://a*.b.com",
            "https://x.com/",
            "https://x.com:99999",
            "https://.x.com",
        ] {
            assert!(OriginPattern::new(bad).is_err(), "{bad}");
        }
        let [ipv6] = ["http://[::1]:8080"];
        assert!(p(ipv6).matches(ipv6));
        assert!(!p("http://[::1]").matches(ipv6));
    }

    #[test]
    fn non_ascii_hosts_do_not_panic() {
        let w = OriginPattern::new("https://*.example.com").unwrap();
        assert!(!w.matches("https://é.example.co"));
        assert!(!w.matches("https://éxample.com"));
        assert!(w.matches("https://é.example.com"));
        assert!(!OriginPattern::new("https://example.com")
            .unwrap()
            .matches("https://exämple.com"));
    }

    #[test]
    fn from_str_is_new() {
        assert_eq!("https://a.org".parse(), OriginPattern::new("https://a.org"));
        assert_eq!(
            "a.org".parse::<OriginPattern>(),
            Err(OriginPatternError("a.org".to_owned()))
        );
    }
}
