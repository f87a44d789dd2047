//! Broadcast and rooms: every live session of a service, the rooms they
//! joined, and sending one message to many of them, encoded once.

use crate::cluster::{ClusterError, ClusterLink, Envelope, NodeReport, NodeSession, Published, Query};
use crate::sender::SessionSender;
use crate::shared::SessionId;
use sockjs_core::SharedMessage;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// The sessions of one service and their rooms: broadcast to all of them,
/// to rooms, with exceptions or a filter. Cloning gives another handle to
/// the same sessions. Get it from [`crate::SockJsService::hub`],
/// [`crate::SockJsLayer::hub`] or [`crate::Session::hub`].
///
/// # Delivery
///
/// A broadcast encodes its message once (its JSON string encoding is shared
/// by every recipient, on every transport) and queues it on each recipient
/// without waiting: it returns at once, however slow any recipient is.
/// Messages broadcast by one task reach every recipient in the order they
/// were sent, and each recipient gets each message exactly once, after the
/// messages queued for it before. A recipient whose queue is full still
/// gets the message queued past the queue's bounds ([`crate::Config::max_queued`]);
/// if its queue stays over them for [`crate::Config::slow_consumer_timeout`],
/// or grows to four times them, it is closed with 1013 "Slow consumer", after
/// the messages already queued: nothing is dropped silently. Sessions that
/// are closing or closed receive nothing and are not counted.
///
/// # Many nodes
///
/// With a cross-node adapter ([`crate::Config::cluster`], for example
/// `sockjs-redis`), a broadcast also goes to the matching sessions of every
/// other node, exactly once, in the order it was made; each node encodes
/// it once for its own sessions. [`Broadcast::send`] hands the cross-node
/// part to the adapter without waiting (the adapter logs what fails);
/// [`Broadcast::publish`] awaits it and reports what failed. Exceptions
/// name sessions of this node; a broadcast with a [`Broadcast::filter`] or
/// [`Broadcast::local`] stays on this node. [`Hub::cluster_count`] and
/// [`Hub::cluster_sessions`] ask every node.
///
/// ```
/// use sockjs_server::{Config, Session, SockJsService};
///
/// async fn chat(mut session: Session) {
///     let hub = session.hub();
///     session.join("lobby");
///     while let Some(msg) = session.recv().await {
///         // To everyone in the lobby but the sender.
///         hub.to("lobby").except(session.id()).send(msg);
///     }
///     // Leaving: the session leaves its rooms when it closes.
/// }
///
/// let service = SockJsService::new(Config::new("/chat"), chat);
/// assert_eq!(service.hub().count("lobby"), 0);
/// ```
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Mutex<Members>>,
    /// The other nodes, when a cluster adapter is configured.
    link: Option<Arc<dyn ClusterLink>>,
}

#[derive(Default)]
struct Members {
    sessions: HashMap<SessionId, SessionSender>,
    rooms: HashMap<Arc<str>, HashSet<SessionId>>,
    /// The rooms each session joined, to leave them all at its end.
    joined: HashMap<SessionId, Vec<Arc<str>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.lock();
        f.debug_struct("Hub")
            .field("sessions", &m.sessions.len())
            .field("rooms", &m.rooms.len())
            .field("clustered", &self.link.is_some())
            .finish()
    }
}

impl Hub {
    /// The hub of service `prefix`, linked to the other nodes through
    /// `cluster` when there is one. The adapter gets a handle without the
    /// link (it delivers what other nodes send only here).
    pub(crate) fn new(prefix: &str, cluster: Option<&crate::config::ClusterHandle>) -> Hub {
        let local = Hub::default();
        match cluster {
            None => local,
            Some(c) => Hub {
                link: Some(c.0.link(prefix, local.clone())),
                inner: local.inner,
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, Members> {
        // Every update below leaves the maps consistent at each step.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a new session.
    pub(crate) fn register(&self, session: SessionSender) {
        self.lock().sessions.insert(session.id(), session);
    }

    /// Forgets a session that ended, and its rooms.
    pub(crate) fn remove(&self, id: SessionId) {
        let mut m = self.lock();
        m.sessions.remove(&id);
        for room in m.joined.remove(&id).unwrap_or_default() {
            if let Some(members) = m.rooms.get_mut(&room) {
                members.remove(&id);
                if members.is_empty() {
                    m.rooms.remove(&room);
                }
            }
        }
    }

    /// Puts `session` in `room` (creating the room). False when the session
    /// is closed or not one of this hub's.
    pub fn join(&self, session: &SessionSender, room: &str) -> bool {
        if session.is_closed() {
            return false;
        }
        let id = session.id();
        let mut m = self.lock();
        if !m.sessions.get(&id).is_some_and(|s| s == session) {
            return false;
        }
        let key = match m.rooms.get_key_value(room) {
            Some((k, _)) => k.clone(),
            None => Arc::from(room),
        };
        if m.rooms.entry(key.clone()).or_default().insert(id) {
            m.joined.entry(id).or_default().push(key);
        }
        true
    }

    /// Takes `session` out of `room`. False when it was not in it.
    pub fn leave(&self, session: &SessionSender, room: &str) -> bool {
        let id = session.id();
        let mut m = self.lock();
        let Some(members) = m.rooms.get_mut(room) else {
            return false;
        };
        if !members.remove(&id) {
            return false;
        }
        if members.is_empty() {
            m.rooms.remove(room);
        }
        if let Some(rooms) = m.joined.get_mut(&id) {
            rooms.retain(|r| &**r != room);
        }
        true
    }

    /// The rooms `session` is in.
    pub fn rooms_of(&self, session: &SessionSender) -> Vec<String> {
        let m = self.lock();
        m.joined
            .get(&session.id())
            .map(|rooms| rooms.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default()
    }

    /// The open sessions in `room`.
    pub fn sessions(&self, room: &str) -> Vec<SessionSender> {
        let m = self.lock();
        let Some(members) = m.rooms.get(room) else {
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|id| m.sessions.get(id))
            .filter(|s| !s.is_closed())
            .cloned()
            .collect()
    }

    /// How many open sessions are in `room`.
    pub fn count(&self, room: &str) -> usize {
        let m = self.lock();
        m.rooms.get(room).map_or(0, |members| {
            members
                .iter()
                .filter(|id| m.sessions.get(id).is_some_and(|s| !s.is_closed()))
                .count()
        })
    }

    /// Closes every session in `room` with `code` and `reason`; returns how
    /// many were open.
    pub fn close_room(&self, room: &str, code: u16, reason: &str) -> usize {
        let sessions = self.sessions(room);
        for s in &sessions {
            s.close(code, reason);
        }
        sessions.len()
    }

    /// A broadcast to every open session of the service.
    pub fn to_all(&self) -> Broadcast<'_> {
        Broadcast {
            hub: self,
            rooms: None,
            except: Vec::new(),
            filter: None,
            local: false,
        }
    }

    /// For cluster adapters: delivers a broadcast another node made to the
    /// matching sessions of this one (encoded once); returns how many.
    pub fn deliver(&self, envelope: &Envelope) -> usize {
        let mut b = self.to_all().local();
        b.rooms = envelope.rooms.clone();
        b.send(envelope.message.as_str())
    }

    /// For cluster adapters: this node's answer to `query`, under the name
    /// `node`.
    pub fn report(&self, node: &str, query: &Query) -> NodeReport {
        let m = self.lock();
        let open = |id: &SessionId| m.sessions.get(id).is_some_and(|s| !s.is_closed());
        let ids: Vec<u64> = match &query.room {
            None => m.sessions.keys().filter(|id| open(id)).map(|id| id.0).collect(),
            Some(room) => m
                .rooms
                .get(room.as_str())
                .map(|members| members.iter().filter(|id| open(id)).map(|id| id.0).collect())
                .unwrap_or_default(),
        };
        NodeReport {
            node: node.to_owned(),
            count: ids.len(),
            sessions: if query.list { ids } else { Vec::new() },
        }
    }

    /// Whether a cluster adapter links this hub to other nodes.
    pub fn is_clustered(&self) -> bool {
        self.link.is_some()
    }

    /// How many open sessions are in `room` (`None`: in the service) on
    /// every node. Without a cluster, the count of this node.
    pub async fn cluster_count(&self, room: Option<&str>) -> Result<usize, ClusterError> {
        let reports = self.query(room, false).await?;
        Ok(reports.iter().map(|r| r.count).sum())
    }

    /// The open sessions in `room` (`None`: in the service) on every node,
    /// with the node each lives on. Without a cluster, this node's, under
    /// the name `local`.
    pub async fn cluster_sessions(&self, room: Option<&str>) -> Result<Vec<NodeSession>, ClusterError> {
        let reports = self.query(room, true).await?;
        Ok(reports
            .into_iter()
            .flat_map(|r| {
                let node = r.node;
                r.sessions
                    .into_iter()
                    .map(move |id| NodeSession { node: node.clone(), id })
            })
            .collect())
    }

    async fn query(&self, room: Option<&str>, list: bool) -> Result<Vec<NodeReport>, ClusterError> {
        let query = Query {
            room: room.map(str::to_owned),
            list,
        };
        match &self.link {
            None => Ok(vec![self.report("local", &query)]),
            Some(link) => link.query(query).await,
        }
    }

    /// A broadcast to the sessions in `room` (add rooms with
    /// [`Broadcast::to`]; a session in several gets the message once).
    pub fn to(&self, room: &str) -> Broadcast<'_> {
        self.to_all().to(room)
    }
}

/// A broadcast being addressed; [`Broadcast::send`] sends it. See [`Hub`].
#[must_use = "a broadcast is sent by `send`"]
pub struct Broadcast<'a> {
    hub: &'a Hub,
    /// `None`: every session.
    rooms: Option<Vec<String>>,
    except: Vec<SessionId>,
    filter: Option<Filter<'a>>,
    /// Kept on this node.
    local: bool,
}

/// A broadcast's filter over its recipients.
type Filter<'a> = Box<dyn Fn(&SessionSender) -> bool + 'a>;

impl std::fmt::Debug for Broadcast<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("rooms", &self.rooms)
            .field("except", &self.except)
            .field("local", &self.local)
            .finish()
    }
}

impl<'a> Broadcast<'a> {
    /// Adds the sessions in `room`.
    pub fn to(mut self, room: &str) -> Self {
        self.rooms.get_or_insert_with(Vec::new).push(room.to_owned());
        self
    }

    /// Leaves out one session (typically the sender).
    pub fn except(mut self, id: SessionId) -> Self {
        self.except.push(id);
        self
    }

    /// Keeps the broadcast on this node, whatever the cluster.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Keeps only the sessions for which `keep` is true; it can read their
    /// data (see [`SessionSender::data`]). A filtered broadcast stays on
    /// this node (a filter is code, which other nodes cannot run).
    pub fn filter(mut self, keep: impl Fn(&SessionSender) -> bool + 'a) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    /// Sends `msg` to every addressed open session; returns how many of
    /// this node's it was queued for. Never waits (see [`Hub`] for the
    /// delivery rules); with a cluster, the other nodes' part is handed to
    /// the adapter, which logs a failure ([`Broadcast::publish`] reports
    /// it instead).
    pub fn send(self, msg: impl Into<SharedMessage>) -> usize {
        let (local, remote) = self.send_inner(msg.into());
        // The adapter took the envelope before returning: dropping the
        // future leaves the cross-node part to it.
        drop(remote);
        local
    }

    /// [`Broadcast::send`], and a future that waits for the cross-node part
    /// and reports it: how many other nodes got the message, or why none
    /// did. The message is queued (here and for the other nodes) when
    /// `publish` is called, not when the future is first polled, so
    /// broadcasts keep the order of the calls even when their futures are
    /// awaited elsewhere (a task that records failures, say).
    ///
    /// ```
    /// use sockjs_server::{Config, Session, SockJsService};
    ///
    /// async fn handler(mut session: Session) {
    ///     let hub = session.hub();
    ///     while let Some(msg) = session.recv().await {
    ///         let sent = hub.to_all().publish(msg).await;
    ///         if let Err(e) = &sent.remote {
    ///             session.send(format!("not sent to the other nodes: {e}")).await.ok();
    ///         }
    ///     }
    /// }
    /// # let _ = SockJsService::new(Config::new("/news"), handler);
    /// ```
    pub fn publish(
        self,
        msg: impl Into<SharedMessage>,
    ) -> impl std::future::Future<Output = Published> + Send + 'static {
        let (local, remote) = self.send_inner(msg.into());
        async move {
            let remote = match remote {
                None => Ok(0),
                Some(f) => f.await,
            };
            Published { local, remote }
        }
    }

    fn send_inner(
        self,
        msg: SharedMessage,
    ) -> (
        usize,
        Option<crate::cluster::BoxFuture<'static, Result<usize, ClusterError>>>,
    ) {
        let recipients = self.recipients();
        let local = recipients.iter().filter(|s| s.shared.push_shared(msg.clone())).count();
        let remote = match &self.hub.link {
            Some(link) if !self.local && self.filter.is_none() => Some(link.publish(Envelope {
                rooms: self.rooms,
                message: msg.text().to_owned(),
            })),
            _ => None,
        };
        (local, remote)
    }

    /// The addressed sessions, each once; collected under the lock, which is
    /// released before any message is queued.
    fn recipients(&self) -> Vec<SessionSender> {
        let m = self.hub.lock();
        let keep = |s: &&SessionSender| {
            !self.except.contains(&s.id()) && !s.is_closed() && self.filter.as_ref().is_none_or(|f| f(s))
        };
        match &self.rooms {
            None => {
                // Sized once: a broadcast to N sessions allocates its list once.
                let mut all = Vec::with_capacity(m.sessions.len());
                all.extend(m.sessions.values().filter(keep).cloned());
                all
            }
            Some(rooms) => {
                let mut ids: HashSet<SessionId> = HashSet::new();
                for room in rooms {
                    if let Some(members) = m.rooms.get(room.as_str()) {
                        ids.extend(members.iter().copied());
                    }
                }
                ids.iter()
                    .filter_map(|id| m.sessions.get(id))
                    .filter(keep)
                    .cloned()
                    .collect()
            }
        }
    }
}
