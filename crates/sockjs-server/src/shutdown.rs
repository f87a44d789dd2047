//! The shutdown handle: one object the user holds and triggers, shared by
//! every service configured with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

/// The close every live session gets when its service shuts down.
pub(crate) const SHUTTING_DOWN: (u16, &str) = (1001, "Server is shutting down");

/// What a service does when its [`Shutdown`] is triggered.
pub(crate) trait OnShutdown: Send + Sync {
    /// Closes every live session with [`SHUTTING_DOWN`].
    fn shut_down(&self);
}

/// A handle that shuts SockJS services down: every live session of every
/// service configured with it (see [`crate::Config::shutdown`]) is closed
/// with `c[1001,"Server is shutting down"]` (parked polls and streams get
/// that frame and end, websockets get it and a close frame), and new
/// sessions are refused with `503 Service Unavailable`.
///
/// Cloning gives another handle to the same shutdown. Every `Config` starts
/// with a handle of its own; [`crate::SockJsService::shutdown_handle`]
/// returns it. Trigger it from the same signal that stops your HTTP
/// server, whichever server that is, and pass [`Shutdown::triggered`] to
/// that server as its graceful-shutdown signal ([a complete
/// server](crate#graceful-shutdown)). Services given the same handle stop
/// together:
///
/// ```
/// use http::{Request, StatusCode};
/// use http_body_util::Empty;
/// use sockjs_server::{Config, Session, Shutdown, SockJsService};
/// use tower::ServiceExt;
/// # async fn echo(_: Session) {}
///
/// # #[tokio::main]
/// # async fn main() {
/// let shutdown = Shutdown::new();
/// let chat = SockJsService::new(Config::new("/chat").shutdown(shutdown.clone()), echo);
/// let news = SockJsService::new(Config::new("/news").shutdown(shutdown.clone()), echo);
///
/// shutdown.trigger();
/// // Both now refuse to open sessions.
/// for (service, path) in [(chat, "/chat/000/s1/xhr"), (news, "/news/000/s1/xhr")] {
///     let open = Request::post(path).body(Empty::<bytes::Bytes>::new()).unwrap();
///     let res = service.oneshot(open).await.unwrap();
///     assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
/// }
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    notify: Notify,
    services: Mutex<Vec<Weak<dyn OnShutdown>>>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// A new, untriggered handle.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Shuts down every service configured with this handle (see the type's
    /// documentation). Idempotent; it does not wait for anything.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::Release);
        let services: Vec<_> = self
            .inner
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for s in services {
            s.shut_down();
        }
        self.inner.notify.notify_waiters();
    }

    /// True once [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Acquire)
    }

    /// Completes once [`Shutdown::trigger`] was called (at once if it
    /// was): a signal for `with_graceful_shutdown` of [`crate::serve`] or
    /// `axum::serve`.
    pub fn triggered(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            loop {
                let notified = inner.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if inner.triggered.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        }
    }

    /// Registers a service; a service created after the trigger is shut
    /// down at once.
    pub(crate) fn register(&self, service: Weak<dyn OnShutdown>) {
        let mut list = self.inner.services.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.push(service.clone());
        drop(list);
        if self.is_triggered() {
            if let Some(s) = service.upgrade() {
                s.shut_down();
            }
        }
    }
}
