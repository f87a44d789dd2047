//! What the nodes say to each other over Redis: channel names and the JSON
//! payloads of broadcasts, queries and replies.

use serde::{Deserialize, Serialize};
use sockjs_server::{Envelope, NodeReport};

/// The channels of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channels {
    /// Broadcasts, from every node to every node.
    pub(crate) broadcast: String,
    /// Queries, from one node to every node.
    pub(crate) query: String,
    /// Replies to this node's queries.
    pub(crate) reply: String,
    /// `reply` without the node: a reply to node `n` goes to `reply_base + n`.
    reply_base: String,
}

impl Channels {
    pub(crate) fn new(prefix: &str, service: &str, node: &str) -> Channels {
        let base = format!("{prefix}:{service}");
        let reply_base = format!("{base}:r:");
        Channels {
            broadcast: format!("{base}:b"),
            query: format!("{base}:q"),
            reply: format!("{reply_base}{node}"),
            reply_base,
        }
    }

    /// Where replies to `node`'s queries go.
    pub(crate) fn reply_to(&self, node: &str) -> String {
        format!("{}{node}", self.reply_base)
    }
}

/// Broadcasts made on one node, in order, published as one message.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Batch {
    /// The node that made them.
    pub(crate) n: String,
    pub(crate) b: Vec<Item>,
}

/// One broadcast of a [`Batch`].
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Item {
    /// Rooms; absent: every session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) r: Option<Vec<String>>,
    /// The message.
    pub(crate) m: String,
}

impl Item {
    pub(crate) fn from_envelope(e: Envelope) -> Item {
        Item {
            r: e.rooms,
            m: e.message,
        }
    }

    pub(crate) fn into_envelope(self) -> Envelope {
        Envelope {
            rooms: self.r,
            message: self.m,
        }
    }
}

/// A query: node `n` asks, and wants the answers tagged `i`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) n: String,
    pub(crate) i: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) r: Option<String>,
    /// List the sessions, not only count them.
    #[serde(default)]
    pub(crate) l: bool,
}

/// One node's answer to an [`Ask`].
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) n: String,
    pub(crate) i: u64,
    pub(crate) c: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) s: Vec<u64>,
}

impl Answer {
    pub(crate) fn from_report(i: u64, r: NodeReport) -> Answer {
        Answer {
            n: r.node,
            i,
            c: r.count,
            s: r.sessions,
        }
    }

    pub(crate) fn into_report(self) -> NodeReport {
        NodeReport {
            node: self.n,
            count: self.c,
            sessions: self.s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_per_service_and_node() {
        let c = Channels::new("sockjs", "/chat", "n1");
        assert_eq!(c.broadcast, "sockjs:/chat:b");
        assert_eq!(c.query, "sockjs:/chat:q");
        assert_eq!(c.reply, "sockjs:/chat:r:n1");
        assert_eq!(c.reply_to("n2"), "sockjs:/chat:r:n2");
    }

    #[test]
    fn payloads_are_compact_json() {
        let b = Batch {
            n: "n1".into(),
            b: vec![
                Item::from_envelope(Envelope {
                    rooms: None,
                    message: "hi \"you\"".into(),
                }),
                Item::from_envelope(Envelope {
                    rooms: Some(vec!["a".into()]),
                    message: "x".into(),
                }),
            ],
        };
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(text, r#"{"n":"n1","b":[{"m":"hi \"you\""},{"r":["a"],"m":"x"}]}"#);
        assert_eq!(serde_json::from_str::<Batch>(&text).unwrap(), b);
        let a = Answer {
            n: "n2".into(),
            i: 7,
            c: 2,
            s: vec![],
        };
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"n":"n2","i":7,"c":2}"#);
    }
}
