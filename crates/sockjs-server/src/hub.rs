//! Broadcast and rooms: every live session of a service, the rooms they
//! joined, and sending one message to many of them, encoded once.

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
            .finish()
    }
}

impl Hub {
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
}

/// A broadcast's filter over its recipients.
type Filter<'a> = Box<dyn Fn(&SessionSender) -> bool + 'a>;

impl std::fmt::Debug for Broadcast<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("rooms", &self.rooms)
            .field("except", &self.except)
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

    /// Keeps only the sessions for which `keep` is true; it can read their
    /// data (see [`SessionSender::data`]).
    pub fn filter(mut self, keep: impl Fn(&SessionSender) -> bool + 'a) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    /// Sends `msg` to every addressed open session; returns how many it was
    /// queued for. Never waits (see [`Hub`] for the delivery rules).
    pub fn send(self, msg: impl Into<SharedMessage>) -> usize {
        let recipients = self.recipients();
        let msg = msg.into();
        recipients.iter().filter(|s| s.shared.push_shared(msg.clone())).count()
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
