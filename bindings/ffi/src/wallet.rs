//! The `Wallet` object: the core's wallet behind an FFI handle.
//!
//! Every call that derives a key or touches the vault file is `async` and runs on tokio's
//! blocking pool, so a Kotlin coroutine, Swift task or Python event loop is never blocked by
//! Argon2id or SQLite. `lock` and `is_unlocked` are instant and stay synchronous, so an app can
//! lock from its "went to background" callback.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kluis_core::Pin;

use crate::events::{AutoLockTarget, LockListener, LockReason, LockState, LockWatch};
use crate::holder_keys::ForeignHolderKeys;
use crate::key_store::DeviceKeyStoreAdapter;
use crate::{
    AuditEntry, CredentialDetails, CredentialSummary, DeviceKeyStore, HolderKeyStore, KluisError,
    TrustedIssuer, WalletOptions, WalletStatus,
};

type CoreWallet = kluis_core::Wallet;

/// A citizen's wallet over one encrypted vault in a directory of the app's private storage.
#[derive(uniffi::Object)]
pub struct Wallet {
    /// `None` once wiped: the core's `wipe` consumes the wallet.
    inner: Mutex<Option<Arc<CoreWallet>>>,
    /// The lock listener and the auto-lock timer.
    lock_watch: Arc<LockWatch>,
}

/// Whether a wallet exists in `dir` (decides between the "create" and "unlock" screens).
#[uniffi::export]
pub fn wallet_exists(dir: String) -> bool {
    CoreWallet::exists(Path::new(&dir))
}

/// Runs a blocking core call off the caller's thread and maps its error.
async fn blocking<T, F>(f: F) -> Result<T, KluisError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, kluis_core::Error> + Send + 'static,
{
    Ok(tokio::task::spawn_blocking(f).await??)
}

impl Wallet {
    pub(crate) fn wrap(
        core: CoreWallet,
        holder_keys: Option<Arc<dyn HolderKeyStore>>,
        timeout_ms: u64,
    ) -> Arc<Self> {
        let core = match holder_keys {
            Some(store) => core.with_holder_key_store(Arc::new(ForeignHolderKeys {
                store,
                timeout: std::time::Duration::from_millis(timeout_ms),
            })),
            None => core,
        };
        Arc::new(Wallet {
            inner: Mutex::new(Some(Arc::new(core))),
            lock_watch: Arc::default(),
        })
    }

    /// The core wallet, or `Wiped` after [`Wallet::wipe`]. Every call takes it: the auto-lock's
    /// idle time counts from here.
    pub(crate) fn core(&self) -> Result<Arc<CoreWallet>, KluisError> {
        self.lock_watch.touch();
        self.current().ok_or(KluisError::Wiped)
    }

    /// The core wallet without counting as use (queries of the lock state must not keep the
    /// wallet from locking itself).
    fn current(&self) -> Option<Arc<CoreWallet>> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(Arc::clone)
    }

    /// Tells the lock listener when a call found the wallet wiped (the wrong-PIN limit).
    fn noting_wipe<T>(&self, r: Result<T, KluisError>) -> Result<T, KluisError> {
        if matches!(r, Err(KluisError::Wiped)) {
            self.lock_watch.tell(LockState::Wiped, LockReason::Wiped);
        }
        r
    }

    /// Runs `f` on the core wallet on the blocking pool.
    pub(crate) async fn with_core<T, F>(&self, f: F) -> Result<T, KluisError>
    where
        T: Send + 'static,
        F: FnOnce(&CoreWallet) -> Result<T, kluis_core::Error> + Send + 'static,
    {
        let core = self.core()?;
        blocking(move || f(&core)).await
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Creates a wallet in `dir` (made if missing) protected by `pin` and the device secret from
    /// `key_store`, with a fresh wallet key. Returns it unlocked. Credential keys are made in
    /// `holder_keys` (the phone's secure hardware) when given, else in software in the vault;
    /// one call of that store may take `holder_key_timeout_ms` before it fails with `HolderKey`.
    #[uniffi::constructor(default(holder_keys = None, holder_key_timeout_ms = 120000))]
    pub async fn create(
        dir: String,
        pin: String,
        options: WalletOptions,
        key_store: Arc<dyn DeviceKeyStore>,
        holder_keys: Option<Arc<dyn HolderKeyStore>>,
        holder_key_timeout_ms: u64,
    ) -> Result<Arc<Self>, KluisError> {
        let pin = Pin::new(pin);
        let device = Arc::new(DeviceKeyStoreAdapter(key_store));
        let core =
            blocking(move || CoreWallet::create(Path::new(&dir), &pin, options.into(), device))
                .await?;
        Ok(Wallet::wrap(core, holder_keys, holder_key_timeout_ms))
    }

    /// Opens the wallet in `dir`, locked. `key_store` must be the one it was created with, and
    /// `holder_keys` too (keys it made cannot be used without it).
    #[uniffi::constructor(default(holder_keys = None, holder_key_timeout_ms = 120000))]
    pub async fn open(
        dir: String,
        key_store: Arc<dyn DeviceKeyStore>,
        holder_keys: Option<Arc<dyn HolderKeyStore>>,
        holder_key_timeout_ms: u64,
    ) -> Result<Arc<Self>, KluisError> {
        let device = Arc::new(DeviceKeyStoreAdapter(key_store));
        let core = blocking(move || CoreWallet::open(Path::new(&dir), device)).await?;
        Ok(Wallet::wrap(core, holder_keys, holder_key_timeout_ms))
    }

    /// Unlocks with the PIN. A wrong PIN is counted (with back-off that survives restarts) and
    /// fails with `WrongPin { attempts_left, retry_after_secs }`.
    pub async fn unlock(&self, pin: String) -> Result<(), KluisError> {
        let pin = Pin::new(pin);
        let was_unlocked = self.is_unlocked();
        let r = self.with_core(move |w| w.unlock(&pin)).await;
        if r.is_ok() && !was_unlocked {
            self.lock_watch
                .tell(LockState::Unlocked, LockReason::Unlocked);
        }
        self.noting_wipe(r)
    }

    /// Drops the data key and every derived key from memory (zeroized).
    pub fn lock(&self) {
        if let Some(core) = self.current() {
            let was_unlocked = core.is_unlocked();
            core.lock();
            if was_unlocked {
                self.lock_watch.tell(LockState::Locked, LockReason::ByApp);
            }
        }
    }

    /// Whether the wallet is unlocked, locked or wiped (as the lock listener last heard).
    pub fn lock_state(&self) -> LockState {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            None => LockState::Wiped,
            Some(w) if w.is_unlocked() => LockState::Unlocked,
            Some(_) => LockState::Locked,
        }
    }

    /// Tells `listener` of every change of the lock state (null/nil: nobody): unlocked, locked by
    /// the app or by the auto-lock, wiped. Replaces the earlier listener.
    pub fn set_lock_listener(&self, listener: Option<Arc<dyn LockListener>>) {
        self.lock_watch.set_listener(listener);
    }

    /// Locks the wallet (keys zeroized) once no call has started for `timeout_ms`
    /// milliseconds (null/nil: never). A call that is running is not interrupted: the wallet then
    /// locks when the timeout has passed after it. The listener hears `AutoLock`.
    pub fn set_auto_lock(self: Arc<Self>, timeout_ms: Option<u64>) -> Result<(), KluisError> {
        let target: Arc<dyn AutoLockTarget> = Arc::clone(&self) as Arc<dyn AutoLockTarget>;
        self.lock_watch.set_timeout(
            timeout_ms.map(Duration::from_millis),
            Arc::downgrade(&target),
        )
    }

    /// Whether the wallet is unlocked (false once wiped).
    pub fn is_unlocked(&self) -> bool {
        self.current().is_some_and(|w| w.is_unlocked())
    }

    /// Changes the PIN (the old one is checked and counted like an unlock).
    pub async fn change_pin(&self, old_pin: String, new_pin: String) -> Result<(), KluisError> {
        let (old, new) = (Pin::new(old_pin), Pin::new(new_pin));
        self.with_core(move |w| w.change_pin(&old, &new)).await
    }

    /// Destroys the wallet: the vault files and the device secret. Every later call on this
    /// handle fails with `Wiped`. Fails with `Busy` while another call on it is still running.
    pub async fn wipe(&self) -> Result<(), KluisError> {
        let core = {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let shared = guard.take().ok_or(KluisError::Wiped)?;
            match Arc::try_unwrap(shared) {
                Ok(core) => core,
                Err(shared) => {
                    *guard = Some(shared);
                    return Err(KluisError::Busy);
                }
            }
        };
        blocking(move || core.wipe()).await?;
        self.lock_watch.tell(LockState::Wiped, LockReason::Wiped);
        Ok(())
    }

    /// The wallet's state; works while locked (counts are then 0).
    pub async fn status(&self) -> Result<WalletStatus, KluisError> {
        self.with_core(|w| w.status().map(WalletStatus::from)).await
    }

    /// The holder's public key (P-256 JWK as JSON), to which issuers bind credentials.
    pub async fn holder_public_jwk(&self) -> Result<String, KluisError> {
        self.with_core(|w| w.holder_public_jwk()).await
    }

    /// Trusts `jwk_json` (a public P-256 JWK) as the key of issuer `issuer_id` (its `iss`).
    pub async fn add_trusted_issuer(
        &self,
        issuer_id: String,
        jwk_json: String,
    ) -> Result<TrustedIssuer, KluisError> {
        self.with_core(move |w| {
            w.add_trusted_issuer(&issuer_id, &jwk_json)
                .map(TrustedIssuer::from)
        })
        .await
    }

    /// The issuers this wallet trusts.
    pub async fn trusted_issuers(&self) -> Result<Vec<TrustedIssuer>, KluisError> {
        self.with_core(|w| {
            w.trusted_issuers()
                .map(|v| v.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Verifies an issued SD-JWT VC (compact form) fully and stores it.
    pub async fn import_credential(
        &self,
        compact: String,
    ) -> Result<CredentialSummary, KluisError> {
        self.with_core(move |w| w.import_credential(&compact)).await
    }

    /// The overview: every stored credential, oldest import first; display names in `lang`
    /// (`nl` or `en`).
    pub async fn credentials(&self, lang: String) -> Result<Vec<CredentialSummary>, KluisError> {
        self.with_core(move |w| w.credentials(&lang)).await
    }

    /// One credential with all its claims, labels in `lang`.
    pub async fn credential(
        &self,
        id: String,
        lang: String,
    ) -> Result<CredentialDetails, KluisError> {
        self.with_core(move |w| w.credential(&id, &lang).map(CredentialDetails::from))
            .await
    }

    /// Deletes a credential (logged).
    pub async fn delete_credential(&self, id: String) -> Result<(), KluisError> {
        self.with_core(move |w| w.delete_credential(&id)).await
    }

    /// A presentation of credential `id` disclosing exactly `claim_paths` (e.g. `/given_name`),
    /// with a key-binding JWT for `nonce` and `audience`; logged with the stated `purpose`.
    /// Returns the compact SD-JWT+KB.
    pub async fn present(
        &self,
        id: String,
        claim_paths: Vec<String>,
        nonce: String,
        audience: String,
        purpose: Option<String>,
    ) -> Result<String, KluisError> {
        self.with_core(move |w| {
            w.present_for(&id, &claim_paths, &nonce, &audience, purpose.as_deref())
        })
        .await
    }

    /// The consent and audit log, oldest first, after checking its hash chain.
    pub async fn audit_log(&self) -> Result<Vec<AuditEntry>, KluisError> {
        self.with_core(|w| {
            w.audit_log()
                .map(|v| v.into_iter().map(Into::into).collect())
        })
        .await
    }
}

impl AutoLockTarget for Wallet {
    fn busy(&self) -> bool {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // Every running call holds a clone of the core wallet.
        guard.as_ref().is_some_and(|w| Arc::strong_count(w) > 1)
    }

    fn auto_lock(&self) -> bool {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(w) if w.is_unlocked() => {
                w.lock();
                true
            }
            _ => false,
        }
    }
}
