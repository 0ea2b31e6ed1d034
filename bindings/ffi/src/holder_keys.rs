//! Holder keys in the phone's secure hardware: the foreign trait apps implement over the Android
//! Keystore (StrongBox where present, else the TEE) or the iOS Secure Enclave, and its adapter to
//! the core's [`kluis_core::HolderKeyStore`].
//!
//! The trait's methods are `async` (Kotlin `suspend`, Swift `async`) so the app can show an
//! authentication prompt while the wallet waits. The core calls its store synchronously on the
//! blocking pool; the adapter drives the app's future there, with a timeout, and drops it (which
//! cancels the coroutine or task) when the wait is over. The core never sees a private key: it
//! gets public keys and signatures, and checks every signature against the key before using it.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use kluis_core::sdjwt::PublicJwk;
use kluis_core::{HolderKeyError as CoreError, KeyLocation, NewHolderKey};
use zeroize::Zeroizing;

/// How long the wallet waits for one key store call by default (the user may be looking at an
/// authentication prompt).
pub const DEFAULT_HOLDER_KEY_TIMEOUT_MS: u64 = 120_000;

/// A key the app's store just made.
#[derive(Debug, Clone, uniffi::Record)]
pub struct HolderKeyInfo {
    /// The public key: X.509 SubjectPublicKeyInfo DER (Kotlin `PublicKey.encoded`, Swift
    /// `derRepresentation`) or the 65-byte uncompressed point (Swift `x963Representation`).
    pub public_key: Vec<u8>,
    /// The platform's key attestation chain, DER certificates, leaf first (Android
    /// `KeyStore.getCertificateChain`); empty where there is none (iOS).
    pub attestation_chain: Vec<Vec<u8>>,
}

/// Errors an app's holder key store reports. Only the kind and a short reason travel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HolderKeyError {
    /// The key is bound to user authentication and the user has not authenticated (Android
    /// `UserNotAuthenticatedException`; iOS: no passcode or biometry enrolled, or locked out).
    #[error("the key needs the user to authenticate")]
    UserAuthenticationRequired,
    /// The user dismissed the prompt, or the app cancelled.
    #[error("cancelled")]
    Cancelled,
    /// No key of that id (deleted, or invalidated: Android `KeyPermanentlyInvalidatedException`).
    #[error("the key is gone")]
    KeyGone,
    /// Anything else: no secure hardware, a key store failure.
    #[error("key store unavailable: {reason}")]
    Unavailable { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HolderKeyError {
    /// The app's implementation threw something other than a `HolderKeyError`.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HolderKeyError::Unavailable {
            reason: format!("unexpected key store failure: {}", e.reason),
        }
    }
}

impl From<HolderKeyError> for CoreError {
    fn from(e: HolderKeyError) -> Self {
        match e {
            HolderKeyError::UserAuthenticationRequired => CoreError::UserAuthenticationRequired,
            HolderKeyError::Cancelled => CoreError::Cancelled,
            HolderKeyError::KeyGone => CoreError::KeyGone,
            HolderKeyError::Unavailable { reason } => CoreError::Unavailable(reason),
        }
    }
}

/// The app's store of holder keys: one non-exportable P-256 signing key per credential copy.
/// Kotlin: `nl.kluis.JcaHolderKeyStore` (java.security, for tests and devices without a
/// Keystore) and `nl.kluis.android.AndroidKeystoreHolderKeyStore`; Swift:
/// `SecureEnclaveHolderKeyStore` (docs/BINDINGS.md). Calls come on background threads.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HolderKeyStore: Send + Sync {
    /// Makes a new non-exportable P-256 signing key named `key_id` (new, chosen by the wallet)
    /// and returns its public key. `attestation_challenge`, when given, goes into the key's
    /// attestation (Android `setAttestationChallenge`).
    async fn create_key(
        &self,
        key_id: String,
        attestation_challenge: Option<Vec<u8>>,
    ) -> Result<HolderKeyInfo, HolderKeyError>;

    /// Signs `signing_input` with ECDSA P-256 over SHA-256 (Kotlin `SHA256withECDSA`, Swift
    /// `signature(for:)`); DER or raw r‖s. May show an authentication prompt first.
    async fn sign(&self, key_id: String, signing_input: Vec<u8>)
        -> Result<Vec<u8>, HolderKeyError>;

    /// Deletes the key `key_id`. A key that is already gone is not an error.
    async fn delete_key(&self, key_id: String) -> Result<(), HolderKeyError>;
}

/// The app's [`HolderKeyStore`] as the core's store.
pub(crate) struct ForeignHolderKeys {
    pub(crate) store: Arc<dyn HolderKeyStore>,
    pub(crate) timeout: Duration,
}

impl ForeignHolderKeys {
    /// Runs one call of the app's store to its end, or until the timeout (the call's future is
    /// then dropped, which cancels the coroutine or task on the app's side).
    /// A call the app cancels (its coroutine of the wallet call, cancel.rs) ends at once as
    /// `Cancelled`, unless it is a clean-up (`cancellable` false: deleting keys must finish).
    fn wait<T, F>(&self, call: F, cancellable: bool) -> Result<T, CoreError>
    where
        F: Future<Output = Result<T, HolderKeyError>>,
    {
        let cancel = if cancellable {
            crate::cancel::current()
        } else {
            None
        };
        match block_on_until(call, Instant::now() + self.timeout, cancel.as_deref()) {
            Waited::Done(r) => r.map_err(CoreError::from),
            Waited::TimedOut => Err(CoreError::Timeout),
            Waited::Cancelled => Err(CoreError::Cancelled),
        }
    }
}

impl kluis_core::HolderKeyStore for ForeignHolderKeys {
    fn location(&self) -> KeyLocation {
        KeyLocation::Device
    }

    fn create_key(
        &self,
        key_id: &str,
        attestation_challenge: Option<&[u8]>,
    ) -> Result<NewHolderKey, CoreError> {
        let info = self.wait(
            self.store.create_key(
                key_id.to_string(),
                attestation_challenge.map(<[u8]>::to_vec),
            ),
            true,
        )?;
        let public_jwk = PublicJwk::from_platform_encoding(&info.public_key).map_err(|_| {
            // A key we cannot read is useless; do not leave it in the store.
            let _ = self.wait(self.store.delete_key(key_id.to_string()), false);
            CoreError::Unavailable("the key store returned no P-256 public key".into())
        })?;
        Ok(NewHolderKey {
            public_jwk,
            handle: Zeroizing::new(Vec::new()),
            attestation: info.attestation_chain,
        })
    }

    fn sign(&self, key_id: &str, _handle: &[u8], input: &[u8]) -> Result<Vec<u8>, CoreError> {
        self.wait(self.store.sign(key_id.to_string(), input.to_vec()), true)
    }

    fn delete_key(&self, key_id: &str, _handle: &[u8]) -> Result<(), CoreError> {
        self.wait(self.store.delete_key(key_id.to_string()), false)
    }
}

/// Wakes the waiting thread.
#[derive(Default)]
struct Signal {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        *self.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_one();
    }
}

enum Waited<T> {
    Done(T),
    TimedOut,
    Cancelled,
}

/// Polls `fut` on this thread until it completes, `deadline` passes or `cancel` is raised (the
/// future is then dropped). A foreign future needs no runtime: the app's side completes it
/// through a callback that wakes this thread.
fn block_on_until<F: Future>(
    fut: F,
    deadline: Instant,
    cancel: Option<&crate::cancel::CancelSignal>,
) -> Waited<F::Output> {
    let signal = Arc::new(Signal::default());
    let waker = Waker::from(Arc::clone(&signal));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    if let Some(c) = cancel {
        c.notify(&waker);
    }
    loop {
        if cancel.is_some_and(|c| c.is_raised()) {
            return Waited::Cancelled;
        }
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Waited::Done(v);
        }
        let mut woken = signal.woken.lock().unwrap_or_else(PoisonError::into_inner);
        while !*woken {
            if cancel.is_some_and(|c| c.is_raised()) {
                return Waited::Cancelled;
            }
            let now = Instant::now();
            if now >= deadline {
                return Waited::TimedOut;
            }
            woken = signal
                .cv
                .wait_timeout(woken, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *woken = false;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A future completed from another thread, as the app's callback completes a foreign one.
    struct Completed {
        done: Arc<Mutex<Option<u32>>>,
        waker: Arc<Mutex<Option<Waker>>>,
        dropped: Arc<AtomicBool>,
    }

    impl Future for Completed {
        type Output = u32;
        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            if let Some(v) = *self.done.lock().unwrap() {
                return Poll::Ready(v);
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    impl Drop for Completed {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn completed_after(delay: Option<Duration>) -> (Completed, Arc<AtomicBool>) {
        let done = Arc::new(Mutex::new(None));
        let waker: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let dropped = Arc::new(AtomicBool::new(false));
        if let Some(delay) = delay {
            let (done, waker) = (Arc::clone(&done), Arc::clone(&waker));
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                *done.lock().unwrap() = Some(7);
                if let Some(w) = waker.lock().unwrap().take() {
                    w.wake();
                }
            });
        }
        let f = Completed {
            done,
            waker,
            dropped: Arc::clone(&dropped),
        };
        (f, dropped)
    }

    #[test]
    fn a_future_completed_by_a_callback_on_another_thread_is_awaited() {
        let (f, _) = completed_after(Some(Duration::from_millis(50)));
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(matches!(block_on_until(f, deadline, None), Waited::Done(7)));
    }

    #[test]
    fn a_future_that_never_completes_is_dropped_at_the_deadline() {
        let (f, dropped) = completed_after(None);
        let started = Instant::now();
        assert!(matches!(
            block_on_until(f, started + Duration::from_millis(100), None),
            Waited::TimedOut
        ));
        assert!(started.elapsed() >= Duration::from_millis(100));
        // Dropping it is what cancels the app's coroutine or task.
        assert!(dropped.load(Ordering::SeqCst));
    }

    /// The app cancelling the wallet call (cancel.rs) ends a wait for its key store at once,
    /// raised from another thread while the wait sleeps, and drops the store's future.
    #[test]
    fn a_cancelled_call_stops_waiting_for_the_key_store() {
        let (f, dropped) = completed_after(None);
        let cancel = Arc::new(crate::cancel::CancelSignal::default());
        let raiser = Arc::clone(&cancel);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            raiser.raise();
        });
        let far = Instant::now() + Duration::from_secs(600);
        assert!(matches!(
            block_on_until(f, far, Some(&cancel)),
            Waited::Cancelled
        ));
        assert!(dropped.load(Ordering::SeqCst));
        t.join().unwrap();
    }
}
