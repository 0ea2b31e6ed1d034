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
    /// party, response URI off its registered origins, expired, malformed query ...). `code` is
    /// what an app words and the audit log's `PresentationRefused` records; `reason` is the
    /// developer's text (not for display).
    #[error("presentation request refused: {reason}")]
    InvalidRequest {
        code: RequestRefusal,
        reason: String,
    },
    /// The caller's input is not acceptable (bad JWK, bad URL, bad query, ...).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// Something failed inside (signing, encoding, a poisoned lock), not the input.
    #[error("internal error: {reason}")]
    Internal { reason: String },
    /// A server could not be reached (down, too slow), after bounded retries. `kind` is what an
    /// app words; `reason` is the developer's text (not for display).
    #[error("network: {reason}")]
    Network {
        kind: NetworkFailure,
        reason: String,
    },
    /// A server's TLS certificate was refused (see `HttpPolicy::tls`). Not retried.
    #[error("TLS: {reason}")]
    Tls { reason: String },
    /// A server answered outside the protocol (malformed, oversized) or refused the request.
    #[error("protocol: {reason}")]
    Protocol { reason: String },
}

/// Why a presentation request was refused: one code per check, shared by the error an app sees
/// and the audit log's `PresentationRefused` entry (its `reason`, the snake_case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestRefusal {
    /// The request object's signature does not verify, or it is not signed.
    BadSignature,
    /// The request object's `client_id` is not the link's.
    ClientIdMismatch,
    /// The party (or its attestation's subject) is not listed in the scheme.
    UnknownParty,
    /// The `client_id` prefix is one this wallet does not accept.
    UnsupportedClientId,
    /// The response would go over plain http.
    InsecureResponseUri,
    /// The response address is off the party's registered origins or redirect URIs.
    ForeignResponseUri,
    /// The request (or its attestation or certificate) is not valid yet.
    NotYetValid,
    /// The request (or its attestation or certificate) has expired.
    Expired,
    /// The request was answered already (its nonce seen before).
    ReplayedNonce,
    /// The request is larger than the wallet reads.
    Oversized,
    /// The DCQL query is malformed or asks what the wallet cannot answer.
    MalformedQuery,
    /// The request object's `typ` is not `oauth-authz-req+jwt`.
    WrongTyp,
    /// A `transaction_data` entry is malformed or of a type the wallet does not know.
    InvalidTransactionData,
    /// The link or request is a redirect the wallet does not follow.
    Redirect,
    /// An in-person (session QR) request that is not for this session: not encrypted to its
    /// key, or bound to another engagement.
    NotForThisSession,
    /// An in-person request that does not ask for an encrypted answer (`direct_post.jwt`).
    UnencryptedResponseMode,
    /// A certificate in the request's `x5c` chain has expired.
    CertificateExpired,
    /// The request's `x5c` chain does not lead to the scheme's certificate authority (or is
    /// malformed, or its leaf may not sign).
    UntrustedCertificate,
    /// A signed Digital Credentials API request names other `expected_origins` than the page.
    ForeignOrigin,
    /// Any other malformed or untrusted request.
    InvalidRequest,
}

impl RequestRefusal {
    /// The snake_case name (the audit log's `PresentationRefused.reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestRefusal::BadSignature => "bad_signature",
            RequestRefusal::ClientIdMismatch => "client_id_mismatch",
            RequestRefusal::UnknownParty => "unknown_party",
            RequestRefusal::UnsupportedClientId => "unsupported_client_id",
            RequestRefusal::InsecureResponseUri => "insecure_response_uri",
            RequestRefusal::ForeignResponseUri => "foreign_response_uri",
            RequestRefusal::NotYetValid => "not_yet_valid",
            RequestRefusal::Expired => "expired",
            RequestRefusal::ReplayedNonce => "replayed_nonce",
            RequestRefusal::Oversized => "oversized",
            RequestRefusal::MalformedQuery => "malformed_query",
            RequestRefusal::WrongTyp => "wrong_typ",
            RequestRefusal::InvalidTransactionData => "invalid_transaction_data",
            RequestRefusal::Redirect => "redirect",
            RequestRefusal::NotForThisSession => "not_for_this_session",
            RequestRefusal::UnencryptedResponseMode => "unencrypted_response_mode",
            RequestRefusal::CertificateExpired => "certificate_expired",
            RequestRefusal::UntrustedCertificate => "untrusted_certificate",
            RequestRefusal::ForeignOrigin => "foreign_origin",
            RequestRefusal::InvalidRequest => "invalid_request",
        }
    }
}

/// Why a server could not be reached: what an app words ("try again later", "the service is
/// down"). Nothing was stored in any of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NetworkFailure {
    /// No connection could be made (down, no route, refused), after bounded retries.
    Unreachable,
    /// The server did not answer (or finish its answer) in time.
    Timeout,
    /// The server (or a gateway in front of it) said it is unavailable: HTTP 502/503/504 after
    /// the retries, or 503 from a holder that cannot check something it depends on now.
    Unavailable { status: u16 },
    /// The server answered with an HTTP error `status` where the exchange needs its content
    /// (a request, list or receipt it does not hand out).
    HttpStatus { status: u16 },
    /// The connection broke while sending or reading; a POST may have been acted on.
    BrokeOff,
    /// The server answered, but not with what the exchange needs (a missing or stale list, a
    /// publication superseded meanwhile): trying again later may work.
    BadAnswer,
}

impl Error {
    /// A refused presentation request.
    pub fn refused(code: RequestRefusal, reason: impl Into<String>) -> Self {
        Error::InvalidRequest {
            code,
            reason: reason.into(),
        }
    }

    /// A server that could not be reached.
    pub fn network(kind: NetworkFailure, reason: impl Into<String>) -> Self {
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
