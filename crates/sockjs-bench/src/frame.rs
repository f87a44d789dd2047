//! Parsing the SockJS frames a server sends (`o`, `h`, `a[...]`, `c[...]`),
//! and encoding what a client sends (`["m1","m2"]`).

/// One frame from the server, with the messages of an `a` frame handed to a
/// callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `o`
    Open,
    /// `h`
    Heartbeat,
    /// `a[...]`, with the number of messages it carried.
    Messages(usize),
    /// `c[code,"reason"]`, kept whole.
    Close(String),
    /// Anything else (a protocol violation for a bench client).
    Invalid(String),
}

/// Parses one frame, calling `each` for every message of an `a` frame.
///
/// Messages without a backslash (everything this tool sends) are split
/// without allocating; anything else goes through `serde_json`.
pub(crate) fn parse(frame: &str, mut each: impl FnMut(&str)) -> Kind {
    match frame.as_bytes().first() {
        Some(b'o') if frame.len() == 1 => Kind::Open,
        Some(b'h') if frame.len() == 1 => Kind::Heartbeat,
        Some(b'c') => Kind::Close(frame.to_owned()),
        Some(b'a') => {
            let Some(body) = frame.strip_prefix("a[").and_then(|b| b.strip_suffix(']')) else {
                return Kind::Invalid(frame.to_owned());
            };
            if !body.contains('\\') {
                if let Some(inner) = body.strip_prefix('"').and_then(|b| b.strip_suffix('"')) {
                    let mut n = 0;
                    for m in inner.split("\",\"") {
                        each(m);
                        n += 1;
                    }
                    return Kind::Messages(n);
                }
            }
            match serde_json::from_str::<Vec<String>>(&frame[1..]) {
                Ok(v) => {
                    v.iter().for_each(|m| each(m));
                    Kind::Messages(v.len())
                }
                Err(_) => Kind::Invalid(frame.to_owned()),
            }
        }
        _ => Kind::Invalid(frame.to_owned()),
    }
}

/// Appends `["m1","m2",...]` for messages that need no JSON escaping (the
/// messages of [`crate::msg`]).
pub(crate) fn encode_array<'a>(out: &mut Vec<u8>, messages: impl IntoIterator<Item = &'a [u8]>) {
    out.push(b'[');
    for (i, m) in messages.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(m);
        out.push(b'"');
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(frame: &str) -> (Kind, Vec<String>) {
        let mut v = Vec::new();
        let k = parse(frame, |m| v.push(m.to_owned()));
        (k, v)
    }

    #[test]
    fn parses_each_frame_kind() {
        assert_eq!(all("o"), (Kind::Open, vec![]));
        assert_eq!(all("h"), (Kind::Heartbeat, vec![]));
        assert_eq!(
            all(r#"c[3000,"Go away!"]"#),
            (Kind::Close(r#"c[3000,"Go away!"]"#.into()), vec![])
        );
        assert_eq!(
            all(r#"a["x","yz"]"#),
            (Kind::Messages(2), vec!["x".into(), "yz".into()])
        );
        assert_eq!(
            all(r#"a["q\"r","\u2028"]"#),
            (Kind::Messages(2), vec!["q\"r".into(), "\u{2028}".into()])
        );
        assert_eq!(all(r#"a[""]"#), (Kind::Messages(1), vec!["".into()]));
        assert_eq!(all("a[1]"), (Kind::Invalid("a[1]".into()), vec![]));
        assert_eq!(all("oo"), (Kind::Invalid("oo".into()), vec![]));
        assert_eq!(all(""), (Kind::Invalid(String::new()), vec![]));
    }

    #[test]
    fn encodes_arrays() {
        let mut out = Vec::new();
        encode_array(&mut out, [&b"ab"[..], b"c"]);
        assert_eq!(out, br#"["ab","c"]"#);
        out.clear();
        encode_array(&mut out, std::iter::empty());
        assert_eq!(out, b"[]");
    }
}
