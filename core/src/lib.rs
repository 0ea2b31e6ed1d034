//! kluis-core: the use cases of a citizen's own data wallet.
//!
//! Layers, bottom up (dependencies point down only):
//! - [`kluis_crypto`]: AEAD envelopes, Argon2id, secret types (no I/O);
//! - [`kluis_vault`]: the encrypted SQLite record store;
//! - [`kluis_sdjwt`]: the SD-JWT VC credential format (issuer, holder, verifier sides);
//! - this crate: the wallet's use cases ([`Wallet`]), the trust store, the audit log and the
//!   verifier library that requesting parties use.
//!
//! Bindings (the uniffi crate, the `kluis` command) are thin shells over [`Wallet`] and
//! [`verifier`]; no domain logic lives there.

pub mod audit;
mod clock;
mod credentials;
pub mod delegation;
mod disclosure;
pub mod error;
mod holder_key;
pub mod http;
pub mod issuance;
mod jws;
pub mod openid4vp;
pub mod overview;
pub mod registration;
pub mod scheme;
pub mod status;
pub mod trust;
pub mod verifier;
mod wallet;

pub use clock::now_unix;
pub use credentials::{ClaimView, CredentialDetails, CredentialSummary, HolderBinding};
pub use error::{Error, ErrorCode};
pub use holder_key::{
    HolderKeyError, HolderKeyStore, KeyLocation, NewHolderKey, SoftwareHolderKeyStore,
};
pub use wallet::{Wallet, WalletStatus};

pub use kluis_crypto::{KdfParams, Pin};
pub use kluis_qr as qr;
pub use kluis_sdjwt as sdjwt;
pub use kluis_vault::{
    DeviceSecretError, DeviceSecretStore, OnLimit, SoftwareDeviceSecretStore, VaultOptions,
    VaultPolicy,
};
