//! The helper at the holders and on its screen (docs/DELEGATION.md §8): collecting for the
//! citizen under a mandate ([`Wallet::collect_on_behalf`]), again at every holder of it
//! ([`Wallet::refresh_on_behalf`]), the counsellor's overview of one client or all
//! ([`Wallet::helper_overview`]), and the consent screen of an answer on the citizen's behalf
//! ([`Wallet::preview_presentation_on_behalf`]). Every check is kluis-core's (`delegation`); its
//! types cross as they are (`#[uniffi::remote]`).

use std::sync::Arc;

use kluis_core::delegation::{
    ClientLeftOut, ClientOverview, Clients, HelperOverview, OnBehalfCollection, OnBehalfRefresh,
    OverviewSource, RefreshFailure, SourceOrigin,
};
use kluis_core::overview::Overview;

use crate::cancel::CancelToken;
use crate::collect::{blocking_async, cancellable, CollectSettings, HttpSettings};
use crate::present::{DisclosedCredential, PresentationSession};
use crate::wallet::Wallet;
use crate::{FailureCode, KluisError, MandateCredential, MandateState};

/// What `Wallet.collectOnBehalf` stored under the mandate.
#[uniffi::remote(Record)]
pub struct OnBehalfCollection {
    /// The mandate collected under.
    pub mandate_id: String,
    /// The holder.
    pub issuer: String,
    /// The credentials stored (replacing ones collected earlier of the same type there).
    pub collected: Vec<MandateCredential>,
}

/// A holder that could not be refreshed under a mandate: its older credentials stay.
#[uniffi::remote(Record)]
#[uniffi(name = "HolderRefreshFailure")]
pub struct RefreshFailure {
    /// The holder.
    pub issuer: String,
    /// Why, for the app to word.
    pub failure: FailureCode,
    /// English for developers: not for display (no claim values).
    pub detail: String,
}

/// What `Wallet.refreshOnBehalf` did at the holders.
#[uniffi::remote(Record)]
pub struct OnBehalfRefresh {
    /// The credentials collected now and kept under the mandate.
    pub collected: Vec<MandateCredential>,
    /// Holders that did not deliver (their older credentials stay).
    pub failures: Vec<RefreshFailure>,
}

/// How the helper got a credential under the mandate.
#[uniffi::remote(Enum)]
pub enum SourceOrigin {
    /// In the citizen's package (as the citizen's wallet had it then).
    Packaged,
    /// Collected at its holder under the mandate.
    Collected,
}

/// One credential a client's overview is built from, and how old it is.
#[uniffi::remote(Record)]
pub struct OverviewSource {
    /// Its id within the mandate (as in the overview's lines).
    pub credential_id: String,
    /// The holder.
    pub issuer: String,
    /// Its type.
    pub vct: String,
    /// Packaged by the citizen or collected at the holder.
    pub origin: SourceOrigin,
    /// When the helper got it (the package accepted, or collected), Unix seconds.
    pub obtained_at: i64,
    /// When the holder issued it, when it says (Unix seconds).
    pub issued_at: Option<i64>,
    /// How old the data is now, in seconds (since issued, else since obtained).
    pub age_secs: i64,
}

/// One client's section of the helper's overview.
#[uniffi::remote(Record)]
pub struct ClientOverview {
    /// The mandate.
    pub mandate_id: String,
    /// Whom it is for, as the citizen named it.
    pub label: String,
    /// The overview of the mandate's credentials (debts with their total in cents, income,
    /// arrears), within its claim scope; its `credentials` is empty (see `sources`).
    pub overview: Overview,
    /// The credentials it is built from (newest of each type per holder), with their age.
    pub sources: Vec<OverviewSource>,
    /// Holders asked to refresh that did not (nothing lost: the older data stays).
    pub refresh_failures: Vec<RefreshFailure>,
}

/// A mandate `Wallet.helperOverview` for all clients could not show.
#[uniffi::remote(Record)]
pub struct ClientLeftOut {
    /// The mandate.
    pub mandate_id: String,
    /// Whom it is for.
    pub label: String,
    /// Why: revoked or expired (the package is dropped), not yet valid, status unknown.
    pub state: MandateState,
    /// False: the mandate does not allow `View`.
    pub view_allowed: bool,
}

/// The helper's overview: one section per client.
#[uniffi::remote(Record)]
pub struct HelperOverview {
    /// When it was made (Unix seconds).
    pub made_at: i64,
    /// One section per usable mandate.
    pub clients: Vec<ClientOverview>,
    /// Mandates left out and why.
    pub left_out: Vec<ClientLeftOut>,
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Helper: collects fresh credentials for the citizen at holder `issuer` (its issuer
    /// identifier) under received mandate `mandate_id`, without the citizen's phone: the types
    /// in `types` (empty: every type of the scope the holder issues). Needs `Refresh` in the
    /// mandate. Bound to this wallet's key, kept with the mandate (never as the helper's own),
    /// logged (`MandateCollected`). A revoked or expired mandate is `InvalidCredential` (its
    /// package dropped), one out of scope too; an unreachable registry is `Network`. On any
    /// failure nothing new is stored. Cancelling the call stops it before its vault write.
    #[uniffi::method(default(cancel = None))]
    pub async fn collect_on_behalf(
        &self,
        mandate_id: String,
        issuer: String,
        types: Vec<String>,
        settings: CollectSettings,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<OnBehalfCollection, KluisError> {
        let core = self.core()?;
        cancellable(cancel, move || async move {
            core.collect_on_behalf(&mandate_id, &issuer, &types, settings.into())
                .await
        })
        .await
    }

    /// Helper: collects again at every holder of the credentials under `mandate_id` (as
    /// `Wallet.collectOnBehalf` at each, all at once). A holder that fails is named in
    /// `failures` and its older credentials stay. Needs `Refresh`; a mandate revoked or expired
    /// (also meanwhile) is `InvalidCredential`, its package dropped and nothing new kept.
    /// Cancelling stops it before its one vault write.
    #[uniffi::method(default(cancel = None))]
    pub async fn refresh_on_behalf(
        &self,
        mandate_id: String,
        settings: CollectSettings,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<OnBehalfRefresh, KluisError> {
        let core = self.core()?;
        cancellable(cancel, move || async move {
            core.refresh_on_behalf(&mandate_id, settings.into()).await
        })
        .await
    }

    /// Helper (the counsellor's screen): for the client under `mandate_id` (null/nil: every
    /// client), the integrated overview from the mandate's credentials within its claim scope,
    /// names in `settings.lang`, amounts in euro cents, with each source's age. With `refresh`,
    /// first collects again at the holders (a holder that fails is named, its older figures
    /// kept). Needs `View`. One mandate that cannot be used is `InvalidCredential` (`Network`
    /// if its status could not be checked); for every client it is listed in `leftOut`. Each
    /// client's overview is logged as a use and reported to the citizen.
    pub async fn helper_overview(
        &self,
        mandate_id: Option<String>,
        refresh: bool,
        settings: CollectSettings,
    ) -> Result<HelperOverview, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            let clients = match &mandate_id {
                Some(id) => Clients::One(id),
                None => Clients::All,
            };
            let lang = settings.lang.clone();
            core.helper_overview(clients, &lang, refresh, settings.into())
                .await
        })
        .await
    }

    /// Helper: what `Wallet.acceptPresentationOnBehalf` would send for `session` under
    /// `mandate_id`, per query and credential, built the same way but not sent, logged or
    /// recorded: the helper's consent screen shows exactly what leaves. The same refusals as
    /// answering (`InvalidInput` when the mandate or the party's registration does not cover
    /// what it asks).
    pub async fn preview_presentation_on_behalf(
        &self,
        mandate_id: String,
        session: Arc<PresentationSession>,
        http: HttpSettings,
    ) -> Result<Vec<DisclosedCredential>, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.preview_presentation_on_behalf(&mandate_id, &request, http.into())
                .await
                .map(|d| d.into_iter().map(DisclosedCredential::from).collect())
        })
        .await
    }
}
