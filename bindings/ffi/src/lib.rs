//! kluis-ffi: the kluis core for Kotlin (Android), Swift (iOS) and Python, through uniffi.
//!
//! A thin shell over [`kluis_core::Wallet`]: every method converts its arguments, runs the core
//! call on tokio's blocking pool (so an app never blocks its UI thread on Argon2id or SQLite), and
//! converts the result. No domain decisions are made here; errors are mapped in one place
//! ([`error`]). Apps supply the platform key store through the foreign trait [`DeviceKeyStore`];
//! [`software_key_store`] is the software default (CLI, tests, devices without a key store).
//! Credential keys can live in the phone's secure hardware through the foreign trait
//! [`HolderKeyStore`] (holder_keys.rs).
//!
//! Generated bindings: see docs/BINDINGS.md (Kotlin and Python are generated in the build, the
//! Swift sources are committed for SwiftPM and checked for freshness).

uniffi::setup_scaffolding!();

mod authorization;
mod backup;
mod cancel;
mod collect;
mod delegation;
mod error;
mod events;
mod helper;
mod holder_keys;
mod in_person;
mod key_store;
mod present;
mod types;
mod wallet;

pub use authorization::AuthorizationSession;
pub use backup::{restore_wallet, BackupFile, BackupInfo, Reissue, RestoreReport, RestoredWallet};
pub use cancel::CancelToken;
pub use collect::{
    recommended_collect_settings, recommended_http_settings, CollectEvent, CollectListener,
    CollectOutcome, CollectSettings, DeferredPoll, HttpSettings, OfferPreview, OfferSession,
    OfferedCredential, PendingCredential, RefreshReport, SchemeSummary,
};
pub use delegation::{
    DelegateRequest, DelegationOutcome, LeftOutCredential, MandateAction, MandateCredential,
    MandateRole, MandateState, MandateSummary,
};
pub use error::{AuthorizationRefusal, DeviceKeyStoreError, KluisError};
pub use events::{LockListener, LockReason, LockState};
pub use holder_keys::{
    HolderKeyError, HolderKeyInfo, HolderKeyStore, DEFAULT_HOLDER_KEY_TIMEOUT_MS,
};
pub use in_person::{
    qr_code, qr_png, OfflineItem, OfflineQr, OfflineQuery, QrCode, QrErrorCorrection,
    SessionChannel, SessionChannelError, SessionQr,
};
pub use key_store::{software_key_store, DeviceKeyStore};
pub use kluis_core::{FailureCode, IssuanceFailure, NetworkFailure, RequestRefusal};
pub use present::{
    CandidateStatus, CandidateView, ClaimRequest, DcApiResponse, DisclosedCredential, PartyView,
    PresentationChannel, PresentationChoice, PresentationFlag, PresentationOutcome,
    PresentationRequest, PresentationSession, PurposeView, QueryChoice, QueryView, ResponseAck,
    Transaction, TransactionView,
};
pub use types::{
    dangerous_test_wallet_options, recommended_wallet_options, AuditActor, AuditEntry, AuditEvent,
    ClaimView, CredentialDetails, KdfSettings, LimitAction, PinPolicy, TrustedIssuer,
    WalletOptions, WalletStatus,
};
// The core's own types, crossing as they are (`#[uniffi::remote]` in types.rs, collect.rs,
// delegation.rs and helper.rs).
pub use kluis_core::audit::{DeclineReason, Delivery};
pub use kluis_core::delegation::{
    ClientLeftOut, ClientOverview, HelperOverview, OnBehalfCollection, OnBehalfRefresh,
    OverviewSource, RefreshFailure as HolderRefreshFailure, SourceOrigin,
};
pub use kluis_core::issuance::{RefreshFailure, TxCodeSpec, TxInputMode};
pub use kluis_core::overview::{
    AddressView, DebtLine, Debts, IncomeKind, IncomeLine, LicenceView, Overview, OverviewWarning,
    VehicleView,
};
pub use kluis_core::status::{CredentialState, StatusReport};
pub use kluis_core::{CredentialSummary, HolderBinding};
pub use wallet::{wallet_exists, Wallet};

/// The version of kluis this library was built from (for an app's about screen and bug reports).
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
