//! Session identity, rooms and broadcast through a service's `Hub`.

mod common;

use common::*;
use sockjs_server::{Config, Session, SessionSender, SockJsService};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc;

/// A service whose sessions are handed to the test, opened over xhr-polling.
async fn open_many(
    svc: &SockJsService<impl sockjs_server::Handler>,
    rx: &mut mpsc::UnboundedReceiver<Session>,
    names: &[&str],
) -> Vec<Session> {
    let mut out = Vec::new();
    for name in names {
        out.push(open_xhr(svc, rx, &format!("/x/000/{name}")).await);
    }
    out
}

/// Everything a poll returns for session `name`.
async fn poll(svc: &SockJsService<impl sockjs_server::Handler>, name: &str) -> String {
    status_text(call(svc, post(&format!("/x/000/{name}/xhr"), "")).await)
        .await
        .1
}

#[tokio::test]
async fn ids_are_unique_stable_and_senders_compare_by_session() {
    let (svc, mut rx) = capture_service(Config::new("/x"));
    let s = open_many(&svc, &mut rx, &["a", "b", "c"]).await;
    let ids: HashSet<_> = s.iter().map(Session::id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(s[0].sender().id(), s[0].id());
    assert_eq!(s[0].sender(), s[0].sender());
    assert_ne!(s[0].sender(), s[1].sender());
    // Hashing reads only the immutable `SessionId`; clippy cannot see that.
    #[allow(clippy::mutable_key_type)]
    let set: HashSet<SessionSender> = [s[0].sender(), s[0].sender(), s[1].sender()].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert_eq!(s[1].id().to_string(), s[1].sender().id().to_string());
}

#[tokio::test]
async fn typed_data_is_shared_by_the_session_and_its_senders() {
    #[derive(Clone, Debug, PartialEq)]
    struct User(&'static str);
    let (svc, mut rx) = capture_service(Config::new("/x"));
    let s = open_xhr(&svc, &mut rx, "/x/000/a").await;
    assert_eq!(s.data::<User>(), None);
    assert_eq!(s.set_data(User("ann")), None);
    let sender = s.sender();
    assert_eq!(sender.data::<User>(), Some(User("ann")));
    assert_eq!(sender.set_data(User("bob")), Some(User("ann")));
    assert_eq!(s.data::<User>(), Some(User("bob")));
    assert_eq!(sender.remove_data::<User>(), Some(User("bob")));
    assert_eq!(s.data::<User>(), None);
}

#[tokio::test]
async fn rooms_exceptions_and_filters_address_exactly_their_sessions() {
    let (svc, mut rx) = capture_service(Config::new("/x"));
    let s = open_many(&svc, &mut rx, &["a", "b", "c", "d"]).await;
    let hub = svc.hub();
    assert!(s[0].join("red") && s[1].join("red") && s[1].join("blue") && s[2].join("blue"));
    assert_eq!(hub.count("red"), 2);
    assert_eq!(hub.count("blue"), 2);
    assert_eq!(hub.count("green"), 0);
    let mut rooms = s[1].rooms();
    rooms.sort();
    assert_eq!(rooms, ["blue", "red"]);

    assert_eq!(hub.to("red").send("r1"), 2);
    // In both rooms: b gets it once.
    assert_eq!(hub.to("red").to("blue").send("rb"), 3);
    assert_eq!(hub.to("blue").except(s[2].id()).send("b-not-c"), 1);
    s[3].set_data(7u32);
    assert_eq!(hub.to_all().filter(|x| x.data::<u32>() == Some(7)).send("only-d"), 1);
    assert_eq!(hub.to_all().except(s[0].id()).send("all-but-a"), 3);

    assert_eq!(poll(&svc, "a").await, "a[\"r1\",\"rb\"]\n");
    assert_eq!(poll(&svc, "b").await, "a[\"r1\",\"rb\",\"b-not-c\",\"all-but-a\"]\n");
    assert_eq!(poll(&svc, "c").await, "a[\"rb\",\"all-but-a\"]\n");
    assert_eq!(poll(&svc, "d").await, "a[\"only-d\",\"all-but-a\"]\n");

    assert!(s[1].leave("red"));
    assert!(!s[1].leave("red"));
    assert_eq!(hub.count("red"), 1);
    assert_eq!(s[1].rooms(), ["blue"]);
}

#[tokio::test]
async fn closing_sessions_leave_their_rooms_and_close_room_closes_them() {
    let (svc, mut rx) = capture_service(Config::new("/x"));
    let s = open_many(&svc, &mut rx, &["a", "b", "c"]).await;
    let hub = svc.hub();
    for x in &s {
        x.join("room");
    }
    s[0].close(3000, "bye");
    assert_eq!(hub.count("room"), 2);
    assert_eq!(hub.to("room").send("after a left"), 2);
    assert!(!s[0].join("other"), "a closed session joins nothing");
    assert_eq!(hub.close_room("room", 4000, "room closed"), 2);
    assert_eq!(hub.count("room"), 0);
    assert_eq!(poll(&svc, "b").await, "a[\"after a left\"]\n");
    assert_eq!(poll(&svc, "b").await, "c[4000,\"room closed\"]\n");
    assert_eq!(poll(&svc, "a").await, "c[3000,\"bye\"]\n");
    assert_eq!(hub.to_all().send("nobody"), 0);
}

#[tokio::test]
async fn broadcasts_from_one_task_arrive_in_order_everywhere() {
    let (svc, mut rx) = capture_service(Config::new("/x"));
    let _s = open_many(&svc, &mut rx, &["a", "b", "c"]).await;
    let hub = svc.hub();
    for i in 0..1000 {
        assert_eq!(hub.to_all().send(i.to_string()), 3);
    }
    let expected: Vec<String> = (0..1000).map(|i| format!("\"{i}\"")).collect();
    let expected = format!("a[{}]\n", expected.join(","));
    for name in ["a", "b", "c"] {
        assert_eq!(poll(&svc, name).await, expected, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_recipient_never_stalls_a_broadcast_and_is_closed_after_the_deadline() {
    let config = Config::new("/x")
        .max_queued(4, 1 << 20)
        .slow_consumer_timeout(Some(Duration::from_secs(30)))
        .disconnect_delay(Duration::from_secs(600));
    let (svc, mut rx) = capture_service(config);
    let _s = open_many(&svc, &mut rx, &["slow", "fast"]).await;
    let hub = svc.hub();
    // Nobody polls "slow": its queue passes its bound of 4, and every
    // broadcast still returns at once, queued for both.
    for i in 0..10 {
        assert_eq!(hub.to_all().send(format!("m{i}")), 2);
    }
    let first: Vec<String> = (0..10).map(|i| format!("\"m{i}\"")).collect();
    assert_eq!(poll(&svc, "fast").await, format!("a[{}]\n", first.join(",")));
    tokio::time::advance(Duration::from_secs(31)).await;
    // Over its bound for longer than the slow-consumer timeout: the next
    // broadcast is still queued, then the session closes.
    assert_eq!(hub.to_all().send("m10"), 2);
    assert_eq!(hub.to_all().send("m11"), 1);
    let all: Vec<String> = (0..11).map(|i| format!("\"m{i}\"")).collect();
    // Everything queued before the close is delivered, then the close frame.
    assert_eq!(poll(&svc, "slow").await, format!("a[{}]\n", all.join(",")));
    assert_eq!(poll(&svc, "slow").await, "c[1013,\"Slow consumer\"]\n");
    assert_eq!(poll(&svc, "fast").await, "a[\"m10\",\"m11\"]\n");
}

#[tokio::test]
async fn a_recipient_four_times_over_its_bounds_is_closed_at_once() {
    let config = Config::new("/x")
        .max_queued(4, 1 << 20)
        .disconnect_delay(Duration::from_secs(600));
    let (svc, mut rx) = capture_service(config);
    let _s = open_many(&svc, &mut rx, &["slow"]).await;
    let hub = svc.hub();
    let mut queued = 0;
    while hub.to_all().send(format!("m{queued}")) == 1 {
        queued += 1;
        assert!(queued <= 17, "never closed");
    }
    // 4 × 4 messages are allowed; the 17th closes it (after being queued).
    assert_eq!(queued, 17);
    let all: Vec<String> = (0..17).map(|i| format!("\"m{i}\"")).collect();
    assert_eq!(poll(&svc, "slow").await, format!("a[{}]\n", all.join(",")));
    assert_eq!(poll(&svc, "slow").await, "c[1013,\"Slow consumer\"]\n");
}

#[tokio::test(start_paused = true)]
async fn expired_sessions_leave_the_hub() {
    let config = Config::new("/x").disconnect_delay(Duration::from_secs(5));
    let (svc, mut rx) = capture_service(config);
    let s = open_many(&svc, &mut rx, &["a"]).await;
    s[0].join("room");
    assert_eq!(svc.hub().count("room"), 1);
    // Nobody polls: the session expires after the disconnect delay, and
    // leaves the hub before its close is reported.
    let closed = tokio::time::timeout(Duration::from_secs(60), s[0].closed())
        .await
        .expect("expired");
    assert_eq!((closed.code, closed.reason.as_str()), (1000, "Session timed out"));
    assert_eq!(svc.hub().count("room"), 0);
    assert_eq!(svc.hub().to_all().send("x"), 0);
    assert!(s[0].rooms().is_empty());
}

#[tokio::test]
async fn a_broadcast_is_wrapped_right_for_every_receiver() {
    let (svc, mut rx) = capture_service(Config::new("/x"));
    let _s = open_many(&svc, &mut rx, &["es", "hf", "jp", "xs"]).await;
    let mut es = call(&svc, get("/x/000/es/eventsource")).await.into_body();
    assert_eq!(chunk(&mut es).await.unwrap(), "\r\n");
    let mut hf = call(&svc, get("/x/000/hf/htmlfile?c=cb")).await.into_body();
    assert!(chunk(&mut hf).await.unwrap().contains("parent.cb;"));
    let mut xs = call(&svc, post("/x/000/xs/xhr_streaming", "")).await.into_body();
    assert_eq!(chunk(&mut xs).await.unwrap().len(), 2049);
    let jp = call(&svc, get("/x/000/jp/jsonp?c=cb"));
    // The same message, alone in each queue: the xhr and eventsource
    // receivers send its prebuilt shared chunk, the others wrap it.
    assert_eq!(svc.hub().to_all().send("x<y>\u{2028}"), 4);
    assert_eq!(chunk(&mut es).await.unwrap(), "data: a[\"x<y>\\u2028\"]\r\n\r\n");
    assert_eq!(
        chunk(&mut hf).await.unwrap(),
        "<script>\np(\"a[\\\"x\\u003cy\\u003e\\\\u2028\\\"]\");\n</script>\r\n"
    );
    assert_eq!(chunk(&mut xs).await.unwrap(), "a[\"x<y>\\u2028\"]\n");
    assert_eq!(
        text(jp.await.into_body()).await,
        "/**/cb(\"a[\\\"x<y>\\\\u2028\\\"]\");\r\n"
    );
}

/// An in-process cluster adapter: every service linked through it is a
/// node, and a publish hands the envelope straight to the other nodes'
/// hubs. It exercises the adapter interface (what travels, what stays, the
/// order of calls); `sockjs-redis` runs the same rules over Redis.
#[derive(Clone, Default)]
struct InProcess {
    nodes: std::sync::Arc<std::sync::Mutex<Vec<sockjs_server::Hub>>>,
}

struct InProcessLink {
    nodes: std::sync::Arc<std::sync::Mutex<Vec<sockjs_server::Hub>>>,
    me: usize,
}

impl sockjs_server::Cluster for InProcess {
    fn link(&self, _service: &str, hub: sockjs_server::Hub) -> std::sync::Arc<dyn sockjs_server::ClusterLink> {
        let mut nodes = self.nodes.lock().unwrap();
        nodes.push(hub);
        std::sync::Arc::new(InProcessLink {
            nodes: self.nodes.clone(),
            me: nodes.len() - 1,
        })
    }
}

impl sockjs_server::ClusterLink for InProcessLink {
    fn publish(
        &self,
        envelope: sockjs_server::Envelope,
    ) -> sockjs_server::BoxFuture<'static, Result<usize, sockjs_server::ClusterError>> {
        let nodes = self.nodes.lock().unwrap().clone();
        let mut others = 0;
        for (i, hub) in nodes.iter().enumerate() {
            if i != self.me {
                hub.deliver(&envelope);
                others += 1;
            }
        }
        Box::pin(std::future::ready(Ok(others)))
    }

    fn query(
        &self,
        query: sockjs_server::Query,
    ) -> sockjs_server::BoxFuture<'static, Result<Vec<sockjs_server::NodeReport>, sockjs_server::ClusterError>> {
        let nodes = self.nodes.lock().unwrap().clone();
        let reports = nodes
            .iter()
            .enumerate()
            .map(|(i, hub)| hub.report(&format!("n{i}"), &query))
            .collect();
        Box::pin(std::future::ready(Ok(reports)))
    }
}

#[tokio::test]
async fn a_cluster_adapter_carries_broadcasts_but_not_filters_exceptions_or_local_ones() {
    let cluster = InProcess::default();
    let (a, mut ra) = capture_service(Config::new("/x").cluster(cluster.clone()));
    let (b, mut rb) = capture_service(Config::new("/x").cluster(cluster.clone()));
    let sa = open_many(&a, &mut ra, &["a1", "a2"]).await;
    let sb = open_many(&b, &mut rb, &["b1"]).await;
    let (ha, hb) = (a.hub(), b.hub());
    assert!(ha.is_clustered() && !svc_unclustered().hub().is_clustered());
    assert!(sa[0].join("red") && sb[0].join("red"));

    let sent = ha.to_all().except(sa[1].id()).publish("all-but-a2").await;
    assert_eq!((sent.local, sent.remote), (1, Ok(1)));
    assert_eq!(ha.to_all().local().send("a-only"), 2);
    assert_eq!(ha.to_all().filter(|s| s.id() == sa[1].id()).send("filtered"), 1);
    assert_eq!(hb.to("red").send("red"), 1);
    // Published in call order even when awaited in the reverse order.
    let (first, second) = (hb.to_all().publish("1st"), hb.to_all().publish("2nd"));
    assert_eq!(second.await.remote, Ok(1));
    assert_eq!(first.await.local, 1);

    assert_eq!(
        poll(&a, "a1").await,
        "a[\"all-but-a2\",\"a-only\",\"red\",\"1st\",\"2nd\"]\n"
    );
    assert_eq!(poll(&a, "a2").await, "a[\"a-only\",\"filtered\",\"1st\",\"2nd\"]\n");
    assert_eq!(poll(&b, "b1").await, "a[\"all-but-a2\",\"red\",\"1st\",\"2nd\"]\n");

    assert_eq!(hb.cluster_count(Some("red")).await, Ok(2));
    assert_eq!(ha.cluster_count(None).await, Ok(3));
    let mut red: Vec<(String, u64)> = hb
        .cluster_sessions(Some("red"))
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.node, s.id))
        .collect();
    red.sort();
    assert_eq!(
        red,
        [("n0".to_owned(), sa[0].id().get()), ("n1".to_owned(), sb[0].id().get())]
    );
}

fn svc_unclustered() -> SockJsService<impl sockjs_server::Handler> {
    capture_service(Config::new("/x")).0
}

#[tokio::test]
async fn without_a_cluster_publish_and_presence_are_local() {
    let (svc, mut rx) = capture_service(Config::new("/x"));
    let s = open_many(&svc, &mut rx, &["a"]).await;
    let hub = svc.hub();
    s[0].join("room");
    let sent = hub.to_all().publish("x").await;
    assert_eq!((sent.local, sent.remote), (1, Ok(0)));
    assert_eq!(hub.cluster_count(Some("room")).await, Ok(1));
    let all = hub.cluster_sessions(None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].node.as_str(), all[0].id), ("local", s[0].id().get()));
}
