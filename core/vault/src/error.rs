//! The vault's error type and the one place where lower-level errors are classified.
//!
//! Messages never hold key material, PINs or record contents: SQLite messages name tables
//! and constraints only, and JSON errors are reduced to their category and position.

use crate::RecordId;

/// Everything a vault operation can fail with. An app can act on each variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// There is no vault in this directory.
    #[error("no vault found")]
    NotFound,
    /// A vault already exists in this directory.
    #[error("a vault already exists here")]
    AlreadyExists,
    /// The vault is locked: unlock it first.
    #[error("the vault is locked")]
    Locked,
    /// The PIN was wrong. `attempts_left` is `None` when the policy sets no limit;
    /// `retry_after_secs` is the wait before the next attempt is accepted (0 = now).
    #[error("wrong PIN ({} attempts left, retry after {retry_after_secs} s)", attempts_left.map_or("unlimited".to_string(), |n| n.to_string()))]
    WrongPin {
        /// Attempts left before the limit policy applies.
        attempts_left: Option<u32>,
        /// Seconds before the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// Too many wrong PINs: the back-off is still running.
    #[error("too many wrong PINs: try again in {retry_after_secs} s")]
    LockedOut {
        /// Seconds before the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The attempt limit was reached and the policy locks the vault for good.
    #[error("too many wrong PINs: the vault is locked permanently")]
    LockedPermanently,
    /// The attempt limit was reached and the vault was destroyed (policy `Wipe`),
    /// or this handle refers to a vault that has been wiped.
    #[error("the vault has been wiped")]
    Wiped,
    /// Another process or thread holds the vault longer than the busy timeout.
    #[error("the vault is busy (another process is using it)")]
    Busy,
    /// One record failed to open: it was edited, moved or swapped. Other records are unaffected.
    #[error("record integrity check failed (kind {kind}, id {id})")]
    Integrity {
        /// The record's kind.
        kind: String,
        /// The record's opaque id.
        id: RecordId,
    },
    /// The vault file's seal does not match: its wrong-PIN policy, attempt counter or key
    /// header was edited outside kluis, or the seal was removed. Refused before any PIN attempt.
    #[error("vault file integrity check failed: {0}")]
    Tampered(&'static str),
    /// The vault file is an older copy of itself: its sealed write sequence is below the
    /// rollback counter the device keeps. Refused before any PIN attempt.
    #[error("vault file rolled back to an older copy (its write sequence is {file_seq}, the device has seen {device_seq})")]
    RolledBack {
        /// The write sequence sealed in the file.
        file_seq: u64,
        /// The device's rollback counter.
        device_seq: u64,
    },
    /// The file is not a kluis vault, or it is truncated or its header is broken.
    #[error("vault file is corrupt: {0}")]
    Corrupt(String),
    /// The device secret given is not the one this vault was made with (restored to another
    /// phone, key store reset). Not counted as a PIN attempt.
    #[error("the device key does not match this vault")]
    DeviceKeyMismatch,
    /// The KDF parameters are below the floor or above the ceiling.
    #[error("key derivation parameters refused: {0}")]
    KdfParams(String),
    /// The policy is not usable (e.g. a limit of zero attempts).
    #[error("vault policy invalid: {0}")]
    InvalidPolicy(&'static str),
    /// A record kind must be 1..=64 characters of `a-z 0-9 _ - .`.
    #[error("invalid record kind")]
    InvalidKind,
    /// A record id must be 1..=128 characters of `A-Z a-z 0-9 _ - . :`.
    #[error("invalid record id")]
    InvalidId,
    /// The platform key store failed.
    #[error("device key store: {0}")]
    DeviceSecret(#[from] DeviceSecretError),
    /// A file operation failed.
    #[error("file error: {0}")]
    Io(String),
    /// SQLite failed in a way that is neither busy nor corruption.
    #[error("storage error: {0}")]
    Storage(String),
    /// A record could not be encoded or decoded (category and position only).
    #[error("record encoding: {0}")]
    Encoding(String),
}

/// Errors of a [`crate::DeviceSecretStore`]. Platform implementations map theirs onto these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceSecretError {
    /// The key store cannot be used now (e.g. the device is locked, no hardware).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The secret returned is shorter than 32 bytes.
    #[error("secret too short")]
    TooShort,
    /// Reading or writing the secret failed.
    #[error("I/O: {0}")]
    Io(String),
}

impl From<rusqlite::Error> for VaultError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::DatabaseBusy | C::DatabaseLocked => VaultError::Busy,
                C::DatabaseCorrupt | C::NotADatabase => VaultError::Corrupt(e.to_string()),
                // Say what the user can act on; the failed transaction was rolled back.
                C::DiskFull => VaultError::Io("the disk is full".into()),
                C::SystemIoFailure => {
                    VaultError::Io("cannot write to storage (disk full or failing)".into())
                }
                C::CannotOpen | C::PermissionDenied | C::ReadOnly => VaultError::Io(e.to_string()),
                _ => VaultError::Storage(e.to_string()),
            },
            // Row/column shape mismatches: the header or a row is not what this code wrote.
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..) => {
                VaultError::Corrupt("unexpected column type".into())
            }
            _ => VaultError::Storage(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for VaultError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's Display can quote the offending value (personal data): keep only the
        // category and the position.
        VaultError::Encoding(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    }
}

impl From<std::io::Error> for VaultError {
    fn from(e: std::io::Error) -> Self {
        VaultError::Io(e.kind().to_string())
    }
}

impl From<kluis_crypto::CryptoError> for VaultError {
    fn from(e: kluis_crypto::CryptoError) -> Self {
        use kluis_crypto::CryptoError as E;
        match e {
            E::WeakKdfParams(m) | E::InvalidKdfParams(m) => VaultError::KdfParams(m.to_string()),
            E::InvalidSecretLength => VaultError::DeviceSecret(DeviceSecretError::TooShort),
            // Recovery words are read above the vault (the wallet's restore).
            E::InvalidRecoverySecret => VaultError::KdfParams("not a recovery secret".into()),
            // Callers map authentication failures themselves (WrongPin / Integrity); this is
            // the fallback for the header.
            E::Authentication | E::MalformedEnvelope => {
                VaultError::Corrupt("header failed to open".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_errors_do_not_quote_values() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            n: u32,
        }
        let e = serde_json::from_str::<T>(r#"{"n":"Jansen-Geheim"}"#).unwrap_err();
        assert!(
            e.to_string().contains("Jansen-Geheim"),
            "precondition: serde quotes values"
        );
        let v: VaultError = e.into();
        assert!(!v.to_string().contains("Jansen"), "{v}");
    }

    #[test]
    fn wrong_pin_message_names_attempts() {
        let e = VaultError::WrongPin {
            attempts_left: Some(2),
            retry_after_secs: 30,
        };
        assert_eq!(
            e.to_string(),
            "wrong PIN (2 attempts left, retry after 30 s)"
        );
    }
}
