//! Outbound messages: owned by one session, or shared by many (a broadcast)
//! with their JSON encoding computed once for all of them.

use crate::frame::quote_into;
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
