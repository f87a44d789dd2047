//! Two futures in one task: a websocket session's connection loop and its
//! application, so a message and its reply never cross between tasks.
//!
//! With a task each, every echo handed the message from the connection's
//! task to the application's and the reply back: two wake-ups through the
//! scheduler, where tokio's LIFO slot runs the session that was just active
//! first and the others wait in the run queue (with 1,000 busy sessions, a
//! p99 fifty times the median). Here each side has a waker of its own that
//! only marks it woken and wakes the task; a poll of the pair polls the
//! sides that were woken, again while either wakes the other, so an echo
//! is read, handled and written in one poll of one task.

use futures_util::task::AtomicWaker;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// How many rounds one poll may make while the sides keep waking each
/// other; past it the task yields (wakes itself), so a session that always
/// has work cannot hold the thread.
const ROUNDS: usize = 8;

/// One side's waker: marks the side woken, then wakes the task.
pub(crate) struct Side {
    woken: AtomicBool,
    task: Arc<AtomicWaker>,
}

impl Wake for Side {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Runs `a` and `b` to completion in the caller's task (`b` may be
/// absent). A struct rather than an `async fn`, so the two futures live in
/// it once: an `async fn` would keep its arguments and the pinned copies
/// it polls, twice the room, for the session's whole life.
pub(crate) fn both<A, B>(a: A, b: Option<B>) -> Both<A, B>
where
    A: Future<Output = ()>,
    B: Future<Output = ()>,
{
    let task = Arc::new(AtomicWaker::new());
    let side = |woken| {
        Arc::new(Side {
            woken: AtomicBool::new(woken),
            task: task.clone(),
        })
    };
    let (side_a, side_b) = (side(true), side(b.is_some()));
    Both {
        waker_a: Waker::from(side_a.clone()),
        waker_b: Waker::from(side_b.clone()),
        side_a,
        side_b,
        task,
        a: Some(a),
        b,
    }
}

pin_project_lite::pin_project! {
    /// See [`both`].
    pub(crate) struct Both<A, B> {
        task: Arc<AtomicWaker>,
        side_a: Arc<Side>,
        side_b: Arc<Side>,
        waker_a: Waker,
        waker_b: Waker,
        // `None` once finished (dropped then, as a task would be).
        #[pin]
        a: Option<A>,
        #[pin]
        b: Option<B>,
    }
}

/// Whether `side` was woken since the last look (and clears it).
fn take(side: &Side) -> bool {
    side.woken.swap(false, Ordering::AcqRel)
}

impl<A, B> Future for Both<A, B>
where
    A: Future<Output = ()>,
    B: Future<Output = ()>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        this.task.register(cx.waker());
        for _ in 0..ROUNDS {
            let mut polled = false;
            if let Some(a) = this.a.as_mut().as_pin_mut() {
                if take(this.side_a) {
                    polled = true;
                    if poll_side(a, this.waker_a) {
                        this.a.set(None);
                    }
                }
            }
            if let Some(b) = this.b.as_mut().as_pin_mut() {
                if take(this.side_b) {
                    polled = true;
                    if poll_side(b, this.waker_b) {
                        this.b.set(None);
                    }
                }
            }
            if this.a.is_none() && this.b.is_none() {
                return Poll::Ready(());
            }
            if !polled {
                return Poll::Pending;
            }
        }
        // Still busy after every round: let other tasks run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn poll_side<F: Future<Output = ()>>(f: Pin<&mut F>, waker: &Waker) -> bool {
    f.poll(&mut Context::from_waker(waker)).is_ready()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn both_finish_and_each_wakes_the_other() {
        // A ping-pong: each side waits on the other, in one task.
        let (to_b, mut from_a) = mpsc::channel::<u32>(1);
        let (to_a, mut from_b) = mpsc::channel::<u32>(1);
        let a = async move {
            for i in 0..100 {
                to_b.send(i).await.unwrap();
                assert_eq!(from_b.recv().await, Some(i + 1));
            }
        };
        let b = async move {
            while let Some(i) = from_a.recv().await {
                to_a.send(i + 1).await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), both(a, Some(b)))
            .await
            .expect("both sides finish");
    }

    #[tokio::test]
    async fn one_side_ending_early_leaves_the_other_running() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let a = async {};
        let b = async move {
            rx.await.unwrap();
        };
        let run = tokio::spawn(both(a, Some(b)));
        tokio::task::yield_now().await;
        assert!(!run.is_finished());
        tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), run)
            .await
            .expect("finishes once b can")
            .unwrap();
    }

    #[tokio::test]
    async fn a_side_that_is_always_ready_yields() {
        // `a` wakes itself forever until `b` (another task) tells it to stop:
        // the pair must yield, or the other task would never run.
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let a = std::future::poll_fn(move |cx| {
            if flag.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        });
        let run = tokio::spawn(both(a, Some(async {})));
        let stopper = tokio::spawn(async move { stop.store(true, Ordering::Release) });
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            stopper.await.unwrap();
            run.await.unwrap();
        })
        .await
        .expect("the busy pair let the other task run");
    }
}
