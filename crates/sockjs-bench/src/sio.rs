//! The few Engine.IO v4 / Socket.IO v5 packets a websocket client of the
//! default namespace sees and sends, so the same loads can be put on a
//! Socket.IO server (socketioxide) as on SockJS servers.
//!
//! Over a websocket every Engine.IO packet is one text frame: its type digit
//! then its data. `0{...}` opens, `2` is the server's ping (answered by `3`),
//! `4...` carries a Socket.IO packet: `40` connects to the default namespace
//! (`40{"sid":...}` is the server's answer), `42["event",arg]` is an event.

/// The websocket path of an Engine.IO v4 server mounted at `prefix`.
pub(crate) fn websocket_path(prefix: &str) -> String {
    format!("{prefix}/socket.io/?EIO=4&transport=websocket")
}

/// The name of the one event the bench sends and expects back.
pub(crate) const EVENT: &str = "msg";

/// What the client sends to join the default namespace.
pub(crate) const CONNECT: &str = "40";

/// The answer to a ping.
pub(crate) const PONG: &str = "3";

/// One packet from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    /// `0{...}`: the Engine.IO handshake.
    Open,
    /// `2`: a ping, to answer with [`PONG`].
    Ping,
    /// `40{...}`: connected to the default namespace.
    Connected,
    /// `42["msg","..."]`: the event's one string argument.
    Event(std::borrow::Cow<'a, str>),
    /// `1` (Engine.IO close) or `41` (Socket.IO disconnect), kept whole.
    Close(&'a str),
    /// Anything else (a protocol violation for a bench client).
    Invalid(&'a str),
}

/// Parses one websocket text frame.
///
/// An event whose argument needs no JSON unescaping (everything this tool
/// sends) is taken without allocating; anything else goes through
/// `serde_json`.
pub(crate) fn parse(frame: &str) -> Packet<'_> {
    match frame.as_bytes() {
        [b'0', b'{', ..] => Packet::Open,
        [b'2'] => Packet::Ping,
        [b'1'] | [b'4', b'1', ..] => Packet::Close(frame),
        [b'4', b'0', ..] => Packet::Connected,
        [b'4', b'2', ..] => event(frame).map_or(Packet::Invalid(frame), Packet::Event),
        _ => Packet::Invalid(frame),
    }
}

fn event(frame: &str) -> Option<std::borrow::Cow<'_, str>> {
    let fast = frame
        .strip_prefix("42[\"msg\",\"")
        .and_then(|r| r.strip_suffix("\"]"))
        .filter(|arg| !arg.contains(['\\', '"']));
    if let Some(arg) = fast {
        return Some(arg.into());
    }
    match serde_json::from_str::<(String, String)>(&frame[2..]) {
        Ok((name, arg)) if name == EVENT => Some(arg.into()),
        _ => None,
    }
}

/// `42["msg","<m>"]` for a message that needs no JSON escaping (those of
/// [`crate::msg`]).
pub(crate) fn encode_event(m: &str) -> String {
    format!("42[\"{EVENT}\",\"{m}\"]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_packets() {
        assert_eq!(parse(r#"0{"sid":"x","pingInterval":25000}"#), Packet::Open);
        assert_eq!(parse("2"), Packet::Ping);
        assert_eq!(parse(r#"40{"sid":"y"}"#), Packet::Connected);
        assert_eq!(parse(r#"42["msg","abc"]"#), Packet::Event("abc".into()));
        assert_eq!(parse(r#"42["msg","a\"b"]"#), Packet::Event("a\"b".into()));
        assert_eq!(parse(r#"42[ "msg" , "abc" ]"#), Packet::Event("abc".into()));
        assert_eq!(parse(r#"42["other","abc"]"#), Packet::Invalid(r#"42["other","abc"]"#));
        assert_eq!(parse("41"), Packet::Close("41"));
        assert_eq!(parse("1"), Packet::Close("1"));
        assert_eq!(parse("6"), Packet::Invalid("6"));
        assert_eq!(parse(""), Packet::Invalid(""));
    }

    #[test]
    fn encodes_events_and_paths() {
        assert_eq!(encode_event("abc"), r#"42["msg","abc"]"#);
        assert_eq!(parse(&encode_event("abc")), Packet::Event("abc".into()));
        assert_eq!(websocket_path(""), "/socket.io/?EIO=4&transport=websocket");
    }
}
