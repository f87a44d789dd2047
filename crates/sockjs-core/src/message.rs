//! Outbound messages: owned by one session, or shared by many (a broadcast)
//! with their JSON encoding computed once for all of them.

use crate::frame::quote_into;
use crate::transport::Receiver;
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

/// A message sent to many sessions at once. Cloning shares it: the text is
/// stored once, and its JSON string encoding (what an `a[...]` frame
/// carries) is computed by the first session that frames it and reused by
/// every other.
///
/// ```
/// use sockjs_core::SharedMessage;
/// let m = SharedMessage::new("say \"hi\"");
/// let copy = m.clone();
/// assert_eq!(copy.text(), "say \"hi\"");
/// assert_eq!(m.quoted(), r#""say \"hi\"""#);
/// assert!(std::ptr::eq(m.quoted(), copy.quoted()));
/// ```
#[derive(Clone)]
pub struct SharedMessage(Arc<Inner>);

struct Inner {
    text: String,
    quoted: OnceLock<String>,
    /// `a[<quoted>]`: the frame carrying this message alone.
    frame: OnceLock<Bytes>,
    /// That frame wrapped for the xhr receivers (`a[...]\n`).
    xhr: OnceLock<Bytes>,
    /// That frame wrapped for eventsource (`data: a[...]\r\n\r\n`).
    eventsource: OnceLock<Bytes>,
    /// The text itself as bytes, for transports without framing.
    raw: OnceLock<Bytes>,
}

impl std::fmt::Debug for SharedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedMessage").field(&self.0.text).finish()
    }
}

impl SharedMessage {
    /// A message carrying `text`.
    pub fn new(text: impl Into<String>) -> SharedMessage {
        SharedMessage(Arc::new(Inner {
            text: text.into(),
            quoted: OnceLock::new(),
            frame: OnceLock::new(),
            xhr: OnceLock::new(),
            eventsource: OnceLock::new(),
            raw: OnceLock::new(),
        }))
    }

    /// The message's text.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// The text as a JSON string literal with the protocol's escaping,
    /// computed once.
    pub fn quoted(&self) -> &str {
        self.0.quoted.get_or_init(|| {
            let mut out = String::with_capacity(self.0.text.len() + 2);
            quote_into(&self.0.text, &mut out);
            out
        })
    }

    /// The `a[...]` frame carrying this message alone, built once and
    /// shared (cloning `Bytes` only counts a reference): what a websocket
    /// recipient sends when this is the only message it has queued.
    ///
    /// ```
    /// use sockjs_core::SharedMessage;
    /// let m = SharedMessage::new("hi");
    /// assert_eq!(&m.frame()[..], br#"a["hi"]"#);
    /// assert_eq!(m.frame().as_ptr(), m.frame().as_ptr());
    /// ```
    pub fn frame(&self) -> Bytes {
        self.0
            .frame
            .get_or_init(|| {
                let q = self.quoted();
                let mut f = String::with_capacity(q.len() + 3);
                f.push_str("a[");
                f.push_str(q);
                f.push(']');
                Bytes::from(f)
            })
            .clone()
    }

    /// The text as bytes, copied once and shared: what a raw websocket
    /// recipient sends.
    pub fn text_bytes(&self) -> Bytes {
        self.0
            .raw
            .get_or_init(|| Bytes::copy_from_slice(self.0.text.as_bytes()))
            .clone()
    }

    /// [`SharedMessage::frame`] as text.
    fn frame_str(&self) -> &str {
        self.frame();
        // Built from a `String` just above: always UTF-8.
        self.0
            .frame
            .get()
            .map_or("", |b| std::str::from_utf8(b).unwrap_or_default())
    }

    /// The one-message frame wrapped for `receiver`, built once and shared,
    /// for the receivers whose wrapping does not depend on the request
    /// (xhr polling and streaming, eventsource); `None` for the others
    /// (htmlfile and JSONP wrap with the request's callback).
    ///
    /// ```
    /// use sockjs_core::{Receiver, SharedMessage};
    /// let m = SharedMessage::new("hi");
    /// assert_eq!(&m.wrapped(Receiver::XhrStreaming).unwrap()[..], b"a[\"hi\"]\n");
    /// assert_eq!(&m.wrapped(Receiver::EventSource).unwrap()[..], b"data: a[\"hi\"]\r\n\r\n");
    /// assert!(m.wrapped(Receiver::JsonpPolling).is_none());
    /// ```
    pub fn wrapped(&self, receiver: Receiver) -> Option<Bytes> {
        let cell = match receiver {
            Receiver::XhrPolling | Receiver::XhrStreaming => &self.0.xhr,
            Receiver::EventSource => &self.0.eventsource,
            _ => return None,
        };
        let bytes = cell.get_or_init(|| {
            let frame = self.frame();
            let frame = std::str::from_utf8(&frame).unwrap_or_default();
            let mut out = String::with_capacity(frame.len() + 10);
            receiver.wrap_frame(frame, "", &mut out);
            Bytes::from(out)
        });
        Some(bytes.clone())
    }

    /// Length of the text in bytes.
    pub fn len(&self) -> usize {
        self.0.text.len()
    }

    /// True for an empty text.
    pub fn is_empty(&self) -> bool {
        self.0.text.is_empty()
    }
}

impl From<String> for SharedMessage {
    fn from(text: String) -> Self {
        SharedMessage::new(text)
    }
}

impl From<&str> for SharedMessage {
    fn from(text: &str) -> Self {
        SharedMessage::new(text)
    }
}

/// One entry of a session's outbound queue.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outbound {
    /// A message sent to this session alone.
    Owned(String),
    /// A message shared with other sessions.
    Shared(SharedMessage),
}

impl Outbound {
    /// The message's text.
    pub fn text(&self) -> &str {
        match self {
            Outbound::Owned(s) => s,
            Outbound::Shared(m) => m.text(),
        }
    }

    /// Length of the text in bytes.
    pub fn len(&self) -> usize {
        self.text().len()
    }

    /// True for an empty text.
    pub fn is_empty(&self) -> bool {
        self.text().is_empty()
    }

    /// The text, owned: moved out of an owned message, copied out of a
    /// shared one.
    pub fn into_string(self) -> String {
        match self {
            Outbound::Owned(s) => s,
            Outbound::Shared(m) => m.text().to_owned(),
        }
    }

    /// Appends the JSON string encoding to `out` (a shared message's is
    /// computed once for all its sessions).
    pub fn quote_into(&self, out: &mut String) {
        match self {
            Outbound::Owned(s) => quote_into(s, out),
            Outbound::Shared(m) => out.push_str(m.quoted()),
        }
    }
}

/// Encodes queued messages as one `a[...]` frame.
///
/// ```
/// use sockjs_core::{encode_outbound, Outbound, SharedMessage};
/// let q = [Outbound::Owned("a".into()), Outbound::Shared(SharedMessage::new("b\n"))];
/// assert_eq!(encode_outbound(&q), "a[\"a\",\"b\\n\"]");
/// ```
pub fn encode_outbound(messages: &[Outbound]) -> String {
    let cap = messages.iter().map(|m| m.len() + 3).sum::<usize>() + 3;
    let mut out = String::with_capacity(cap);
    out.push_str("a[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        m.quote_into(&mut out);
    }
    out.push(']');
    out
}

/// The text of a frame to send: built for one session, or the prebuilt
/// one-message frame of a [`SharedMessage`], shared with every other
/// session that got the same message alone.
#[derive(Clone)]
pub enum FrameText {
    /// A frame built for this session.
    Owned(String),
    /// `a[...]` carrying exactly this message ([`SharedMessage::frame`]).
    Shared(SharedMessage),
}

impl FrameText {
    /// The frame as text.
    pub fn as_str(&self) -> &str {
        match self {
            FrameText::Owned(s) => s,
            FrameText::Shared(m) => m.frame_str(),
        }
    }

    /// The frame as bytes: moved out of an owned frame, or the shared
    /// frame's reference-counted bytes (no copy either way).
    pub fn into_bytes(self) -> Bytes {
        match self {
            FrameText::Owned(s) => Bytes::from(s),
            FrameText::Shared(m) => m.frame(),
        }
    }
}

impl std::ops::Deref for FrameText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for FrameText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for FrameText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for FrameText {}

impl PartialEq<str> for FrameText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FrameText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<String> for FrameText {
    fn from(s: String) -> Self {
        FrameText::Owned(s)
    }
}
