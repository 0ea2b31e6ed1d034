//! Delegation through the binding (docs/DELEGATION.md): a citizen gives a helper a mandate over
//! some credentials; the helper accepts the encrypted package into its own wallet and acts on the
//! citizen's behalf until the mandate expires or the citizen revokes it.
//!
//! Citizen: [`Wallet::delegate`], [`Wallet::revoke_mandate`]. Helper: [`Wallet::accept_mandate`],
//! [`Wallet::accept_presentation_on_behalf`] (a party's request, verified by
//! [`Wallet::start_presentation`]), [`Wallet::present_on_behalf`], [`Wallet::view_on_behalf`].
//! Both: [`Wallet::mandates`]. Every check (scope, time, revocation, package sealing) is
//! kluis-core's (`delegation`); this module only converts.

use std::sync::Arc;

use kluis_core::delegation as dg;

use crate::collect::{blocking_async, HttpSettings};
use crate::present::{PresentationOutcome, PresentationSession};
use crate::types::ClaimView;
use crate::wallet::Wallet;
use crate::{CredentialState, KluisError};

/// What a helper may do with the credentials in scope.
pub type MandateAction = dg::Action;

#[uniffi::remote(Enum)]
pub enum MandateAction {
    /// Present (selected claims of) the credentials to requesting parties.
    Present,
    /// See the citizen's data in the helper's wallet.
    View,
    /// Re-fetch the credentials from their holders, where holders allow it.
    Refresh,
}

/// What the citizen decides when delegating.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct DelegateRequest {
    /// The helper's public key (JWK JSON, from the helper's `Wallet.holderPublicJwk()`).
    pub helper_jwk: String,
    /// Credential types (`vct`) in scope.
    pub types: Vec<String>,
    /// Claim paths in scope (`/address/locality`); absent: every claim of those types.
    pub claims: Option<Vec<String>>,
    /// Actions allowed.
    pub actions: Vec<MandateAction>,
    /// Start of validity (Unix seconds); absent: now.
    pub not_before: Option<i64>,
    /// End of validity (Unix seconds).
    pub until: i64,
    /// Requesting parties (client ids) allowed; absent: any.
    pub parties: Option<Vec<String>>,
    /// Purposes allowed; absent: any.
    pub purposes: Option<Vec<String>>,
    /// Whom the package is for (shown in both wallets).
    pub label: String,
    /// The mandate registry's base URL, where the mandate's revocation list is published.
    pub registry: String,
}

// The label may name a person and the key identifies the helper: left out (no personal data in
// logs), as in the core.
impl std::fmt::Debug for DelegateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegateRequest")
            .field("types", &self.types)
            .field("actions", &self.actions)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

impl From<DelegateRequest> for dg::DelegateRequest {
    fn from(r: DelegateRequest) -> Self {
        dg::DelegateRequest {
            helper_jwk: r.helper_jwk,
            types: r.types,
            claims: r.claims,
            actions: r.actions,
            not_before: r.not_before,
            until: r.until,
            parties: r.parties,
            purposes: r.purposes,
            label: r.label,
            registry: r.registry,
        }
    }
}

/// Which side of a mandate this wallet is on.
pub type MandateRole = dg::MandateRole;

#[uniffi::remote(Enum)]
pub enum MandateRole {
    /// This wallet gave the mandate (the citizen).
    Issued,
    /// This wallet received it (the helper).
    Received,
}

/// A mandate's state.
pub type MandateState = dg::MandateState;

#[uniffi::remote(Enum)]
pub enum MandateState {
    /// Valid now.
    Active,
    /// Not valid yet.
    NotYetValid,
    /// Past its end (a received package is dropped).
    Expired,
    /// Revoked by the citizen (a received package is dropped).
    Revoked,
    /// The revocation list could not be fetched (a received package is kept, but not used).
    Unknown,
}

/// One credential under a mandate.
pub type MandateCredential = dg::MandateCredential;

#[uniffi::remote(Record)]
pub struct MandateCredential {
    /// Id within the mandate (what `Wallet.presentOnBehalf` takes); empty on the giving side.
    pub id: String,
    /// Credential type.
    pub vct: String,
    /// Issuer.
    pub issuer: String,
}

/// A mandate as either wallet shows it.
pub type MandateSummary = dg::MandateSummary;

#[uniffi::remote(Record)]
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
    /// Claim paths in scope (absent: all).
    pub claims: Option<Vec<String>>,
    /// Actions allowed.
    pub actions: Vec<MandateAction>,
    /// Parties allowed (absent: any).
    pub parties: Option<Vec<String>>,
    /// Purposes allowed (absent: any).
    pub purposes: Option<Vec<String>>,
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub expires_at: i64,
    /// State now.
    pub state: MandateState,
    /// The credentials under it.
    pub credentials: Vec<MandateCredential>,
}

/// What `Wallet.delegate` made: the mandate and the package to hand to the helper.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct DelegationOutcome {
    /// The mandate.
    pub mandate: MandateSummary,
    /// The package: a compact JWE encrypted to the helper's key (text, for a QR code, file or
    /// message). Only the helper's wallet can open it. (Not `package`: a Kotlin keyword.)
    pub package_jwe: String,
    /// Credentials in scope left out of the package because their holder withdrew them (tell
    /// the citizen).
    pub left_out: Vec<LeftOutCredential>,
}

/// A credential in a mandate's scope that `Wallet.delegate` did not package.
pub type LeftOutCredential = dg::LeftOutCredential;

#[uniffi::remote(Record)]
pub struct LeftOutCredential {
    /// The credential's id in this wallet.
    pub credential_id: String,
    /// Its type.
    pub vct: String,
    /// Why: revoked, suspended or expired, as the status check just found.
    pub state: CredentialState,
}

impl std::fmt::Debug for DelegationOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegationOutcome")
            .field("mandate", &self.mandate)
            .field("package_bytes", &self.package_jwe.len())
            .field("left_out", &self.left_out)
            .finish()
    }
}

impl From<dg::DelegationOutcome> for DelegationOutcome {
    fn from(o: dg::DelegationOutcome) -> Self {
        DelegationOutcome {
            mandate: o.mandate,
            package_jwe: o.package,
            left_out: o.left_out,
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Citizen: gives a helper a mandate over the stored credentials of `request.types`,
    /// publishes its revocation bit at the registry, logs it, and returns the package encrypted
    /// to the helper's key. Bad input (helper key, types held nowhere, a period too long) is
    /// `InvalidInput`; an unreachable registry is `Network` and nothing is given.
    pub async fn delegate(
        &self,
        request: DelegateRequest,
        http: HttpSettings,
    ) -> Result<DelegationOutcome, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            core.delegate(&request.into(), http.into())
                .await
                .map(DelegationOutcome::from)
        })
        .await
    }

    /// Citizen: revokes a mandate this wallet gave (publishes the revoked bit). The helper's
    /// next use is refused and its package dropped.
    pub async fn revoke_mandate(
        &self,
        mandate_id: String,
        http: HttpSettings,
    ) -> Result<MandateSummary, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move { core.revoke_mandate(&mandate_id, http.into()).await })
            .await
    }

    /// Helper: opens a package with this wallet's key, verifies its credentials and mandates,
    /// and stores it apart from the helper's own credentials. A package for another wallet,
    /// or one that does not verify, is `InvalidCredential`.
    pub async fn accept_mandate(
        &self,
        package_jwe: String,
        http: HttpSettings,
    ) -> Result<MandateSummary, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move { core.accept_mandate(&package_jwe, http.into()).await })
            .await
    }

    /// Both sides: the mandates given and received, with their state now (the received ones are
    /// status-checked; revoked or expired packages are dropped).
    pub async fn mandates(&self, http: HttpSettings) -> Result<Vec<MandateSummary>, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move { core.mandates(http.into()).await }).await
    }

    /// Helper: answers a party's verified request (`Wallet.startPresentation`) on the
    /// citizen's behalf under `mandate_id`, disclosing what the request asks within the mandate's
    /// scope; logged. A revoked or expired mandate is `InvalidCredential` (its package dropped);
    /// a registry that cannot be reached is `Network`. Nothing is sent then.
    pub async fn accept_presentation_on_behalf(
        &self,
        mandate_id: String,
        session: Arc<PresentationSession>,
        http: HttpSettings,
    ) -> Result<PresentationOutcome, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.accept_presentation_on_behalf(&mandate_id, &request, http.into())
                .await
                .map(PresentationOutcome::from)
        })
        .await
    }

    /// Helper: an SD-JWT presentation (with the mandate in its key-binding JWT) of exactly
    /// `claims` of `credential` (its id or type) under `mandate_id`, for `audience` and `nonce`;
    /// logged. For channels other than `Wallet.acceptPresentationOnBehalf`.
    #[allow(clippy::too_many_arguments)]
    pub async fn present_on_behalf(
        &self,
        mandate_id: String,
        credential: String,
        claims: Vec<String>,
        nonce: String,
        audience: String,
        purpose: Option<String>,
        http: HttpSettings,
    ) -> Result<String, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            core.present_on_behalf(
                &mandate_id,
                &credential,
                &claims,
                &nonce,
                &audience,
                purpose.as_deref(),
                http.into(),
            )
            .await
        })
        .await
    }

    /// Helper: the claims of `credential` under `mandate_id` that the mandate covers, labels in
    /// `lang` (needs `view` in the mandate); logged as a use.
    pub async fn view_on_behalf(
        &self,
        mandate_id: String,
        credential: String,
        lang: String,
        http: HttpSettings,
    ) -> Result<Vec<ClaimView>, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            core.view_on_behalf(&mandate_id, &credential, &lang, http.into())
                .await
                .map(|claims| claims.into_iter().map(ClaimView::from).collect())
        })
        .await
    }
}
