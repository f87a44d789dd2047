//! Origin allow-list patterns: `OriginPattern::new` on an arbitrary pattern
//! and `matches` on an arbitrary origin, both checked against a plain
//! reference parser and matcher written here, plus invariants: an exact
//! pattern matches its own text in any ASCII case, a wildcard pattern
//! matches a subdomain but never the bare domain, and matching ignores the
//! ASCII case of the origin.
//!
//! Input: the pattern, a `0xFF` byte, then the origin (each read as lossy
//! UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::OriginPattern;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Port {
    Absent,
    Any,
    Exactly(u32),
}

/// What a pattern means, as the reference reads it.
#[derive(Debug)]
enum Pat {
    Null,
    Origin {
        /// Lowercase.
        scheme: String,
        /// Lowercase; for a wildcard, the domain after `*.`.
        host: String,
        wildcard: bool,
        port: Port,
    },
}

/// Splits `authority[:port]`: the text after the last `:` is a port unless
/// it holds a `]` (the end of an IPv6 literal). `None` when it is a port
/// but not a valid one; `any_ok` allows `*`.
fn split_port(rest: &str, any_ok: bool) -> Option<(&str, Port)> {
    let Some(colon) = rest.rfind(':') else {
        return Some((rest, Port::Absent));
    };
    let tail = &rest[colon + 1..];
    if tail.contains(']') {
        return Some((rest, Port::Absent));
    }
    if any_ok && tail == "*" {
        return Some((&rest[..colon], Port::Any));
    }
    let digits_only = tail.chars().all(|c| c.is_ascii_digit());
    if tail.is_empty() || tail.len() > 5 || !digits_only {
        return None;
    }
    let mut value = 0u32;
    for c in tail.chars() {
        value = value * 10 + c.to_digit(10)?;
    }
    (value <= 65535).then_some((&rest[..colon], Port::Exactly(value)))
}

fn reference_parse(p: &str) -> Option<Pat> {
    if p == "null" {
        return Some(Pat::Null);
    }
    let sep = p.find("://")?;
    let scheme = &p[..sep];
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.');
    if !scheme_ok {
        return None;
    }
    let (authority, port) = split_port(&p[sep + 3..], true)?;
    let (wildcard, host) = if let Some(domain) = authority.strip_prefix("*.") {
        (true, domain)
    } else if authority.starts_with('*') {
        return None;
    } else {
        (false, authority)
    };
    let host_char = |c: char| c.is_ascii_alphanumeric() || "-._[]:".contains(c);
    if host.is_empty() || !host.chars().all(host_char) || (!wildcard && host.starts_with('.')) {
        return None;
    }
    Some(Pat::Origin {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        wildcard,
        port,
    })
}

fn reference_matches(pat: &Pat, origin: &str) -> bool {
    let Pat::Origin {
        scheme,
        host,
        wildcard,
        port,
    } = pat
    else {
        return origin == "null";
    };
    let lower = origin.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix(&format!("{scheme}://")) else {
        return false;
    };
    let Some((authority, got)) = split_port(rest, false) else {
        return false;
    };
    let port_ok = match (port, got) {
        (Port::Any, Port::Exactly(_)) => true,
        (want, got) => *want == got,
    };
    if !port_ok || authority.is_empty() || authority.chars().any(|c| "/?#@ ".contains(c)) {
        return false;
    }
    if !*wildcard {
        return authority == host;
    }
    // A non-empty subdomain part, joined to the domain by exactly one dot.
    let a = authority.as_bytes();
    let suffix = format!(".{host}");
    a.len() > suffix.len() && a.ends_with(suffix.as_bytes()) && a[a.len() - suffix.len() - 1] != b'.'
}

fuzz_target!(|data: &[u8]| {
    let (p, o) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let pattern = String::from_utf8_lossy(p);
    let origin = String::from_utf8_lossy(o);
    let parsed = OriginPattern::new(&pattern);
    assert_eq!(parsed, pattern.parse::<OriginPattern>());
    let reference = reference_parse(&pattern);
    let (got, pat) = match (parsed, reference) {
        (Ok(got), Some(pat)) => (got, pat),
        (Err(e), None) => {
            assert!(e.to_string().contains(&format!("{pattern:?}")), "{e}");
            return;
        }
        (got, pat) => panic!("{pattern:?}: parsed as {got:?}, reference says {pat:?}"),
    };
    let want = reference_matches(&pat, &origin);
    assert_eq!(got.matches(&origin), want, "{pattern:?} on {origin:?}");

    let Pat::Origin {
        scheme,
        host,
        wildcard,
        port,
    } = &pat
    else {
        assert!(got.matches("null"));
        return;
    };
    // Scheme and host compare ignoring ASCII case; nothing else has case.
    assert_eq!(got.matches(&origin.to_ascii_uppercase()), want, "{origin:?}");
    assert_eq!(got.matches(&origin.to_ascii_lowercase()), want, "{origin:?}");
    assert!(!got.matches("null"));
    let port_text = match port {
        Port::Absent => String::new(),
        Port::Any => ":1".to_owned(),
        Port::Exactly(n) => format!(":{n}"),
    };
    if *wildcard {
        assert!(got.matches(&format!("{scheme}://x.{host}{port_text}")), "{pattern:?}");
        assert!(got.matches(&format!("{scheme}://A.b.{host}{port_text}")), "{pattern:?}");
        // Never the bare domain, nor an empty label before it.
        assert!(!got.matches(&format!("{scheme}://{host}{port_text}")), "{pattern:?}");
        assert!(!got.matches(&format!("{scheme}://.{host}{port_text}")), "{pattern:?}");
        assert!(!got.matches(&format!("{scheme}://x..{host}{port_text}")), "{pattern:?}");
    } else {
        let text = format!("{scheme}://{host}{port_text}");
        assert!(got.matches(&text), "{pattern:?}");
        assert!(got.matches(&text.to_ascii_uppercase()), "{pattern:?}");
        if *port != Port::Any {
            // An exact pattern matches its own text, in any ASCII case.
            for t in [
                pattern.to_string(),
                pattern.to_ascii_lowercase(),
                pattern.to_ascii_uppercase(),
            ] {
                assert!(got.matches(&t), "{pattern:?} on {t:?}");
            }
        }
    }
    // The port is part of the match: present when the pattern has none,
    // absent when the pattern has one.
    let label = if *wildcard { "x." } else { "" };
    let other_port = if *port == Port::Absent { ":80" } else { "" };
    assert!(
        !got.matches(&format!("{scheme}://{label}{host}{other_port}")),
        "{pattern:?}"
    );
});
