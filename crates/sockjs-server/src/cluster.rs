//! Many nodes: the interface a cross-node adapter implements under the
//! [`Hub`] (the `sockjs-redis` crate implements it on Redis pub/sub). With
//! none configured, which is the default, broadcasts and room queries stay
//! in the process and nothing here costs anything.

use crate::hub::Hub;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future, as the adapter traits return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A broadcast as it travels to the other nodes: who gets it and what.
///
/// Exceptions and filters do not travel: an exception names a session of
/// the node that broadcasts (the sender, typically), which no other node
/// has, and a filter is code. A broadcast with a filter stays on its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The rooms it is addressed to; `None`: every session.
    pub rooms: Option<Vec<String>>,
    /// The message.
    pub message: String,
}

/// What a query asks every node about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The room; `None`: every session of the service.
    pub room: Option<String>,
    /// Whether the answer lists the sessions (else only counts them).
    pub list: bool,
}

/// One node's answer to a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// Its open sessions that match.
    pub count: usize,
    /// Their ids (empty unless the query asked for the list).
    pub sessions: Vec<u64>,
}

/// A session somewhere in the cluster, as [`Hub::cluster_sessions`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeSession {
    /// The node it lives on.
    pub node: String,
    /// Its id on that node (see [`crate::Session::id`]).
    pub id: u64,
}

/// Why the cross-node part of a broadcast or a query did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The adapter has no connection to its backend (it is reconnecting).
    #[error("the cluster backend is unavailable: {0}")]
    Unavailable(String),
    /// The adapter's outgoing queue is full: the backend is slower than the
    /// broadcasts.
    #[error("the cluster adapter's queue is full")]
    Backlog,
    /// Not every node answered a query in time.
    #[error("{answered} of {expected} nodes answered in time")]
    Timeout {
        /// Nodes that answered.
        answered: usize,
        /// Nodes that got the query.
        expected: usize,
    },
    /// The adapter stopped.
    #[error("the cluster adapter stopped")]
    Stopped,
}

/// A cross-node adapter: set with [`crate::Config::cluster`]. When a service
/// is built, [`Cluster::link`] is called once with its prefix and its hub.
/// The crate documentation's [several nodes](crate#several-nodes) has a
/// complete (in-memory) adapter.
pub trait Cluster: Send + Sync + 'static {
    /// Connects the hub of service `service` (its prefix, such as `/chat`)
    /// to the other nodes: broadcasts from them are handed to
    /// [`Hub::deliver`], queries answered from [`Hub::report`].
    fn link(&self, service: &str, hub: Hub) -> Arc<dyn ClusterLink>;
}

/// One service's connection to the other nodes.
pub trait ClusterLink: Send + Sync + 'static {
    /// Sends a broadcast made on this node to every other node. Called in
    /// the order broadcasts are made, and must take the envelope in that
    /// order before it returns (the future may be dropped unawaited);
    /// never waits. The future tells how many other nodes got it, or why
    /// none did.
    fn publish(&self, envelope: Envelope) -> BoxFuture<'static, Result<usize, ClusterError>>;

    /// Asks every node, this one included, about a room; one report per
    /// node, or an error when not all answered in time.
    fn query(&self, query: Query) -> BoxFuture<'static, Result<Vec<NodeReport>, ClusterError>>;
}

/// What [`crate::Broadcast::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Sessions of this node it was queued for.
    pub local: usize,
    /// The other nodes that got it: `Ok(0)` without a cluster (or for a
    /// broadcast kept on this node), an error when the cross-node part
    /// failed (the local part happened regardless).
    pub remote: Result<usize, ClusterError>,
}
