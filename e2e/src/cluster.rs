//! `--redis URL`: the test server as one node of a cluster. `/broadcast`
//! then reaches the sessions of every node (through `sockjs-redis`), and
//! `/_stats` (with `--stats`) adds the adapter's counters and the messages
//! whose cross-node part it reported as not delivered.

use sockjs_redis::RedisCluster;
use sockjs_server::Hub;
use std::sync::{Arc, Mutex};

/// The most undelivered messages `/_stats` lists (the count goes on).
const MAX_LISTED: usize = 10_000;

/// The node's adapter and what it could not deliver.
#[derive(Clone)]
pub(crate) struct ClusterMode {
    pub(crate) cluster: RedisCluster,
    undelivered: Arc<Mutex<Vec<String>>>,
}

impl ClusterMode {
    pub(crate) fn new(url: &str, node: &str) -> Result<ClusterMode, String> {
        let cluster = RedisCluster::new(url, node).map_err(|e| format!("--redis: {e}"))?;
        Ok(ClusterMode {
            cluster,
            undelivered: Arc::default(),
        })
    }

    /// `/broadcast` with a cluster: `m` to every session of every node. A
    /// message whose cross-node part fails is recorded (the local part was
    /// delivered regardless).
    pub(crate) fn publish(&self, hub: &Hub, m: String) {
        // Queued here and for the other nodes now, in order; only the
        // outcome is awaited, off the session's loop.
        let sent = hub.to_all().publish(m.as_str());
        let undelivered = self.undelivered.clone();
        tokio::spawn(async move {
            if sent.await.remote.is_err() {
                let mut u = undelivered.lock().unwrap_or_else(|e| e.into_inner());
                if u.len() < MAX_LISTED {
                    u.push(m);
                }
            }
        });
    }

    /// The `"_cluster"` member of `/_stats`.
    pub(crate) fn stats_json(&self) -> String {
        let s = self.cluster.stats();
        let listed = self.undelivered.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let listed = serde_json::to_string(&listed).unwrap_or_else(|_| "[]".into());
        format!(
            "{{\"node\":{},\"connected\":{},\"published\":{},\"undelivered\":{},\"received\":{},\"connects\":{},\"undelivered_messages\":{listed}}}",
            serde_json::to_string(self.cluster.node()).unwrap_or_default(),
            s.connected,
            s.published,
            s.undelivered,
            s.received,
            s.connects,
        )
    }
}
