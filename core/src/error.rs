//! The one public error of kluis-core.
//!
//! Inner layers have detailed errors (`VaultError`, `SdJwtError`); this module maps them, in one
//! place, to variants an app or the CLI can act on. Messages never hold secrets or claim values:
//! at most opaque record ids, issuer identifiers and the name of the check that failed.

use kluis_sdjwt::SdJwtError;
use kluis_vault::VaultError;
use serde::Serialize;

pub use kluis_verifier::{NetworkFailure, RequestRefusal};

/// What went wrong, in terms a user interface can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The PIN was wrong. `attempts_left` is `None` when the app set no limit.
    #[error("wrong PIN ({})", attempts_text(*attempts_left, *retry_after_secs))]
    WrongPin {
        attempts_left: Option<u32>,
        retry_after_secs: u64,
    },
    /// Too many wrong PINs: wait before the next attempt.
    #[error("too many wrong PINs: try again in {retry_after_secs} s")]
    LockedOut { retry_after_secs: u64 },
    /// The wrong-PIN limit was reached and the vault was destroyed as its policy says.
    #[error("the wrong-PIN limit was reached and the vault was wiped")]
    Wiped,
    /// The wrong-PIN limit was reached and the vault refuses every further attempt (lockout policy).
    #[error("too many wrong PINs: this vault is locked for good")]
    LockedPermanently,
    /// The platform key store no longer has this vault's device secret (e.g. Android invalidated
    /// the key after the screen lock changed): the vault cannot be opened on this device.
    #[error("the device key of this vault is gone or changed: the vault cannot be opened here")]
    DeviceKeyChanged,
    /// The operation needs an unlocked vault.
    #[error("the vault is locked: unlock it with the PIN first")]
    Locked,
    /// Another process holds the vault.
    #[error("the vault is busy in another process: try again")]
    Busy,
    /// A record or the vault file failed its integrity check (tampered, moved, truncated).
    #[error("vault integrity failure: {record}")]
    Integrity { record: String },
    /// There is no vault at the given place.
    #[error("no vault found: create one first")]
    NoVault,
    /// A credential failed verification; `reason` names the check.
    #[error("invalid credential: {reason}")]
    InvalidCredential { reason: String },
    /// The credential's issuer (or key) is not trusted by this wallet.
    #[error("untrusted issuer {issuer}")]
    UntrustedIssuer { issuer: String },
    /// A presentation failed verification; `reason` names the check.
    #[error("invalid presentation: {reason}")]
    InvalidPresentation { reason: String },
    /// A requesting party's presentation request is invalid or untrusted (bad signature, unknown
    /// party, response URI off its registered origins, expired, replayed, malformed query ...).
    /// Nothing was sent. `code` is what an app words (and the audit log records); `reason` is
    /// the developer's text, not for display (no personal data).
    #[error("presentation request refused: {reason}")]
    InvalidRequest {
        code: RequestRefusal,
        reason: String,
    },
    /// No such credential, issuer or record.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// The thing exists already (a vault, the same credential).
    #[error("already exists: {what}")]
    AlreadyExists { what: String },
    /// The caller's input is not acceptable (bad JWK, bad claim path, ...).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// Storage or platform failure (disk, key store); no personal data in `reason`.
    #[error("internal error: {reason}")]
    Internal { reason: String },
    /// A data holder or the scheme could not be reached (down, too slow), after bounded retries.
    /// Nothing was stored; trying again later may work. `kind` is what an app words; `reason`
    /// is the developer's text, not for display.
    #[error("network: {reason}")]
    Network {
        kind: NetworkFailure,
        reason: String,
    },
    /// A server's TLS certificate was refused: it does not chain to a trusted root (see
    /// `HttpPolicy::tls`), is expired, or names another host. Not retried; nothing was sent
    /// beyond the TLS handshake and nothing was stored.
    #[error("TLS: {reason}")]
    Tls { reason: String },
    /// A data holder refused the request (wrong transaction code, expired offer, ...) or answered
    /// outside the protocol (malformed, oversized). Nothing was stored. `kind` is what an app
    /// words; `reason` is the developer's text, not for display.
    #[error("issuance failed: {reason}")]
    Issuance {
        kind: IssuanceFailure,
        reason: String,
    },
    /// The authorization code flow was refused, by the wallet (the redirect back is not the
    /// answer to its own request) or by the holder (code, PKCE, DPoP). Nothing was stored.
    #[error("authorization failed: {refusal}")]
    Authorization { refusal: AuthorizationRefusal },
    /// A holder key in the device's key store needs the user to authenticate (biometrics or
    /// device credential) first. Nothing was sent or stored: authenticate, then try again.
    #[error("the holder key needs the user to authenticate first")]
    UserAuthenticationRequired,
    /// The user or the app cancelled (a dismissed authentication prompt). Nothing was sent or
    /// stored.
    #[error("cancelled")]
    Cancelled,
    /// The holder key store failed, timed out, no longer has the key, or returned a signature
    /// that does not verify under the key. Nothing was sent or stored.
    #[error("holder key store: {reason}")]
    HolderKey { reason: String },
    /// The recovery secret does not open this backup: mistyped words that happen to pass the
    /// checksum, another wallet's words, or a backup of another wallet. Nothing was restored.
    #[error("the recovery secret does not open this backup (another secret, or another wallet's backup)")]
    WrongRecoverySecret,
    /// The file is not a kluis backup, is of an unknown format, cut short, or was changed.
    /// Nothing was restored.
    #[error("backup unusable: {reason}")]
    BackupDamaged { reason: String },
    /// The wallet has no recovery secret yet (made before backups): make one first.
    #[error("this wallet has no recovery secret yet: make one first")]
    NoRecoverySecret,
    /// The vault here belongs to another wallet than the backup: it is not overwritten.
    #[error("the vault here is another wallet's: the backup is not restored over it")]
    BackupOfAnotherWallet,
    /// The disk (or a file size limit) is full: nothing was written or changed.
    #[error("not enough space while {what}: nothing was changed")]
    StorageFull { what: String },
}

/// An error as a code with parameters and no text: what a result that reports a failure for
/// one item (a credential that was not refreshed, a holder that did not answer) carries for the
/// app to word. Built from the [`Error`] with [`Error::failure`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum FailureCode {
    /// The holder could not be reached.
    Network { kind: NetworkFailure },
    /// The holder's TLS certificate was refused.
    Tls,
    /// The holder refused or answered outside the protocol.
    Issuance { kind: IssuanceFailure },
    /// The login at the holder was refused (an authorization code flow or DPoP).
    Authorization,
    /// What the holder sent failed verification, or its issuer is not trusted.
    InvalidCredential,
    /// The credential was imported by hand: there is no holder to ask.
    NoHolder,
    /// A holder key needs the user to authenticate first.
    UserAuthenticationRequired,
    /// The app's holder key store failed.
    HolderKey,
    /// Cancelled by the user or the app.
    Cancelled,
    /// Anything else (storage, a mandate no longer usable, ...).
    Other,
}

/// Why collecting from a data holder failed, for the app to word.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IssuanceFailure {
    /// The holder refused with HTTP `status` and, when it sent one, its OAuth 2.0 / OpenID4VCI
    /// `error` code (RFC 6749 §5.2, OpenID4VCI 1.0 §8.3.1.2: `invalid_grant` for a wrong
    /// transaction code or a used or expired offer, `invalid_proof`, `invalid_nonce`,
    /// `credential_request_denied`, `invalid_transaction_id`, ...).
    Refused { status: u16, error: Option<String> },
    /// The holder is still preparing the credential: collect again later.
    Pending,
    /// The holder or offer needs what kluis does not do, or lacks what it needs (an offer for
    /// another flow, no refresh token, a deferred issuance kluis cannot pick up).
    Unsupported,
    /// The holder answered outside the protocol (malformed, missing fields, oversized, another
    /// number of copies than asked).
    Malformed,
}

impl IssuanceFailure {
    /// The holder's refusal in `reply` (its status and `error` code).
    pub(crate) fn refused(reply: &kluis_verifier::http::Reply) -> Self {
        IssuanceFailure::Refused {
            status: reply.status.as_u16(),
            error: reply.oauth_error_code(),
        }
    }
}

/// Why an authorization code flow (OpenID4VCI 1.0 §5–6, HAIP 1.0) was refused. Texts name the
/// check, never the code, state or tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationRefusal {
    /// The redirect came back to another URI than the one the wallet pushed.
    #[error("the redirect came back to another URI than the wallet's redirect_uri")]
    OtherRedirect,
    /// `state` missing or not the one the wallet sent (another session's, or forged).
    #[error("the redirect's state is not the one this wallet sent")]
    StateMismatch,
    /// `iss` missing or naming another authorization server (mix-up, RFC 9207).
    #[error("the redirect's iss is missing or names another authorization server (mix-up)")]
    WrongIssuer,
    /// The authorization server answered with an error (the citizen declined, ...).
    #[error("the holder did not authorize ({error})")]
    Denied { error: String },
    /// The redirect carries no `code`.
    #[error("the redirect carries no authorization code")]
    NoCode,
    /// The token endpoint refused the code (used before, expired, PKCE or redirect_uri mismatch).
    #[error("the holder refused the authorization code ({reason})")]
    CodeRefused { reason: String },
    /// A DPoP proof or nonce was refused (also after the one nonce retry).
    #[error("the holder refused the DPoP proof ({reason})")]
    DpopRefused { reason: String },
    /// The authorization server does not offer what HAIP 1.0 requires (PAR, S256).
    #[error("the holder's authorization server cannot do the high-assurance flow: {reason}")]
    Unsupported { reason: String },
    /// The wallet could not authenticate with a Wallet Attestation: no wallet provider in the
    /// scheme, the provider refused, or the holder refused the attestation or its PoP.
    #[error("wallet attestation: {reason}")]
    ClientAttestationRefused { reason: String },
}

fn attempts_text(attempts_left: Option<u32>, retry_after_secs: u64) -> String {
    let left = match attempts_left {
        Some(n) => format!("{n} attempts left"),
        None => "try again".to_string(),
    };
    if retry_after_secs > 0 {
        format!("{left}, wait {retry_after_secs} s")
    } else {
        left
    }
}

/// Stable codes for apps and scripts; the CLI's exit codes derive from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Wrong PIN, locked out, wiped after too many attempts, or locked.
    Authentication,
    /// The vault's integrity check failed.
    Integrity,
    /// A credential or presentation is invalid or untrusted.
    InvalidCredential,
    /// Bad input from the caller.
    InvalidInput,
    /// Anything else (busy, not found, storage).
    Other,
}

impl Error {
    /// The code class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::WrongPin { .. }
            | Error::LockedOut { .. }
            | Error::LockedPermanently
            | Error::DeviceKeyChanged
            | Error::Wiped
            | Error::Locked
            | Error::UserAuthenticationRequired
            | Error::WrongRecoverySecret => ErrorCode::Authentication,
            Error::Integrity { .. } | Error::BackupDamaged { .. } => ErrorCode::Integrity,
            Error::InvalidCredential { .. }
            | Error::UntrustedIssuer { .. }
            | Error::InvalidPresentation { .. }
            | Error::InvalidRequest { .. } => ErrorCode::InvalidCredential,
            Error::InvalidInput { .. } | Error::BackupOfAnotherWallet => ErrorCode::InvalidInput,
            Error::Busy
            | Error::NoVault
            | Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::Internal { .. }
            | Error::Network { .. }
            | Error::Tls { .. }
            | Error::Issuance { .. }
            | Error::Authorization { .. }
            | Error::Cancelled
            | Error::HolderKey { .. }
            | Error::NoRecoverySecret
            | Error::StorageFull { .. } => ErrorCode::Other,
        }
    }

    /// This error as a code with its parameters, without its text.
    pub fn failure(&self) -> FailureCode {
        match self {
            Error::Network { kind, .. } => FailureCode::Network { kind: *kind },
            Error::Tls { .. } => FailureCode::Tls,
            Error::Issuance { kind, .. } => FailureCode::Issuance { kind: kind.clone() },
            Error::Authorization { .. } => FailureCode::Authorization,
            Error::InvalidCredential { .. } | Error::UntrustedIssuer { .. } => {
                FailureCode::InvalidCredential
            }
            Error::UserAuthenticationRequired => FailureCode::UserAuthenticationRequired,
            Error::HolderKey { .. } => FailureCode::HolderKey,
            Error::Cancelled => FailureCode::Cancelled,
            _ => FailureCode::Other,
        }
    }

    /// A server that could not be reached.
    pub(crate) fn network(kind: NetworkFailure, reason: impl Into<String>) -> Self {
        Error::Network {
            kind,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_input(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// Maps a credential-format error met while importing `compact`, an issued credential.
    pub(crate) fn from_credential(e: SdJwtError, compact: &str) -> Self {
        kluis_verifier::Error::from_credential(e, compact).into()
    }
}

/// The verifier library's errors, one variant each (a server answering outside the protocol is
/// an issuance failure here: the wallet meets it fetching from data holders).
impl From<kluis_verifier::Error> for Error {
    fn from(e: kluis_verifier::Error) -> Self {
        use kluis_verifier::Error as V;
        match e {
            V::InvalidCredential { reason } => Error::InvalidCredential { reason },
            V::UntrustedIssuer { issuer } => Error::UntrustedIssuer { issuer },
            V::InvalidPresentation { reason } => Error::InvalidPresentation { reason },
            V::InvalidRequest { code, reason } => Error::InvalidRequest { code, reason },
            V::InvalidInput { reason } => Error::InvalidInput { reason },
            V::Internal { reason } => Error::Internal { reason },
            V::Network { kind, reason } => Error::Network { kind, reason },
            V::Tls { reason } => Error::Tls { reason },
            V::Protocol { reason } => Error::Issuance {
                kind: IssuanceFailure::Malformed,
                reason,
            },
        }
    }
}

impl From<VaultError> for Error {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::NotFound => Error::NoVault,
            VaultError::AlreadyExists => Error::AlreadyExists {
                what: "a vault".into(),
            },
            VaultError::Locked => Error::Locked,
            VaultError::WrongPin {
                attempts_left,
                retry_after_secs,
            } => Error::WrongPin {
                attempts_left,
                retry_after_secs,
            },
            VaultError::LockedOut { retry_after_secs } => Error::LockedOut { retry_after_secs },
            VaultError::Wiped => Error::Wiped,
            VaultError::LockedPermanently => Error::LockedPermanently,
            VaultError::DeviceKeyMismatch => Error::DeviceKeyChanged,
            VaultError::KdfParams(reason) => Error::InvalidInput {
                reason: format!("key derivation parameters: {reason}"),
            },
            VaultError::InvalidPolicy(reason) => Error::InvalidInput {
                reason: format!("wrong-PIN policy: {reason}"),
            },
            VaultError::Busy => Error::Busy,
            VaultError::Integrity { kind, id } => Error::Integrity {
                record: format!("{kind} record {id}"),
            },
            VaultError::Corrupt(what) => Error::Integrity {
                record: format!("vault file ({what})"),
            },
            e @ (VaultError::Tampered(_) | VaultError::RolledBack { .. }) => Error::Integrity {
                record: e.to_string(),
            },
            other => Error::Internal {
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kluis_verifier::Error as V;

    /// The split moved the verifier's errors into their own type; what a user or script sees of
    /// one (its text and its code class, hence the CLI's exit code) is what it was before.
    #[test]
    fn the_verifiers_errors_keep_their_text_and_class() {
        let r = || "the check".to_string();
        let cases = [
            (
                V::InvalidCredential { reason: r() },
                ErrorCode::InvalidCredential,
            ),
            (
                V::UntrustedIssuer { issuer: r() },
                ErrorCode::InvalidCredential,
            ),
            (
                V::InvalidPresentation { reason: r() },
                ErrorCode::InvalidCredential,
            ),
            (
                V::InvalidRequest {
                    code: RequestRefusal::BadSignature,
                    reason: r(),
                },
                ErrorCode::InvalidCredential,
            ),
            (V::InvalidInput { reason: r() }, ErrorCode::InvalidInput),
            (V::Internal { reason: r() }, ErrorCode::Other),
            (
                V::Network {
                    kind: NetworkFailure::Timeout,
                    reason: r(),
                },
                ErrorCode::Other,
            ),
            (V::Tls { reason: r() }, ErrorCode::Other),
        ];
        for (v, code) in cases {
            let e = Error::from(v.clone());
            assert_eq!(e.to_string(), v.to_string());
            assert_eq!(e.code(), code, "{v}");
        }
        // A server outside the protocol is what the wallet has always called an issuance failure.
        let e = Error::from(V::Protocol { reason: r() });
        assert_eq!(
            e,
            Error::Issuance {
                kind: IssuanceFailure::Malformed,
                reason: r()
            }
        );
    }
}
