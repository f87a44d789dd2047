//! Two nodes (two services, each with its own `RedisCluster`) on a real
//! `redis-server` started on a free port: cross-node broadcast exactly once
//! and in order, rooms and exceptions, cluster-wide presence, and a Redis
//! outage (reported, local delivery unaffected, recovery after restart,
//! nothing Redis confirmed dropped by a node whose own publish fails).
//!
//! Needs `redis-server` (Debian package `redis-server`, installed by
//! `scripts/install-services.sh`, which `scripts/test.sh` runs).

#[path = "../../sockjs-server/tests/common/mod.rs"]
mod common;

use common::*;
use sockjs_redis::RedisCluster;
use sockjs_server::{ClusterError, Config, Handler, Session, SockJsService};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

/// A `redis-server` of the test's own, stopped when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut r = Redis { port, child: None };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (again, on the same port) and waits until it
    /// accepts connections.
    fn restart(&mut self) {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/install-services.sh)");
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);
        // redis-server logs "Ready to accept connections" once it listens;
        // its log is read to the end (by a thread) so it never blocks on it.
        let (ready, is_ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready.send(());
                }
            }
        });
        is_ready
            .recv_timeout(Duration::from_secs(10))
            .expect("redis-server did not start");
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Redis {
    /// Stops the server with SIGTERM and waits until it is gone. It exits
    /// between two turns of its event loop, so a `PUBLISH` it answered was
    /// also passed to every subscriber (both are written in one turn); a
    /// SIGKILL could land between those writes.
    fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A node: a service linked through `cluster`, whose sessions are handed
/// to the test.
struct Node<H: Handler> {
    svc: SockJsService<H>,
    rx: mpsc::UnboundedReceiver<Session>,
    cluster: RedisCluster,
}

fn node(redis: &Redis, name: &str, prefix: &str) -> Node<impl Handler> {
    let cluster = RedisCluster::new(&redis.url(), name)
        .expect("valid settings")
        .channel_prefix(prefix);
    let (handler, rx) = capture_handler();
    let svc = SockJsService::new(Config::new("/x").cluster(cluster.clone()), handler);
    Node { svc, rx, cluster }
}

impl<H: Handler> Node<H> {
    async fn open(&mut self, name: &str) -> Session {
        open_xhr(&self.svc, &mut self.rx, &format!("/x/000/{name}")).await
    }

    async fn connected(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.cluster.wait_connected(true))
            .await
            .expect("the adapter connects");
    }

    /// Polls session `name` until it has `n` messages (or the wait ends).
    async fn messages(&self, name: &str, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        let started = tokio::time::Instant::now();
        while got.len() < n && started.elapsed() < Duration::from_secs(10) {
            let (status, body) = status_text(call(&self.svc, post(&format!("/x/000/{name}/xhr"), "")).await).await;
            assert_eq!(status, 200);
            if let Some(json) = body.strip_prefix('a') {
                let batch: Vec<String> = serde_json::from_str(json.trim_end()).expect("an a frame");
                got.extend(batch);
            }
        }
        got
    }
}

/// A unique channel prefix per test, so tests sharing nothing but the
/// binary never see each other's traffic even on one Redis.
fn prefix(test: &str) -> String {
    format!("t-{test}-{}", std::process::id())
}

#[tokio::test]
async fn a_broadcast_reaches_every_node_once_and_in_order() {
    let redis = Redis::start();
    let p = prefix("order");
    let (mut a, mut b) = (node(&redis, "a", &p), node(&redis, "b", &p));
    let (_a1, _a2) = (a.open("a1").await, a.open("a2").await);
    let (_b1, _b2) = (b.open("b1").await, b.open("b2").await);
    a.connected().await;
    b.connected().await;

    let hub = a.svc.hub();
    assert!(hub.is_clustered());
    for i in 0..200 {
        let sent = hub.to_all().publish(format!("m{i}")).await;
        assert_eq!(sent.local, 2, "a's own two sessions");
        assert_eq!(sent.remote, Ok(1), "one other node");
    }
    // A burst of fire-and-forget sends: one order, batched on the way.
    for i in 200..1000 {
        assert_eq!(hub.to_all().send(format!("m{i}")), 2);
    }
    let want: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    for name in ["a1", "a2"] {
        assert_eq!(
            a.messages(name, 1000).await,
            want,
            "{name}: every message once, in order"
        );
    }
    for name in ["b1", "b2"] {
        assert_eq!(
            b.messages(name, 1000).await,
            want,
            "{name}: every message once, in order"
        );
    }
    // A last one from b: the next thing every session gets, so no copy of
    // a's came back to a through Redis, and none reached b twice.
    assert_eq!(b.svc.hub().to_all().publish("end").await.remote, Ok(1));
    for name in ["a1", "a2"] {
        assert_eq!(a.messages(name, 1).await, ["end"]);
    }
    for name in ["b1", "b2"] {
        assert_eq!(b.messages(name, 1).await, ["end"]);
    }
}

#[tokio::test]
async fn rooms_and_exceptions_hold_across_nodes() {
    let redis = Redis::start();
    let p = prefix("rooms");
    let (mut a, mut b) = (node(&redis, "a", &p), node(&redis, "b", &p));
    let a1 = a.open("a1").await;
    let _a2 = a.open("a2").await;
    let b1 = b.open("b1").await;
    let b2 = b.open("b2").await;
    a.connected().await;
    b.connected().await;
    assert!(a1.join("red") && b1.join("red") && b2.join("blue"));

    // Each step is checked before the next: two nodes' broadcasts have no
    // order between them.
    // From b, to red, except b1 (the sender): only a1 gets it.
    let sent = b.svc.hub().to("red").except(b1.id()).publish("to-red").await;
    assert_eq!((sent.local, sent.remote), (0, Ok(1)));
    assert_eq!(a.messages("a1", 1).await, ["to-red"]);
    // To red and blue from a: a1, b1, b2, once each.
    let sent = a.svc.hub().to("red").to("blue").publish("to-both").await;
    assert_eq!((sent.local, sent.remote), (1, Ok(1)));
    assert_eq!(a.messages("a1", 1).await, ["to-both"]);
    assert_eq!(b.messages("b1", 1).await, ["to-both"]);
    assert_eq!(b.messages("b2", 1).await, ["to-both"]);
    // Kept on b by `local`: only b1.
    assert_eq!(b.svc.hub().to("red").local().send("local-only"), 1);
    assert_eq!(b.messages("b1", 1).await, ["local-only"]);
    // To everyone: the next (for a2, the first) message of every session,
    // so nobody got anything more than the above.
    assert_eq!(b.svc.hub().to_all().publish("end").await.remote, Ok(1));
    assert_eq!(a.messages("a1", 1).await, ["end"]);
    assert_eq!(a.messages("a2", 1).await, ["end"]);
    assert_eq!(b.messages("b1", 1).await, ["end"]);
    assert_eq!(b.messages("b2", 1).await, ["end"]);

    // Presence across the nodes.
    let (ha, hb) = (a.svc.hub(), b.svc.hub());
    assert_eq!(ha.cluster_count(Some("red")).await, Ok(2));
    assert_eq!(hb.cluster_count(Some("blue")).await, Ok(1));
    assert_eq!(hb.cluster_count(None).await, Ok(4));
    let mut red = ha.cluster_sessions(Some("red")).await.expect("both nodes answer");
    red.sort_by(|x, y| x.node.cmp(&y.node));
    let red: Vec<(String, u64)> = red.into_iter().map(|s| (s.node, s.id)).collect();
    assert_eq!(red, [("a".to_owned(), a1.id().get()), ("b".to_owned(), b1.id().get())]);
}

#[tokio::test]
async fn an_outage_is_reported_local_delivery_goes_on_and_it_recovers() {
    let mut redis = Redis::start();
    let p = prefix("outage");
    let (mut a, mut b) = (node(&redis, "a", &p), node(&redis, "b", &p));
    let _a1 = a.open("a1").await;
    let _b1 = b.open("b1").await;
    a.connected().await;
    b.connected().await;
    let hub = a.svc.hub();
    assert_eq!(hub.to_all().publish("before").await.remote, Ok(1));
    // Had before the kill: Redis answers PUBLISH as it queues the message
    // for its subscribers, and a SIGKILL right after could lose it (pub/sub
    // is at most once; docs/DEPLOYMENT.md).
    assert_eq!(b.messages("b1", 1).await, ["before"]);

    redis.kill();
    tokio::time::timeout(Duration::from_secs(10), a.cluster.wait_connected(false))
        .await
        .expect("a notices the outage");
    let undelivered_before = a.cluster.stats().undelivered;
    let during = hub.to_all().publish("during").await;
    assert_eq!(during.local, 1, "local delivery goes on");
    assert!(
        matches!(during.remote, Err(ClusterError::Unavailable(_))),
        "{:?}",
        during.remote
    );
    assert_eq!(hub.to_all().send("during-send"), 1);
    assert_eq!(a.cluster.stats().undelivered, undelivered_before + 2, "both counted");
    assert!(matches!(
        hub.cluster_count(None).await,
        Err(ClusterError::Unavailable(_))
    ));

    redis.restart();
    a.connected().await;
    b.connected().await;
    assert_eq!(hub.to_all().publish("after").await.remote, Ok(1));
    assert_eq!(a.messages("a1", 4).await, ["before", "during", "during-send", "after"]);
    // b missed exactly what was reported.
    assert_eq!(b.messages("b1", 1).await, ["after"]);
    assert!(a.cluster.stats().connects >= 2);
}

/// A broadcast Redis confirmed to its node reaches a node whose own
/// `PUBLISH` fails a moment later, as Redis goes away: the broadcast is
/// already in that node's subscription and is delivered, not dropped with
/// it. Node b runs on a runtime of its own, frozen while a publishes, Redis
/// dies and b queues a broadcast of its own: when b wakes, its `PUBLISH`
/// fails while a's message still waits in its subscription.
#[tokio::test]
async fn a_confirmed_broadcast_survives_the_receivers_failed_publish() {
    let mut redis = Redis::start();
    let p = prefix("drain");
    let b_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let b_handle = b_runtime.handle().clone();
    let (stop_b, stopped) = tokio::sync::oneshot::channel::<()>();
    let b_thread = std::thread::spawn(move || {
        b_runtime.block_on(async {
            let _ = stopped.await;
        })
    });
    let mut a = node(&redis, "a", &p);
    let mut b = {
        let _on_b = b_handle.enter();
        node(&redis, "b", &p)
    };
    let _a1 = a.open("a1").await;
    let _b1 = b.open("b1").await;
    a.connected().await;
    b.connected().await;

    // Freeze b's runtime: its link and its Redis connections stop reading.
    let (frozen_tx, frozen) = tokio::sync::oneshot::channel::<()>();
    let (thaw, thawed) = std::sync::mpsc::channel::<()>();
    b_handle.spawn(async move {
        let _ = frozen_tx.send(());
        let _ = thawed.recv();
    });
    frozen.await.expect("b's runtime froze");
    assert_eq!(
        a.svc.hub().to_all().publish("x").await.remote,
        Ok(1),
        "Redis confirmed it"
    );
    let y = b.svc.hub().to_all().publish("y");
    redis.terminate();
    thaw.send(()).expect("b's runtime thaws");

    assert!(
        matches!(y.await.remote, Err(ClusterError::Unavailable(_))),
        "b's own PUBLISH fails"
    );
    assert_eq!(
        b.messages("b1", 2).await,
        ["y", "x"],
        "a's confirmed broadcast reached b"
    );
    drop(b);
    let _ = stop_b.send(());
    b_thread.join().expect("b's runtime thread");
}

#[test]
fn settings_are_checked() {
    assert!(matches!(
        RedisCluster::new("redis://127.0.0.1/", "a"),
        Err(sockjs_redis::SetupError::NoRuntime)
    ));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let _guard = rt.enter();
    assert!(matches!(
        RedisCluster::new("redis://127.0.0.1/", "a:b"),
        Err(sockjs_redis::SetupError::NodeName)
    ));
    assert!(matches!(
        RedisCluster::new("not a url", "a"),
        Err(sockjs_redis::SetupError::Url(_))
    ));
    let c = RedisCluster::new("redis://127.0.0.1/", "a").expect("valid");
    assert_eq!(c.node(), "a");
    assert!(!c.stats().connected);
}
