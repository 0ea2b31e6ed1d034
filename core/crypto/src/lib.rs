//! kluis-crypto: the bottom layer. Secret types, Argon2id key derivation and the AEAD
//! envelopes the vault uses. No I/O, no storage: the vault decides where bytes live.
//!
//! Key hierarchy (see docs/VAULT.md):
//! PIN --Argon2id(salt, params)--> stretched --HKDF(device secret)--> [`Kek`]
//! [`Kek`] wraps a random [`Dek`]; the [`Dek`] yields a record key (XChaCha20-Poly1305)
//! and a lookup key (HMAC-SHA256) through HKDF with distinct labels.
//!
//! Keys are handles: their bytes never leave this crate, they have no `Debug`, and they
//! are zeroized when dropped. The primitives themselves are private (`hazmat`).

mod hazmat;
mod kdf;
mod keys;
mod recovery;

pub use kdf::{KdfParams, Salt};
pub use keys::{
    device_secret_check, scrub_stack, DataKeys, Dek, Kek, Pin, SealKey, DEVICE_SECRET_MIN_LEN,
    ENVELOPE_OVERHEAD,
};
pub use recovery::{BackupKey, RecoveryKek, RecoverySecret, RECOVERY_WORDS};

/// What can go wrong in the crypto layer. Messages hold no key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The KDF parameters are below the documented minimum (see [`KdfParams::MIN_M_KIB`]).
    #[error("key derivation parameters too weak: {0}")]
    WeakKdfParams(&'static str),
    /// The KDF parameters are malformed (e.g. memory too small for the lanes).
    #[error("key derivation parameters invalid: {0}")]
    InvalidKdfParams(&'static str),
    /// An envelope failed authentication: wrong key, or the bytes or their binding were changed.
    #[error("authentication failed")]
    Authentication,
    /// An envelope is too short or has an unknown version byte.
    #[error("malformed envelope")]
    MalformedEnvelope,
    /// A secret input (device secret) has the wrong length.
    #[error("secret has invalid length")]
    InvalidSecretLength,
    /// The recovery words are not 12 words of the list with a valid checksum.
    #[error("not a recovery secret: expected 12 words from the BIP-39 English list")]
    InvalidRecoverySecret,
}
