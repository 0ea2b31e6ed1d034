//! The one error apps see, and the one function that maps the core's error onto it.
//!
//! Variants are what a user interface acts on (ask the PIN again, show a wait, offer a restore,
//! name an untrusted issuer). Texts and fields carry no secrets and no claim values: the core's
//! error already guarantees that, and the mapping adds nothing but the variant.

use kluis_core::{FailureCode, IssuanceFailure, NetworkFailure, RequestRefusal};

/// What went wrong, in terms an app can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KluisError {
    /// The PIN was wrong. `attempts_left` is absent when the wallet has no attempt limit;
    /// `retry_after_secs` is the wait before the next attempt is accepted (0: now).
    #[error("wrong PIN")]
    WrongPin {
        attempts_left: Option<u32>,
        retry_after_secs: u64,
    },
    /// Too many wrong PINs: no attempt is accepted for `retry_after_secs` seconds.
    #[error("too many wrong PINs: try again in {retry_after_secs} s")]
    LockedOut { retry_after_secs: u64 },
    /// The wrong-PIN limit was reached and the vault was destroyed (or this handle was wiped).
    #[error("the wallet was wiped")]
    Wiped,
    /// The wrong-PIN limit was reached under the lockout policy: no attempt is accepted any more.
    #[error("the wallet is locked for good after too many wrong PINs")]
    LockedPermanently,
    /// The key store lost or changed this wallet's device key (e.g. Android invalidated it after
    /// the screen lock changed): the wallet cannot be opened on this device.
    #[error("the device key of this wallet is gone or changed")]
    DeviceKeyChanged,
    /// The operation needs an unlocked wallet: ask for the PIN.
    #[error("the wallet is locked")]
    Locked,
    /// Another process holds the vault: try again shortly.
    #[error("the wallet is busy")]
    Busy,
    /// A record or the vault file failed its integrity check (tampered, moved, truncated).
    /// `record` names the record kind and opaque id only.
    #[error("integrity failure: {record}")]
    Integrity { record: String },
    /// There is no wallet in the given directory: offer to create one.
    #[error("no wallet found")]
    NoWallet,
    /// A credential failed verification; `reason` names the check that failed.
    #[error("invalid credential: {reason}")]
    InvalidCredential { reason: String },
    /// The credential's issuer, or its key, is not trusted by this wallet.
    #[error("untrusted issuer {issuer}")]
    UntrustedIssuer { issuer: String },
    /// A presentation failed verification; `reason` names the check that failed.
    #[error("invalid presentation: {reason}")]
    InvalidPresentation { reason: String },
    /// A requesting party's presentation request was refused (bad signature, party not in the
    /// scheme, response address off its registered origins, expired, replayed, malformed
    /// query): `code` names the check, for the app to word; the audit log's
    /// `PresentationRefused` records the same code. `detail` is English for developers: not for
    /// display (no personal data). Nothing was sent.
    #[error("request refused: {detail}")]
    InvalidRequest {
        code: RequestRefusal,
        detail: String,
    },
    /// No such credential, issuer or record (`what` is its kind and opaque id).
    #[error("not found: {what}")]
    NotFound { what: String },
    /// It exists already (a wallet in that directory, the same credential).
    #[error("already exists: {what}")]
    AlreadyExists { what: String },
    /// The app passed something unusable (bad JWK, bad claim path, weak KDF settings, ...).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// Storage, platform key store or another failure the user cannot fix by retrying input.
    #[error("internal error: {reason}")]
    Internal { reason: String },
    /// A data holder, requesting party or the scheme could not be reached (after bounded
    /// retries): `kind` says how, for the app to word. `detail` is English for developers: not
    /// for display (no personal data). Nothing was stored: offer "try again later".
    #[error("network: {detail}")]
    Network {
        kind: NetworkFailure,
        detail: String,
    },
    /// A server's TLS certificate was refused: it does not chain to a trusted root (the
    /// platform's, or `HttpSettings.trusted_roots`), is expired, or names another host. Retrying
    /// will not help; nothing was stored. Show "this service's identity could not be verified".
    #[error("TLS: {reason}")]
    Tls { reason: String },
    /// A data holder refused the request (wrong transaction code, expired offer) or answered
    /// outside the protocol: `kind` says which, with the holder's error code when it sent one.
    /// `detail` is English for developers: not for display. Nothing was stored.
    #[error("issuance failed: {detail}")]
    Issuance {
        kind: IssuanceFailure,
        detail: String,
    },
    /// The login at the holder (authorization code flow) was refused: `refusal` says which
    /// check failed, `reason` says it in words (no code, state or token in either). Nothing was
    /// sent on or stored; start again from the offer.
    #[error("authorization refused: {reason}")]
    Authorization {
        refusal: AuthorizationRefusal,
        reason: String,
    },
    /// A holder key in the app's `HolderKeyStore` needs the user to authenticate (biometrics
    /// or device credential) first: prompt, then call again. Nothing was sent or stored.
    #[error("the holder key needs the user to authenticate first")]
    UserAuthenticationRequired,
    /// The user or the app cancelled (a dismissed prompt). Nothing was sent or stored.
    #[error("cancelled")]
    Cancelled,
    /// The app's holder key store failed, did not answer in time, lost the key, or returned a
    /// signature that does not verify under the key. Nothing was sent or stored.
    #[error("holder key store: {reason}")]
    HolderKey { reason: String },
    /// The recovery words do not open this backup (another wallet's words or backup). Ask again;
    /// nothing was restored.
    #[error("the recovery secret does not open this backup")]
    WrongRecoverySecret,
    /// The file is not a kluis backup, of an unknown format, cut short or changed. Nothing was
    /// restored.
    #[error("backup unusable: {reason}")]
    BackupDamaged { reason: String },
    /// The wallet has no recovery secret yet: call `make_recovery_secret` and show the words.
    #[error("no recovery secret yet")]
    NoRecoverySecret,
    /// The directory holds another wallet: a backup is not restored over it.
    #[error("the directory holds another wallet")]
    BackupOfAnotherWallet,
    /// The disk is full: nothing was written or changed.
    #[error("not enough space while {what}")]
    StorageFull { what: String },
}

impl From<kluis_core::Error> for KluisError {
    /// The one mapping from the core's error. Exhaustive on purpose: a new core variant must be
    /// given its FFI meaning here before the bindings build again.
    fn from(e: kluis_core::Error) -> Self {
        use kluis_core::Error as E;
        match e {
            E::WrongPin {
                attempts_left,
                retry_after_secs,
            } => KluisError::WrongPin {
                attempts_left,
                retry_after_secs,
            },
            E::LockedOut { retry_after_secs } => KluisError::LockedOut { retry_after_secs },
            E::Wiped => KluisError::Wiped,
            E::LockedPermanently => KluisError::LockedPermanently,
            E::DeviceKeyChanged => KluisError::DeviceKeyChanged,
            E::Locked => KluisError::Locked,
            E::Busy => KluisError::Busy,
            E::Integrity { record } => KluisError::Integrity { record },
            E::NoVault => KluisError::NoWallet,
            E::InvalidCredential { reason } => KluisError::InvalidCredential { reason },
            E::UntrustedIssuer { issuer } => KluisError::UntrustedIssuer { issuer },
            E::InvalidPresentation { reason } => KluisError::InvalidPresentation { reason },
            E::InvalidRequest { code, reason } => KluisError::InvalidRequest {
                code,
                detail: reason,
            },
            E::NotFound { what } => KluisError::NotFound { what },
            E::AlreadyExists { what } => KluisError::AlreadyExists { what },
            E::InvalidInput { reason } => KluisError::InvalidInput { reason },
            E::Internal { reason } => KluisError::Internal { reason },
            E::Network { kind, reason } => KluisError::Network {
                kind,
                detail: reason,
            },
            E::Tls { reason } => KluisError::Tls { reason },
            E::Issuance { kind, reason } => KluisError::Issuance {
                kind,
                detail: reason,
            },
            E::Authorization { refusal } => KluisError::Authorization {
                reason: refusal.to_string(),
                refusal: refusal.into(),
            },
            E::UserAuthenticationRequired => KluisError::UserAuthenticationRequired,
            E::Cancelled => KluisError::Cancelled,
            E::HolderKey { reason } => KluisError::HolderKey { reason },
            E::WrongRecoverySecret => KluisError::WrongRecoverySecret,
            E::BackupDamaged { reason } => KluisError::BackupDamaged { reason },
            E::NoRecoverySecret => KluisError::NoRecoverySecret,
            E::BackupOfAnotherWallet => KluisError::BackupOfAnotherWallet,
            E::StorageFull { what } => KluisError::StorageFull { what },
        }
    }
}

/// Why a presentation request was refused (one code per check; the audit log's
/// `PresentationRefused.reason` is the same code in snake_case).
#[uniffi::remote(Enum)]
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
    /// The request was answered already (a replayed request): nothing is sent again.
    ReplayedNonce,
    /// The request is larger than the wallet reads.
    Oversized,
    /// The query is malformed or asks what the wallet cannot answer.
    MalformedQuery,
    /// The request object's `typ` is not `oauth-authz-req+jwt`.
    WrongTyp,
    /// A transaction to confirm is malformed or of a type the wallet does not know.
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

/// How a server could not be reached. Nothing was stored in any of these.
#[uniffi::remote(Enum)]
pub enum NetworkFailure {
    /// No connection could be made (down, no route, refused), after bounded retries.
    Unreachable,
    /// The server did not answer (or finish its answer) in time.
    Timeout,
    /// The server (or a gateway) said it is unavailable: HTTP 502/503/504 after the retries,
    /// or 503 from a holder that cannot check something it depends on now.
    Unavailable { status: u16 },
    /// The server answered with an HTTP error `status` where the exchange needs its content.
    HttpStatus { status: u16 },
    /// The connection broke while sending or reading; a POST may have been acted on.
    BrokeOff,
    /// The server answered, but not with what the exchange needs: trying again later may work.
    BadAnswer,
}

/// Why collecting from a data holder failed.
#[uniffi::remote(Enum)]
pub enum IssuanceFailure {
    /// The holder refused with HTTP `status` and, when it sent one, its OAuth 2.0 / OpenID4VCI
    /// `error` code (`invalid_grant`: a wrong transaction code or a used or expired offer;
    /// `invalid_proof`, `invalid_nonce`, `credential_request_denied`, `invalid_transaction_id`,
    /// ...). Codes a holder invents pass through; only plain codes, never free text.
    Refused { status: u16, error: Option<String> },
    /// The holder is still preparing the credential: collect again later.
    Pending,
    /// The holder or offer needs what kluis does not do, or lacks what it needs.
    Unsupported,
    /// The holder answered outside the protocol (malformed, missing fields, oversized).
    Malformed,
}

/// An error as a code with its parameters (no text), where a result reports a failure for one
/// item (a credential not refreshed).
#[uniffi::remote(Enum)]
pub enum FailureCode {
    /// The holder could not be reached.
    Network { kind: NetworkFailure },
    /// The holder's TLS certificate was refused.
    Tls,
    /// The holder refused or answered outside the protocol.
    Issuance { kind: IssuanceFailure },
    /// The login at the holder was refused.
    Authorization,
    /// What the holder sent failed verification, or its issuer is not trusted.
    InvalidCredential,
    /// Imported by hand: there is no holder to ask.
    NoHolder,
    /// A holder key needs the user to authenticate first.
    UserAuthenticationRequired,
    /// The app's holder key store failed.
    HolderKey,
    /// Cancelled by the user or the app.
    Cancelled,
    /// Anything else.
    Other,
}

/// Why a login at a holder (the authorization code flow) was refused: what an app shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AuthorizationRefusal {
    /// The browser came back to another URI than this session's redirect URI.
    OtherRedirect,
    /// The redirect's `state` is missing or another session's (forged, or an old tab).
    StateMismatch,
    /// The redirect's `iss` is missing or names another authorization server (mix-up attack).
    WrongIssuer,
    /// The holder did not authorize (the citizen cancelled the login, ...); `error` is its
    /// OAuth error code.
    Denied { error: String },
    /// The redirect carries no authorization code.
    NoCode,
    /// The holder refused the code (used before, expired, PKCE or redirect URI mismatch).
    CodeRefused { reason: String },
    /// The holder refused the DPoP proof or nonce (also after the one nonce retry).
    DpopRefused { reason: String },
    /// The holder cannot do the high-assurance flow (no PAR, no PKCE S256).
    Unsupported { reason: String },
    /// The wallet could not authenticate to the holder with a wallet attestation (no wallet
    /// provider, or the provider or the holder refused it).
    ClientAttestationRefused { reason: String },
}

impl From<kluis_core::AuthorizationRefusal> for AuthorizationRefusal {
    fn from(r: kluis_core::AuthorizationRefusal) -> Self {
        use kluis_core::AuthorizationRefusal as R;
        match r {
            R::OtherRedirect => AuthorizationRefusal::OtherRedirect,
            R::StateMismatch => AuthorizationRefusal::StateMismatch,
            R::WrongIssuer => AuthorizationRefusal::WrongIssuer,
            R::Denied { error } => AuthorizationRefusal::Denied { error },
            R::NoCode => AuthorizationRefusal::NoCode,
            R::CodeRefused { reason } => AuthorizationRefusal::CodeRefused { reason },
            R::DpopRefused { reason } => AuthorizationRefusal::DpopRefused { reason },
            R::Unsupported { reason } => AuthorizationRefusal::Unsupported { reason },
            R::ClientAttestationRefused { reason } => {
                AuthorizationRefusal::ClientAttestationRefused { reason }
            }
        }
    }
}

impl From<kluis_core::sdjwt::MetadataError> for KluisError {
    /// Type metadata handed in by the app does not parse or validate: the app's input.
    fn from(e: kluis_core::sdjwt::MetadataError) -> Self {
        KluisError::InvalidInput {
            reason: e.to_string(),
        }
    }
}

impl From<tokio::task::JoinError> for KluisError {
    /// The blocking task panicked or was cancelled: a bug, not the user's input.
    fn from(e: tokio::task::JoinError) -> Self {
        let what = if e.is_panic() {
            "panicked"
        } else {
            "was cancelled"
        };
        KluisError::Internal {
            reason: format!("the background task {what}"),
        }
    }
}

/// Errors an app's key store reports (Android Keystore, Secure Enclave). Only the kind and a
/// short reason travel: never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DeviceKeyStoreError {
    /// The key store cannot be used now (device locked, no hardware, user authentication needed).
    #[error("key store unavailable: {reason}")]
    Unavailable { reason: String },
    /// The secret could not be read, stored or deleted.
    #[error("key store I/O: {reason}")]
    Io { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for DeviceKeyStoreError {
    /// The app's implementation threw something other than a `DeviceKeyStoreError`.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        DeviceKeyStoreError::Unavailable {
            reason: format!("unexpected key store failure: {}", e.reason),
        }
    }
}
