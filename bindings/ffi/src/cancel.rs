//! Cancellation from the app: a cancelled Kotlin coroutine drops the Rust future of its call; for
//! a call that may be cancelled that stops the core call itself, not only the wait for it
//! (docs/BINDINGS.md "Cancellation"). Swift's generated async calls ignore `Task` cancellation
//! (uniffi 0.32 awaits a plain continuation), so those calls also take a [`CancelToken`], which
//! `ios/Sources/Kluis/Cancellation.swift` raises from a task cancellation handler.
//!
//! The core call runs whole on a blocking thread ([`crate::collect::cancellable`]); dropping the
//! app's future raises the call's [`CancelSignal`], which (a) ends the core future at its next
//! await (HTTP, a foreign channel) by dropping it, and (b) ends a wait for the app's holder key
//! store on that thread (holder_keys.rs reads [`current`]). Dropping the core future runs its
//! clean-up: keys made for a collect that did not store are deleted from the store again.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

/// Raised once when the app cancels a call.
#[derive(Default)]
pub(crate) struct CancelSignal {
    raised: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl CancelSignal {
    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        let wakers =
            std::mem::take(&mut *self.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        for w in wakers {
            w.wake();
        }
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Wakes `waker` when the signal is raised (at once if it is).
    pub(crate) fn notify(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_raised() {
            waker.wake_by_ref();
        } else if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Completes when the signal is raised.
    pub(crate) fn raised(&self) -> Raised<'_> {
        Raised(self)
    }
}

pub(crate) struct Raised<'a>(&'a CancelSignal);

impl Future for Raised<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.is_raised() {
            return Poll::Ready(());
        }
        self.0.notify(cx.waker());
        if self.0.is_raised() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<CancelSignal>>> = const { RefCell::new(None) };
}

/// The signal of the cancellable call running on this thread, if any.
pub(crate) fn current() -> Option<Arc<CancelSignal>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Makes `signal` this thread's current one until the guard is dropped.
pub(crate) fn enter(signal: Arc<CancelSignal>) -> Entered {
    CURRENT.with(|c| *c.borrow_mut() = Some(signal));
    Entered
}

pub(crate) struct Entered;

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// Raises the signal when dropped before [`RaiseOnDrop::disarm`]: held by the app's future.
pub(crate) struct RaiseOnDrop(pub(crate) Option<Arc<CancelSignal>>);

impl RaiseOnDrop {
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.raise();
        }
    }
}

/// A cancellation the app raises itself, for one call: pass it as `cancel` and call
/// [`CancelToken::cancel`] to stop that call (Swift: `withCancellation { token in ... }`, which
/// raises it when the `Task` is cancelled). The call then ends with `Cancelled`, as if its
/// coroutine had been cancelled. A token once raised stays raised: use a new one per call.
#[derive(uniffi::Object, Default)]
pub struct CancelToken(pub(crate) Arc<CancelSignal>);

#[uniffi::export]
impl CancelToken {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(CancelToken::default())
    }

    /// Stops the call this token was given to (at its next await or key store call).
    pub fn cancel(&self) {
        self.0.raise();
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_raised()
    }
}
