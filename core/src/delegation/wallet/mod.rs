//! The delegation use cases on [`Wallet`](crate::Wallet), both sides:
//! - citizen: [`Wallet::delegate`](crate::Wallet::delegate) (mandates + encrypted package),
//!   [`Wallet::revoke_mandate`](crate::Wallet::revoke_mandate);
//! - helper: [`Wallet::accept_mandate`](crate::Wallet::accept_mandate),
//!   [`Wallet::present_on_behalf`](crate::Wallet::present_on_behalf),
//!   [`Wallet::collect_on_behalf`](crate::Wallet::collect_on_behalf),
//!   [`Wallet::refresh_on_behalf`](crate::Wallet::refresh_on_behalf) (at every holder),
//!   [`Wallet::helper_overview`](crate::Wallet::helper_overview) (the counsellor's screen);
//! - both: [`Wallet::mandates`](crate::Wallet::mandates) (the helper's side drops revoked and
//!   expired packages there).
//!
//! Received packages are records of their own kind, separate from the helper's own credentials:
//! they never show in the overview and are never presented as the helper's own.
//!
//! One file per use case: `delegate` and `revoke` (the citizen), `accept` and `on_behalf` (the
//! helper), `collect` and `overview` (the helper, at the holders and on its screen), `mandates` (both: the list, dropping what expired or was revoked), `usage` (each use
//! logged by the helper, reported as a sealed receipt, collected by the citizen); `records` is
//! what the vault keeps. The types shared by all are here.

mod accept;
mod collect;
mod delegate;
mod mandate_list;
mod mandates;
mod on_behalf;
mod overview;
mod records;
mod revoke;
mod usage;

use serde::{Deserialize, Serialize};

use super::mandate::Action;
use super::DelegationError;
use crate::credentials::CredentialState;
use crate::{Error, NetworkFailure};

pub use collect::OnBehalfCollection;
pub use overview::{
    ClientLeftOut, ClientOverview, Clients, HelperOverview, OnBehalfRefresh, OverviewSource,
    RefreshFailure, SourceOrigin,
};
pub(crate) use records::ReceivedMandate;

/// Longest mandate the wallet issues (a mandate should be renewed, not forgotten).
pub const MAX_MANDATE_SECS: i64 = 2 * 366 * 24 * 3600;

/// What the citizen decides when delegating.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegateRequest {
    /// The helper's public key (JWK JSON, from the helper's `kluis key --json`).
    pub helper_jwk: String,
    /// Credential types in scope.
    pub types: Vec<String>,
    /// Claim paths in scope; `None`: every claim of those types.
    pub claims: Option<Vec<String>>,
    /// Actions allowed.
    pub actions: Vec<Action>,
    /// Start of validity (Unix seconds); `None`: now.
    pub not_before: Option<i64>,
    /// End of validity (Unix seconds).
    pub until: i64,
    /// Requesting parties (client ids) allowed; `None`: any.
    pub parties: Option<Vec<String>>,
    /// Purposes allowed; `None`: any.
    pub purposes: Option<Vec<String>>,
    /// Whom the package is for (shown in both wallets).
    pub label: String,
    /// The mandate registry's base URL, where the status list is published.
    pub registry: String,
}

/// Which side of a mandate this wallet is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MandateRole {
    /// This wallet gave the mandate (the citizen).
    Issued,
    /// This wallet received it (the helper).
    Received,
}

/// A mandate's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MandateState {
    /// Valid now.
    Active,
    /// Not valid yet (`nbf` in the future).
    NotYetValid,
    /// Past `exp` (a received package is dropped).
    Expired,
    /// Revoked by the citizen (a received package is dropped).
    Revoked,
    /// The status list could not be fetched (a received package is kept).
    Unknown,
}

/// One credential under a received mandate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandateCredential {
    /// Id within the mandate (for `present_on_behalf`).
    pub id: String,
    /// Credential type.
    pub vct: String,
    /// Issuer.
    pub issuer: String,
}

/// One line of `kluis mandates`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandateSummary {
    /// Mandate id.
    pub id: String,
    /// Given or received.
    pub role: MandateRole,
    /// Whom it is for, as the citizen named it.
    pub label: String,
    /// Thumbprint of the other side's key (the helper's, or the citizen's status key).
    pub counterpart: String,
    /// Types in scope.
    pub types: Vec<String>,
    /// Claim paths in scope (`None`: all).
    pub claims: Option<Vec<String>>,
    /// Actions allowed.
    pub actions: Vec<Action>,
    /// Parties allowed (`None`: any).
    pub parties: Option<Vec<String>>,
    /// Purposes allowed (`None`: any).
    pub purposes: Option<Vec<String>>,
    /// `nbf`.
    pub not_before: i64,
    /// `exp`.
    pub expires_at: i64,
    /// State now.
    pub state: MandateState,
    /// The credentials (received side; given side: their types only, ids empty).
    pub credentials: Vec<MandateCredential>,
}

/// The package and what it says, after [`Wallet::delegate`](crate::Wallet::delegate).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationOutcome {
    /// The mandate.
    pub mandate: MandateSummary,
    /// The encrypted package (compact JWE) to hand to the helper.
    pub package: String,
    /// Credentials in scope that were not packaged because their holder withdrew them.
    #[serde(default)]
    pub left_out: Vec<LeftOutCredential>,
}

/// A credential in a mandate's scope that [`Wallet::delegate`](crate::Wallet::delegate) did not
/// package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOutCredential {
    /// The credential's id in this wallet.
    pub credential_id: String,
    /// Its type.
    pub vct: String,
    /// Why: revoked, suspended or expired (as the status check just found).
    pub state: CredentialState,
}

// The label may name a person: left out of Debug (no personal data in logs).
impl std::fmt::Debug for DelegateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegateRequest")
            .field("types", &self.types)
            .field("actions", &self.actions)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MandateSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MandateSummary")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("state", &self.state)
            .field("types", &self.types)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DelegationOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegationOutcome")
            .field("mandate", &self.mandate)
            .field("package_bytes", &self.package.len())
            .field("left_out", &self.left_out)
            .finish()
    }
}

/// The public error for a rejected mandate or package (on the helper's side).
fn delegation_err(e: DelegationError) -> Error {
    match e {
        // The helper's wallet could not reach or check the list: a network problem, not a
        // bad mandate (the use is refused all the same).
        e @ (DelegationError::StatusUnchecked(_) | DelegationError::StatusUnreachable(_)) => {
            Error::Network {
                kind: NetworkFailure::BadAnswer,
                reason: format!("delegation: {e}"),
            }
        }
        DelegationError::Internal(what) => Error::Internal {
            reason: what.to_string(),
        },
        other => Error::InvalidCredential {
            reason: format!("delegation: {other}"),
        },
    }
}

pub(crate) fn short_id(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}
