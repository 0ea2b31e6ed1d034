//! Delegation (machtigen) in the wallets: a citizen authorises a helper with a scoped,
//! time-limited, revocable mandate; the helper presents on the citizen's behalf.
//!
//! The mandate format, its status list and the verifier rules are kluis-verifier's
//! ([`kluis_verifier::delegation`], re-exported here). This module adds what only wallets do:
//! - [`package`]: the credentials in scope with their mandates, encrypted to the helper (JWE);
//! - [`receipts`]: each use by the helper, reported to the citizen as a sealed receipt;
//! - `wallet`: the [`crate::Wallet`] use cases on both sides (answering an OpenID4VP request on
//!   the citizen's behalf is in `openid4vp`, above this module: delegation uses nothing of
//!   OpenID4VP, and the OpenID4VP verifier uses its rules).
//!
//! The format and the rules are written down in docs/DELEGATION.md.

pub mod package;
pub mod receipts;
mod wallet;

pub use kluis_verifier::delegation::{
    collect, mandate, publish_status_list, put_status, revocation, sign_status_list,
    sign_status_update, verify, verify_registry_status_list, verify_status_list,
    with_mandate_status, with_status, with_status_at, Action, DelegationContext, DelegationError,
    Mandate, MandateStatusLists, Publication, Scope, StatusRef, StatusRegistry, MANDATE_LIST_BITS,
    MANDATE_TYP, MAX_REGISTRY_LIST_SECS, STATUS_UPDATE_TYP,
};
pub use package::{MandatePackage, PackagedCredential, PACKAGE_TYP};
pub(crate) use wallet::{short_id, ReceivedMandate};
pub use wallet::{
    ClientLeftOut, ClientOverview, Clients, DelegateRequest, DelegationOutcome, HelperOverview,
    LeftOutCredential, MandateCredential, MandateRole, MandateState, MandateSummary,
    OnBehalfCollection, OnBehalfRefresh, OverviewSource, RefreshFailure, SourceOrigin,
};
