//! Cross-node broadcast, rooms and presence for `sockjs-server`, on Redis
//! pub/sub.
//!
//! Give every node's service a [`RedisCluster`] with a node name of its own
//! ([`sockjs_server::Config::cluster`]). Its [`sockjs_server::Hub`] then
//! reaches the sessions of every node: a broadcast (to all, to rooms, with
//! exceptions) made on any node reaches the matching sessions on every
//! node exactly once, in the order that node made it, each node encoding it
//! once for its own sessions; [`sockjs_server::Hub::cluster_count`] and
//! [`sockjs_server::Hub::cluster_sessions`] ask every node (a request and
//! replies over Redis, within [`RedisCluster::query_timeout`]).
//!
//! A chat served by one of several nodes: start the same program on each,
//! with the same Redis and a node name of its own. (It needs a Redis
//! server, so this example is compiled but not run by the doc tests; the
//! crate's tests do the same on a `redis-server` they start.)
//!
//! ```no_run
//! use sockjs_redis::RedisCluster;
//! use sockjs_server::{serve, Config, Session, SockJsService};
//!
//! async fn chat(mut session: Session) {
//!     let hub = session.hub();
//!     while let Some(msg) = session.recv().await {
//!         if msg == "/online" {
//!             // Asks every node, over Redis.
//!             let reply = match hub.cluster_count(None).await {
//!                 Ok(n) => format!("{n} online"),
//!                 Err(e) => format!("unknown: {e}"),
//!             };
//!             let _ = session.send(reply).await;
//!         } else {
//!             // Every session on every node, this one included.
//!             hub.to_all().send(msg);
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let node = std::env::var("NODE_NAME")?; // node-1, node-2, ...
//!     let cluster = RedisCluster::new("redis://127.0.0.1:6379/", node)?;
//!     let service = SockJsService::new(Config::new("/chat").cluster(cluster), chat);
//!     let shutdown = service.shutdown_handle();
//!     let on_signal = shutdown.clone();
//!     tokio::spawn(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         on_signal.trigger();
//!     });
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:8081").await?;
//!     serve(listener, service).with_graceful_shutdown(shutdown.triggered()).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Why the `redis` crate
//!
//! `redis` (redis-rs) is the most used and actively maintained Redis client
//! for Rust, and with only its `tokio-comp` feature it brings little:
//! a multiplexed connection for `PUBLISH` and a pub/sub connection. `fred`
//! reconnects and resubscribes by itself, but hides when it is
//! disconnected; this adapter must know that at every moment, to report
//! the broadcasts it cannot carry instead of losing them, so it keeps its
//! own reconnection loop (backoff from 50 ms to 1 s) on top of `redis`.
//!
//! # When Redis is down
//!
//! Local delivery goes on: each node's own sessions still get every
//! broadcast made on that node. The cross-node part of a broadcast made
//! while the adapter has no connection (or whose `PUBLISH` fails) is not
//! sent and is reported: [`sockjs_server::Broadcast::publish`] returns the
//! error, [`sockjs_server::Broadcast::send`] counts it in
//! [`ClusterStats::undelivered`] and logs the outage once. The adapter
//! reconnects with backoff, subscribes again, and cross-node delivery
//! resumes as soon as Redis answers. Broadcasts are never queued across an
//! outage, so nothing arrives late and out of order after it. What Redis
//! passed on before it went away (and confirmed to the publishing node) is
//! still delivered, even on a node whose own `PUBLISH` fails first.
//!
//! Node names must be unique: a node ignores the broadcasts that carry its
//! own name (it delivered them itself).

mod link;
mod wire;

use sockjs_server::{Cluster, ClusterLink, Hub};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a [`RedisCluster`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    /// Made outside a tokio runtime: the adapter runs a task per service.
    #[error("RedisCluster::new must be called inside a tokio runtime")]
    NoRuntime,
    /// An empty node name, or one with a `:` (channel names use it).
    #[error("node names must be non-empty and without ':'")]
    NodeName,
}

/// A cross-node adapter on Redis pub/sub: see the [crate] documentation.
/// Cloning gives another handle to the same adapter (and statistics).
#[derive(Clone)]
pub struct RedisCluster {
    conf: Arc<Conf>,
    stats: Arc<Counters>,
    runtime: tokio::runtime::Handle,
}

/// Settings shared by the links of one adapter.
#[derive(Debug, Clone)]
pub(crate) struct Conf {
    pub(crate) client: redis::Client,
    pub(crate) node: String,
    pub(crate) prefix: String,
    pub(crate) query_timeout: Duration,
    pub(crate) max_queued: usize,
    pub(crate) response_timeout: Duration,
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("node", &self.conf.node)
            .field("prefix", &self.conf.prefix)
            .finish()
    }
}

impl RedisCluster {
    /// An adapter for the Redis server at `url` (`redis://host:port/db`),
    /// for the node named `node` (unique in the cluster, without `:`). It
    /// connects when a service is built with it, and again whenever the
    /// connection drops. Call it inside a tokio runtime.
    pub fn new(url: &str, node: impl Into<String>) -> Result<RedisCluster, SetupError> {
        let node = node.into();
        if node.is_empty() || node.contains(':') {
            return Err(SetupError::NodeName);
        }
        let client = redis::Client::open(url).map_err(SetupError::Url)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SetupError::NoRuntime)?;
        Ok(RedisCluster {
            conf: Arc::new(Conf {
                client,
                node,
                prefix: "sockjs".into(),
                query_timeout: Duration::from_secs(1),
                max_queued: 65_536,
                response_timeout: Duration::from_secs(2),
            }),
            stats: Arc::default(),
            runtime,
        })
    }

    fn conf_mut(&mut self) -> &mut Conf {
        Arc::make_mut(&mut self.conf)
    }

    /// The first part of every channel name (default `sockjs`): clusters
    /// sharing a Redis server need different prefixes.
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.conf_mut().prefix = prefix.into();
        self
    }

    /// Longest wait for every node's answer to a room query (default 1 s).
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.conf_mut().query_timeout = timeout;
        self
    }

    /// Most broadcasts waiting to be published (default 65,536); past it,
    /// the cross-node part of a broadcast fails with
    /// [`sockjs_server::ClusterError::Backlog`].
    pub fn max_queued(mut self, n: usize) -> Self {
        self.conf_mut().max_queued = n.max(1);
        self
    }

    /// Longest wait for Redis to answer a command or a connection attempt
    /// (default 2 s); past it the connection counts as lost.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.conf_mut().response_timeout = timeout;
        self
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.conf.node
    }

    /// Waits until [`ClusterStats::connected`] is `connected` (at once if it
    /// already is): for a readiness check, or to act when Redis goes away
    /// or comes back. Cancel safe.
    ///
    /// ```no_run
    /// # async fn ready(cluster: sockjs_redis::RedisCluster) {
    /// // Serve only once every service's link reached Redis.
    /// cluster.wait_connected(true).await;
    /// # }
    /// ```
    pub async fn wait_connected(&self, connected: bool) {
        loop {
            let changed = self.stats.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change in between is seen.
            changed.as_mut().enable();
            if self.stats().connected == connected {
                return;
            }
            changed.await;
        }
    }

    /// What the adapter did so far, over all its services.
    pub fn stats(&self) -> ClusterStats {
        let c = &self.stats;
        ClusterStats {
            connected: {
                let links = c.links.load(Ordering::Acquire);
                links > 0 && c.links_up.load(Ordering::Acquire) == links
            },
            published: c.published.load(Ordering::Relaxed),
            undelivered: c.undelivered.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            connects: c.connects.load(Ordering::Relaxed),
        }
    }
}

/// Counters of a [`RedisCluster`], from [`RedisCluster::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Every service's link is connected to Redis right now.
    pub connected: bool,
    /// Broadcasts published to the other nodes.
    pub published: u64,
    /// Broadcasts whose cross-node part failed (reported to `publish`
    /// callers, logged for `send`).
    pub undelivered: u64,
    /// Broadcasts received from other nodes and delivered here.
    pub received: u64,
    /// Successful connections (the first one and every reconnection).
    pub connects: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Links started, and links connected now.
    pub(crate) links: AtomicU64,
    pub(crate) links_up: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) undelivered: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) connects: AtomicU64,
    /// Woken whenever `links` or `links_up` changes.
    pub(crate) changed: tokio::sync::Notify,
}

impl Counters {
    /// Adds `delta` links (started, or connected when `up`), and wakes
    /// [`RedisCluster::wait_connected`].
    pub(crate) fn links_changed(&self, up: bool, delta: i64) {
        let counter = if up { &self.links_up } else { &self.links };
        if delta >= 0 {
            counter.fetch_add(delta.unsigned_abs(), Ordering::AcqRel);
        } else {
            counter.fetch_sub(delta.unsigned_abs(), Ordering::AcqRel);
        }
        self.changed.notify_waiters();
    }
}

impl Cluster for RedisCluster {
    fn link(&self, service: &str, hub: Hub) -> Arc<dyn ClusterLink> {
        link::start(&self.runtime, self.conf.clone(), self.stats.clone(), service, hub)
    }
}
