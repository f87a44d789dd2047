//! One service's link to the other nodes: a task that owns two Redis
//! connections (one publishing, one subscribed), reconnects with backoff,
//! publishes this node's broadcasts in order, delivers the other nodes',
//! and runs room queries.

use crate::wire::{Answer, Ask, Batch, Channels, Item};
use crate::{Conf, Counters};
use futures_util::StreamExt;
use sockjs_server::{BoxFuture, ClusterError, ClusterLink, Envelope, Hub, NodeReport, Query};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// First wait before reconnecting; doubled after each failure.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Most broadcasts published as one Redis message.
const MAX_BATCH: usize = 256;
/// Longest wait, once the connection failed, for the subscription to hand
/// over what it already received (see `Task::drain`).
const DRAIN_LIMIT: Duration = Duration::from_millis(250);

type Reply<T> = oneshot::Sender<Result<T, ClusterError>>;

enum Cmd {
    Publish(Envelope, Reply<usize>),
    Query(Query, Reply<Vec<NodeReport>>),
}

/// The handle the hub holds.
struct Link {
    tx: mpsc::Sender<Cmd>,
    up: Arc<AtomicBool>,
    stats: Arc<Counters>,
}

pub(crate) fn start(
    runtime: &tokio::runtime::Handle,
    conf: Arc<Conf>,
    stats: Arc<Counters>,
    service: &str,
    hub: Hub,
) -> Arc<dyn ClusterLink> {
    let (tx, rx) = mpsc::channel(conf.max_queued);
    let up = Arc::new(AtomicBool::new(false));
    stats.links_changed(false, 1);
    let task = Task {
        channels: Channels::new(&conf.prefix, service, &conf.node),
        conf,
        hub,
        rx,
        up: up.clone(),
        stats: stats.clone(),
        service: service.to_owned(),
    };
    runtime.spawn(task.run());
    Arc::new(Link { tx, up, stats })
}

impl Link {
    fn fail<T: Send + 'static>(&self, e: ClusterError) -> BoxFuture<'static, Result<T, ClusterError>> {
        Box::pin(std::future::ready(Err(e)))
    }
}

impl ClusterLink for Link {
    fn publish(&self, envelope: Envelope) -> BoxFuture<'static, Result<usize, ClusterError>> {
        let failed = |e: ClusterError| {
            self.stats.undelivered.fetch_add(1, Ordering::Relaxed);
            self.fail(e)
        };
        if !self.up.load(Ordering::Acquire) {
            return failed(ClusterError::Unavailable("not connected to Redis".into()));
        }
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Cmd::Publish(envelope, reply)) {
            Ok(()) => Box::pin(async move { answer.await.unwrap_or(Err(ClusterError::Stopped)) }),
            Err(mpsc::error::TrySendError::Full(_)) => failed(ClusterError::Backlog),
            Err(mpsc::error::TrySendError::Closed(_)) => failed(ClusterError::Stopped),
        }
    }

    fn query(&self, query: Query) -> BoxFuture<'static, Result<Vec<NodeReport>, ClusterError>> {
        if !self.up.load(Ordering::Acquire) {
            return self.fail(ClusterError::Unavailable("not connected to Redis".into()));
        }
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Cmd::Query(query, reply)) {
            Ok(()) => Box::pin(async move { answer.await.unwrap_or(Err(ClusterError::Stopped)) }),
            Err(mpsc::error::TrySendError::Full(_)) => self.fail(ClusterError::Backlog),
            Err(mpsc::error::TrySendError::Closed(_)) => self.fail(ClusterError::Stopped),
        }
    }
}

struct Task {
    conf: Arc<Conf>,
    channels: Channels,
    hub: Hub,
    rx: mpsc::Receiver<Cmd>,
    up: Arc<AtomicBool>,
    stats: Arc<Counters>,
    service: String,
}

/// A query waiting for the nodes' answers.
struct Pending {
    expected: usize,
    reports: Vec<NodeReport>,
    reply: Reply<Vec<NodeReport>>,
    deadline: Instant,
}

/// Why a connection's loop ended.
enum End {
    /// Every handle to the link is gone: the service was dropped.
    Stopped,
    /// The connection failed; reconnect.
    Lost(String),
}

impl Task {
    async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        // Logged once per outage, not per attempt.
        let mut reported_down = false;
        loop {
            match self.connect().await {
                Ok((conn, pubsub)) => {
                    backoff = MIN_BACKOFF;
                    self.set_up(true);
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(service = %self.service, node = %self.conf.node, "connected to Redis");
                    let end = self.serve(conn, pubsub).await;
                    self.set_up(false);
                    match end {
                        End::Stopped => {
                            self.stats.links_changed(false, -1);
                            return;
                        }
                        End::Lost(e) => {
                            tracing::warn!(service = %self.service, error = %e, "lost Redis; broadcasts stay on this node until it is back");
                            reported_down = true;
                        }
                    }
                }
                Err(e) => {
                    if !reported_down {
                        tracing::warn!(service = %self.service, error = %e, "cannot reach Redis; retrying");
                        reported_down = true;
                    } else {
                        tracing::debug!(service = %self.service, error = %e, "Redis still unreachable");
                    }
                }
            }
            // Until the next attempt, whatever arrives fails at once (it
            // was taken while still connected).
            let retry = tokio::time::sleep(backoff);
            tokio::pin!(retry);
            loop {
                tokio::select! {
                    () = &mut retry => break,
                    cmd = self.rx.recv() => match cmd {
                        None => {
                            self.stats.links_changed(false, -1);
                            return;
                        }
                        Some(cmd) => self.refuse(cmd, "not connected to Redis"),
                    },
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::AcqRel) != up {
            self.stats.links_changed(true, if up { 1 } else { -1 });
        }
    }

    fn refuse(&self, cmd: Cmd, why: &str) {
        let e = ClusterError::Unavailable(why.to_owned());
        match cmd {
            Cmd::Publish(_, reply) => {
                self.stats.undelivered.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(Err(e));
            }
            Cmd::Query(_, reply) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Opens the publishing connection and the subscribed one, both within
    /// the response timeout.
    async fn connect(&self) -> Result<(redis::aio::MultiplexedConnection, redis::aio::PubSub), String> {
        let t = self.conf.response_timeout;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(t))
            .set_response_timeout(Some(t));
        let conn = self
            .conf
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| e.to_string())?;
        let subscribe = async {
            let mut pubsub = self.conf.client.get_async_pubsub().await?;
            let c = &self.channels;
            pubsub.subscribe(&[&c.broadcast, &c.query, &c.reply]).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(t, subscribe)
            .await
            .map_err(|_| "no answer to SUBSCRIBE in time".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok((conn, pubsub))
    }

    /// Runs one connection until it fails or the link is dropped.
    async fn serve(&mut self, mut conn: redis::aio::MultiplexedConnection, pubsub: redis::aio::PubSub) -> End {
        let mut messages = pubsub.into_on_message();
        let mut pending: HashMap<u64, Pending> = HashMap::new();
        let mut next_id = 0u64;
        let end = loop {
            let first_deadline = pending.values().map(|p| p.deadline).min();
            let expiry = async {
                match first_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else { break End::Stopped };
                    let query = match cmd {
                        Cmd::Publish(e, reply) => self.publish(&mut conn, e, reply).await,
                        Cmd::Query(q, reply) => Ok(Some((q, reply))),
                    };
                    let r = match query {
                        Ok(Some((q, reply))) => {
                            next_id += 1;
                            self.ask(&mut conn, next_id, q, reply, &mut pending).await
                        }
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = r {
                        break End::Lost(e);
                    }
                }
                msg = messages.next() => {
                    let Some(msg) = msg else {
                        break End::Lost("the subscription's connection closed".into());
                    };
                    if let Err(e) = self.on_message(&mut conn, &msg, &mut pending).await {
                        break End::Lost(e);
                    }
                }
                () = expiry => {
                    let now = Instant::now();
                    let late: Vec<u64> = pending.iter().filter(|(_, p)| p.deadline <= now).map(|(i, _)| *i).collect();
                    for id in late {
                        if let Some(p) = pending.remove(&id) {
                            let _ = p.reply.send(Err(ClusterError::Timeout { answered: p.reports.len(), expected: p.expected }));
                        }
                    }
                }
            }
        };
        if let End::Lost(_) = &end {
            self.drain(&mut messages).await;
        }
        let why = match &end {
            End::Stopped => "the adapter stopped",
            End::Lost(_) => "lost the connection to Redis",
        };
        for (_, p) in pending.drain() {
            let _ = p.reply.send(Err(ClusterError::Unavailable(why.into())));
        }
        end
    }

    /// After the connection failed: delivers the broadcasts the subscription
    /// already received before dropping it. Redis passes a broadcast to the
    /// subscribers as it answers its `PUBLISH`, so its node counts it as
    /// sent; this node's own `PUBLISH` failing a moment later (Redis going
    /// away) must not lose it. When Redis is gone the subscription ends
    /// right after them; a live one gets at most `DRAIN_LIMIT`.
    async fn drain(&mut self, messages: &mut redis::aio::PubSubStream) {
        // Broadcasts made meanwhile fail at once, as while reconnecting.
        self.set_up(false);
        let deliver = async {
            while let Some(msg) = messages.next().await {
                if msg.get_channel_name() == self.channels.broadcast {
                    self.on_broadcast(msg.get_payload_bytes());
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_LIMIT, deliver).await;
    }

    /// Delivers a batch of another node's broadcasts to this node's sessions.
    fn on_broadcast(&self, payload: &[u8]) {
        match serde_json::from_slice::<Batch>(payload) {
            Ok(batch) if batch.n != self.conf.node => {
                self.stats.received.fetch_add(batch.b.len() as u64, Ordering::Relaxed);
                for item in batch.b {
                    self.hub.deliver(&item.into_envelope());
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(service = %self.service, error = %e, "ignored a malformed broadcast from Redis")
            }
        }
    }

    /// Publishes `first` and whatever other broadcasts are already queued
    /// behind it, in order, as one Redis message. A query found in the
    /// queue ends the batch and is returned, for the caller to send next.
    async fn publish(
        &mut self,
        conn: &mut redis::aio::MultiplexedConnection,
        first: Envelope,
        reply: Reply<usize>,
    ) -> Result<Option<(Query, Reply<Vec<NodeReport>>)>, String> {
        let mut items = vec![Item::from_envelope(first)];
        let mut replies = vec![reply];
        let mut query = None;
        while items.len() < MAX_BATCH {
            match self.rx.try_recv() {
                Ok(Cmd::Publish(e, r)) => {
                    items.push(Item::from_envelope(e));
                    replies.push(r);
                }
                Ok(Cmd::Query(q, r)) => {
                    query = Some((q, r));
                    break;
                }
                Err(_) => break,
            }
        }
        let n = items.len() as u64;
        let payload = serde_json::to_string(&Batch {
            n: self.conf.node.clone(),
            b: items,
        })
        .expect("strings serialize");
        let r = redis::cmd("PUBLISH")
            .arg(&self.channels.broadcast)
            .arg(payload)
            .query_async::<usize>(conn)
            .await;
        match r {
            Ok(receivers) => {
                // This node is subscribed too, and skips its own.
                let others = receivers.saturating_sub(1);
                self.stats.published.fetch_add(n, Ordering::Relaxed);
                for r in replies {
                    let _ = r.send(Ok(others));
                }
            }
            Err(e) => {
                self.stats.undelivered.fetch_add(n, Ordering::Relaxed);
                let err = ClusterError::Unavailable(e.to_string());
                for r in replies {
                    let _ = r.send(Err(err.clone()));
                }
                if let Some((_, r)) = query {
                    let _ = r.send(Err(err));
                }
                return Err(e.to_string());
            }
        }
        Ok(query)
    }

    /// Sends a query; the answers come back on this node's reply channel.
    async fn ask(
        &mut self,
        conn: &mut redis::aio::MultiplexedConnection,
        id: u64,
        q: Query,
        reply: Reply<Vec<NodeReport>>,
        pending: &mut HashMap<u64, Pending>,
    ) -> Result<(), String> {
        let payload = serde_json::to_string(&Ask {
            n: self.conf.node.clone(),
            i: id,
            r: q.room,
            l: q.list,
        })
        .expect("strings serialize");
        let r = redis::cmd("PUBLISH")
            .arg(&self.channels.query)
            .arg(payload)
            .query_async::<usize>(conn)
            .await;
        match r {
            Ok(expected) => {
                pending.insert(
                    id,
                    Pending {
                        expected,
                        reports: Vec::with_capacity(expected),
                        reply,
                        deadline: Instant::now() + self.conf.query_timeout,
                    },
                );
                Ok(())
            }
            Err(e) => {
                let _ = reply.send(Err(ClusterError::Unavailable(e.to_string())));
                Err(e.to_string())
            }
        }
    }

    /// Handles one message from a subscribed channel.
    async fn on_message(
        &mut self,
        conn: &mut redis::aio::MultiplexedConnection,
        msg: &redis::Msg,
        pending: &mut HashMap<u64, Pending>,
    ) -> Result<(), String> {
        let channel = msg.get_channel_name();
        let payload = msg.get_payload_bytes();
        if channel == self.channels.broadcast {
            self.on_broadcast(payload);
        } else if channel == self.channels.query {
            let Ok(ask) = serde_json::from_slice::<Ask>(payload) else {
                tracing::warn!(service = %self.service, "ignored a malformed query from Redis");
                return Ok(());
            };
            let report = self.hub.report(
                &self.conf.node,
                &Query {
                    room: ask.r,
                    list: ask.l,
                },
            );
            let answer = serde_json::to_string(&Answer::from_report(ask.i, report)).expect("strings serialize");
            redis::cmd("PUBLISH")
                .arg(self.channels.reply_to(&ask.n))
                .arg(answer)
                .query_async::<usize>(conn)
                .await
                .map_err(|e| e.to_string())?;
        } else if channel == self.channels.reply {
            let Ok(answer) = serde_json::from_slice::<Answer>(payload) else {
                tracing::warn!(service = %self.service, "ignored a malformed answer from Redis");
                return Ok(());
            };
            let id = answer.i;
            if let Some(p) = pending.get_mut(&id) {
                p.reports.push(answer.into_report());
                if p.reports.len() >= p.expected {
                    if let Some(p) = pending.remove(&id) {
                        let mut reports = p.reports;
                        reports.sort_by(|a, b| a.node.cmp(&b.node));
                        let _ = p.reply.send(Ok(reports));
                    }
                }
            }
        }
        Ok(())
    }
}
