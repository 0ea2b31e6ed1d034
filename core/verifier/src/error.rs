//! The one public error of kluis-verifier.
//!
//! The format layer's detailed errors (`SdJwtError`, `DelegationError`) are mapped here, in one
//! place, to variants a requesting party's back end can act on; kluis-core maps these in turn
//! into its own error (one variant each). Messages never hold secrets or claim values: at most
//! issuer identifiers, URLs shortened to their host, and the name of the check that failed.

use kluis_sdjwt::SdJwtError;

/// What went wrong while asking for or verifying credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A credential failed verification; `reason` names the check.
    #[error("invalid credential: {reason}")]
    InvalidCredential { reason: String },
    /// The credential's issuer (or key) is not trusted.
    #[error("untrusted issuer {issuer}")]
    UntrustedIssuer { issuer: String },
    /// A presentation failed verification; `reason` names the check.
    #[error("invalid presentation: {reason}")]
    InvalidPresentation { reason: String },
    /// A requesting party's presentation request is invalid or untrusted (bad signature, unknown
    /// party, response URI off its registered origins, expired, malformed query ...).
    #[error("presentation request refused: {reason}")]
    InvalidRequest { reason: String },
    /// The caller's input is not acceptable (bad JWK, bad URL, bad query, ...).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// Something failed inside (signing, encoding, a poisoned lock), not the input.
    #[error("internal error: {reason}")]
    Internal { reason: String },
    /// A server could not be reached (down, too slow), after bounded retries.
    #[error("network: {reason}")]
    Network { reason: String },
    /// A server's TLS certificate was refused (see `HttpPolicy::tls`). Not retried.
    #[error("TLS: {reason}")]
    Tls { reason: String },
    /// A server answered outside the protocol (malformed, oversized) or refused the request.
    #[error("protocol: {reason}")]
    Protocol { reason: String },
}

impl Error {
    pub(crate) fn invalid_input(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            reason: reason.into(),
        }
    }

    /// Maps a credential-format error met while verifying `presentation`.
    pub fn from_presentation(e: SdJwtError, presentation: &str) -> Self {
        match e {
            SdJwtError::UntrustedIssuer => Error::UntrustedIssuer {
                issuer: claimed_issuer(presentation),
            },
            other => Error::InvalidPresentation {
                reason: other.to_string(),
            },
        }
    }

    /// Maps a credential-format error met while importing `compact`, an issued credential.
    pub fn from_credential(e: SdJwtError, compact: &str) -> Self {
        match e {
            SdJwtError::UntrustedIssuer => Error::UntrustedIssuer {
                issuer: claimed_issuer(compact),
            },
            other => Error::InvalidCredential {
                reason: other.to_string(),
            },
        }
    }
}

/// The `iss` an (unverified) SD-JWT claims, to name an untrusted issuer to the user. Issuer
/// identifiers are public; anything odd is replaced so no payload content leaks into the text.
fn claimed_issuer(compact: &str) -> String {
    use base64::Engine;
    let iss = compact
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("iss").and_then(|i| i.as_str()).map(str::to_string));
    match iss {
        Some(i)
            if i.len() <= 200
                && (i.starts_with("https://") || i.starts_with("http://"))
                && !i.contains(char::is_whitespace) =>
        {
            i
        }
        _ => "(unnamed)".to_string(),
    }
}
