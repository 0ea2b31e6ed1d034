//! kluis-core: the use cases of a citizen's own data wallet.
//!
//! Layers, bottom up (dependencies point down only):
//! - [`kluis_crypto`]: AEAD envelopes, Argon2id, secret types (no I/O);
//! - [`kluis_vault`]: the encrypted SQLite record store;
//! - [`kluis_sdjwt`]: the SD-JWT VC credential format (issuer, holder, verifier sides);
//! - [`kluis_verifier`]: the requesting party's library (OpenID4VP, DCQL, trust, status lists,
//!   mandates) and the formats and checks the wallet shares with it; re-exported here where the
//!   bindings name them ([`verifier`], [`http`], [`scheme`], ...);
//! - this crate: the wallet's use cases ([`Wallet`]), the trust store and the audit log.
//!
//! Bindings (the uniffi crate, the `kluis` command) are thin shells over [`Wallet`] and
//! [`verifier`]; no domain logic lives there.

pub mod audit;
pub mod backup;
mod credentials;
pub mod delegation;
mod disclosure;
pub mod error;
mod holder_key;
pub mod issuance;
pub mod openid4vp;
pub mod overview;
pub mod scheme;
pub mod status;
pub mod trust;
mod wallet;

pub use credentials::{ClaimView, CredentialDetails, CredentialSummary, HolderBinding};
pub use error::{
    AuthorizationRefusal, Error, ErrorCode, FailureCode, IssuanceFailure, NetworkFailure,
    RequestRefusal,
};
pub use holder_key::{
    HolderKeyError, HolderKeyStore, KeyLocation, NewHolderKey, SoftwareHolderKeyStore,
};
use kluis_verifier::jws;
pub use kluis_verifier::presentation as verifier;
/// The verifier library's error ([`verifier`], [`openid4vp::verifier`], ...); `Error::from` maps it.
pub use kluis_verifier::Error as VerifierError;
pub use kluis_verifier::{http, now_unix, registration, x509};
pub use wallet::{Wallet, WalletStatus};

pub use kluis_crypto::{KdfParams, Pin};
pub use kluis_qr as qr;
pub use kluis_sdjwt as sdjwt;
pub use kluis_vault::{
    DeviceSecretError, DeviceSecretStore, OnLimit, SoftwareDeviceSecretStore, VaultOptions,
    VaultPolicy,
};
