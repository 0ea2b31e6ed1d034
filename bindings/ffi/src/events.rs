//! The wallet's lock state as the app observes it: a listener, a query
//! ([`crate::Wallet::lock_state`]), and an auto-lock after a timeout the app sets. (The progress
//! of collecting is collect.rs's `CollectListener`.)

use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::KluisError;

/// Whether the wallet can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LockState {
    /// Keys in memory: calls work.
    Unlocked,
    /// No key in memory: ask for the PIN.
    Locked,
    /// Wiped: start over.
    Wiped,
}

/// Why the lock state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LockReason {
    /// The PIN was accepted.
    Unlocked,
    /// The app called `lock()`.
    ByApp,
    /// No call for the auto-lock timeout.
    AutoLock,
    /// The wallet was wiped (by the app, or the wrong-PIN limit).
    Wiped,
}

/// Told of every change of the lock state, on a background thread (post to the UI thread).
#[uniffi::export(with_foreign)]
pub trait LockListener: Send + Sync {
    fn on_lock_state(&self, state: LockState, reason: LockReason);
}

/// The lock listener and the auto-lock timer of one wallet handle.
#[derive(Default)]
pub(crate) struct LockWatch {
    inner: Mutex<Watch>,
    changed: Condvar,
}

#[derive(Default)]
struct Watch {
    listener: Option<Arc<dyn LockListener>>,
    timeout: Option<Duration>,
    last_use: Option<Instant>,
    timer_running: bool,
}

impl LockWatch {
    fn watch(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_listener(&self, listener: Option<Arc<dyn LockListener>>) {
        self.watch().listener = listener;
    }

    /// Tells the listener (outside the lock: it may call back into the wallet).
    pub(crate) fn tell(&self, state: LockState, reason: LockReason) {
        let listener = self.watch().listener.clone();
        if let Some(l) = listener {
            l.on_lock_state(state, reason);
        }
    }

    /// A call started or ended: the idle time counts from now.
    pub(crate) fn touch(&self) {
        let mut w = self.watch();
        w.last_use = Some(Instant::now());
        self.changed.notify_all();
    }

    /// Sets the auto-lock timeout (null/nil: off) and starts the timer thread if needed. The
    /// thread holds only a weak reference: it ends with the wallet handle.
    pub(crate) fn set_timeout(
        self: &Arc<Self>,
        timeout: Option<Duration>,
        target: Weak<dyn AutoLockTarget>,
    ) -> Result<(), KluisError> {
        let start = {
            let mut w = self.watch();
            w.timeout = timeout;
            w.last_use = Some(Instant::now());
            self.changed.notify_all();
            let start = timeout.is_some() && !w.timer_running;
            if start {
                w.timer_running = true;
            }
            start
        };
        if start {
            let watch = Arc::downgrade(self);
            std::thread::Builder::new()
                .name("kluis-auto-lock".into())
                .spawn(move || run_timer(watch, target))
                .map_err(|_| KluisError::Internal {
                    reason: "cannot start the auto-lock timer".into(),
                })?;
        }
        Ok(())
    }
}

/// What the timer locks: the wallet handle.
pub(crate) trait AutoLockTarget: Send + Sync {
    /// Whether a call is running now (then the wallet is in use and not locked).
    fn busy(&self) -> bool;
    /// Locks if unlocked; true when it was unlocked.
    fn auto_lock(&self) -> bool;
}

fn run_timer(watch: Weak<LockWatch>, target: Weak<dyn AutoLockTarget>) {
    loop {
        let Some(w) = watch.upgrade() else { return };
        let due = {
            let mut g = w.watch();
            loop {
                let Some(timeout) = g.timeout else {
                    g.timer_running = false;
                    return;
                };
                let deadline = g.last_use.unwrap_or_else(Instant::now) + timeout;
                let now = Instant::now();
                if now >= deadline {
                    break true;
                }
                // Wake at the deadline, on a new setting, or to notice a dropped handle.
                let wait = (deadline - now).min(Duration::from_secs(5));
                g = w
                    .changed
                    .wait_timeout(g, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                if Arc::strong_count(&w) == 1 && target.strong_count() == 0 {
                    g.timer_running = false;
                    return;
                }
            }
        };
        let Some(t) = target.upgrade() else { return };
        if due {
            if t.busy() {
                w.touch();
            } else if t.auto_lock() {
                w.tell(LockState::Locked, LockReason::AutoLock);
                w.touch();
            } else {
                w.touch();
            }
        }
    }
}
