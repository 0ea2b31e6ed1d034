//! Collecting through the binding: the scheme, OpenID4VCI offers, deferred pick-up, refresh,
//! status checks, the integrated overview and type metadata.
//!
//! The flow and every decision are kluis-core's (`issuance`, `scheme`, `status`, `overview`); this
//! module only converts. Network calls are the core's async functions, run whole on tokio's
//! blocking pool ([`blocking_async`]) because they also read and write the vault between requests.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kluis_core::issuance::{self as core_issuance, RefreshFailure, TxCodeSpec, TxInputMode};
use kluis_core::overview::{
    AddressView, DebtLine, Debts, IncomeKind, IncomeLine, LicenceView, Overview, OverviewWarning,
    VehicleView,
};
use kluis_core::sdjwt::MetadataRegistry;
use kluis_core::status::StatusReport;
use kluis_core::FailureCode;

use crate::cancel::CancelToken;
use crate::wallet::Wallet;
use crate::{CredentialState, CredentialSummary, KluisError};

/// Runs an async core call to completion on the blocking pool, so the SQLite work between its
/// requests never runs on the caller's (UI or coroutine) thread. The future is made there too, so
/// it need not be `Send`.
pub(crate) async fn blocking_async<T, F, Fut>(f: F) -> Result<T, KluisError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, kluis_core::Error>>,
{
    let runtime = tokio::runtime::Handle::current();
    Ok(tokio::task::spawn_blocking(move || runtime.block_on(f())).await??)
}

/// As [`blocking_async`], but dropping the returned future (a cancelled coroutine) cancels the
/// core call too: it is dropped at its next await or holder key store call, and its clean-up
/// runs (keys made for a collect that stored nothing are deleted). Only for calls that are all
/// or nothing until their last vault write; never for one that sends a presentation (which is
/// logged whether or not it arrived). A call cancelled after its write keeps what it wrote.
/// `token` (the app's [`CancelToken`]) cancels it too.
pub(crate) async fn cancellable<T, F, Fut>(
    token: Option<Arc<CancelToken>>,
    f: F,
) -> Result<T, KluisError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, kluis_core::Error>>,
{
    let runtime = tokio::runtime::Handle::current();
    let signal = token.map(|t| Arc::clone(&t.0)).unwrap_or_default();
    if signal.is_raised() {
        return Err(KluisError::Cancelled);
    }
    let inner = Arc::clone(&signal);
    let guard = crate::cancel::RaiseOnDrop(Some(signal));
    let task = tokio::task::spawn_blocking(move || {
        let _entered = crate::cancel::enter(Arc::clone(&inner));
        runtime.block_on(async {
            tokio::select! {
                biased;
                r = f() => r.map_err(KluisError::from),
                () = inner.raised() => Err(KluisError::Cancelled),
            }
        })
    });
    let out = task.await?;
    guard.disarm();
    out
}

// ---- settings ----

/// How the wallet talks to data holders and the scheme.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpSettings {
    /// Whole-request timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Connect timeout, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Extra attempts after the first, for failures that are safe to retry.
    pub retries: u32,
    /// Wait before the first retry, in milliseconds; doubles each time.
    pub backoff_ms: u64,
    /// Largest response body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Allow plain http to loopback hosts. Only for tests against the simulated holders: on a
    /// phone a credential's status URI must not make the wallet probe the phone's own ports.
    pub allow_loopback_http: bool,
    /// Certificate authorities (DER X.509) a server's TLS certificate may chain to, besides the
    /// platform's when `platform_roots` is on, instead of them when it is off. Android apps
    /// hand over the platform's trust store here (`PlatformTrustRoots.android()`, with
    /// `platform_roots` off); tests add their test CA. A value that is not a DER certificate
    /// fails the call with `InvalidInput`.
    #[uniffi(default)]
    pub trusted_roots: Vec<Vec<u8>>,
    /// Whether the platform TLS stack's own roots count: Security.framework's trust evaluation
    /// on iOS, the system store on desktop Linux. On Android OpenSSL sees only a stale factory
    /// copy: turn this off and pass the platform's roots in `trusted_roots`.
    #[uniffi(default = true)]
    pub platform_roots: bool,
}

/// The core's timeouts, retries and size cap, with plain http to loopback **off** (what an app on
/// a phone wants). Tests against the simulated holders turn `allow_loopback_http` on.
#[uniffi::export]
pub fn recommended_http_settings() -> HttpSettings {
    let p = core_issuance::HttpPolicy {
        allow_loopback_http: false,
        ..core_issuance::HttpPolicy::default()
    };
    HttpSettings {
        timeout_ms: p.timeout.as_millis() as u64,
        connect_timeout_ms: p.connect_timeout.as_millis() as u64,
        retries: p.retries,
        backoff_ms: p.backoff.as_millis() as u64,
        max_body_bytes: p.max_body_bytes as u64,
        allow_loopback_http: p.allow_loopback_http,
        trusted_roots: Vec::new(),
        platform_roots: true,
    }
}

impl From<HttpSettings> for core_issuance::HttpPolicy {
    fn from(s: HttpSettings) -> Self {
        core_issuance::HttpPolicy {
            timeout: Duration::from_millis(s.timeout_ms),
            connect_timeout: Duration::from_millis(s.connect_timeout_ms),
            retries: s.retries,
            backoff: Duration::from_millis(s.backoff_ms),
            max_body_bytes: usize::try_from(s.max_body_bytes).unwrap_or(usize::MAX),
            allow_loopback_http: s.allow_loopback_http,
            tls: if s.platform_roots {
                kluis_core::http::TlsRoots::platform_and(s.trusted_roots)
            } else {
                kluis_core::http::TlsRoots::only(s.trusted_roots)
            },
        }
    }
}

/// How to collect.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CollectSettings {
    /// Copies to ask for per credential, for unlinkable presentations (capped by the holder's
    /// batch size and the core's maximum, 10).
    pub copies: u32,
    /// How long to keep polling a deferred credential before leaving it for
    /// `Wallet.pollDeferred`, in milliseconds.
    pub deferred_wait_ms: u64,
    /// Language of display names (`nl` or `en`).
    pub lang: String,
    /// Network settings.
    pub http: HttpSettings,
}

/// The core's collecting defaults (3 copies, 5 s deferred wait, Dutch names) with
/// `recommendedHttpSettings()`.
#[uniffi::export]
pub fn recommended_collect_settings() -> CollectSettings {
    let o = core_issuance::CollectOptions::default();
    CollectSettings {
        copies: o.copies as u32,
        deferred_wait_ms: o.deferred_wait.as_millis() as u64,
        lang: o.lang,
        http: recommended_http_settings(),
    }
}

impl From<CollectSettings> for core_issuance::CollectOptions {
    fn from(s: CollectSettings) -> Self {
        core_issuance::CollectOptions {
            copies: s.copies as usize,
            http: s.http.into(),
            deferred_wait: Duration::from_millis(s.deferred_wait_ms),
            lang: s.lang,
        }
    }
}

// ---- the scheme ----

/// The pinned scheme and its participant list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SchemeSummary {
    /// Where the participant list is published.
    pub list_uri: String,
    /// RFC 7638 thumbprint of the pinned scheme key.
    pub key_thumbprint: String,
    /// Data holders listed.
    pub holders: u64,
    /// Requesting parties listed.
    pub requesting_parties: u64,
    /// The list is valid until (Unix seconds).
    pub expires_at: i64,
}

impl From<kluis_core::scheme::SchemeSummary> for SchemeSummary {
    fn from(s: kluis_core::scheme::SchemeSummary) -> Self {
        SchemeSummary {
            list_uri: s.list_uri,
            key_thumbprint: s.key_thumbprint,
            holders: s.holders as u64,
            requesting_parties: s.requesting_parties as u64,
            expires_at: s.expires_at,
        }
    }
}

// ---- offers ----

/// How the holder wants the transaction code entered.
#[uniffi::remote(Record)]
pub struct TxCodeSpec {
    /// The keyboard to show.
    pub input_mode: TxInputMode,
    /// Expected length, if the holder says.
    pub length: Option<u32>,
    /// What to tell the citizen (where the code is: letter, SMS).
    pub description: Option<String>,
}

/// The keyboard a transaction code needs.
#[uniffi::remote(Enum)]
pub enum TxInputMode {
    /// Digits only (also when the offer says nothing).
    Numeric,
    /// Any characters (also for a mode the holder names that the standard does not define).
    Text,
}

/// One credential type in an offer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OfferedCredential {
    /// The holder's configuration id.
    pub configuration_id: String,
    /// The credential type.
    pub vct: String,
    /// Display name in the requested language (issuer metadata, else type metadata).
    pub name: Option<String>,
    /// Whether the scheme lists this type for this holder.
    pub listed: bool,
}

/// Who offers what: shown to the citizen before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OfferPreview {
    /// The issuer identifier.
    pub issuer: String,
    /// The issuer's display name from its own metadata.
    pub issuer_name: Option<String>,
    /// The holder's name as registered in the scheme (prefer this one when present).
    pub registered_name: Option<String>,
    /// Whether the scheme lists this holder.
    pub listed_in_scheme: bool,
    /// Whether a key for this issuer was trusted by hand.
    pub trusted_by_hand: bool,
    /// Whether accepting would be allowed: every type listed for a listed holder, or the issuer
    /// trusted by hand. When false, show the offer as untrusted; accepting fails.
    pub trusted: bool,
    /// The credentials offered.
    pub credentials: Vec<OfferedCredential>,
    /// Present when the holder asks for a transaction code.
    pub tx_code: Option<TxCodeSpec>,
    /// The citizen logs in at the holder in a browser instead of typing a code: collect with
    /// [`Wallet::start_authorization`] and [`Wallet::finish_authorization`].
    pub needs_login: bool,
    /// Copies the holder issues per request.
    pub batch_size: u32,
}

impl From<core_issuance::OfferPreview> for OfferPreview {
    fn from(p: core_issuance::OfferPreview) -> Self {
        OfferPreview {
            trusted: p.trusted(),
            issuer: p.issuer,
            issuer_name: p.issuer_name,
            registered_name: p.registered_name,
            listed_in_scheme: p.listed_in_scheme,
            trusted_by_hand: p.trusted_by_hand,
            credentials: p
                .credentials
                .into_iter()
                .map(|c| OfferedCredential {
                    configuration_id: c.configuration_id,
                    vct: c.vct,
                    name: c.name,
                    listed: c.listed,
                })
                .collect(),
            tx_code: p.tx_code,
            needs_login: p.needs_login,
            batch_size: p.batch_size,
        }
    }
}

/// An offer the citizen is looking at. Give it to `Wallet.acceptOffer` once; after that (or
/// after a failed accept, e.g. a wrong transaction code) preview the offer again.
#[derive(uniffi::Object)]
pub struct OfferSession {
    preview: OfferPreview,
    inner: Mutex<Option<core_issuance::OfferSession>>,
}

#[uniffi::export]
impl OfferSession {
    /// What to show: who offers what, trusted or not, whether a transaction code is needed.
    pub fn preview(&self) -> OfferPreview {
        self.preview.clone()
    }

    /// Whether this session can still be accepted.
    pub fn is_open(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

impl OfferSession {
    /// The core session, once: accepting or starting a login uses it up.
    pub(crate) fn take(&self) -> Result<core_issuance::OfferSession, KluisError> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| KluisError::InvalidInput {
                reason: "this offer session was already used: preview the offer again".into(),
            })
    }
}

/// A credential the holder will deliver later (deferred issuance).
pub type PendingCredential = core_issuance::PendingSummary;

#[uniffi::remote(Record)]
pub struct PendingCredential {
    /// Opaque id of the pending transaction.
    pub id: String,
    /// The issuer.
    pub issuer: String,
    /// The type.
    pub vct: String,
    /// Why it is still pending, when the last poll failed (holder down, ...).
    pub note: Option<String>,
}

/// What accepting an offer did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CollectOutcome {
    /// What was offered.
    pub offer: OfferPreview,
    /// Credentials verified and stored.
    pub stored: Vec<CredentialSummary>,
    /// Credentials the holder delivers later (`Wallet.pollDeferred`, `Wallet.refresh`).
    pub pending: Vec<PendingCredential>,
    /// HTTP requests sent, retries included.
    pub requests: u64,
}

impl From<core_issuance::CollectOutcome> for CollectOutcome {
    fn from(o: core_issuance::CollectOutcome) -> Self {
        CollectOutcome {
            offer: o.offer.into(),
            stored: list(o.stored),
            pending: list(o.pending),
            requests: o.requests,
        }
    }
}

/// A credential that could not be refreshed or picked up: why as a code (no personal data).
#[uniffi::remote(Record)]
pub struct RefreshFailure {
    /// Credential or pending transaction id.
    pub id: String,
    /// Why, for the app to word.
    pub failure: FailureCode,
    /// English for developers: not for display.
    pub detail: String,
}

/// What `Wallet.pollDeferred` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeferredPoll {
    /// Delivered, verified and stored now.
    pub delivered: Vec<CredentialSummary>,
    /// Still pending.
    pub pending: Vec<PendingCredential>,
    /// Dropped: unknown to the holder, or the delivery failed verification.
    pub failed: Vec<RefreshFailure>,
}

impl From<core_issuance::DeferredPoll> for DeferredPoll {
    fn from(d: core_issuance::DeferredPoll) -> Self {
        DeferredPoll {
            delivered: list(d.delivered),
            pending: list(d.pending),
            failed: list(d.failed),
        }
    }
}

/// What `Wallet.refresh` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefreshReport {
    /// Credentials replaced by fresh ones from their holder.
    pub refreshed: Vec<CredentialSummary>,
    /// Deferred credentials delivered now.
    pub delivered: Vec<CredentialSummary>,
    /// Deferred credentials still pending.
    pub pending: Vec<PendingCredential>,
    /// Stale credentials that could not be refreshed.
    pub failed: Vec<RefreshFailure>,
    /// Credentials that were still fresh.
    pub fresh: u64,
}

impl From<core_issuance::RefreshReport> for RefreshReport {
    fn from(r: core_issuance::RefreshReport) -> Self {
        RefreshReport {
            refreshed: list(r.refreshed),
            delivered: list(r.delivered),
            pending: list(r.pending),
            failed: list(r.failed),
            fresh: r.fresh as u64,
        }
    }
}

/// One credential's state after a status check.
#[uniffi::remote(Record)]
pub struct StatusReport {
    /// Credential id.
    pub id: String,
    /// The issuer.
    pub issuer: String,
    /// The type.
    pub vct: String,
    /// The state found.
    pub status: CredentialState,
    /// Why it is `Unknown`, when it is.
    pub note: Option<String>,
}

// ---- the overview ----

/// One holder's line in the debt total.
#[uniffi::remote(Record)]
pub struct DebtLine {
    /// Holder name (as registered in the scheme, else the issuer identifier).
    pub holder: String,
    /// What the debt is (the credential type's display name).
    pub kind: String,
    /// Amount owed, in euro cents.
    pub amount_cents: i64,
    /// The credential it comes from.
    pub credential_id: String,
    /// Monthly payment in euro cents, when the holder states one.
    pub monthly_payment_cents: Option<i64>,
    /// Whether there is a payment arrangement, when the holder states it.
    pub payment_arrangement: Option<bool>,
}

/// Debts to the government.
#[uniffi::remote(Record)]
pub struct Debts {
    /// Sum of all lines, in euro cents.
    pub total_cents: i64,
    /// One line per holder and type.
    pub lines: Vec<DebtLine>,
}

/// One income figure.
#[uniffi::remote(Record)]
pub struct IncomeLine {
    /// Holder name.
    pub holder: String,
    /// Which figure it is.
    pub kind: IncomeKind,
    /// The year it is about.
    pub year: Option<i64>,
    /// Amount in euro cents.
    pub amount_cents: i64,
    /// The credential it comes from.
    pub credential_id: String,
}

/// Which income figure an `IncomeLine` is.
#[uniffi::remote(Enum)]
pub enum IncomeKind {
    /// Gross income over the year (UWV income statement).
    GrossIncome,
    /// Taxable income in box 1 (Belastingdienst assessment).
    TaxableIncomeBox1,
}

/// The registered address.
#[uniffi::remote(Record)]
pub struct AddressView {
    /// Street and house number.
    pub street: String,
    /// Postal code.
    pub postal_code: String,
    /// Place of residence.
    pub locality: String,
    /// Registered there since (ISO 8601 date, as the holder wrote it).
    pub registered_since: Option<String>,
    /// The credential it comes from.
    pub credential_id: String,
}

/// A vehicle registered to the citizen.
#[uniffi::remote(Record)]
pub struct VehicleView {
    /// Licence plate.
    pub license_plate: String,
    /// Make and model.
    pub description: String,
    /// First registration date (ISO 8601 date, as the holder wrote it).
    pub first_registration: Option<String>,
}

/// The driving licence.
#[uniffi::remote(Record)]
pub struct LicenceView {
    /// Categories, e.g. `["AM", "B"]`.
    pub categories: Vec<String>,
    /// Valid until (ISO 8601 date, as the holder wrote it).
    pub expiry_date: Option<String>,
}

/// Something the citizen should know about the overview: a code with its parameters, for the
/// app to word in the citizen's language. No claim values.
#[uniffi::remote(Enum)]
pub enum OverviewWarning {
    /// The credential was found revoked, suspended or expired (`state`) at its last status
    /// check: its figures are left out of the overview.
    LeftOut {
        credential_id: String,
        /// The credential type's display name (type metadata, else the `vct`).
        type_name: String,
        /// The holder's registered name, else its issuer identifier.
        holder: String,
        state: CredentialState,
    },
    /// The stored credential could not be read back (a damaged or tampered record): left out.
    Unreadable {
        credential_id: String,
        /// The credential type's display name (type metadata, else the `vct`).
        type_name: String,
        /// The holder's registered name, else its issuer identifier.
        holder: String,
    },
}

/// The integrated overview across holders.
#[uniffi::remote(Record)]
pub struct Overview {
    /// Debts to the government, per holder, with the total.
    pub debts: Debts,
    /// Income figures.
    pub income: Vec<IncomeLine>,
    /// Registered address.
    pub address: Option<AddressView>,
    /// Vehicles.
    pub vehicles: Vec<VehicleView>,
    /// Driving licence.
    pub driving_licence: Option<LicenceView>,
    /// Every credential, with its last known status.
    pub credentials: Vec<CredentialSummary>,
    /// What the citizen should know (revoked, expired or unreadable data left out of totals).
    pub warnings: Vec<OverviewWarning>,
}

fn list<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

// ---- progress ----

/// One step of collecting from a holder.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum CollectEvent {
    /// Asking `issuer` for its credentials (or for a deferred one, when polling).
    Started { issuer: String },
    /// `issuer` is still preparing a credential of type `vct` (deferred issuance).
    WaitingForDeferred { issuer: String, vct: String },
    /// What `issuer` delivered is verified and stored; `pending` comes later.
    Stored {
        issuer: String,
        stored: Vec<CredentialSummary>,
        pending: Vec<PendingCredential>,
    },
    /// Collecting from `issuer` failed with `error`; nothing of it was stored.
    Failed { issuer: String, error: KluisError },
}

impl From<&core_issuance::CollectEvent> for CollectEvent {
    fn from(e: &core_issuance::CollectEvent) -> Self {
        use core_issuance::CollectEvent as E;
        match e.clone() {
            E::Started { issuer } => CollectEvent::Started { issuer },
            E::WaitingForDeferred { issuer, vct } => {
                CollectEvent::WaitingForDeferred { issuer, vct }
            }
            E::Stored {
                issuer,
                stored,
                pending,
            } => CollectEvent::Stored {
                issuer,
                stored,
                pending,
            },
            E::Failed { issuer, error } => CollectEvent::Failed {
                issuer,
                error: error.into(),
            },
        }
    }
}

/// Receives the progress of a collect, in order, on the collecting thread (not the UI
/// thread: post to it). It only watches; it must return quickly and not throw.
#[uniffi::export(with_foreign)]
pub trait CollectListener: Send + Sync {
    fn on_event(&self, event: CollectEvent);
}

/// The app's listener as the core's progress.
pub(crate) struct Progress(pub(crate) Option<Arc<dyn CollectListener>>);

impl core_issuance::CollectProgress for Progress {
    fn event(&self, event: &core_issuance::CollectEvent) {
        if let Some(l) = &self.0 {
            l.on_event(event.into());
        }
    }
}

// ---- the wallet's collecting methods ----

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Pins the scheme: its participant list at `list_uri`, signed with `key_jwk_json` (a public
    /// P-256 JWK). Fetches and verifies the list now; replaces any earlier scheme (logged).
    pub async fn set_scheme(
        &self,
        list_uri: String,
        key_jwk_json: String,
        http: HttpSettings,
    ) -> Result<SchemeSummary, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            core.set_scheme(&list_uri, &key_jwk_json, http.into())
                .await
                .map(SchemeSummary::from)
        })
        .await
    }

    /// Fetches the pinned scheme's participant list again now (absent: no scheme pinned).
    pub async fn refresh_scheme(
        &self,
        http: HttpSettings,
    ) -> Result<Option<SchemeSummary>, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            core.refresh_scheme(http.into())
                .await
                .map(|s| s.map(SchemeSummary::from))
        })
        .await
    }

    /// The pinned scheme (absent: none pinned yet).
    pub async fn scheme(&self) -> Result<Option<SchemeSummary>, KluisError> {
        self.with_core(|w| w.scheme().map(|s| s.map(SchemeSummary::from)))
            .await
    }

    /// Reads a credential offer (QR code or deep link) and says who offers what, before
    /// anything is stored: fetches and checks the holder's metadata and refreshes the scheme
    /// list when due. Show `OfferSession.preview()`, ask for the transaction code if needed,
    /// then `Wallet.acceptOffer`.
    #[uniffi::method(default(cancel = None))]
    pub async fn preview_offer(
        &self,
        offer_uri: String,
        settings: CollectSettings,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Arc<OfferSession>, KluisError> {
        let core = self.core()?;
        let session = cancellable(cancel, move || async move {
            core.preview_offer(&offer_uri, settings.into()).await
        })
        .await?;
        Ok(Arc::new(OfferSession {
            preview: session.preview.clone().into(),
            inner: Mutex::new(Some(session)),
        }))
    }

    /// Accepts a previewed offer with the transaction code the holder sent (letter, SMS):
    /// collects every offered credential, verifies every copy and stores them all in one
    /// transaction (logged). On any failure nothing is stored: a wrong code is `Issuance`, an
    /// unlisted holder `UntrustedIssuer`, a missing code `InvalidInput`. The session is used up
    /// either way (`InvalidInput` if given again).
    ///
    /// `listener` hears each step (started, waiting for a deferred credential, stored, failed
    /// with the error). Cancelling the call (the coroutine) stops the collect: nothing of it
    /// is stored and the keys it made are deleted from the holder key store again; once its
    /// one vault write is done, the credentials stay stored.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn accept_offer(
        &self,
        session: Arc<OfferSession>,
        tx_code: Option<String>,
        listener: Option<Arc<dyn CollectListener>>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<CollectOutcome, KluisError> {
        let core = self.core()?;
        let taken = session.take()?;
        cancellable(cancel, move || async move {
            core.accept_offer_reporting(taken, tx_code.as_deref(), &Progress(listener))
                .await
                .map(CollectOutcome::from)
        })
        .await
    }

    /// Picks up deferred credentials that are ready (each transaction on its own; a holder that
    /// is down leaves its transaction pending with a note). `listener` hears each
    /// transaction: started, then stored, still waiting, or failed. Cancelling the call stops
    /// it; what was picked up before stays stored.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn poll_deferred(
        &self,
        settings: CollectSettings,
        listener: Option<Arc<dyn CollectListener>>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<DeferredPoll, KluisError> {
        let core = self.core()?;
        cancellable(cancel, move || async move {
            core.poll_deferred_reporting(settings.into(), &Progress(listener))
                .await
                .map(DeferredPoll::from)
        })
        .await
    }

    /// Deferred credentials not yet delivered.
    pub async fn pending_credentials(&self) -> Result<Vec<PendingCredential>, KluisError> {
        self.with_core(|w| w.pending_issuances()).await
    }

    /// Re-fetches stale credentials from their holders (all with `force`) and picks up
    /// deferred ones. Stale: expired, revoked or suspended at the last check, or in the last
    /// quarter of its validity.
    pub async fn refresh(
        &self,
        force: bool,
        settings: CollectSettings,
    ) -> Result<RefreshReport, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            core.refresh(force, settings.into())
                .await
                .map(RefreshReport::from)
        })
        .await
    }

    /// Checks every credential against its holder's signed Token Status List and its expiry;
    /// the result is kept (`CredentialSummary.status`) and changes are logged.
    pub async fn check_status(&self, http: HttpSettings) -> Result<Vec<StatusReport>, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move { core.check_status(http.into()).await }).await
    }

    /// The integrated overview (debts with their total, income, address, vehicles, driving
    /// licence), names in `lang`, amounts in euro cents; credentials found revoked, suspended or
    /// expired are left out of the totals and named in `warnings`, as codes for the app to word.
    pub async fn overview(&self, lang: String) -> Result<Overview, KluisError> {
        self.with_core(move |w| w.overview(&lang)).await
    }

    /// Sets the SD-JWT VC type metadata documents (JSON, one per type) that give credential
    /// types and claims their display names. Replaces the earlier set; nothing is changed if
    /// any document is invalid (`InvalidInput`).
    pub fn set_type_metadata(&self, documents: Vec<String>) -> Result<(), KluisError> {
        let registry = MetadataRegistry::from_json_documents(documents.iter().map(String::as_str))?;
        self.core()?.set_type_metadata(registry);
        Ok(())
    }
}
