//! Metrics through the [`metrics`](https://docs.rs/metrics) facade, behind
//! the `metrics` cargo feature. Without it every call here is an empty
//! inline function on a zero-sized type: nothing is counted and nothing is
//! linked.
//!
//! With it, each service resolves its handles once, when it is built
//! (`ServiceMeters::new`), and each session keeps the set of its transport,
//! so counting a message is an atomic add on a handle, never a registry
//! lookup. Only the close code of a closing session is looked up by label.
//! The names and labels are listed in the crate documentation (`metrics`
//! section of `lib.rs`).

use crate::error::HttpError;

/// Why a limit refused a request or closed a session, as the `limit` label
/// of `sockjs_limits_hit_total` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Limit {
    /// 413: a send body or message over `max_message_size` or
    /// `max_messages_per_send`.
    PayloadTooLarge,
    /// 503: `max_sessions` reached.
    MaxSessions,
    /// 1009: a websocket message over the limits.
    MessageTooBig,
    /// 1013: the client stopped reading (slow consumer).
    SlowConsumer,
}

impl Limit {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Limit::PayloadTooLarge => "payload_too_large",
            Limit::MaxSessions => "max_sessions",
            Limit::MessageTooBig => "message_too_big",
            Limit::SlowConsumer => "slow_consumer",
        }
    }

    /// The limit a session's close code shows, if any.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn of_close(code: u16) -> Option<Limit> {
        match code {
            1009 => Some(Limit::MessageTooBig),
            1013 => Some(Limit::SlowConsumer),
            _ => None,
        }
    }
}

/// The limit an error answer shows, if any.
fn of_error(e: &HttpError) -> Option<Limit> {
    use sockjs_core::DecodeError;
    match e {
        HttpError::PayloadTooLarge | HttpError::Decode(DecodeError::TooLarge | DecodeError::TooManyMessages) => {
            Some(Limit::PayloadTooLarge)
        }
        HttpError::TooManySessions => Some(Limit::MaxSessions),
        _ => None,
    }
}

#[cfg(feature = "metrics")]
mod imp {
    use super::Limit;
    use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
    use sockjs_core::Transport;
    use std::sync::Arc;

    /// One service's handles.
    #[derive(Clone)]
    pub(crate) struct ServiceMeters(Arc<Service>);

    struct Service {
        transports: [SessionMeters; 7],
        origin_refused: Counter,
        handler_panics: Counter,
        limits: [Counter; 4],
    }

    /// The handles of one (service, transport) pair, shared by its sessions.
    #[derive(Clone)]
    pub(crate) struct SessionMeters(Arc<Set>);

    struct Set {
        prefix: String,
        transport: &'static str,
        sessions: Gauge,
        opened: Counter,
        messages_in: Counter,
        messages_out: Counter,
        bytes_in: Counter,
        bytes_out: Counter,
        heartbeats: Counter,
        another_connection: Counter,
        pong_timeouts: Counter,
        queue_depth: Histogram,
        limits: [Counter; 4],
    }

    fn limit_index(l: Limit) -> usize {
        match l {
            Limit::PayloadTooLarge => 0,
            Limit::MaxSessions => 1,
            Limit::MessageTooBig => 2,
            Limit::SlowConsumer => 3,
        }
    }

    const LIMITS: [Limit; 4] = [
        Limit::PayloadTooLarge,
        Limit::MaxSessions,
        Limit::MessageTooBig,
        Limit::SlowConsumer,
    ];

    fn limit_counters(prefix: &str) -> [Counter; 4] {
        LIMITS.map(|l| counter!("sockjs_limits_hit_total", "prefix" => prefix.to_owned(), "limit" => l.label()))
    }

    impl ServiceMeters {
        pub(crate) fn new(prefix: &str) -> ServiceMeters {
            let limits = limit_counters(prefix);
            let transports = Transport::ALL.map(|t| {
                let transport = t.name();
                let p = || prefix.to_owned();
                SessionMeters(Arc::new(Set {
                    prefix: prefix.to_owned(),
                    transport,
                    sessions: gauge!("sockjs_sessions", "prefix" => p(), "transport" => transport),
                    opened: counter!("sockjs_sessions_opened_total", "prefix" => p(), "transport" => transport),
                    messages_in: counter!("sockjs_messages_received_total", "prefix" => p(), "transport" => transport),
                    messages_out: counter!("sockjs_messages_sent_total", "prefix" => p(), "transport" => transport),
                    bytes_in: counter!("sockjs_received_bytes_total", "prefix" => p(), "transport" => transport),
                    bytes_out: counter!("sockjs_sent_bytes_total", "prefix" => p(), "transport" => transport),
                    heartbeats: counter!("sockjs_heartbeats_total", "prefix" => p(), "transport" => transport),
                    another_connection: counter!("sockjs_another_connection_total", "prefix" => p(), "transport" => transport),
                    pong_timeouts: counter!("sockjs_pong_timeouts_total", "prefix" => p(), "transport" => transport),
                    queue_depth: histogram!("sockjs_outbound_queue_depth", "prefix" => p(), "transport" => transport),
                    limits: limits.clone(),
                }))
            });
            ServiceMeters(Arc::new(Service {
                transports,
                origin_refused: counter!("sockjs_origin_refused_total", "prefix" => prefix.to_owned()),
                handler_panics: counter!("sockjs_handler_panics_total", "prefix" => prefix.to_owned()),
                limits,
            }))
        }

        pub(crate) fn session(&self, t: Transport) -> SessionMeters {
            self.0.transports[t as usize].clone()
        }

        pub(crate) fn origin_refused(&self) {
            self.0.origin_refused.increment(1);
        }

        pub(crate) fn limit(&self, l: Limit) {
            self.0.limits[limit_index(l)].increment(1);
        }

        pub(crate) fn handler_panicked(&self) {
            self.0.handler_panics.increment(1);
        }
    }

    impl SessionMeters {
        pub(crate) fn opened(&self) {
            self.0.opened.increment(1);
            self.0.sessions.increment(1.0);
        }

        pub(crate) fn closed(&self, code: u16) {
            self.0.sessions.decrement(1.0);
            counter!(
                "sockjs_sessions_closed_total",
                "prefix" => self.0.prefix.clone(),
                "transport" => self.0.transport,
                "code" => code.to_string()
            )
            .increment(1);
            if let Some(l) = Limit::of_close(code) {
                self.0.limits[limit_index(l)].increment(1);
            }
        }

        pub(crate) fn received(&self, messages: u64, bytes: u64) {
            self.0.messages_in.increment(messages);
            self.0.bytes_in.increment(bytes);
        }

        pub(crate) fn sent(&self, bytes: usize) {
            self.0.messages_out.increment(1);
            self.0.bytes_out.increment(bytes as u64);
        }

        pub(crate) fn heartbeat(&self) {
            self.0.heartbeats.increment(1);
        }

        pub(crate) fn another_connection(&self) {
            self.0.another_connection.increment(1);
        }

        pub(crate) fn pong_timeout(&self) {
            self.0.pong_timeouts.increment(1);
        }

        pub(crate) fn queue_depth(&self, depth: usize) {
            self.0.queue_depth.record(depth as f64);
        }
    }

    /// A request refused by the HTTP server for its header section (431).
    pub(crate) fn header_limit() {
        counter!("sockjs_limits_hit_total", "prefix" => "", "limit" => "header_too_large").increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
mod imp {
    use super::Limit;
    use sockjs_core::Transport;

    #[derive(Clone)]
    pub(crate) struct ServiceMeters;

    #[derive(Clone)]
    pub(crate) struct SessionMeters;

    impl ServiceMeters {
        #[inline]
        pub(crate) fn new(_prefix: &str) -> ServiceMeters {
            ServiceMeters
        }
        #[inline]
        pub(crate) fn session(&self, _t: Transport) -> SessionMeters {
            SessionMeters
        }
        #[inline]
        pub(crate) fn origin_refused(&self) {}
        #[inline]
        pub(crate) fn limit(&self, _l: Limit) {}
        #[inline]
        pub(crate) fn handler_panicked(&self) {}
    }

    impl SessionMeters {
        #[inline]
        pub(crate) fn opened(&self) {}
        #[inline]
        pub(crate) fn closed(&self, _code: u16) {}
        #[inline]
        pub(crate) fn received(&self, _messages: u64, _bytes: u64) {}
        #[inline]
        pub(crate) fn sent(&self, _bytes: usize) {}
        #[inline]
        pub(crate) fn heartbeat(&self) {}
        #[inline]
        pub(crate) fn another_connection(&self) {}
        #[inline]
        pub(crate) fn pong_timeout(&self) {}
        #[inline]
        pub(crate) fn queue_depth(&self, _depth: usize) {}
    }

    #[inline]
    pub(crate) fn header_limit() {}
}

pub(crate) use imp::{header_limit, ServiceMeters, SessionMeters};

impl ServiceMeters {
    /// Counts what an error answer shows: a refused origin or a limit.
    /// Logged here too, once per refusal, at debug (a client can cause
    /// these at will, so they must not flood an info log), except a full
    /// server, which the operator needs to see.
    pub(crate) fn refused(&self, e: &HttpError) {
        if matches!(e, HttpError::Forbidden) {
            self.origin_refused();
            tracing::debug!("request refused: origin not allowed");
        } else if let Some(l) = of_error(e) {
            self.limit(l);
            if l == Limit::MaxSessions {
                tracing::info!("request refused: max_sessions reached");
            } else {
                tracing::debug!(limit = ?l, "request refused: over a limit");
            }
        }
    }
}
