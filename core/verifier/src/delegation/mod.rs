//! Delegation (machtigen): a citizen authorises a helper with a scoped, time-limited, revocable
//! mandate; the helper presents on the citizen's behalf; verifiers check the whole chain.
//!
//! - [`mandate`]: the mandate JWT (`kluis-mandate+jwt`), signed by the credential's `cnf` key;
//! - [`revocation`]: the mandate status list: its format, signing and publication, and its
//!   verification;
//! - [`verify`]: the verifier rules, used by [`crate::presentation::verify`];
//! - [`collect`]: collecting under a mandate at a holder (token exchange, the actor proof, the
//!   `on_behalf_of` claim of what the holder issues).
//!
//! The wallets' side (the package to the helper, receipts, the use cases) is kluis-core's. The
//! format and the rules are written down in docs/DELEGATION.md.

pub mod collect;
pub mod mandate;
pub mod revocation;
pub mod verify;

pub use mandate::{Action, Mandate, Scope, StatusRef, StatusRegistry, MANDATE_TYP};
pub use revocation::{
    publish_status_list, put_status, sign_status_list, sign_status_update,
    verify_registry_status_list, verify_status_list, MandateStatusLists, Publication,
    MANDATE_LIST_BITS, MAX_REGISTRY_LIST_SECS, STATUS_UPDATE_TYP,
};
pub use verify::{with_mandate_status, with_status, with_status_at, DelegationContext};

use kluis_sdjwt::SdJwtError;

/// Why a delegated presentation, mandate or package was rejected. Each variant is one check;
/// messages name the check, never a claim value.
#[derive(Debug, thiserror::Error)]
pub enum DelegationError {
    /// The mandate or package is not well formed.
    #[error("malformed mandate: {0}")]
    Malformed(&'static str),
    /// A required mandate claim is missing.
    #[error("the mandate has no {0}")]
    MissingClaim(&'static str),
    /// The mandate's `typ` is not `kluis-mandate+jwt`.
    #[error("the mandate's typ is not kluis-mandate+jwt")]
    WrongTyp,
    /// The mandate's signature does not verify with the credential's `cnf` key (forged, signed by
    /// another key, or tampered with after signing).
    #[error("the mandate is not signed by the credential's holder key (cnf), or was altered")]
    MandateSignature,
    /// The key-binding JWT is not signed by the helper key the mandate names.
    #[error("the key-binding JWT is not signed by the helper key the mandate names")]
    KeyBindingSigner,
    /// Now is past the mandate's `exp`.
    #[error("the mandate has expired")]
    Expired,
    /// Now is before the mandate's `nbf`.
    #[error("the mandate is not valid yet")]
    NotYetValid,
    /// The credential's type is not in the mandate's scope.
    #[error("credential type {0} is outside the mandate's scope")]
    TypeOutOfScope(String),
    /// A disclosed claim is not in the mandate's scope.
    #[error("claim {0} is outside the mandate's scope")]
    ClaimOutOfScope(String),
    /// The mandate does not allow this action.
    #[error("the mandate does not allow the action {0}")]
    ActionNotAllowed(&'static str),
    /// The requesting party is not in the mandate's list.
    #[error("the mandate does not allow presenting to {0}")]
    PartyNotAllowed(String),
    /// The mandate limits purposes and this one is not among them (or none was stated).
    #[error("the mandate does not allow this purpose")]
    PurposeNotAllowed,
    /// The citizen revoked the mandate.
    #[error("the mandate has been revoked")]
    Revoked,
    /// Whether the mandate is revoked could not be established; fail closed.
    #[error("the mandate's revocation status could not be checked: {0}")]
    StatusUnchecked(String),
    /// The mandate's status list could not be fetched (its registry down or unreachable); fail
    /// closed, as a network error.
    #[error("the mandate's revocation status could not be checked: its status list could not be fetched ({0})")]
    StatusUnreachable(String),
    /// The helper's actor proof (token exchange at a holder) failed a check.
    #[error("the helper's actor proof is refused: {0}")]
    ActorProof(&'static str),
    /// A credential held on a citizen's behalf (`on_behalf_of`) was used without the mandate it
    /// was issued under, or with one that does not fit it.
    #[error("a credential held on a citizen's behalf: {0}")]
    OnBehalf(&'static str),
    /// A mandate derived from another mandate (re-delegation) or a chain of mandates.
    #[error("re-delegation: {0}")]
    Redelegation(&'static str),
    /// The SD-JWT presentation itself failed a check.
    #[error("{0}")]
    Presentation(#[from] SdJwtError),
    /// The package could not be opened or is not what it claims.
    #[error("mandate package: {0}")]
    Package(&'static str),
    /// Something failed inside (signing, encoding), not the input.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl DelegationError {
    /// The public error for a rejected presentation.
    pub fn into_presentation_error(self, presentation: &str) -> crate::Error {
        match self {
            DelegationError::Presentation(e) => crate::Error::from_presentation(e, presentation),
            DelegationError::Internal(what) => crate::Error::Internal {
                reason: what.to_string(),
            },
            // Refused all the same, but the registry is the problem, not the presentation.
            e @ DelegationError::StatusUnreachable(_) => crate::Error::Network {
                kind: crate::NetworkFailure::Unreachable,
                reason: format!("delegation: {e}"),
            },
            other => crate::Error::InvalidPresentation {
                reason: format!("delegation: {other}"),
            },
        }
    }
}
